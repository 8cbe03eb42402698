package wsapi

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/socketio"
)

// transportName is what Socket.Transport reports for a /ws connection.
const transportName = "ws"

// internalIDBase starts the ack ids the connection gives the copies of an
// event that several namespaces register (refreshToken): their acks are
// not forwarded. Client ids must stay below it (JSON's safe integers end
// at 2^53).
const internalIDBase int64 = 1 << 52

// errClosed is returned by Send on a closed connection.
var errClosed = errors.New("wsapi: connection closed")

// out is one frame waiting for the writer.
type out struct {
	op      ws.OpCode
	payload []byte
}

// conn is one /ws connection; it is the socketio.Session of the client
// attached for it.
type conn struct {
	h  *Handler
	id string
	nc net.Conn
	br *bufio.Reader
	hs engineio.Handshake

	client engineio.Handler // set before the first packet is fed

	queue   chan out
	closing chan struct{} // closed by closeWith
	once    sync.Once
	// deadlineMu orders the reader's deadline extensions after a close's
	// drain deadline: see extendDeadline.
	deadlineMu sync.Mutex
	code       ws.StatusCode // the close frame's code; 0: none (the peer is gone)
	reason     string        // the Socket.IO close reason; set once, before closing is closed

	internalID atomic.Int64

	mu          sync.Mutex
	connected   map[string]bool // namespaces whose socket is connected
	user        events.UserRef
	infoSent    bool
	refusedOnce bool
}

func newConn(h *Handler, nc net.Conn, br *bufio.Reader, r *http.Request) *conn {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return &conn{
		h:  h,
		id: "ws-" + base64.RawURLEncoding.EncodeToString(b[:]),
		nc: nc,
		br: br,
		hs: engineio.Handshake{
			Header: r.Header.Clone(), RawQuery: r.URL.RawQuery, RemoteAddr: r.RemoteAddr,
			Secure: r.TLS != nil, Time: time.Now(),
		},
		queue:     make(chan out, h.cfg.MaxQueue),
		closing:   make(chan struct{}),
		connected: make(map[string]bool, len(h.cfg.Namespaces)),
	}
}

// serve runs the connection: it attaches the Socket.IO client, connects
// it to every namespace with auth, then reads frames until the connection
// closes, and ends the client.
func (c *conn) serve(auth []byte) {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	defer func() {
		c.closeWith(0, engineio.ReasonTransportClose) // no-op when already closing
		<-writerDone
		_ = c.nc.Close() // the writer closed it already, or the peer is gone
	}()

	client, err := c.h.cfg.IO.Attach(c)
	if err != nil {
		c.enqueue(out{ws.OpText, errorFrame(events.CodeUnavailable, "server shutting down", nil)})
		c.closeWith(ws.StatusGoingAway, socketio.ReasonServerShuttingDown)
		return
	}
	c.client = client
	defer func() { client.OnClose(c.reason) }() // after closeWith set it
	for _, ns := range c.h.cfg.Namespaces {
		pkt := make([]byte, 0, len(ns)+len(auth)+2)
		pkt = append(pkt, '0')
		pkt = append(pkt, ns...)
		pkt = append(pkt, ',')
		pkt = append(pkt, auth...)
		client.OnMessage(pkt, false)
	}
	c.readLoop()
}

// drainTime bounds how long a closing connection's reader keeps reading
// (and discarding) what the client still sends, so that the close frame
// is not overtaken by a reset, as when a client's over-size message is
// still arriving.
const drainTime = 2 * time.Second

// readLoop reads messages until the connection fails or closes, then
// drains the connection for at most drainTime.
func (c *conn) readLoop() {
	c.readMessages()
	c.deadlineMu.Lock()
	_ = c.nc.SetReadDeadline(time.Now().Add(drainTime))
	c.deadlineMu.Unlock()
	_, _ = io.Copy(io.Discard, c.br) // until the client's FIN, or the deadline
}

// extendDeadline gives the client another ping period to show it is
// alive, unless the connection is closing (then the drain deadline
// stands).
func (c *conn) extendDeadline() {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	select {
	case <-c.closing:
	default:
		_ = c.nc.SetReadDeadline(time.Now().Add(c.h.cfg.PingInterval + c.h.cfg.PingTimeout))
	}
}

