package engineio

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// Handler receives one session's messages and its close. Its methods are
// called from one goroutine at a time, in order: every message received
// before the close, then OnClose.
type Handler interface {
	// OnMessage is called for each message. data belongs to the handler.
	OnMessage(data []byte, binary bool)
	// OnClose is called once, with the reason, after the session closed.
	OnClose(reason string)
}

// Handshake describes the HTTP request that opened a session.
type Handshake struct {
	Header http.Header
	// RawQuery is the request's query string; Query parses it.
	RawQuery   string
	RemoteAddr string
	Secure     bool
	Time       time.Time
}

// Query parses the handshake's query string. It is parsed on demand
// because most sessions never look at it, and the parsed form costs
// hundreds of bytes per idle connection.
func (h Handshake) Query() url.Values {
	q, _ := url.ParseQuery(h.RawQuery) // the engine parsed it once already
	return q
}

const (
	transportPolling = iota
	transportWebSocket
)

const (
	stateOpen = iota
	stateClosing
	stateClosed
)

// closeGrace bounds how long a closing session waits for its last frames to
// be written. A polling session with no GET held waits pollCloseGrace for
// the client's next one: socket.io-client polls again at once after every
// response, so a client that has not come back by then is gone or stuck,
// and a server shutting down should not wait on it.
const (
	closeGrace     = 5 * time.Second
	pollCloseGrace = 500 * time.Millisecond
)

// Session is one Engine.IO connection.
type Session struct {
	srv     *Server
	id      string
	hs      Handshake
	handler Handler
	// v3 marks an Engine.IO v3 session (Config.AllowEIO3), b64 one whose
	// handshake asked for base64 instead of binary (the b64 query
	// parameter); both are fixed at the handshake.
	v3, b64 bool

	mu        sync.Mutex
	state     int
	reason    string // close reason while closing
	transport int
	upgrading bool // the probe answered 2probe; waiting for 5
	// probeClaimed is set while a WebSocket holds the session's one upgrade
	// attempt, from its handshake on: a second one is refused.
	probeClaimed bool
	queue        []*Frame
	spare        []*Frame
	pollWaiting  bool
	pollSettling bool // a GET waits in settleLocked
	pollWake     chan struct{}
	posting      bool
	peerClosed   bool // the client sent the close packet
	noopSent     bool // a GET was released with the noop after peerClosed
	ws           net.Conn
	raw          syscall.RawConn // ws's file descriptor, for writes that must not wait
	lastWrite    int64           // UnixNano of the last WebSocket write
	deadline     int64           // UnixNano of ws's write deadline; the writer's alone, like the conn
	probing      net.Conn        // the upgrade probe's WebSocket, closed with the session
	writing      bool
	writerIdle   chan struct{} // closed when writing turns false; made by waitWriterIdle
	timer        *time.Timer
	due          time.Time
	awaitPong    bool

	// wsB64 is whether the attached WebSocket's request asked for base64
	// (v3 only); upgradeB64 the same for the upgrade being probed.
	wsB64, upgradeB64 bool

	// Incoming messages wait in inbox for one short-lived deliverer
	// goroutine, so the WebSocket reader only reads: its stack, held by
	// every idle connection, stays at the minimum instead of growing with
	// whatever the handlers call.
	inbox      []packet
	delivering bool
	space      chan struct{} // closed when inbox has room again
	// queued counts the messages ever put in inbox, handled those the
	// handler has returned from; handledWake, made by waitHandled, is
	// closed when handled grows.
	queued, handled uint64
	handledWake     chan struct{}

	done chan struct{} // closed by closeNow; made on first Done call
}

// Done returns a channel that is closed when the session has closed. A
// handler blocked on the session's behalf (waiting for room in a queue of
// its own) selects on it so that the close can get through.
func (s *Session) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.state == stateClosed {
			close(s.done)
		}
	}
	return s.done
}

// ID returns the session id (sid).
func (s *Session) ID() string { return s.id }

// Handshake returns the request that opened the session.
func (s *Session) Handshake() Handshake { return s.hs }

// SetHandler installs the session's handler. It must be called from
// Config.OnSession.
func (s *Session) SetHandler(h Handler) { s.handler = h }

