package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Errors reported by the client.
var (
	errConnectRefused = errors.New("loadgen: namespace connect refused")
	errClosed         = errors.New("loadgen: connection closed")
	errBadOpen        = errors.New("loadgen: bad engine.io open packet")
)

// nsp is the namespace every scenario talks to.
const nsp = "/chat"

// handlers receive Socket.IO packets for the namespace. They run on the
// connection's read goroutine, one packet at a time, and must not block.
// The payload slices are only valid during the call.
type handlers struct {
	// event gets the JSON array of an EVENT packet (without ack id); ackID is
	// -1 when the server asked for no ack.
	event func(c *client, ackID int64, args []byte)
	// ack gets the JSON array of an ACK packet.
	ack func(c *client, id int64, args []byte)
}

// client is one minimal Engine.IO v4 / Socket.IO v5 client for namespace
// /chat. It does not care how packets travel: t carries them (websocket or
// HTTP long-polling). A single goroutine (run) owns reads and calls onPacket
// for every Engine.IO packet; t.send may be called from any goroutine.
type client struct {
	id  int
	t   transport
	h   handlers
	sid string // socket id from the namespace CONNECT
	pid string // recovery session id from the namespace CONNECT (soak)

	connected chan error // receives the namespace connect outcome once
	joinCh    chan bool  // joinRoom ack outcome (chat scenarios)
	done      chan struct{}
	closed    atomic.Bool
	err       atomic.Pointer[error]
	nextAck   atomic.Int64
}

// transport carries Engine.IO packets (text, without transport framing) for
// one client.
type transport interface {
	// send writes one packet, or queues it for the next request; it may be
	// called from any goroutine and does not keep p.
	send(p []byte) error
	// readLoop hands every received packet to c.onPacket, in order, until
	// the connection fails or is closed, and returns why. It runs once.
	readLoop(c *client) error
	// close ends the connection; readLoop then returns. Called once.
	close()
}

// Transport names for -transport.
const (
	transportWebsocket = "websocket"
	transportPolling   = "polling"
)

// dialConfig says where and how clients connect.
type dialConfig struct {
	addr string // host:port of the server
	// recvAddrs, when set, spread the first recvCount clients (the
	// receivers) over these servers, round robin; the others use addr.
	recvAddrs []string
	recvCount int
	srcIPs    []net.IP // local addresses to spread connections over; nil = kernel's choice
	timeout   time.Duration
	deadline  time.Time   // hard stop for every read and write (bounds the run)
	transport string      // transportWebsocket or transportPolling
	poll      *pollDialer // shared HTTP transports when transport is polling
}

// dial opens the transport, connects to /chat with auth (a JSON object, may
// be empty) and returns once the server confirmed the namespace connect.
func dial(ctx context.Context, cfg dialConfig, id int, auth string, h handlers) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	c := &client{
		id:        id,
		h:         h,
		connected: make(chan error, 1),
		joinCh:    make(chan bool, 1),
		done:      make(chan struct{}),
	}
	var err error
	if cfg.transport == transportPolling {
		c.t, err = cfg.poll.dial(ctx, cfg, id)
	} else {
		c.t, err = dialWebsocket(ctx, cfg, id)
	}
	if err != nil {
		return nil, err
	}
	go c.run()
	if err := c.t.send(append([]byte("40"+nsp+","), auth...)); err != nil {
		c.close()
		return nil, fmt.Errorf("send connect: %w", err)
	}
	select {
	case err := <-c.connected:
		if err != nil {
			c.close()
			return nil, err
		}
		return c, nil
	case <-c.done:
		return nil, c.lastErr()
	case <-ctx.Done():
		c.close()
		return nil, fmt.Errorf("namespace connect: %w", ctx.Err())
	}
}

func (c *client) run() {
	defer close(c.done)
	defer c.close()
	c.fail(c.t.readLoop(c))
}

func (c *client) lastErr() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return errClosed
}

// close ends the transport; run then exits. Safe to call twice.
func (c *client) close() {
	if c.closed.CompareAndSwap(false, true) {
		c.t.close()
	}
}

// alive reports whether the read loop is still running.
func (c *client) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// emit sends 42/chat,[...] or, with ackID ≥ 0, 42/chat,ID[...].
func (c *client) emit(buf []byte, ackID int64, args []byte) ([]byte, error) {
	buf = append(buf[:0], "42"+nsp+","...)
	if ackID >= 0 {
		buf = strconv.AppendInt(buf, ackID, 10)
	}
	buf = append(buf, args...)
	return buf, c.t.send(buf)
}

// wsConn is the websocket transport: one TCP connection, one Engine.IO
// packet per text frame. Writes are serialised by wmu.
type wsConn struct {
	nc net.Conn
	br *bufio.Reader

	wmu  sync.Mutex
	wbuf []byte // frame scratch, guarded by wmu
}

// dialWebsocket opens the websocket; the open packet arrives as the first
// frame and is checked by onPacket.
func dialWebsocket(ctx context.Context, cfg dialConfig, id int) (*wsConn, error) {
	nd := &net.Dialer{Timeout: cfg.timeout}
	if len(cfg.srcIPs) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: cfg.srcIPs[id%len(cfg.srcIPs)]}
	}
	d := ws.Dialer{
		Timeout: cfg.timeout,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nd.DialContext(ctx, network, addr)
		},
	}
	addr := cfg.addr
	if len(cfg.recvAddrs) > 0 && id < cfg.recvCount {
		addr = cfg.recvAddrs[id%len(cfg.recvAddrs)]
	}
	nc, br, _, err := d.Dial(ctx, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 4096)
	}
	if !cfg.deadline.IsZero() {
		_ = nc.SetDeadline(cfg.deadline) // cannot fail on a fresh TCP conn
	}
	return &wsConn{nc: nc, br: br}, nil
}