func (c *conn) readMessages() {
	var msg []byte
	for {
		c.extendDeadline()
		hdr, err := ws.ReadHeader(c.br)
		if err != nil {
			c.closeWith(0, c.readErrorReason(err))
			return
		}
		if !hdr.Masked {
			c.closeWith(ws.StatusProtocolError, engineio.ReasonTransportError)
			return
		}
		if hdr.OpCode.IsControl() {
			if hdr.Length > 125 || !hdr.Fin {
				c.closeWith(ws.StatusProtocolError, engineio.ReasonTransportError)
				return
			}
			payload := make([]byte, hdr.Length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				c.closeWith(0, c.readErrorReason(err))
				return
			}
			ws.Cipher(payload, hdr.Mask, 0)
			switch hdr.OpCode {
			case ws.OpPing:
				c.enqueue(out{ws.OpPong, payload})
			case ws.OpClose:
				c.closeWith(ws.StatusNormalClosure, engineio.ReasonTransportClose)
				return
			}
			continue
		}
		if int64(len(msg))+hdr.Length > c.h.cfg.MaxMessage {
			c.closeWith(ws.StatusMessageTooBig, engineio.ReasonTransportError)
			return
		}
		start := len(msg)
		msg = append(msg, make([]byte, hdr.Length)...)
		if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
			c.closeWith(0, c.readErrorReason(err))
			return
		}
		ws.Cipher(msg[start:], hdr.Mask, 0)
		if !hdr.Fin {
			continue
		}
		if hdr.OpCode == ws.OpText || (hdr.OpCode == ws.OpContinuation && len(msg) > 0) {
			c.onFrame(msg)
		} else {
			c.enqueue(out{ws.OpText, errorFrame(events.CodeBadRequest, "frames are JSON text", nil)})
		}
		msg = nil
	}
}

func (c *conn) readErrorReason(err error) string {
	select {
	case <-c.closing:
		return c.reason
	default:
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return engineio.ReasonTransportClose
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return engineio.ReasonPingTimeout
	}
	return engineio.ReasonTransportError
}

// frame is an incoming frame.
type frame struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	ID   json.RawMessage `json:"id"`
}

// onFrame turns one client frame into the Socket.IO packet of its event.
func (c *conn) onFrame(b []byte) {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.enqueue(out{ws.OpText, errorFrame(events.CodeBadRequest, "a frame is a JSON object {type, data, id?}", nil)})
		return
	}
	var id *int64
	if len(f.ID) > 0 && !bytes.Equal(f.ID, []byte("null")) {
		n, err := strconv.ParseInt(string(f.ID), 10, 64)
		if err != nil || n < 0 || n >= internalIDBase {
			c.enqueue(out{ws.OpText, errorFrame(events.CodeBadRequest, "id must be an integer from 0 to 2^52-1", nil)})
			return
		}
		id = &n
	}
	nss := c.h.routes[f.Type]
	if len(nss) == 0 {
		c.enqueue(out{ws.OpText, errorFrame(events.CodeNotFound, fmt.Sprintf("unknown type %q", f.Type), id)})
		return
	}
	c.mu.Lock()
	ready := c.infoSent
	c.mu.Unlock()
	if !ready {
		c.enqueue(out{ws.OpText, errorFrame(events.CodeUnavailable, "wait for the info frame", id)})
		return
	}
	for i, ns := range nss {
		pid := id
		if i > 0 && id != nil {
			n := internalIDBase + c.internalID.Add(1)
			pid = &n
		}
		c.client.OnMessage(eventPacket(string(ns), pid, f.Type, f.Data), false)
	}
}

// eventPacket encodes the Socket.IO EVENT packet 2<nsp>,<id>["name",data].
func eventPacket(nsp string, id *int64, name string, data json.RawMessage) []byte {
	n := int64(-1)
	if id != nil {
		n = *id
	}
	return socketio.EventPacket(nsp, n, name, data)
}

// joined records that the socket of namespace nsp is connected, as user,
// and sends the info frame once every namespace is.
func (c *conn) joined(nsp string, user events.UserRef) {
	c.mu.Lock()
	c.connected[nsp] = true
	if user.ID != "" {
		c.user = user
	}
	send := !c.infoSent && len(c.connected) == len(c.h.cfg.Namespaces)
	if send {
		c.infoSent = true
	}
	u := c.user
	c.mu.Unlock()
	if !send {
		return
	}
	data, _ := json.Marshal(struct {
		UserID   string `json:"userId"`
		Name     string `json:"name"`
		Protocol int    `json:"protocol"`
	}{u.ID, u.Name, events.ContractVersion}) // strings and an int
	c.enqueue(out{ws.OpText, eventFrame("info", data)})
}

// The socketio.Session methods.

func (c *conn) ID() string                    { return c.id }
func (c *conn) Handshake() engineio.Handshake { return c.hs }
func (c *conn) Transport() string             { return transportName }
func (c *conn) Done() <-chan struct{}         { return c.closing }
func (c *conn) Close(reason string)           { c.closeWith(ws.StatusNormalClosure, reason) }

func (c *conn) Writable() bool {
	select {
	case <-c.closing:
		return false
	default:
		return len(c.queue) < cap(c.queue)/2
	}
}

func (c *conn) Send(f *engineio.Frame) error {
	b, err := c.translate(f)
	if err != nil || b == nil {
		return err
	}
	return c.enqueue(out{ws.OpText, b})
}

func (c *conn) SendBatch(fs []*engineio.Frame) error {
	for _, f := range fs {
		if err := c.Send(f); err != nil {
			return err
		}
	}
	return nil
}