// Protocol returns the session's Engine.IO protocol revision: 4, or 3 for a
// socket.io-client 2.x session (Config.AllowEIO3).
func (s *Session) Protocol() int {
	if s.v3 {
		return 3
	}
	return 4
}

// Transport returns "polling" or "websocket".
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transport == transportWebSocket {
		return "websocket"
	}
	return "polling"
}

// Send queues f. It fails with ErrClosed on a closed session, and with
// ErrSlowConsumer, closing the session, when the queue is full.
func (s *Session) Send(f *Frame) error {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return ErrClosed
	}
	if len(s.queue) >= s.srv.cfg.MaxQueue {
		s.mu.Unlock()
		s.srv.cfg.Logger.Warn("engineio: closing slow consumer", "sid", s.id, "queued", s.srv.cfg.MaxQueue)
		s.srv.slowConsumers.Add(1)
		s.closeNow(ReasonSlowConsumer)
		return ErrSlowConsumer
	}
	if s.transport == transportWebSocket && s.raw != nil && !s.writing && len(s.queue) == 0 {
		if now := time.Now().UnixNano(); now-s.lastWrite > int64(inlineGap) {
			s.lastWrite = now
			s.writeNow(f)
			return nil
		}
	}
	s.queue = append(s.queue, f)
	s.kickLocked()
	s.mu.Unlock()
	return nil
}

// inlineGap is how long a WebSocket must have been quiet for a frame to be
// written from the sender's goroutine (writeNow). A connection that
// receives more often than this goes through the writer goroutine instead,
// whose writes take everything queued at once: at high rates coalescing
// saves far more (for the server and for the client) than the goroutine
// costs. Measured on the fan-out bench (1000 receivers, one core): writing
// every frame inline cut p99 latency at 40 msg/s from 14.4 ms to 9.9 ms but
// capped throughput near 113k deliveries/s, where coalescing reached over
// 1.2M.
const inlineGap = 10 * time.Millisecond

// writeNow writes f to a quiet WebSocket from the sender's goroutine, with
// one non-blocking write: a broadcast reaches every quiet recipient at once,
// without a goroutine per recipient. Whatever the kernel does not take goes
// to the queue, and the writer goroutine carries on, so a slow consumer
// never blocks the sender. s.mu is held on entry and released on return.
func (s *Session) writeNow(f *Frame) {
	s.writing = true
	conn, raw, b64 := s.ws, s.raw, s.wsB64
	s.mu.Unlock()
	b := s.wsEncode(f, b64)
	n := tryWrite(raw, b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed || s.ws != conn {
		s.stopWritingLocked()
		return
	}
	if n < len(b) {
		rest := &Frame{}
		rest.wsOnce.Do(func() { rest.ws = b[n:] })
		s.queue = append([]*Frame{rest}, s.queue...)
	}
	if len(s.queue) == 0 {
		s.stopWritingLocked()
		return
	}
	s.srv.goroutines.add()
	go s.writeLoop(conn) // frames queued meanwhile, or the rest of f
}

// attachLocked makes conn the session's WebSocket. s.mu is held.
func (s *Session) attachLocked(conn net.Conn) {
	s.ws = conn
	if !inlineWrites {
		return
	}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw = raw
		}
	}
}

// SendBatch queues frames atomically: all or none, in order.
func (s *Session) SendBatch(fs []*Frame) error {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return ErrClosed
	}
	if len(s.queue)+len(fs) > s.srv.cfg.MaxQueue {
		s.mu.Unlock()
		s.srv.slowConsumers.Add(1)
		s.closeNow(ReasonSlowConsumer)
		return ErrSlowConsumer
	}
	s.queue = append(s.queue, fs...)
	s.kickLocked()
	s.mu.Unlock()
	return nil
}

// Writable reports whether a frame sent now would go out without waiting
// behind a backlog: a WebSocket with nothing queued, or a pending polling
// GET. Volatile packets are dropped when it is false, as in Node.
func (s *Session) Writable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return false
	}
	if s.transport == transportWebSocket {
		return len(s.queue) == 0
	}
	return s.pollWaiting && !s.upgrading
}

