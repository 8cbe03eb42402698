package engineio

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Parking a long-polling GET.
//
// A GET held by net/http costs its connection goroutine (parked in the
// handler), the goroutine's stack, the connection's 4 KiB bufio.Reader and
// bufio.Writer and the parsed request: about two thirds of an idle polling
// client's memory (bench/POLLING.md). A GET that has waited ParkDelay with
// nothing to answer is therefore parked: its HTTP/1.1 connection is
// hijacked, watched for hang-up by the park watcher (park_linux.go: epoll,
// no goroutine per connection), and the handler returns. Whoever would have
// woken the held GET (a send, the heartbeat, a close, an upgrade) starts one
// goroutine instead that writes the response on the raw connection
// (answerParked) and hands the keep-alive connection back to the
// http.Server through the engine's Listener, whose Accept returns it: the
// server serves the client's next request on it with a fresh connection
// goroutine. A client that hangs up while parked closes the transport, as a
// held GET's cancelled context does.
//
// GETs are parked only when the engine can hand their connection back:
// the http.Server serves a Listener of this engine wrapping a TCP listener,
// the request is plain HTTP/1.1 keep-alive without a body, the
// ResponseWriter is an http.Hijacker, and the platform has the watcher
// (Linux). Everything else (TLS, HTTP/2, httptest servers, other
// platforms) is held by its handler as before.
//
// Why only after Config.ParkDelay: parking costs a hijack, two epoll_ctl calls, a
// goroutine and a new net/http connection (with new buffers) per GET. A
// busy client (echo, fan-out) has its GET answered within milliseconds,
// so for it the held goroutine is short-lived and parking would cost CPU
// for no memory; an idle client's GET waits up to a ping interval, and
// that is what costs memory.
//
// Ownership: a parked GET (Session.parked) belongs to the session until
// one party claims it by setting Session.parked to nil under Session.mu:
// the waker (wakePollLocked), the watcher's hang-up, or the parking
// goroutine itself when a wake or a hang-up came while it was parking.
// The claimer alone unwatches the connection, then answers it or closes it.

// parkedPoll is a GET parked without a goroutine.
type parkedPoll struct {
	conn net.Conn
	// rest holds request bytes the client sent after the GET (pipelined),
	// read by net/http before the hijack: they are replayed in front of
	// the connection when it is handed back.
	rest   []byte
	header http.Header // headers set before the park (CORS); nil when none
	back   *handbackListener
	watch  parkWatch // the hang-up watch (park_linux.go); zero when none

	// Guarded by Session.mu, while the GET is being parked.
	armed  bool // parking done: a waker answers it
	woken  bool // a waker came while parking
	hungUp bool // the watcher saw the client go while parking
}

// parkable reports whether r's GET may be parked when it has waited
// Config.ParkDelay (see above); it does not hijack anything.
func (srv *Server) parkable(w http.ResponseWriter, r *http.Request) bool {
	if !parkSupported || srv.cfg.ParkDelay < 0 || r.TLS != nil || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Close ||
		r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return false
	}
	if _, ok := w.(http.Hijacker); !ok {
		return false
	}
	return srv.handbackFor(r) != nil
}

// handbackFor returns the Listener serving r's http.Server, or nil.
func (srv *Server) handbackFor(r *http.Request) *handbackListener {
	hs, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if hs == nil {
		return nil
	}
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	l := srv.handbacks[hs]
	if l == nil || !l.tcp {
		return nil
	}
	return l
}

