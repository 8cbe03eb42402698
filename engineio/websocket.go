package engineio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gobwas/ws"
)

// errProtocol reports a WebSocket frame that breaks RFC 6455.
var errProtocol = errors.New("engineio: websocket protocol error")

// errTooLarge reports a message above MaxPayload.
var errTooLarge = errors.New("engineio: message too large")

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// upgrade hijacks the request's connection and completes the WebSocket
// handshake. The returned reader holds any bytes the client sent early.
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.Reader, bool) {
	u := ws.HTTPUpgrader{}
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		srv.cfg.Logger.Debug("engineio: websocket upgrade failed", "err", err)
		if conn != nil {
			_ = conn.Close() // the handshake failed; the peer gets EOF
		}
		return nil, nil, false
	}
	br := rw.Reader
	if br.Buffered() == 0 {
		// Drop the server's 4 KiB buffer: idle connections are most of them.
		br = bufio.NewReaderSize(conn, srv.cfg.ReadBufferSize)
	}
	return conn, br, true
}

// serveWebSocket opens a session directly over WebSocket.
func (srv *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	sess, err := srv.newSession(r, transportWebSocket)
	if err != nil {
		srv.refuseSession(w, err)
		return
	}
	conn, br, ok := srv.upgrade(w, r)
	if !ok {
		sess.closeNow(ReasonTransportError)
		return
	}
	if pc := srv.pollable(conn); pc != nil {
		conn = pc
	}
	sess.mu.Lock()
	sess.attachLocked(conn)
	sess.queue = append(sess.queue, srv.openFrame(sess.id, transportWebSocket))
	sess.mu.Unlock()
	srv.start(sess)
	sess.mu.Lock()
	sess.kickLocked()
	sess.mu.Unlock()
	if srv.netpollRead(sess, conn, br) {
		return // netpoll_linux.go: no reader goroutine while idle
	}
	// The reader runs in a fresh goroutine so that the HTTP server's
	// per-request state (its 4 KiB buffers, the request goroutine's grown
	// stack) is freed now rather than held for the connection's life.
	srv.goroutines.add()
	go func() {
		defer srv.goroutines.done()
		err := sess.readLoop(conn, br)
		sess.readFailed(conn, br, err)
	}()
}

func closeReasonFor(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, errPeerClose):
		return ReasonTransportClose
	case errors.Is(err, ErrParse):
		return ReasonParseError
	default:
		return ReasonTransportError
	}
}

// serveUpgrade runs the probe of a polling session's upgrade to WebSocket.
// A session that is upgrading already, or upgraded, or closing, gets the
// WebSocket all the same and then a close frame, as Node's engine.io does:
// a client without an error listener (the public suites' ws client) must
// see an open, then a close, not a failed handshake.
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, sess *Session) {
	sess.mu.Lock()
	busy := sess.transport != transportPolling || sess.upgrading || sess.probeClaimed || sess.state != stateOpen
	if !busy {
		sess.probeClaimed = true
		sess.upgradeB64 = sess.v3 && r.URL.Query().Get("b64") != ""
	}
	sess.mu.Unlock()
	conn, br, ok := srv.upgrade(w, r)
	if busy {
		if ok {
			srv.goroutines.add()
			go srv.refuseWebSocket(conn, br)
		}
		return
	}
	if !ok {
		sess.mu.Lock()
		sess.probeClaimed = false
		sess.mu.Unlock()
		return
	}
	if pc := srv.pollable(conn); pc != nil {
		conn = pc
	}
	srv.goroutines.add()
	go srv.runUpgrade(sess, conn, br) // see serveWebSocket for why a fresh goroutine
}

// refuseWebSocket closes an accepted WebSocket that belongs to no session:
// a close frame without a status (the client sees 1005, as from Node), a
// FIN, then the client's input is read and dropped until it closes too or
// lingerTimeout passes, so that no reset overtakes the close frame.
func (srv *Server) refuseWebSocket(conn net.Conn, br *bufio.Reader) {
	defer srv.goroutines.done()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))   // best effort
	_, _ = conn.Write(appendWSFrame(nil, opClose, nil, nil)) // best effort: the peer may be gone
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite() // best effort, as above
	}
	_ = conn.SetReadDeadline(time.Now().Add(lingerTimeout)) // fails only on a closed conn, which the read reports
	_, _ = io.Copy(io.Discard, br)                          // ends at the peer's close, an error or the deadline
	_ = conn.Close()                                        // the end of the linger, whatever ended it
}