// kickLocked starts delivery of the queue: a writer goroutine for a
// WebSocket, or a wake-up for a waiting GET.
func (s *Session) kickLocked() {
	switch {
	case s.transport == transportWebSocket && s.ws != nil:
		if !s.writing {
			s.writing = true
			s.srv.goroutines.add()
			go s.writeLoop(s.ws)
		}
	case s.pollWaiting:
		s.wakePollLocked()
	}
}

func (s *Session) wakePollLocked() {
	select {
	case s.pollWake <- struct{}{}:
	default:
	}
}

// iovecs holds the writers' net.Buffers: a writer goroutine lives for one
// busy period, and growing a fresh slice in each was 3 % of a busy fan-out's
// CPU.
var iovecs = sync.Pool{New: func() any { return new(net.Buffers) }}

// writeLoop drains the queue to conn, everything queued in one write, until
// the queue is empty. It is the only writer of an attached WebSocket.
func (s *Session) writeLoop(conn net.Conn) {
	defer s.srv.goroutines.done()
	bp := iovecs.Get().(*net.Buffers)
	bufs := *bp
	defer func() {
		clear(bufs[:cap(bufs)]) // the frames' bytes are not the pool's to keep
		*bp = bufs[:0]
		iovecs.Put(bp)
	}()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.ws != conn {
			s.stopWritingLocked()
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = s.spare[:0]
		s.spare = nil
		b64 := s.wsB64
		s.mu.Unlock()

		final := false
		bufs = bufs[:0]
		for _, f := range batch {
			bufs = append(bufs, s.wsEncode(f, b64))
			final = final || f == frameWSClose
		}
		s.extendWriteDeadline(conn)
		w := bufs
		_, err := w.WriteTo(conn)
		clear(batch)
		s.mu.Lock()
		s.lastWrite = time.Now().UnixNano()
		s.spare = batch[:0]
		if final || err != nil {
			s.stopWritingLocked()
		}
		s.mu.Unlock()
		if err != nil {
			s.closeNow(ReasonTransportError)
			return
		}
		if final {
			s.closeNow(s.closingReason())
			return
		}
	}
}

// wsEncode returns f's WebSocket frame for this session's protocol.
func (s *Session) wsEncode(f *Frame, b64 bool) []byte {
	if s.v3 {
		return f.v3WSBytes(b64)
	}
	return f.wsBytes()
}

// extendWriteDeadline makes sure the next write on conn has at least 3/4
// of WriteTimeout before it fails. Setting a deadline costs a runtime timer
// update; done for every write it took 6 % of a busy fan-out's CPU, so it is
// only moved forward once a quarter of the timeout has gone by.
func (s *Session) extendWriteDeadline(conn net.Conn) {
	timeout := s.srv.cfg.WriteTimeout
	due := time.Now().Add(timeout)
	if due.UnixNano()-s.deadline < int64(timeout/4) {
		return
	}
	s.deadline = due.UnixNano()
	_ = conn.SetWriteDeadline(due) // fails only on a closed conn, which the write reports
}

// stopWritingLocked marks the WebSocket as no longer being written and
// wakes waitWriterIdle. s.mu is held.
func (s *Session) stopWritingLocked() {
	s.writing = false
	if s.writerIdle != nil {
		close(s.writerIdle)
		s.writerIdle = nil
	}
}

// waitWriterIdle returns once no goroutine is writing the WebSocket. It
// does not wait long: the writer's writes have a deadline and the inline
// write never blocks.
func (s *Session) waitWriterIdle() {
	s.mu.Lock()
	if !s.writing {
		s.mu.Unlock()
		return
	}
	if s.writerIdle == nil {
		s.writerIdle = make(chan struct{})
	}
	ch := s.writerIdle
	s.mu.Unlock()
	<-ch
}

func (s *Session) closingReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == "" {
		return ReasonForcedClose
	}
	return s.reason
}

