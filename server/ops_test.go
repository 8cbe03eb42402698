package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-rt/parley/internal/testutil"
	"github.com/parley-rt/parley/server"
)

// /metrics on the main listener serves the documented names, and counts
// what happens: a refused token, a stored message, a connected socket.
func TestMetricsOnMainListener(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{APIKey: "k", JWTSecret: strings.Repeat("s", 32)})
	if _, err := dial(t, ts.URL, "/chat", map[string]string{"token": "not-a-jwt"}); err == nil {
		t.Fatal("a bad token connected")
	}
	if code, body, _ := do(t, "POST", ts.URL+"/api/rooms/lobby/messages", "k", `{"content":"x","sender":{"id":"a","name":"A"}}`); code != 201 {
		t.Fatalf("publish = %d %s", code, body)
	}
	code, body, hdr := do(t, "GET", ts.URL+"/metrics", "", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics = %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`parley_auth_failures_total{reason="malformed token"} 1`,
		"parley_messages_persisted_total 1",
		"parley_store_batch_size_count",
		"parley_store_commit_seconds_bucket",
		`parley_connected_clients{transport="polling"}`,
		`parley_sockets{namespace="/chat"} 0`,
		"parley_sse_streams 0",
		`parley_packets_received_total{namespace="/chat"}`,
		`parley_packets_sent_total{namespace="/chat"}`,
		"parley_broadcast_deliveries_total",
		"parley_slow_consumer_disconnects_total 0",
		"parley_presence_online_users 0",
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// With --production /metrics is not on the main listener; with
// MetricsAddr it is only on the metrics listener, with pprof when asked.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	srv, ts := start(t, server.Config{Production: true, JWTSecret: strings.Repeat("s", 32), MetricsAddr: "127.0.0.1:0", Pprof: true})
	if code, _, _ := do(t, "GET", ts.URL+"/metrics", "", ""); code != 404 {
		t.Fatalf("/metrics on the main listener in production = %d; want 404", code)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeMetrics(ln) }()
	base := "http://" + ln.Addr().String()
	if code, body, _ := do(t, "GET", base+"/metrics", "", ""); code != 200 || !strings.Contains(body, "parley_messages_persisted_total") {
		t.Fatalf("metrics listener /metrics = %d", code)
	}
	if code, body, _ := do(t, "GET", base+"/debug/pprof/", "", ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof = %d", code)
	}
	if code, _, _ := do(t, "GET", ts.URL+"/debug/pprof/", "", ""); code == 200 {
		t.Fatal("pprof is served on the main listener")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("ServeMetrics after Shutdown: %v", err)
	}
}

func TestPprofNeedsMetricsAddr(t *testing.T) {
	t.Parallel()
	if _, err := server.New(server.Config{DataDir: t.TempDir(), Pprof: true}); err == nil || !strings.Contains(err.Error(), "MetricsAddr") {
		t.Fatalf("New = %v; want a MetricsAddr error", err)
	}
}

// /readyz is 200 while the store answers and 503 once the server shuts
// down; /healthz stays a liveness check.
func TestReadyz(t *testing.T) {
	t.Parallel()
	srv, ts := start(t, server.Config{})
	if code, body, _ := do(t, "GET", ts.URL+"/readyz", "", ""); code != 200 || body != "ready" {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shutdown closes the listener with the store; ask the router directly.
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "store") || !strings.Contains(rec.Body.String(), "shutting down") {
		t.Fatalf("/readyz after shutdown = %d %q", rec.Code, rec.Body.String())
	}
}

// One info line per connection lifecycle, as JSON when the logger is, with
// the socket, session, namespace, user, transport and address, and the
// disconnect reason; never the token.
func TestConnectionLog(t *testing.T) {
	t.Parallel()
	logs := &testutil.LogBuffer{}
	secret := strings.Repeat("k", 32)
	_, ts := start(t, server.Config{JWTSecret: secret, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	tok := hs256(t, secret, claims("ann", time.Hour, nil))
	c := mustDial(t, ts.URL, "/chat", tokenAuth(tok))
	c.close()
	testutil.WaitFor(t, "the disconnect line", func() bool { return strings.Contains(logs.String(), `"msg":"disconnected"`) })
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if m["msg"] == "connected" || m["msg"] == "disconnected" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("lifecycle lines %v", lines)
	}
	for _, m := range lines {
		for _, k := range []string{"socket", "sid", "nsp", "user", "transport", "remote"} {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("%s line lacks %s: %v", m["msg"], k, m)
			}
		}
		if m["user"] != "ann" || m["nsp"] != "/chat" || m["transport"] != "polling" {
			t.Errorf("line %v", m)
		}
	}
	if r, _ := lines[1]["reason"].(string); r == "" {
		t.Errorf("disconnect line without a reason: %v", lines[1])
	}
	if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), secret) {
		t.Fatal("a token or the key reached the log")
	}
}

// The engine counters move with the traffic: a message to a room of two
// is one packet received and one broadcast delivery (the sender's own copy
// is its ack).
func TestMetricsCountTraffic(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	a := mustDial(t, ts.URL, "/chat", map[string]string{"userId": "a", "name": "A"})
	defer a.close()
	b := mustDial(t, ts.URL, "/chat", map[string]string{"userId": "b", "name": "B"})
	defer b.close()
	a.callInto("joinRoom", map[string]string{"room": "r"}, nil)
	b.callInto("joinRoom", map[string]string{"room": "r"}, nil)
	metric := func(name string) string {
		_, body, _ := do(t, "GET", ts.URL+"/metrics", "", "")
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, name+" ") {
				return strings.TrimPrefix(l, name+" ")
			}
		}
		return ""
	}
	before := metric("parley_broadcast_deliveries_total")
	recvBefore := metric(`parley_packets_received_total{namespace="/chat"}`)
	a.callInto("chatMessage", map[string]string{"room": "r", "content": "hi"}, nil)
	b.next(waitCtx(t), "newChatMessage", nil)
	after := metric("parley_broadcast_deliveries_total")
	recvAfter := metric(`parley_packets_received_total{namespace="/chat"}`)
	if before == "" || after == "" || recvBefore == "" || recvAfter == "" {
		t.Fatalf("missing metrics: %q %q %q %q", before, after, recvBefore, recvAfter)
	}
	var nb, na, rb, ra float64
	_, _ = fmt.Sscan(before, &nb)
	_, _ = fmt.Sscan(after, &na)
	_, _ = fmt.Sscan(recvBefore, &rb)
	_, _ = fmt.Sscan(recvAfter, &ra)
	if na-nb != 1 || ra-rb != 1 {
		t.Fatalf("deliveries %v -> %v, received %v -> %v; want +1 each", nb, na, rb, ra)
	}
}
