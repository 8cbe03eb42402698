package engineio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/parley-rt/parley/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of these tests; nothing waits for it when
// the condition holds.
const waitTimeout = testutil.Timeout

// waitFor and recv are the shared helpers (internal/testutil).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, cond)
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return testutil.Recv(t, ch, what)
}

// message is one message a recorder received.
type message struct {
	data   string
	binary bool
}

// recorder is a Handler that records what its session receives.
type recorder struct {
	sess *Session

	mu     sync.Mutex
	msgs   []message
	reason string
	closes int
	closed chan struct{}
	onMsg  func(r *recorder, m message) // optional; runs in OnMessage
}

func (r *recorder) OnMessage(data []byte, binary bool) {
	m := message{string(data), binary}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	fn := r.onMsg
	r.mu.Unlock()
	if fn != nil {
		fn(r, m)
	}
}

func (r *recorder) OnClose(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closes++
	if r.closes == 1 {
		r.reason = reason
		close(r.closed)
	}
}

func (r *recorder) messages() []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]message(nil), r.msgs...)
}

// waitMessages waits until n messages arrived and returns them.
func (r *recorder) waitMessages(t testing.TB, n int) []message {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d messages", n), func() bool { return len(r.messages()) >= n })
	return r.messages()
}

// waitClose waits for OnClose and returns its reason.
func (r *recorder) waitClose(t testing.TB) string {
	t.Helper()
	recv(t, r.closed, "OnClose")
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

func (r *recorder) isClosed() bool {
	select {
	case <-r.closed:
		return true
	default:
		return false
	}
}

// env is a Server behind an httptest.Server, shut down at the end of the test.
type env struct {
	t   testing.TB
	srv *Server
	ts  *httptest.Server

	mu    sync.Mutex
	bySID map[string]*recorder
	order []*recorder
	onNew func(r *recorder) // optional; runs in OnSession
}

// newEnv starts a Server with cfg (OnSession is filled in).
func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	return newEnvServer(t, cfg, false)
}

// newEnvServer is newEnv; with park, the httptest server serves the engine
// through its Listener, so that idle polling GETs are parked (park.go).
func newEnvServer(t testing.TB, cfg Config, park bool) *env {
	t.Helper()
	e := &env{t: t, bySID: make(map[string]*recorder)}
	cfg.OnSession = func(s *Session) {
		r := &recorder{sess: s, closed: make(chan struct{})}
		e.mu.Lock()
		e.bySID[s.ID()] = r
		e.order = append(e.order, r)
		fn := e.onNew
		e.mu.Unlock()
		if fn != nil {
			fn(r)
		}
		s.SetHandler(r)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = srv
	e.ts = httptest.NewUnstartedServer(srv)
	if park {
		e.ts.Listener = srv.Listener(e.ts.Config, e.ts.Listener)
	}
	e.ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- srv.Close(ctx) }()
		// Polling sessions close when their client fetches the close
		// packet: fetch it rather than wait for the close grace period.
		e.mu.Lock()
		open := slices.Clone(e.order)
		e.mu.Unlock()
		for _, r := range open {
			if !r.isClosed() && r.sess.Transport() == "polling" {
				(&pollClient{e: e, sid: r.sess.ID()}).drain(ctx)
			}
		}
		if err := <-done; err != nil {
			t.Errorf("Server.Close: %v", err)
		}
		e.ts.Close()
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, r := range e.order {
			// Close returns once the last session is removed, which can
			// be just before that session's OnClose runs.
			select {
			case <-r.closed:
			case <-ctx.Done():
			}
			r.mu.Lock()
			if r.closes != 1 {
				t.Errorf("session %s: OnClose called %d times, want 1", r.sess.ID(), r.closes)
			}
			r.mu.Unlock()
		}
	})
	return e
}

// opened returns how many sessions the server has handed to OnSession.
func (e *env) opened() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.order)
}

// session waits for the recorder of sid.
func (e *env) session(sid string) *recorder {
	e.t.Helper()
	var r *recorder
	waitFor(e.t, "session "+sid, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		r = e.bySID[sid]
		return r != nil
	})
	return r
}

func (e *env) url(query string) string {
	return e.ts.URL + "/engine.io/?" + query
}

// httpDo sends a request and returns status, headers and body.
func (e *env) httpDo(method, url string, body io.Reader, hdr http.Header) (int, http.Header, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return res.StatusCode, res.Header, string(b)
}

// handshakeInfo is the open packet's JSON.
type handshakeInfo struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

// pollClient is a raw long-polling client of one session.
type pollClient struct {
	e   *env
	sid string
	hs  handshakeInfo
}

// openPolling performs a polling handshake.
func (e *env) openPolling() *pollClient {
	e.t.Helper()
	status, _, body := e.httpDo(http.MethodGet, e.url("EIO=4&transport=polling"), nil, nil)
	if status != http.StatusOK || !strings.HasPrefix(body, "0") {
		e.t.Fatalf("handshake: %d %q", status, body)
	}
	c := &pollClient{e: e}
	if err := json.Unmarshal([]byte(body[1:]), &c.hs); err != nil {
		e.t.Fatalf("handshake JSON %q: %v", body, err)
	}
	c.sid = c.hs.SID
	return c
}

// drain polls until the session is gone; errors just end it.
func (c *pollClient) drain(ctx context.Context) {
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(), nil)
		if err != nil {
			return
		}
		res, err := c.e.ts.Client().Do(req)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(res.Body) // a short body ends the loop below
		_ = res.Body.Close()         // read fully; nothing to report
		if res.StatusCode != http.StatusOK || len(b) == 0 {
			return
		}
		for _, rec := range splitPayload(string(b)) {
			if rec == "1" {
				return
			}
		}
	}
}