// receive handles one decoded packet from either transport.
func (s *Session) receive(p packet) {
	switch p.typ {
	case typeMessage:
		s.enqueue(p)
	case typePong:
		if s.v3 {
			// Node: "invalid heartbeat direction".
			s.closeNow(ReasonTransportError)
			return
		}
		s.mu.Lock()
		if s.awaitPong && s.state == stateOpen {
			s.awaitPong = false
			s.resetTimerLocked(s.srv.cfg.PingInterval)
		}
		s.mu.Unlock()
	case typePing:
		if s.v3 {
			// In v3 the client pings: answer, and give it another
			// PingInterval+PingTimeout (awaitPong stays set, see start).
			s.mu.Lock()
			if s.state == stateOpen {
				s.resetTimerLocked(s.srv.v3Heartbeat())
			}
			s.mu.Unlock()
			_ = s.Send(framePong) // a closing session needs no pong
			return
		}
		// In v4 only the server pings; Node closes on a client ping.
		s.closeNow(ReasonTransportError)
	case typeClose:
		s.mu.Lock()
		s.peerClosed = true
		s.mu.Unlock()
		s.closeNow(ReasonTransportClose)
	case typeNoop, typeUpgrade:
	default:
		s.closeNow(ReasonParseError)
	}
}

// enqueue hands a message to the deliverer, waiting while the inbox is
// full: a client that sends faster than its handlers run is read no
// faster than that.
func (s *Session) enqueue(p packet) {
	s.mu.Lock()
	for len(s.inbox) >= s.srv.cfg.MaxInbox && s.state == stateOpen {
		if s.space == nil {
			s.space = make(chan struct{})
		}
		ch := s.space
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
	}
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.inbox = append(s.inbox, p)
	s.queued++
	if !s.delivering {
		s.delivering = true
		s.srv.goroutines.add()
		go s.deliver()
	}
	s.mu.Unlock()
}

// settleWait bounds how long a GET waits for the handler to finish the
// messages received before it (see settleLocked).
const settleWait = 100 * time.Millisecond

// settleLocked holds a GET until the handler has returned from every
// message received so far, for at most settleWait, or until the session
// closes or ctx is done. Node's handlers run synchronously while the POST
// is read, so their replies are queued before the client's next GET can be
// answered; Parley hands messages to a deliverer goroutine, and without
// this wait a GET right after a POST could carry only part of the replies
// (the public suites' echo cases check the whole). The wait is bounded so
// that a handler that blocks delays polling, not stops it; and it is the
// GET that waits, not the POST, so a client can always post its close
// packet. s.mu is held on entry and on return.
func (s *Session) settleLocked(ctx context.Context) {
	target := s.queued
	s.pollSettling = true // a second GET meanwhile overlaps this one
	defer func() { s.pollSettling = false }()
	timer := time.NewTimer(settleWait)
	defer timer.Stop()
	for s.handled < target && s.state == stateOpen {
		if s.handledWake == nil {
			s.handledWake = make(chan struct{})
		}
		wake := s.handledWake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			s.mu.Lock()
			return
		case <-ctx.Done():
			s.mu.Lock()
			return
		}
		s.mu.Lock()
	}
}

// deliver calls the handler for queued messages, in order, then exits.
// The close marker queued by closeNow comes last: messages that arrived
// before the close are delivered before OnClose.
func (s *Session) deliver() {
	defer s.srv.goroutines.done()
	var done uint64 // messages of the last batch, handled
	for {
		s.mu.Lock()
		if done > 0 {
			s.handled += done
			if s.handledWake != nil {
				close(s.handledWake)
				s.handledWake = nil
			}
		}
		batch := s.inbox
		s.inbox = nil
		if len(batch) == 0 {
			s.delivering = false
			s.mu.Unlock()
			return
		}
		if s.space != nil {
			close(s.space)
			s.space = nil
		}
		s.mu.Unlock()
		done = 0
		for _, p := range batch {
			if p.typ == typeClose {
				s.handler.OnClose(string(p.data))
				continue
			}
			s.handler.OnMessage(p.data, p.binary)
			done++
		}
	}
}

// resetTimerLocked arms the heartbeat timer to fire after d.
func (s *Session) resetTimerLocked(d time.Duration) {
	s.due = time.Now().Add(d)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.onTimer)
		return
	}
	s.timer.Reset(d)
}

