package engineio

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The parked path needs the Linux watcher; elsewhere GETs are held, which
// the other polling tests cover.
func skipWithoutPark(t *testing.T) {
	t.Helper()
	if !parkSupported {
		t.Skip("GETs are parked only on Linux")
	}
}

// parkConfig parks a GET as soon as it waits.
func parkConfig() Config { return Config{ParkDelay: time.Nanosecond} }

// rawHTTP is an HTTP/1.1 client on one TCP connection, so that a test sees
// which connection serves which request.
type rawHTTP struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func (e *env) dialRaw() *rawHTTP {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { _ = conn.Close() }) // may be closed already
	return &rawHTTP{t: e.t, conn: conn, br: bufio.NewReader(conn)}
}

// send writes one request; body, when not empty, is a POST's.
func (c *rawHTTP) send(method, target, body string, header ...string) {
	c.t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: test\r\n")
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	if method == http.MethodPost {
		b.WriteString("Content-Type: text/plain;charset=UTF-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.t.Fatalf("write request: %v", err)
	}
}

// read reads one response and its body.
func (c *rawHTTP) read() (*http.Response, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout)) // a closed conn fails the read below
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	_ = res.Body.Close() // read fully
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return res, string(b)
}

// pollTarget is the request target of sid's polling requests.
func pollTarget(sid string) string {
	return "/engine.io/?EIO=4&transport=polling&sid=" + sid
}

// waitParked waits until sid's GET is parked.
func (e *env) waitParked(s *Session) {
	e.t.Helper()
	waitFor(e.t, "a parked GET", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.parked != nil && s.parked.armed
	})
}

// parkedGET starts a parking server with cfg, opens a polling session and
// sends its GET on a raw keep-alive connection, returning once that GET is
// parked.
func parkedGET(t *testing.T, cfg Config) (*env, *pollClient, *recorder, *rawHTTP) {
	skipWithoutPark(t)
	t.Parallel()
	e := newEnvServer(t, cfg, true)
	c := e.openPolling()
	rec := e.session(c.sid)
	raw := e.dialRaw()
	raw.send(http.MethodGet, pollTarget(c.sid), "")
	e.waitParked(rec.sess)
	return e, c, rec, raw
}

func TestParkedPollAnsweredBySendOnSameConnection(t *testing.T) {
	skipWithoutPark(t)
	t.Parallel()
	e := newEnvServer(t, parkConfig(), true)
	c := e.openPolling()
	rec := e.session(c.sid)
	raw := e.dialRaw()

	for i, msg := range []string{"first", "second"} {
		raw.send(http.MethodGet, pollTarget(c.sid), "")
		e.waitParked(rec.sess)
		mustSend(t, rec.sess, msg)
		res, body := raw.read()
		if res.StatusCode != http.StatusOK || body != "4"+msg {
			t.Fatalf("GET %d: %d %q, want 200 %q", i, res.StatusCode, body, "4"+msg)
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
			t.Errorf("GET %d: Content-Type %q", i, ct)
		}
		if res.ContentLength != int64(len(body)) || res.Close {
			t.Errorf("GET %d: Content-Length %d, close %v; want %d, keep-alive", i, res.ContentLength, res.Close, len(body))
		}
		if res.Header.Get("Date") == "" {
			t.Errorf("GET %d: no Date header", i)
		}
	}
	// The handed-back connection serves other requests too: a POST, then
	// a GET that finds data at once (never parked).
	raw.send(http.MethodPost, pollTarget(c.sid), "4up")
	if res, body := raw.read(); res.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("POST on the handed-back connection: %d %q", res.StatusCode, body)
	}
	if got := textMessages(rec.waitMessages(t, 1)); got[0] != "up" {
		t.Fatalf("messages %q", got)
	}
	mustSend(t, rec.sess, "now")
	raw.send(http.MethodGet, pollTarget(c.sid), "")
	if res, body := raw.read(); res.StatusCode != http.StatusOK || body != "4now" {
		t.Fatalf("GET with data queued: %d %q", res.StatusCode, body)
	}
	if rec.isClosed() {
		t.Fatalf("session closed: %s", rec.reason)
	}
}

