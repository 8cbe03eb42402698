package forward_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/internal/forward"
	"github.com/parley-rt/parley/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// registry is a static Resolve: tag -> address.
type registry struct {
	mu    sync.Mutex
	addrs map[string]string
}

func (r *registry) set(tag, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs[tag] = addr
}

func (r *registry) resolve(_ context.Context, tag string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.addrs[tag]; ok {
		return a, nil
	}
	return "", errors.New("no such node")
}

// node is an Engine.IO echo server whose sids start with tag, forwarding
// other nodes' sids through fwd.
type node struct {
	tag string
	eng *engineio.Server
	fwd *forward.Forwarder
	ts  *httptest.Server
}

func (n *node) url(query string) string { return n.ts.URL + "/engine.io/?" + query }

type echo struct{ s *engineio.Session }

func (e echo) OnMessage(data []byte, binary bool) { _ = e.s.Send(engineio.NewMessage(data, binary)) } // a closed session drops it
func (echo) OnClose(string)                       {}

func newNode(t testing.TB, tag string, reg *registry) *node {
	t.Helper()
	fwd, err := forward.New(forward.Config{Self: tag, Resolve: reg.resolve, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engineio.New(engineio.Config{
		SIDPrefix: tag, UnknownSession: fwd.UnknownSession,
		PingInterval: 10 * time.Second, PingTimeout: 10 * time.Second,
		CORS:      engineio.CORS{AllowOrigin: func(o string) bool { return o == "http://app.example" }},
		OnSession: func(s *engineio.Session) { s.SetHandler(echo{s}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{tag: tag, eng: eng, fwd: fwd, ts: httptest.NewServer(eng)}
	reg.set(tag, n.ts.Listener.Addr().String())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
		defer cancel()
		if err := fwd.Close(ctx); err != nil {
			t.Errorf("forwarder close: %v", err)
		}
		n.ts.CloseClientConnections()
		if err := eng.Close(ctx); err != nil {
			t.Errorf("engine close: %v", err)
		}
		n.ts.Close()
	})
	return n
}

func twoNodes(t testing.TB) (a, b *node, reg *registry) {
	reg = &registry{addrs: map[string]string{}}
	return newNode(t, "AAAAAA", reg), newNode(t, "BBBBBB", reg), reg
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, ctx context.Context, method, url, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, string(b)}
}

// handshake opens a polling session on n and returns its sid.
func handshake(t testing.TB, n *node) string {
	t.Helper()
	a := do(t, testutil.Context(t), http.MethodGet, n.url("EIO=4&transport=polling"), "")
	var open struct {
		SID string `json:"sid"`
	}
	if a.status != 200 || !strings.HasPrefix(a.body, "0") || json.Unmarshal([]byte(a.body[1:]), &open) != nil {
		t.Fatalf("handshake: %d %q", a.status, a.body)
	}
	if !strings.HasPrefix(open.SID, n.tag) {
		t.Fatalf("sid %q does not start with %s", open.SID, n.tag)
	}
	return open.SID
}

const unknownSID = `{"code":1,"message":"Session ID unknown"}`

// TestPollingThroughOtherNode: a POST and a GET for A's session sent to B
// reach A; the answer has one set of CORS headers.
func TestPollingThroughOtherNode(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t)
	sid := handshake(t, a)
	ctx := testutil.Context(t)
	q := "EIO=4&transport=polling&sid=" + sid
	if got := do(t, ctx, http.MethodPost, b.url(q), "4hello\x1e4world"); got.status != 200 || got.body != "ok" {
		t.Fatalf("POST through B: %d %q", got.status, got.body)
	}
	got := do(t, ctx, http.MethodGet, b.url(q), "", "Origin", "http://app.example")
	if got.status != 200 || got.body != "4hello\x1e4world" {
		t.Fatalf("GET through B: %d %q", got.status, got.body)
	}
	if v := got.header.Values("Access-Control-Allow-Origin"); len(v) != 1 || v[0] != "http://app.example" {
		t.Fatalf("Access-Control-Allow-Origin through B: %q", v)
	}
	if st := b.fwd.Stats(); st.Polling != 2 || st.WebSocket != 0 || st.Unknown != 0 || st.Failed != 0 {
		t.Fatalf("B's stats: %+v", st)
	}
	if st := a.fwd.Stats(); st != (forward.Stats{}) {
		t.Fatalf("A forwarded its own session: %+v", st)
	}
}

// wsDial dials an upgrade of sid at n.
func wsDial(t testing.TB, n *node, sid string) net.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(n.url("EIO=4&transport=websocket&sid="+sid), "http")
	conn, br, _, err := ws.Dialer{Timeout: testutil.Timeout}.Dial(testutil.Context(t), u)
	if err != nil {
		t.Fatalf("upgrade at %s: %v", n.tag, err)
	}
	if br != nil {
		ws.PutReader(br)
	}
	t.Cleanup(func() { _ = conn.Close() }) // closed already when the test ended it
	return conn
}

func wsRead(t testing.TB, conn net.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(testutil.Timeout)) // a failing read reports below
	b, err := wsutil.ReadServerText(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// TestUpgradeThroughOtherNode: a polling session of A upgrades through B;
// messages cross the relayed connection both ways.
func TestUpgradeThroughOtherNode(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t)
	sid := handshake(t, a)
	conn := wsDial(t, b, sid)
	if err := wsutil.WriteClientText(conn, []byte("2probe")); err != nil {
		t.Fatal(err)
	}
	if got := wsRead(t, conn); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	if err := wsutil.WriteClientText(conn, []byte("5")); err != nil {
		t.Fatal(err)
	}
	if err := wsutil.WriteClientText(conn, []byte("4over websocket")); err != nil {
		t.Fatal(err)
	}
	if got := wsRead(t, conn); got != "4over websocket" {
		t.Fatalf("echo %q", got)
	}
	testutil.WaitFor(t, "the session on websocket", func() bool { return a.eng.CountByTransport()["websocket"] == 1 })
	if st := b.fwd.Stats(); st.WebSocket != 1 || st.Polling != 0 {
		t.Fatalf("B's stats: %+v", st)
	}
}

// TestNeverTwice: a forwarded request is not forwarded again, even when
// the registry is wrong and points a node at itself.
func TestNeverTwice(t *testing.T) {
	t.Parallel()
	a, b, reg := twoNodes(t)
	sid := handshake(t, a)
	ctx := testutil.Context(t)
	q := "EIO=4&transport=polling&sid=" + sid
	if got := do(t, ctx, http.MethodGet, b.url(q), "", forward.Header, "XXXXXX"); got.status != 400 || got.body != unknownSID {
		t.Fatalf("a request marked forwarded: %d %q", got.status, got.body)
	}
	reg.set("CCCCCC", b.ts.Listener.Addr().String()) // a stale entry: C's sids "live" on B
	q = "EIO=4&transport=polling&sid=CCCCCC" + strings.Repeat("x", 14)
	if got := do(t, ctx, http.MethodGet, b.url(q), ""); got.status != 400 || got.body != unknownSID {
		t.Fatalf("a sid whose owner points back: %d %q", got.status, got.body)
	}
	if st := b.fwd.Stats(); st.Polling != 1 {
		t.Fatalf("B relayed %d requests, want the one to itself: %+v", st.Polling, st)
	}
}

// TestOwnerGone: an owner with no registry entry, or one that does not
// answer, gets the client "Session ID unknown".
func TestOwnerGone(t *testing.T) {
	t.Parallel()
	_, b, reg := twoNodes(t)
	ctx := testutil.Context(t)
	q := "EIO=4&transport=polling&sid=ZZZZZZ" + strings.Repeat("x", 14)
	if got := do(t, ctx, http.MethodGet, b.url(q), ""); got.status != 400 || got.body != unknownSID {
		t.Fatalf("unknown owner: %d %q", got.status, got.body)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg.set("DDDDDD", ln.Addr().String())
	_ = ln.Close() // nothing listens there now
	q = "EIO=4&transport=polling&sid=DDDDDD" + strings.Repeat("x", 14)
	if got := do(t, ctx, http.MethodPost, b.url(q), "4x"); got.status != 400 || got.body != unknownSID {
		t.Fatalf("dead owner: %d %q", got.status, got.body)
	}
	if st := b.fwd.Stats(); st.Unknown != 1 || st.Failed != 1 {
		t.Fatalf("B's stats: %+v", st)
	}
}

// TestCloseEndsRelays: Close ends a relayed long poll and a relayed
// WebSocket connection, and later requests are not forwarded.
func TestCloseEndsRelays(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t)
	pollSID, wsSID := handshake(t, a), handshake(t, a)
	ctx := testutil.Context(t)
	polled := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url("EIO=4&transport=polling&sid="+pollSID), nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			polled <- answer{status: -1, body: err.Error()}
			return
		}
		body, _ := io.ReadAll(res.Body) // a broken body shows as a short one
		_ = res.Body.Close()
		polled <- answer{status: res.StatusCode, body: string(body)}
	}()
	conn := wsDial(t, b, wsSID)
	testutil.WaitFor(t, "both relays in flight", func() bool { st := b.fwd.Stats(); return st.Polling == 1 && st.WebSocket == 1 })
	if err := b.fwd.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := testutil.Recv(t, polled, "the relayed poll to end"); got.status == 200 {
		t.Fatalf("the relayed poll was answered %q after Close", got.body)
	}
	_ = conn.SetReadDeadline(time.Now().Add(testutil.Timeout)) // the read below reports a hang
	if _, err := wsutil.ReadServerText(conn); err == nil {
		t.Fatal("the relayed WebSocket connection still reads after Close")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the relayed WebSocket connection stayed open after Close")
	}
	if got := do(t, ctx, http.MethodGet, b.url("EIO=4&transport=polling&sid="+pollSID), ""); got.status != 400 {
		t.Fatalf("forwarded after Close: %d %q", got.status, got.body)
	}
}