// park parks the session's held GET. It reports false when the GET was not
// parked (the caller holds it on, still able to answer through w).
func (s *Session) park(w http.ResponseWriter, r *http.Request) bool {
	back := s.srv.handbackFor(r)
	if back == nil || !s.srv.pk.ready(s.srv) {
		return false
	}
	s.mu.Lock()
	if !s.pollWaiting || s.parked != nil || len(s.queue) > 0 || s.state != stateOpen ||
		s.transport != transportPolling || s.upgrading || len(s.pollWake) > 0 {
		s.mu.Unlock()
		return false // woken meanwhile: the caller's select takes it
	}
	pp := &parkedPoll{back: back}
	if h := w.Header(); len(h) > 0 {
		pp.header = h.Clone()
	}
	s.parked = pp
	s.mu.Unlock()

	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		s.mu.Lock()
		s.parked = nil
		if pp.woken {
			s.wakePollLocked() // the caller's select answers it
		}
		s.mu.Unlock()
		s.srv.cfg.Logger.Debug("engineio: cannot park a poll", "sid", s.id, "err", err)
		return false
	}
	pp.conn = conn
	if rc, ok := conn.(*replayConn); ok {
		pp.conn, pp.rest = rc.TCPConn, rc.rest
	}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n) // cannot fail: n bytes are buffered
		pp.rest = append(append(make([]byte, 0, n+len(pp.rest)), b...), pp.rest...)
	}
	// The bufio.ReadWriter is net/http's: dropped here, it is garbage.
	gone := r.Context().Err() != nil // net/http saw the client go before the hijack
	if !gone && len(pp.rest) == 0 {
		// With pipelined bytes, as in net/http, a hang-up is not watched
		// for: the next request is already there.
		s.srv.pk.watch(s, pp)
	}
	s.mu.Lock()
	pp.hungUp = pp.hungUp || gone
	if pp.woken || pp.hungUp {
		s.parked = nil
		s.mu.Unlock()
		if pp.hungUp {
			s.parkedHungUp(pp)
			return true
		}
		s.answerParked(pp)
		return true
	}
	pp.armed = true
	s.mu.Unlock()
	return true
}

// wakeParkedLocked claims a parked GET for its answer, or marks one being
// parked as woken. It reports false when no GET is parked. s.mu is held.
func (s *Session) wakeParkedLocked() bool {
	pp := s.parked
	if pp == nil {
		return false
	}
	if !pp.armed {
		pp.woken = true
		return true
	}
	s.parked = nil
	s.srv.goroutines.add()
	go func() {
		defer s.srv.goroutines.done()
		s.answerParked(pp)
	}()
	return true
}

// hangUp is the watcher's report that pp's client went away (or closed its
// side): the transport closes, as for a held GET whose context ends.
func (s *Session) hangUp(pp *parkedPoll) {
	s.mu.Lock()
	if s.parked != pp {
		s.mu.Unlock()
		return // answered meanwhile
	}
	if !pp.armed {
		pp.hungUp = true
		s.mu.Unlock()
		return
	}
	s.parked = nil
	s.mu.Unlock()
	s.parkedHungUp(pp)
}

// parkedHungUp closes a claimed parked GET whose client went away, and the
// session with it.
func (s *Session) parkedHungUp(pp *parkedPoll) {
	s.srv.pk.unwatch(pp)
	_ = pp.conn.Close() // the client is gone
	s.mu.Lock()
	s.pollWaiting = false
	s.mu.Unlock()
	s.closeNow(ReasonTransportError)
}

// answerParked writes the response of a claimed parked GET on its
// connection and hands the connection back to the http.Server.
func (s *Session) answerParked(pp *parkedPoll) {
	s.srv.pk.unwatch(pp)
	s.mu.Lock()
	s.pollWaiting = false
	resp, final := s.pollResponseLocked()
	s.srv.mu.RLock()
	closing := s.srv.closing
	s.srv.mu.RUnlock()
	h := pp.header
	if h == nil {
		h = make(http.Header, 4)
	}
	resp.setHeaders(h)
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if closing {
		// The engine is shutting down: the client gets its close packet,
		// and no further request on this connection.
		h.Set("Connection", "close")
	}
	err := writeRaw(pp.conn, s.srv.cfg.WriteTimeout, resp, h)
	if err != nil || closing {
		_ = pp.conn.Close() // done with; a failed write has nothing left to tell
	} else {
		pp.back.handback(pp.conn, pp.rest)
	}
	if final {
		s.closeNow(s.closingReason())
		return
	}
	if err != nil {
		s.closeNow(ReasonTransportError)
	}
}