func (c *pollClient) url() string {
	return c.e.url("EIO=4&transport=polling&sid=" + c.sid)
}

// get performs one GET and returns status and body.
func (c *pollClient) get() (int, string) {
	c.e.t.Helper()
	status, _, body := c.e.httpDo(http.MethodGet, c.url(), nil, nil)
	return status, body
}

type httpResult struct {
	status int
	body   string
	err    error
}

// getAsync starts a GET in a goroutine; the channel gets its result. The
// goroutine always ends: the request is bounded by waitTimeout.
func (c *pollClient) getAsync() <-chan httpResult {
	ch := make(chan httpResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(), nil)
		if err != nil {
			ch <- httpResult{err: err}
			return
		}
		res, err := c.e.ts.Client().Do(req)
		if err != nil {
			ch <- httpResult{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		ch <- httpResult{status: res.StatusCode, body: string(b), err: err}
	}()
	return ch
}

// post sends a payload.
func (c *pollClient) post(payload string) (int, string) {
	c.e.t.Helper()
	status, _, body := c.e.httpDo(http.MethodPost, c.url(), strings.NewReader(payload), nil)
	return status, body
}

// wsClient is a raw WebSocket client.
type wsClient struct {
	t    testing.TB
	conn net.Conn
	r    io.Reader
}

// dialWS opens a WebSocket to the env with query.
func (e *env) dialWS(query string) *wsClient {
	e.t.Helper()
	c, err := e.tryDialWS(query)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	return c
}

func (e *env) tryDialWS(query string) (*wsClient, error) {
	return e.tryDialWSHeader(query, nil)
}

// tryDialWSHeader dials with extra handshake headers (such as Origin).
func (e *env) tryDialWSHeader(query string, hdr http.Header) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.url(query), "http")
	d := ws.Dialer{}
	if hdr != nil {
		d.Header = ws.HandshakeHeaderHTTP(hdr)
	}
	conn, br, _, err := d.Dial(ctx, u)
	if err != nil {
		return nil, err
	}
	c := &wsClient{t: e.t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	e.t.Cleanup(func() { _ = conn.Close() }) // may be closed already
	return c, nil
}

// openWS opens a session over WebSocket and returns it with its handshake.
func (e *env) openWS() (*wsClient, handshakeInfo) {
	e.t.Helper()
	c := e.dialWS("EIO=4&transport=websocket")
	msg := c.readText()
	if !strings.HasPrefix(msg, "0") {
		e.t.Fatalf("open packet: %q", msg)
	}
	var hs handshakeInfo
	if err := json.Unmarshal([]byte(msg[1:]), &hs); err != nil {
		e.t.Fatalf("open JSON %q: %v", msg, err)
	}
	return c, hs
}

// errClosed reports a close frame from the server.
var errCloseFrame = errors.New("close frame")

// read reads one data message; control frames from the server other than
// close are skipped.
func (c *wsClient) read(timeout time.Duration) (ws.OpCode, []byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout)) // a closed conn reports on read
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			return 0, nil, err
		}
		if f.Header.Masked {
			return 0, nil, fmt.Errorf("server frame is masked")
		}
		switch f.Header.OpCode {
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return ws.OpClose, f.Payload, fmt.Errorf("%w %d", errCloseFrame, code)
		case ws.OpPing, ws.OpPong:
			continue
		}
		if !f.Header.Fin {
			return 0, nil, fmt.Errorf("server sent a fragment")
		}
		return f.Header.OpCode, f.Payload, nil
	}
}

// readText reads one text message.
func (c *wsClient) readText() string {
	c.t.Helper()
	op, p, err := c.read(waitTimeout)
	if err != nil {
		c.t.Fatalf("ws read: %v", err)
	}
	if op != ws.OpText {
		c.t.Fatalf("ws read: opcode %v, want text (%q)", op, p)
	}
	return string(p)
}

// readUntilClosed reads until the connection ends and returns the error
// that ended it (a close frame or EOF).
func (c *wsClient) readUntilClosed() error {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		_, _, err := c.read(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return err
		}
	}
	c.t.Fatalf("connection still open")
	return nil
}

// write sends one masked frame.
func (c *wsClient) write(op ws.OpCode, fin bool, p []byte) error {
	f := ws.MaskFrame(ws.NewFrame(op, fin, p))
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout)) // a failed write reports
	return ws.WriteFrame(c.conn, f)
}

func (c *wsClient) sendText(s string) {
	c.t.Helper()
	if err := c.write(ws.OpText, true, []byte(s)); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

func (c *wsClient) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.write(ws.OpBinary, true, b); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

// textMessages returns ms as "data" strings, binary ones as "b:" + data.
func textMessages(ms []message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		if m.binary {
			out[i] = "b:" + m.data
		} else {
			out[i] = m.data
		}
	}
	return out
}

// mustSend sends a text message on s.
func mustSend(t testing.TB, s *Session, data string) {
	t.Helper()
	if err := s.Send(NewMessage([]byte(data), false)); err != nil {
		t.Fatalf("Send %q: %v", data, err)
	}
}

// splitPayload splits a polling body into its records.
func splitPayload(body string) []string {
	return strings.Split(body, "\x1e")
}

// readerOf returns a bufio.Reader over b for readHeader.
func readerOf(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