// TestRegistryOutage: while the registry cannot be read, relays go on to
// the owner's last known address; an unknown node stays unknown.
func TestRegistryOutage(t *testing.T) {
	t.Parallel()
	reg := &registry{addrs: map[string]string{}}
	errDown := errors.New("registry down")
	var down atomic.Bool
	resolve := func(ctx context.Context, tag string) (string, error) {
		if down.Load() {
			return "", errDown
		}
		return reg.resolve(ctx, tag)
	}
	a := newNode(t, "AAAAAA", reg)
	fwd, err := forward.New(forward.Config{Self: "BBBBBB", Resolve: resolve, CacheTTL: time.Nanosecond,
		Unavailable: func(err error) bool { return errors.Is(err, errDown) }})
	if err != nil {
		t.Fatal(err)
	}
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fwd.UnknownSession(w, r, r.URL.Query().Get("sid")) {
			http.Error(w, unknownSID, http.StatusBadRequest)
		}
	}))
	t.Cleanup(func() {
		_ = fwd.Close(context.Background()) // nothing in flight by now
		b.Close()
	})
	sid := handshake(t, a)
	ctx := testutil.Context(t)
	q := b.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	if got := do(t, ctx, http.MethodPost, q, "4before"); got.status != 200 {
		t.Fatalf("relay with the registry up: %d %q", got.status, got.body)
	}
	down.Store(true)
	if got := do(t, ctx, http.MethodPost, q, "4during"); got.status != 200 {
		t.Fatalf("relay with the registry down: %d %q", got.status, got.body)
	}
	if got := do(t, ctx, http.MethodGet, q, ""); got.status != 200 || got.body != "4before\x1e4during" {
		t.Fatalf("GET with the registry down: %d %q", got.status, got.body)
	}
	other := b.URL + "/engine.io/?EIO=4&transport=polling&sid=CCCCCC" + strings.Repeat("x", 14)
	if got := do(t, ctx, http.MethodGet, other, ""); got.status != 400 {
		t.Fatalf("an unknown node with the registry down: %d %q", got.status, got.body)
	}
}
