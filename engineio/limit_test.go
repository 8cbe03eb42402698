package engineio

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestAddrKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, want string
	}{
		{"192.0.2.7:5555", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:5555", "192.0.2.7/32"},
		{"[2001:db8:1:2:aaaa::1]:5555", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:80", "2001:db8:1:3::/64"},
		{"192.0.2.8", "192.0.2.8/32"},
		{"not an address", "invalid Prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			if got := addrKey(tt.addr).String(); got != tt.want {
				t.Fatalf("addrKey(%q) = %s, want %s", tt.addr, got, tt.want)
			}
		})
	}
}

// TestAddrLimiter drives the token bucket with a synthetic clock: a burst,
// then one token per 1/Rate, each address on its own.
func TestAddrLimiter(t *testing.T) {
	t.Parallel()
	l := newAddrLimiter(RateLimit{Rate: 2, Burst: 3})
	a, b := addrKey("192.0.2.1:1"), addrKey("192.0.2.2:1")
	t0 := time.Unix(1_000_000, 0)
	for i := range 3 {
		if ok, _ := l.allow(a, t0); !ok {
			t.Fatalf("handshake %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow(a, t0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused, 500ms", ok, wait)
	}
	if ok, _ := l.allow(b, t0); !ok {
		t.Fatal("another address shares the bucket")
	}
	if ok, _ := l.allow(a, t0.Add(499*time.Millisecond)); ok {
		t.Fatal("a token before 1/Rate")
	}
	if ok, _ := l.allow(a, t0.Add(time.Second)); !ok {
		t.Fatal("no token after 1/Rate")
	}
	// Refilled buckets are dropped by the sweep: a full bucket is none.
	if n := l.size(); n != 2 {
		t.Fatalf("size %d, want 2", n)
	}
	if ok, _ := l.allow(b, t0.Add(sweepEvery+time.Second)); !ok {
		t.Fatal("refused after a long pause")
	}
	if n := l.size(); n != 1 {
		t.Fatalf("after the sweep: size %d, want 1 (the bucket just used)", n)
	}
}

// TestAddrLimiterBounded fills the limiter with busy addresses: it never
// holds more than maxBuckets, and a new address is still served.
func TestAddrLimiterBounded(t *testing.T) {
	t.Parallel()
	l := newAddrLimiter(RateLimit{Rate: 0.001, Burst: 1})
	now := time.Unix(1_000_000, 0)
	for i := range maxBuckets + 10 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.allow(netip.PrefixFrom(ip, 32), now); !ok {
			t.Fatalf("new address %v refused", ip)
		}
	}
	if n := l.size(); n > maxBuckets {
		t.Fatalf("size %d, want at most %d", n, maxBuckets)
	}
}

// TestMaxSessions checks the session cap on both transports: over it a
// handshake gets 503 and the JSON error, the open sessions keep working,
// and a closed one frees its place.
func TestMaxSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{MaxSessions: 2})
	c := e.openPolling()
	w, _ := e.openWS()
	want := `{"code":100,"message":"Too many sessions"}`
	if status, _, body := e.httpDo("GET", e.url("EIO=4&transport=polling"), nil, nil); status != 503 || body != want {
		t.Fatalf("polling handshake over the cap = %d %s, want 503 %s", status, body, want)
	}
	if _, err := e.tryDialWS("EIO=4&transport=websocket"); err != ws.StatusError(503) {
		t.Fatalf("WebSocket handshake over the cap: %v, want 503", err)
	}
	if n := e.opened(); n != 2 {
		t.Fatalf("%d sessions opened, want 2", n)
	}
	// The open sessions are untouched.
	rp := e.session(c.sid)
	mustSend(t, rp.sess, "poll")
	if status, body := c.get(); status != 200 || body != "4poll" {
		t.Fatalf("GET = %d %q", status, body)
	}
	w.sendText("4ws")
	e.mu.Lock()
	rw := e.order[1]
	e.mu.Unlock()
	if got := textMessages(rw.waitMessages(t, 1)); got[0] != "ws" {
		t.Fatalf("WebSocket session received %q", got)
	}
	// A session that ends frees its place.
	_ = w.conn.Close() // ends the WebSocket session
	rw.waitClose(t)
	waitFor(t, "the closed session to be removed", func() bool { return e.srv.Count() == 1 })
	if status, _, body := e.httpDo("GET", e.url("EIO=4&transport=polling"), nil, nil); status != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake after a close = %d %s", status, body)
	}
}

// TestHandshakeRate checks the per-address limit through HTTP: the burst
// passes, the next handshake gets 429 with Retry-After, requests on open
// sessions are not counted, and without the option nothing is limited.
func TestHandshakeRate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{HandshakeRate: RateLimit{Rate: 0.5, Burst: 2}})
	c := e.openPolling()
	for range 3 { // requests on a session take no token
		mustSend(t, e.session(c.sid).sess, "x")
		if status, _ := c.get(); status != 200 {
			t.Fatalf("GET on the session: %d", status)
		}
	}
	w, err := e.tryDialWS("EIO=4&transport=websocket")
	if err != nil {
		t.Fatalf("second handshake of the burst: %v", err)
	}
	if msg := w.readText(); !strings.HasPrefix(msg, "0{") { // the session has started
		t.Fatalf("open packet %q", msg)
	}
	status, hdr, body := e.httpDo("GET", e.url("EIO=4&transport=polling"), nil, nil)
	if status != 429 || body != `{"code":101,"message":"Too many handshakes"}` || hdr.Get("Retry-After") != "2" {
		t.Fatalf("over the rate: %d %s Retry-After %q, want 429, code 101, 2", status, body, hdr.Get("Retry-After"))
	}
	if _, err := e.tryDialWS("EIO=4&transport=websocket"); err != ws.StatusError(429) {
		t.Fatalf("WebSocket over the rate: %v, want 429", err)
	}
	if n := e.opened(); n != 2 {
		t.Fatalf("%d sessions opened, want 2", n)
	}

	plain := newEnv(t, Config{})
	for i := range 10 {
		if status, _, _ := plain.httpDo("GET", plain.url("EIO=4&transport=polling"), nil, http.Header{}); status != 200 {
			t.Fatalf("handshake %d without a limit: %d", i, status)
		}
	}
}