// writeRaw writes resp as an HTTP/1.1 response with the headers h (which
// resp.setHeaders completed) on conn, within timeout.
func writeRaw(conn net.Conn, timeout time.Duration, resp pollResponse, h http.Header) error {
	b := make([]byte, 0, 256+len(resp.body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(resp.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(resp.status)...)
	b = append(b, "\r\n"...)
	buf := appendWriter{b}
	if err := h.Write(&buf); err != nil {
		return err
	}
	b = append(buf.b, "\r\n"...)
	b = append(b, resp.body...)
	if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write(b); err != nil {
		return err
	}
	return conn.SetWriteDeadline(time.Time{})
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// replayConn is a handed-back connection with request bytes read before
// its hijack: Read returns them first.
type replayConn struct {
	*net.TCPConn
	rest []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.TCPConn.Read(p)
}

// Listener wraps ln, on which hs serves the engine (hs.Serve(srv.Listener(hs,
// ln))), so that long-polling GETs can be parked without a goroutine: the
// keep-alive connection of a parked GET, once answered, is returned by the
// listener's Accept, and hs serves the client's next request on it. The
// wrapper owns one goroutine, which accepts from ln and ends with Close
// (hs.Serve closes its listener when it returns). GETs are parked only on
// connections accepted from a *net.TCPListener (or from another engine's
// Listener around one, when hs serves several engines); with any other ln,
// or when hs is not served on a Listener, they are held by their handler.
func (srv *Server) Listener(hs *http.Server, ln net.Listener) net.Listener {
	_, tcp := ln.(*net.TCPListener)
	if inner, ok := ln.(*handbackListener); ok {
		tcp = inner.tcp // another engine's on the same server: chained
	}
	l := &handbackListener{
		Listener: ln,
		srv:      srv,
		hs:       hs,
		tcp:      tcp,
		accepted: make(chan acceptResult),
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
	srv.mu.Lock()
	if srv.handbacks == nil {
		srv.handbacks = make(map[*http.Server]*handbackListener)
	}
	srv.handbacks[hs] = l
	srv.mu.Unlock()
	return l
}

// handbackListener is the Listener wrapper: Accept returns the connections
// of ln and those handed back by answered parked GETs.
type handbackListener struct {
	net.Listener
	srv *Server
	hs  *http.Server
	tcp bool // ln is a *net.TCPListener

	start    sync.Once
	accepted chan acceptResult // from the accept goroutine
	done     chan struct{}     // closed by Close
	wake     chan struct{}     // a connection was handed back

	mu     sync.Mutex
	back   []net.Conn
	closed bool
}

type acceptResult struct {
	conn net.Conn
	err  error
}

// Accept returns the next connection: one handed back or a new one.
func (l *handbackListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, net.ErrClosed
		}
		if len(l.back) > 0 {
			c := l.back[0]
			l.back[0] = nil
			l.back = l.back[1:]
			if len(l.back) == 0 {
				l.back = nil
			}
			l.mu.Unlock()
			return c, nil
		}
		l.mu.Unlock()
		select {
		case r := <-l.accepted:
			return r.conn, r.err
		case <-l.wake:
		case <-l.done:
		}
	}
}

// acceptLoop accepts from ln for Accept until Close.
func (l *handbackListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		select {
		case l.accepted <- acceptResult{c, err}:
		case <-l.done:
			if c != nil {
				_ = c.Close() // accepted as the listener closed: nobody serves it
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// handback queues conn for Accept, with the request bytes rest in front of
// it; a closed listener closes it instead.
func (l *handbackListener) handback(conn net.Conn, rest []byte) {
	if len(rest) > 0 {
		if tc, ok := conn.(*net.TCPConn); ok {
			conn = &replayConn{TCPConn: tc, rest: rest}
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = conn.Close() // nobody will serve it
		return
	}
	l.back = append(l.back, conn)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // a wake is pending already
	}
}

// Close closes ln and the connections handed back but not accepted yet,
// and forgets the listener.
func (l *handbackListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	back := l.back
	l.back = nil
	close(l.done)
	l.mu.Unlock()
	for _, c := range back {
		_ = c.Close() // nobody will serve it
	}
	l.srv.mu.Lock()
	if l.srv.handbacks[l.hs] == l {
		delete(l.srv.handbacks, l.hs)
	}
	l.srv.mu.Unlock()
	return l.Listener.Close()
}