// onTimer drives the heartbeat: send a ping, then close if no pong came in
// time. It also finishes a close whose last frames were never fetched.
func (s *Session) onTimer() {
	s.mu.Lock()
	s.runDueLocked(time.Now())
}

// runDueLocked does the heartbeat's work if its due time has passed: the
// timer's firing, or a request that finds the timer late (see servePoll).
// s.mu is held on entry and released on return.
func (s *Session) runDueLocked(now time.Time) {
	if now.Before(s.due) {
		s.mu.Unlock() // a stale firing; the timer was re-armed
		return
	}
	switch {
	case s.state == stateClosing:
		s.mu.Unlock()
		s.closeNow(s.closingReason())
	case s.state != stateOpen:
		s.mu.Unlock()
	case s.awaitPong:
		s.mu.Unlock()
		s.closeNow(ReasonPingTimeout)
	default:
		s.awaitPong = true
		s.resetTimerLocked(s.srv.cfg.PingTimeout)
		s.queue = append(s.queue, framePing)
		s.kickLocked()
		s.mu.Unlock()
	}
}

// Close closes the session gracefully: frames already queued are written,
// then the transport is closed (a close packet over polling, a close frame
// over WebSocket) and the handler's OnClose gets reason.
func (s *Session) Close(reason string) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	s.reason = reason
	if s.transport == transportWebSocket && s.ws != nil {
		s.queue = append(s.queue, frameWSClose)
	} else {
		s.queue = append(s.queue, frameClose)
	}
	if s.transport == transportPolling && !s.pollWaiting {
		s.resetTimerLocked(pollCloseGrace)
	} else {
		s.resetTimerLocked(closeGrace)
	}
	if s.transport == transportWebSocket && s.ws != nil {
		if !s.writing {
			s.writing = true
			s.srv.goroutines.add()
			go s.writeLoop(s.ws)
		}
	} else if s.pollWaiting {
		s.wakePollLocked()
	}
	s.mu.Unlock()
}

// closeNow closes the session at once and reports reason to the handler;
// when a graceful close was under way, its reason wins, since the peer's
// answer to it is no cause of its own.
func (s *Session) closeNow(reason string) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	if s.state == stateClosing && s.reason != "" {
		reason = s.reason
	}
	s.state = stateClosed
	if s.timer != nil {
		s.timer.Stop()
	}
	conn, probing := s.ws, s.probing
	s.probing = nil
	// A client that closes a polling session by POST may have a GET on its
	// way on another connection: that GET gets the noop it would have got
	// had it arrived first (see Server.remove).
	linger := s.peerClosed && s.transport == transportPolling && !s.noopSent && !s.pollWaiting
	s.queue = nil
	s.spare = nil
	if s.space != nil {
		close(s.space) // a reader waiting for inbox room gives up
		s.space = nil
	}
	if s.done != nil {
		close(s.done)
	}
	if s.handledWake != nil {
		close(s.handledWake) // a POST waiting for its messages' handling answers now
		s.handledWake = nil
	}
	if s.pollWaiting {
		s.wakePollLocked()
	}
	if s.handler != nil {
		s.inbox = append(s.inbox, packet{typ: typeClose, data: []byte(reason)})
		if !s.delivering {
			s.delivering = true
			s.srv.goroutines.add()
			go s.deliver()
		}
	}
	s.mu.Unlock()
	if conn != nil {
		_ = conn.Close() // the peer may have closed it already
	}
	if probing != nil {
		_ = probing.Close() // ends the probe, as Node closes it with the socket
	}
	s.srv.remove(s, linger)
}

// frameWSClose is a WebSocket close frame with status 1000.
var frameWSClose = func() *Frame {
	f := &Frame{typ: typeClose}
	f.wsOnce.Do(func() { f.ws = appendWSFrame(nil, opClose, nil, []byte{0x03, 0xe8}) })
	return f
}()

// Terminate closes the session at once, without draining its queue, and
// reports reason to the handler. Use it for protocol violations.
func (s *Session) Terminate(reason string) { s.closeNow(reason) }