func TestParkedPollCarriesCORSHeaders(t *testing.T) {
	skipWithoutPark(t)
	t.Parallel()
	cfg := parkConfig()
	cfg.CORS = CORS{AllowOrigin: func(o string) bool { return o == "http://app.example" }, Credentials: true}
	e := newEnvServer(t, cfg, true)
	c := e.openPolling()
	rec := e.session(c.sid)
	raw := e.dialRaw()

	// Held (data queued) and parked answers carry the same headers.
	mustSend(t, rec.sess, "held")
	raw.send(http.MethodGet, pollTarget(c.sid), "", "Origin: http://app.example")
	held, _ := raw.read()
	raw.send(http.MethodGet, pollTarget(c.sid), "", "Origin: http://app.example")
	e.waitParked(rec.sess)
	mustSend(t, rec.sess, "parked")
	parked, body := raw.read()
	if body != "4parked" {
		t.Fatalf("parked body %q", body)
	}
	held.Header.Del("Date")
	parked.Header.Del("Date")
	held.Header.Set("Content-Length", "-") // the bodies differ in length
	parked.Header.Set("Content-Length", "-")
	if got, want := headerString(parked.Header), headerString(held.Header); got != want {
		t.Fatalf("parked headers\n%s\nheld headers\n%s", got, want)
	}
	if parked.Header.Get("Access-Control-Allow-Origin") != "http://app.example" || parked.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("no CORS headers: %v", parked.Header)
	}
}

func headerString(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b) // a strings.Builder does not fail
	return b.String()
}

func TestParkedPollAnsweredByPing(t *testing.T) {
	cfg := parkConfig()
	cfg.PingInterval = 150 * time.Millisecond
	cfg.PingTimeout = 5 * time.Second
	e, c, rec, raw := parkedGET(t, cfg)
	if res, body := raw.read(); res.StatusCode != http.StatusOK || body != "2" {
		t.Fatalf("parked GET: %d %q, want the ping", res.StatusCode, body)
	}
	if status, _ := c.post("3"); status != http.StatusOK {
		t.Fatalf("pong: %d", status)
	}
	raw.send(http.MethodGet, pollTarget(c.sid), "")
	e.waitParked(rec.sess)
	if rec.isClosed() {
		t.Fatalf("session closed after the pong: %s", rec.reason)
	}
}

func TestParkedPollAnsweredByClose(t *testing.T) {
	_, c, rec, raw := parkedGET(t, parkConfig())
	rec.sess.Close(ReasonForcedClose)
	if res, body := raw.read(); res.StatusCode != http.StatusOK || body != "1" {
		t.Fatalf("parked GET: %d %q, want the close packet", res.StatusCode, body)
	}
	if reason := rec.waitClose(t); reason != ReasonForcedClose {
		t.Fatalf("reason %q", reason)
	}
	// The connection is handed back all the same: the next GET is
	// refused as unknown, on it.
	raw.send(http.MethodGet, pollTarget(c.sid), "")
	if res, _ := raw.read(); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET after close: %d", res.StatusCode)
	}
}