// runUpgrade probes the new WebSocket and, once the client confirms, reads
// the session from it.
func (srv *Server) runUpgrade(sess *Session, conn net.Conn, br *bufio.Reader) {
	defer srv.goroutines.done()
	sess.mu.Lock()
	if sess.state == stateClosed {
		sess.probeClaimed = false
		sess.mu.Unlock()
		_ = conn.Close() // the session closed while the upgrade was accepted
		return
	}
	sess.probing = conn
	sess.mu.Unlock()
	timer := time.AfterFunc(srv.cfg.UpgradeTimeout, func() {
		// The timer may fire just after the probe moved the session to
		// conn, before it is stopped: that conn is no longer the probe's.
		sess.mu.Lock()
		adopted := sess.ws == conn
		sess.mu.Unlock()
		if !adopted {
			_ = conn.Close() // ends the probe's reads; the session stays on polling
		}
	})
	upgraded, err := sess.probe(conn, br)
	timer.Stop()
	sess.mu.Lock()
	if sess.probing == conn {
		sess.probing = nil
	}
	sess.mu.Unlock()
	if !upgraded {
		sess.mu.Lock()
		sess.upgrading = false
		sess.probeClaimed = false
		sess.mu.Unlock()
		_ = conn.Close() // the probe failed; polling goes on
		srv.cfg.Logger.Debug("engineio: upgrade failed", "sid", sess.id, "err", err)
		return
	}
	if srv.netpollRead(sess, conn, br) {
		return
	}
	err = sess.readLoop(conn, br)
	sess.readFailed(conn, br, err)
}

// probe answers "2probe" with "3probe", releases the pending poll, and on
// "5" moves the session to conn.
func (s *Session) probe(conn net.Conn, br *bufio.Reader) (bool, error) {
	var buf []byte
	for {
		op, msg, err := s.readMessage(conn, br, &buf)
		if err != nil {
			return false, err
		}
		if op != opText {
			return false, fmt.Errorf("binary frame during probe: %w", errProtocol)
		}
		switch string(msg) {
		case "2probe":
			// The session is marked upgrading before 3probe goes out: a GET
			// the client sends once it has 3probe must find it so, and be
			// held for the upgrade packet (see servePoll), not be held as
			// a plain poll and then released with a noop.
			s.mu.Lock()
			if s.state != stateOpen {
				s.mu.Unlock()
				return false, ErrClosed
			}
			s.upgrading = true
			if s.pollWaiting {
				s.wakePollLocked()
			}
			s.mu.Unlock()
			_ = conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout)) // a failed write reports it
			if _, err := conn.Write(frameProbePong.wsBytes()); err != nil {
				return false, err
			}
		case "5":
			s.mu.Lock()
			if s.state != stateOpen || !s.upgrading {
				s.mu.Unlock()
				return false, ErrClosed
			}
			s.upgrading = false
			s.transport = transportWebSocket
			s.wsB64 = s.upgradeB64
			s.attachLocked(conn)
			if s.pollWaiting {
				s.wakePollLocked()
			}
			if len(s.queue) > 0 {
				s.kickLocked()
			}
			s.mu.Unlock()
			return true, nil
		default:
			return false, fmt.Errorf("unexpected %q during probe: %w", msg, errProtocol)
		}
	}
}

// errPeerClose reports a close frame from the client.
var errPeerClose = errors.New("engineio: peer closed")

// readLoop reads the session's WebSocket until it fails or closes.
func (s *Session) readLoop(conn net.Conn, br *bufio.Reader) error {
	var buf []byte
	for {
		op, msg, err := s.readMessage(conn, br, &buf)
		if err != nil {
			return err
		}
		p, err := s.decodeWS(op, msg)
		if err != nil {
			return err
		}
		s.receive(p)
	}
}

// decodeWS decodes one WebSocket data message (opText or opBinary) of the
// session into its packet, in the session's protocol: the one decoder of
// the reader goroutine (readLoop) and of the Linux poller (consume).
func (s *Session) decodeWS(op byte, msg []byte) (packet, error) {
	switch {
	case op == opBinary && s.v3:
		return decodeV3Binary(msg)
	case op == opBinary:
		return packet{typ: typeMessage, data: msg, binary: true}, nil
	case s.v3:
		return decodeV3Text(msg)
	default:
		return decodeText(msg)
	}
}

// readMessage reads one complete data message, answering control frames on
// the way. The returned slice belongs to the caller. Frames of a fragmented
// message are joined in *buf.
func (s *Session) readMessage(conn net.Conn, br *bufio.Reader, buf *[]byte) (byte, []byte, error) {
	max := s.srv.cfg.MaxPayload
	var msgOp byte
	var msg []byte
	fragmented := false
	for {
		h, err := readHeader(br)
		if err != nil {
			return 0, nil, err
		}
		if h.rsv != 0 || !h.masked {
			return 0, nil, errProtocol
		}
		if h.op >= 0x8 { // control frame
			if !h.fin || h.length > 125 {
				return 0, nil, errProtocol
			}
			// Control frames are rare: a heap buffer keeps the reader's
			// stack, held by every idle connection, small.
			p := make([]byte, h.length)
			if _, err := io.ReadFull(br, p); err != nil {
				return 0, nil, err
			}
			ws.Cipher(p, h.mask, 0)
			switch h.op {
			case opClose:
				s.replyClose(conn, p)
				return 0, nil, errPeerClose
			case opPing:
				f := &Frame{}
				f.wsOnce.Do(func() { f.ws = appendWSFrame(nil, opPong, nil, p) })
				_ = s.Send(f) // a closing session needs no pong
			case opPong:
			default:
				return 0, nil, errProtocol
			}
			continue
		}
		switch {
		case h.op == 0x0 && !fragmented, h.op != 0x0 && fragmented:
			return 0, nil, errProtocol
		case h.op != 0x0 && h.op != opText && h.op != opBinary:
			return 0, nil, errProtocol
		}
		if int64(len(msg))+h.length > max {
			return 0, nil, errTooLarge
		}
		if h.op != 0x0 {
			msgOp = h.op
		}
		var p []byte
		if h.fin && !fragmented {
			p = make([]byte, h.length)
		} else {
			start := len(*buf)
			*buf = append(*buf, make([]byte, h.length)...)
			p = (*buf)[start:]
		}
		if _, err := io.ReadFull(br, p); err != nil {
			return 0, nil, err
		}
		ws.Cipher(p, h.mask, 0)
		if h.fin && !fragmented {
			return msgOp, p, nil
		}
		fragmented = true
		msg = *buf
		if h.fin {
			out := make([]byte, len(msg))
			copy(out, msg)
			*buf = (*buf)[:0]
			return msgOp, out, nil
		}
	}
}