// translate turns one Socket.IO packet the server sends into the client's
// frame, or nil when the client is not told of it.
func (c *conn) translate(f *engineio.Frame) ([]byte, error) {
	if f.Binary() {
		return nil, nil // the contract has no binary payloads
	}
	if t := c.h.last.Load(); t != nil && t.f == f {
		return t.b, nil
	}
	p, err := socketio.Decode(f.Data())
	if err != nil {
		return nil, fmt.Errorf("wsapi: the server sent an undecodable packet: %w", err)
	}
	var b []byte
	switch p.Type {
	case socketio.PacketEvent:
		args, err := socketio.SplitArray(p.Data)
		if err != nil || len(args) == 0 {
			return nil, fmt.Errorf("wsapi: event without a name: %w", err)
		}
		var name string
		if err := json.Unmarshal(args[0], &name); err != nil {
			return nil, fmt.Errorf("wsapi: event name: %w", err)
		}
		var data []byte
		if len(args) > 1 {
			data = args[1]
		}
		b = eventFrame(name, data)
		c.h.last.Store(&translation{f, b})
	case socketio.PacketAck:
		if p.ID >= internalIDBase {
			return nil, nil
		}
		args, err := socketio.SplitArray(p.Data)
		if err != nil {
			return nil, fmt.Errorf("wsapi: ack: %w", err)
		}
		var data []byte
		if len(args) > 0 {
			data = args[0]
		}
		b = ackFrame(p.ID, data)
	case socketio.PacketConnectError:
		c.refused(p.Data)
		return nil, nil
	case socketio.PacketDisconnect:
		// The server disconnected one namespace (a kick, an expired
		// token): a /ws connection is all its namespaces or nothing.
		go c.closeWith(ws.StatusNormalClosure, socketio.ReasonServerNamespaceDisconnect)
		return nil, nil
	default: // CONNECT acks: the info frame follows once every namespace is in
		return nil, nil
	}
	return b, nil
}

// refused sends the CONNECT_ERROR of a namespace as an error frame and
// closes the connection with 1008: a refused token never gets an info
// frame.
func (c *conn) refused(data []byte) {
	c.mu.Lock()
	first := !c.refusedOnce
	c.refusedOnce = true
	c.mu.Unlock()
	if !first {
		return // every namespace refuses the same auth: one error frame
	}
	e := socketio.Refusal(data)
	_ = c.enqueue(out{ws.OpText, errorFrame(e.Code, e.Message, nil)})
	go c.closeWith(ws.StatusPolicyViolation, engineio.ReasonForcedClose)
}

// enqueue hands a frame to the writer without blocking; a full queue
// closes the connection as a slow consumer.
func (c *conn) enqueue(o out) error {
	select {
	case <-c.closing:
		return errClosed
	default:
	}
	select {
	case c.queue <- o:
		return nil
	default:
		c.h.cfg.Logger.Debug("wsapi: slow consumer closed", "conn", c.id)
		go c.closeWith(ws.StatusPolicyViolation, engineio.ReasonTransportError)
		return errClosed
	}
}

// closeWith starts closing the connection once: the writer sends the close
// frame (code 0: none) and shuts its side; the reader drains until the
// client's FIN or drainTime.
func (c *conn) closeWith(code ws.StatusCode, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.closing)
	})
}

// writeLoop writes queued frames, pings every PingInterval, and on close
// writes the close frame and closes the connection.
func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 4096)
	ping := time.NewTicker(c.h.cfg.PingInterval)
	defer ping.Stop()
	write := func(o out) bool {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
		return ws.WriteFrame(bw, ws.NewFrame(o.op, true, o.payload)) == nil
	}
	for {
		select {
		case o := <-c.queue:
			ok := write(o)
			for ok && len(c.queue) > 0 {
				ok = write(<-c.queue)
			}
			if !ok || bw.Flush() != nil {
				c.closeWith(0, engineio.ReasonTransportError)
			}
		case <-ping.C:
			if !write(out{ws.OpPing, nil}) || bw.Flush() != nil {
				c.closeWith(0, engineio.ReasonTransportError)
			}
		case <-c.closing:
			// Frames queued before the close still go out (an error frame
			// before a refusal's 1008), then the close frame.
			ok := true
			for ok && len(c.queue) > 0 {
				ok = write(<-c.queue)
			}
			if ok && c.code != 0 {
				ok = write(out{ws.OpClose, ws.NewCloseFrameBody(c.code, "")})
			}
			if ok {
				_ = bw.Flush() // best effort: the connection closes next
			}
			// Half-close: the client sees the close frame and our FIN
			// while the reader drains what it still sends, for at most
			// drainTime; serve closes the connection after that.
			c.deadlineMu.Lock()
			_ = c.nc.SetReadDeadline(time.Now().Add(drainTime))
			c.deadlineMu.Unlock()
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				_ = c.nc.Close()
			}
			return
		}
	}
}

// translation is a frame and the client frame it became.
type translation struct {
	f *engineio.Frame
	b []byte
}