func TestParkedPollHangUpClosesTransport(t *testing.T) {
	e, _, rec, raw := parkedGET(t, parkConfig())
	_ = raw.conn.Close() // the client goes away
	if reason := rec.waitClose(t); reason != ReasonTransportError {
		t.Fatalf("reason %q, want %q", reason, ReasonTransportError)
	}
	if n := e.srv.Count(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func TestParkedPollReplaysPipelinedRequest(t *testing.T) {
	skipWithoutPark(t)
	t.Parallel()
	e := newEnvServer(t, parkConfig(), true)
	c := e.openPolling()
	rec := e.session(c.sid)
	raw := e.dialRaw()
	// The GET and a handshake behind it in one write: net/http has read
	// both when the GET is parked, and the handshake must be served after.
	raw.send(http.MethodGet, pollTarget(c.sid), "")
	raw.send(http.MethodGet, "/engine.io/?EIO=4&transport=polling", "")
	e.waitParked(rec.sess)
	mustSend(t, rec.sess, "x")
	if res, body := raw.read(); res.StatusCode != http.StatusOK || body != "4x" {
		t.Fatalf("parked GET: %d %q", res.StatusCode, body)
	}
	if res, body := raw.read(); res.StatusCode != http.StatusOK || !strings.HasPrefix(body, `0{"sid"`) {
		t.Fatalf("pipelined handshake: %d %q", res.StatusCode, body)
	}
}

func TestParkedPollServerClose(t *testing.T) {
	e, _, rec, raw := parkedGET(t, parkConfig())

	// As server.Shutdown does: the engine first, then the HTTP server.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- e.srv.Close(ctx) }()
	res, body := raw.read()
	if res.StatusCode != http.StatusOK || body != "1" || !res.Close {
		t.Fatalf("parked GET at shutdown: %d %q close=%v, want the close packet and Connection: close", res.StatusCode, body, res.Close)
	}
	if err := recv(t, closed, "Server.Close"); err != nil {
		t.Fatalf("Server.Close: %v", err)
	}
	if reason := rec.waitClose(t); reason != ReasonServerShutdown {
		t.Fatalf("reason %q", reason)
	}
	// The connection is closed, not handed back.
	_ = raw.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if n, err := raw.br.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes after the close packet, want EOF", n)
	}
	if err := e.ts.Config.Shutdown(ctx); err != nil {
		t.Fatalf("http.Server.Shutdown: %v", err)
	}
}

func TestParkedPollHTTPShutdownFirst(t *testing.T) {
	e, _, rec, raw := parkedGET(t, parkConfig())

	// http.Server.Shutdown does not know hijacked connections: it returns
	// at once, closing the listener; the engine's Close still answers the
	// parked GET, and the connection is then closed, not handed back.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.ts.Config.Shutdown(ctx); err != nil {
		t.Fatalf("http.Server.Shutdown: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- e.srv.Close(ctx) }()
	if res, body := raw.read(); res.StatusCode != http.StatusOK || body != "1" {
		t.Fatalf("parked GET: %d %q", res.StatusCode, body)
	}
	if err := recv(t, closed, "Server.Close"); err != nil {
		t.Fatalf("Server.Close: %v", err)
	}
	_ = raw.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if n, err := raw.br.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes, want EOF", n)
	}
	if reason := rec.waitClose(t); reason != ReasonServerShutdown {
		t.Fatalf("reason %q", reason)
	}
}

// With the standard client (its keep-alive pool), a session whose every
// GET is parked works like a held one: messages both ways, in order.
func TestParkedPollingSession(t *testing.T) {
	skipWithoutPark(t)
	t.Parallel()
	e := newEnvServer(t, parkConfig(), true)
	c := e.openPolling()
	rec := e.session(c.sid)
	rec.mu.Lock()
	rec.onMsg = func(r *recorder, m message) {
		_ = r.sess.Send(NewMessage([]byte("echo:"+m.data), false)) // the session is open while the test posts
	}
	rec.mu.Unlock()
	var got []string
	for i := range 5 {
		pending := c.getAsync()
		e.waitParked(rec.sess)
		if status, _ := c.post("4m" + strconv.Itoa(i)); status != http.StatusOK {
			t.Fatalf("POST %d: %d", i, status)
		}
		r := recv(t, pending, "GET")
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("GET %d: %d %v", i, r.status, r.err)
		}
		got = append(got, splitPayload(r.body)...)
	}
	want := []string{"4echo:m0", "4echo:m1", "4echo:m2", "4echo:m3", "4echo:m4"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Many parked GETs answered at once by one broadcast, twice on each
// connection, half of them hanging up before the second: every answer
// arrives, every hung-up session closes, the others stay open.
func TestParkedPollsConcurrent(t *testing.T) {
	skipWithoutPark(t)
	t.Parallel()
	e := newEnvServer(t, parkConfig(), true)
	const n = 24
	type client struct {
		c   *pollClient
		rec *recorder
		raw *rawHTTP
	}
	cs := make([]client, n)
	for i := range cs {
		c := e.openPolling()
		cs[i] = client{c, e.session(c.sid), e.dialRaw()}
	}
	f := NewMessage([]byte("all"), false)
	for round := range 2 {
		for _, c := range cs {
			c.raw.send(http.MethodGet, pollTarget(c.c.sid), "")
		}
		for _, c := range cs {
			e.waitParked(c.rec.sess)
		}
		if round == 1 {
			// (A hang-up racing the answer's write is noticed only by the
			// next read or the heartbeat, parked or held: wait for it.)
			for _, c := range cs[n/2:] {
				_ = c.raw.conn.Close() // hangs up while parked
			}
			for _, c := range cs[n/2:] {
				if reason := c.rec.waitClose(t); reason != ReasonTransportError {
					t.Fatalf("hung-up session: %q", reason)
				}
			}
		}
		for _, c := range cs {
			_ = c.rec.sess.Send(f) // a hung-up session may be closed already
		}
		for _, c := range cs[:n/2] {
			if res, body := c.raw.read(); res.StatusCode != http.StatusOK || body != "4all" {
				t.Fatalf("round %d: %d %q", round, res.StatusCode, body)
			}
		}
		if round == 0 {
			for _, c := range cs[n/2:] {
				if res, body := c.raw.read(); res.StatusCode != http.StatusOK || body != "4all" {
					t.Fatalf("round %d: %d %q", round, res.StatusCode, body)
				}
			}
		}
	}
	for _, c := range cs[:n/2] {
		if c.rec.isClosed() {
			t.Fatalf("session closed: %s", c.rec.reason)
		}
	}
}