// readFailed closes the session after its reader stopped.
func (s *Session) readFailed(conn net.Conn, br *bufio.Reader, err error) {
	if errors.Is(err, errTooLarge) {
		s.closeTooLarge(conn, br)
		return
	}
	s.closeNow(closeReasonFor(err))
}

// lingerTimeout bounds how long closeTooLarge reads and drops a peer's input
// while waiting for the peer to close.
const lingerTimeout = 2 * time.Second

// closeTooLarge answers a message over MaxPayload with close status 1009,
// as RFC 6455 asks, and closes the connection so that the status arrives.
// The rest of the message is still unread, and closing a socket with unread
// input makes the kernel reset the connection: the reset can overtake the
// close frame, and the peer then reports an abnormal close (1006). So, as
// Node's ws does, the close frame goes out once any write in progress has
// finished, the write side is shut (FIN), and the input is read and dropped
// until the peer closes too or lingerTimeout passes.
func (s *Session) closeTooLarge(conn net.Conn, br *bufio.Reader) {
	s.mu.Lock()
	if s.ws == conn {
		s.ws, s.raw = nil, nil // closeNow leaves a detached conn open
	}
	s.mu.Unlock()
	s.closeNow(ReasonTransportError)
	s.srv.goroutines.add() // Server.Close waits for the linger too
	defer s.srv.goroutines.done()
	s.waitWriterIdle()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))                  // best effort
	_, _ = conn.Write(appendWSFrame(nil, opClose, nil, []byte{0x03, 0xf1})) // best effort: the peer may be gone
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite() // best effort, as above
	}
	_ = conn.SetReadDeadline(time.Now().Add(lingerTimeout)) // fails only on a closed conn, which the read reports
	_, _ = io.Copy(io.Discard, br)                          // ends at the peer's close, an error or the deadline
	_ = conn.Close()                                        // the end of the linger, whatever ended it
}

// replyClose answers a client's close frame with the same status code.
func (s *Session) replyClose(conn net.Conn, payload []byte) {
	code := []byte{0x03, 0xe8}
	if len(payload) >= 2 {
		code = payload[:2]
	}
	s.writeClose(conn, code)
}

// writeClose writes a close frame with the status code unless the writer
// goroutine owns the connection at the moment.
func (s *Session) writeClose(conn net.Conn, code []byte) {
	s.mu.Lock()
	writing := s.writing && s.ws == conn
	s.mu.Unlock()
	if writing {
		return // the writer owns the conn; closing it is answer enough
	}
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))    // best effort
	_, _ = conn.Write(appendWSFrame(nil, opClose, nil, code)) // best effort: the peer is leaving
}

type wsHeader struct {
	fin    bool
	rsv    byte
	op     byte
	masked bool
	mask   [4]byte
	length int64
}

// readHeader reads one frame header without allocating.
func readHeader(br *bufio.Reader) (wsHeader, error) {
	var h wsHeader
	b0, err := br.ReadByte()
	if err != nil {
		return h, err
	}
	b1, err := br.ReadByte()
	if err != nil {
		return h, err
	}
	h.fin = b0&0x80 != 0
	h.rsv = (b0 >> 4) & 0x7
	h.op = b0 & 0xf
	h.masked = b1&0x80 != 0
	var ext [8]byte
	switch n := b1 & 0x7f; n {
	case 126:
		if _, err := io.ReadFull(br, ext[:2]); err != nil {
			return h, err
		}
		h.length = int64(binary.BigEndian.Uint16(ext[:2]))
	case 127:
		if _, err := io.ReadFull(br, ext[:8]); err != nil {
			return h, err
		}
		l := binary.BigEndian.Uint64(ext[:8])
		if l>>63 != 0 {
			return h, errProtocol
		}
		h.length = int64(l)
	default:
		h.length = int64(n)
	}
	if h.masked {
		if _, err := io.ReadFull(br, h.mask[:]); err != nil {
			return h, err
		}
	}
	return h, nil
}