func (w *wsConn) close() {
	_ = w.nc.Close() // best effort: the run is ending or the conn is broken
}

// send writes one masked text frame.
func (w *wsConn) send(p []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	h := ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: int64(len(p))}
	r := rand.Uint32()
	h.Mask = [4]byte{byte(r), byte(r >> 8), byte(r >> 16), byte(r >> 24)}
	n := ws.HeaderSize(h)
	if cap(w.wbuf) < n+len(p) {
		w.wbuf = make([]byte, 0, n+len(p)+256)
	}
	buf := bytes.NewBuffer(w.wbuf[:0])
	if err := ws.WriteHeader(buf, h); err != nil {
		return err
	}
	out := buf.Bytes()
	start := len(out)
	out = append(out, p...)
	ws.Cipher(out[start:], h.Mask, 0)
	w.wbuf = out
	_, err := w.nc.Write(out)
	return err
}

func (w *wsConn) writeControl(op ws.OpCode, p []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	f := ws.MaskFrameInPlace(ws.NewFrame(op, true, append([]byte(nil), p...)))
	return ws.WriteFrame(w.nc, f)
}

func (w *wsConn) readLoop(c *client) error {
	var msg []byte
	var buf []byte
	for {
		hdr, err := ws.ReadHeader(w.br)
		if err != nil {
			return err
		}
		if hdr.Length > 16<<20 {
			return fmt.Errorf("frame too large: %d", hdr.Length)
		}
		if int64(cap(buf)) < hdr.Length {
			buf = make([]byte, hdr.Length)
		}
		buf = buf[:hdr.Length]
		if _, err := io.ReadFull(w.br, buf); err != nil {
			return err
		}
		if hdr.Masked {
			ws.Cipher(buf, hdr.Mask, 0)
		}
		switch hdr.OpCode {
		case ws.OpPing:
			if err := w.writeControl(ws.OpPong, buf); err != nil {
				return err
			}
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			return errClosed
		}
		payload := buf
		if !hdr.Fin || hdr.OpCode == ws.OpContinuation {
			msg = append(msg, buf...)
			if !hdr.Fin {
				continue
			}
			payload = msg
		}
		if err := c.onPacket(payload); err != nil {
			return err
		}
		msg = msg[:0]
	}
}

func (c *client) fail(err error) {
	if c.closed.Load() {
		err = errClosed
	}
	c.err.CompareAndSwap(nil, &err)
	select {
	case c.connected <- err:
	default:
	}
}

// onPacket handles one Engine.IO packet.
func (c *client) onPacket(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	switch p[0] {
	case '0': // open
		if !bytes.Contains(p, []byte(`"sid"`)) {
			return errBadOpen
		}
		return nil
	case '1': // close
		return errClosed
	case '2': // ping
		return c.t.send([]byte{'3'})
	case '4': // message: a Socket.IO packet
		return c.onSocketPacket(p[1:])
	}
	return nil
}

func (c *client) onSocketPacket(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	typ := p[0]
	rest := p[1:]
	// namespace: "/chat," (the main namespace "/" is written without it)
	if len(rest) > 0 && rest[0] == '/' {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			rest = rest[len(rest):]
		} else {
			rest = rest[i+1:]
		}
	}
	// optional ack id
	var id int64 = -1
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j > 0 {
		id, _ = parseUint(rest[:j])
		rest = rest[j:]
	}
	switch typ {
	case '0': // CONNECT
		c.sid = jsonStringField(rest, `"sid":"`)
		c.pid = jsonStringField(rest, `"pid":"`)
		select {
		case c.connected <- nil:
		default:
		}
	case '4': // CONNECT_ERROR
		err := fmt.Errorf("%w: %s", errConnectRefused, rest)
		select {
		case c.connected <- err:
		default:
		}
		return err
	case '1': // DISCONNECT
		return errClosed
	case '2': // EVENT
		if c.h.event != nil {
			c.h.event(c, id, rest)
		}
	case '3': // ACK
		if c.h.ack != nil {
			c.h.ack(c, id, rest)
		}
	}
	return nil
}

// jsonStringField returns the plain (unescaped) string value after key,
// e.g. `"sid":"`, in a flat JSON object, or "".
func jsonStringField(obj []byte, key string) string {
	i := bytes.Index(obj, []byte(key))
	if i < 0 {
		return ""
	}
	s := obj[i+len(key):]
	k := bytes.IndexByte(s, '"')
	if k < 0 {
		return ""
	}
	return string(s[:k])
}

// eventName returns the first element of an event's JSON array when it is a
// plain string (no escapes), and the remainder after the following comma.
func eventName(args []byte) (name, rest []byte) {
	if len(args) < 3 || args[0] != '[' || args[1] != '"' {
		return nil, nil
	}
	k := bytes.IndexByte(args[2:], '"')
	if k < 0 {
		return nil, nil
	}
	name = args[2 : 2+k]
	rest = args[2+k+1:]
	if len(rest) > 0 && rest[0] == ',' {
		rest = rest[1:]
	}
	return name, rest
}

// nextNum parses a JSON number at the start of p (integers, or floats that
// some servers re-encode) and returns it with the rest after the separator.
func nextNum(p []byte) (int64, []byte, bool) {
	i := 0
	for i < len(p) && p[i] != ',' && p[i] != ']' && p[i] != ':' && p[i] != '"' && p[i] != ' ' {
		i++
	}
	tok := p[:i]
	if i < len(p) {
		i++
	}
	if n, ok := parseUint(tok); ok {
		return n, p[i:], true
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		return 0, p[i:], false
	}
	return int64(f), p[i:], true
}

// parseUint parses a non-negative decimal integer without allocating.
func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}
