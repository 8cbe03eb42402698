package engineio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	noop := func(*Session) {}
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no OnSession", Config{}, ErrNoHandler},
		{"no transport", Config{OnSession: noop, DisablePolling: true, DisableWebSocket: true}, ErrNoTransport},
		{"polling only", Config{OnSession: noop, DisableWebSocket: true}, nil},
		{"websocket only", Config{OnSession: noop, DisablePolling: true}, nil},
		{"negative MaxSessions", Config{OnSession: noop, MaxSessions: -1}, ErrBadLimit},
		{"negative rate", Config{OnSession: noop, HandshakeRate: RateLimit{Rate: -1, Burst: 1}}, ErrBadLimit},
		{"rate without burst", Config{OnSession: noop, HandshakeRate: RateLimit{Rate: 1}}, ErrBadLimit},
		{"limits", Config{OnSession: noop, MaxSessions: 10, HandshakeRate: RateLimit{Rate: 1, Burst: 1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{OnSession: func(*Session) {}})
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Config()
	if c.PingInterval != 25*time.Second || c.PingTimeout != 20*time.Second || c.MaxPayload != 1_000_000 ||
		c.UpgradeTimeout != 10*time.Second || c.MaxQueue != 4096 || c.WriteTimeout != 10*time.Second ||
		c.ReadBufferSize <= 0 || c.Logger == nil {
		t.Fatalf("defaults not filled: %+v", c)
	}
}

// handshakeKeys returns the keys of the open packet's JSON object.
func handshakeKeys(t *testing.T, body string) map[string]json.RawMessage {
	t.Helper()
	if !strings.HasPrefix(body, "0") {
		t.Fatalf("open packet %q", body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body[1:]), &m); err != nil {
		t.Fatalf("open JSON %q: %v", body, err)
	}
	return m
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	wantKeys := []string{"maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"}
	tests := []struct {
		name         string
		cfg          Config
		transport    string
		wantUpgrades []string
	}{
		{"polling", Config{PingInterval: 1500 * time.Millisecond, PingTimeout: 700 * time.Millisecond, MaxPayload: 4321}, "polling", []string{"websocket"}},
		{"polling without upgrades", Config{DisableUpgrades: true}, "polling", []string{}},
		{"polling without websocket", Config{DisableWebSocket: true}, "polling", []string{}},
		{"websocket", Config{PingInterval: 1500 * time.Millisecond, PingTimeout: 700 * time.Millisecond, MaxPayload: 4321}, "websocket", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg)
			var body string
			if tt.transport == "polling" {
				status, hdr, b := e.httpDo(http.MethodGet, e.url("EIO=4&transport=polling"), nil, nil)
				if status != http.StatusOK {
					t.Fatalf("status %d", status)
				}
				if ct := hdr.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
					t.Fatalf("Content-Type %q", ct)
				}
				body = b
			} else {
				c := e.dialWS("EIO=4&transport=websocket")
				body = c.readText()
			}
			keys := handshakeKeys(t, body)
			got := make([]string, 0, len(keys))
			for k := range keys {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, wantKeys) {
				t.Fatalf("open packet keys %v, want exactly %v", got, wantKeys)
			}
			var hs handshakeInfo
			if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
				t.Fatal(err)
			}
			cfg := e.srv.Config()
			if hs.PingInterval != cfg.PingInterval.Milliseconds() || hs.PingTimeout != cfg.PingTimeout.Milliseconds() || hs.MaxPayload != cfg.MaxPayload {
				t.Fatalf("handshake %+v does not match config", hs)
			}
			if hs.Upgrades == nil || !slices.Equal(hs.Upgrades, tt.wantUpgrades) {
				t.Fatalf("upgrades %#v, want %#v", hs.Upgrades, tt.wantUpgrades)
			}
			if len(hs.SID) != 20 {
				t.Fatalf("sid %q, want 20 base64url characters", hs.SID)
			}
			r := e.session(hs.SID)
			if r.sess.ID() != hs.SID || r.sess.Transport() != tt.transport {
				t.Fatalf("session %s on %s, want %s on %s", r.sess.ID(), r.sess.Transport(), hs.SID, tt.transport)
			}
			if q := r.sess.Handshake().Query(); q.Get("EIO") != "4" || q.Get("transport") != tt.transport {
				t.Fatalf("Handshake().Query = %v", q)
			}
			if e.srv.Count() != 1 {
				t.Fatalf("Count = %d, want 1", e.srv.Count())
			}
		})
	}
}

func TestSessionIDsAreUnique(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	seen := make(map[string]bool)
	for range 20 {
		c := e.openPolling()
		if seen[c.sid] {
			t.Fatalf("sid %s issued twice", c.sid)
		}
		seen[c.sid] = true
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{
		AllowRequest: func(r *http.Request) error {
			if r.Header.Get("X-Deny") != "" {
				return errors.New("go away: " + r.Header.Get("X-Deny"))
			}
			return nil
		},
	})
	live := e.openPolling()
	wsOnly := newEnv(t, Config{DisablePolling: true})
	tests := []struct {
		name       string
		env        *env
		method     string
		query      string
		header     http.Header
		wantStatus int
		wantBody   string
	}{
		{"no transport", e, "GET", "EIO=4", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown transport", e, "GET", "EIO=4&transport=flash", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"disabled transport", wsOnly, "GET", "EIO=4&transport=polling", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown sid", e, "GET", "EIO=4&transport=polling&sid=nope", nil, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"unknown sid on POST", e, "POST", "EIO=4&transport=polling&sid=nope", nil, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST handshake", e, "POST", "EIO=4&transport=polling", nil, 400, `{"code":2,"message":"Bad handshake method"}`},
		{"PUT handshake", e, "PUT", "EIO=4&transport=polling", nil, 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket handshake without upgrade", e, "GET", "EIO=4&transport=websocket", nil, 400, `{"code":3,"message":"Bad request"}`},
		{"websocket sid without upgrade", e, "GET", "EIO=4&transport=websocket&sid=" + live.sid, nil, 400, `{"code":3,"message":"Bad request"}`},
		{"PUT on a session", e, "PUT", "EIO=4&transport=polling&sid=" + live.sid, nil, 400, `{"code":3,"message":"Bad request"}`},
		{"forbidden", e, "GET", "EIO=4&transport=polling", http.Header{"X-Deny": {"test"}}, 403, `{"code":4,"message":"go away: test"}`},
		{"EIO 3", e, "GET", "EIO=3&transport=polling", nil, 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"no EIO", e, "GET", "transport=polling", nil, 400, `{"code":5,"message":"Unsupported protocol version"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := tt.env.httpDo(tt.method, tt.env.url(tt.query), nil, tt.header)
			if status != tt.wantStatus || body != tt.wantBody {
				t.Fatalf("%s %s = %d %s, want %d %s", tt.method, tt.query, status, body, tt.wantStatus, tt.wantBody)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json", ct)
			}
		})
	}
	// The live session survived the requests that named it.
	if live := e.session(live.sid); live.isClosed() {
		t.Fatalf("session closed by error requests: %s", live.reason)
	}
}

func TestAllowRequest(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 4)
	e := newEnv(t, Config{
		AllowRequest: func(r *http.Request) error {
			seen <- r.URL.Query().Get("transport") + " " + r.Header.Get("Authorization")
			if r.Header.Get("Authorization") != "Bearer ok" {
				return errors.New("bad token")
			}
			return nil
		},
	})
	t.Run("polling refused", func(t *testing.T) {
		status, _, body := e.httpDo("GET", e.url("EIO=4&transport=polling"), nil, http.Header{"Authorization": {"Bearer no"}})
		if status != 403 || body != `{"code":4,"message":"bad token"}` {
			t.Fatalf("got %d %s", status, body)
		}
		if got := recv(t, seen, "AllowRequest"); got != "polling Bearer no" {
			t.Fatalf("AllowRequest saw %q", got)
		}
	})
	t.Run("websocket refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var status int
		var body string
		d := ws.Dialer{OnStatusError: func(s int, _ []byte, resp io.Reader) {
			status = s
			res, err := http.ReadResponse(bufio.NewReader(resp), nil)
			if err != nil {
				body = err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body) // a short body shows in the assertion
			body = string(b)
		}}
		u := "ws" + strings.TrimPrefix(e.url("EIO=4&transport=websocket"), "http")
		conn, _, _, err := d.Dial(ctx, u)
		if err == nil {
			_ = conn.Close()
			t.Fatal("dial succeeded")
		}
		if status != 403 || !strings.Contains(body, `{"code":4,"message":"bad token"}`) {
			t.Fatalf("got %d %q", status, body)
		}
		recv(t, seen, "AllowRequest")
	})
	t.Run("allowed", func(t *testing.T) {
		status, _, body := e.httpDo("GET", e.url("EIO=4&transport=polling"), nil, http.Header{"Authorization": {"Bearer ok"}})
		if status != 200 || !strings.HasPrefix(body, "0{") {
			t.Fatalf("got %d %s", status, body)
		}
		recv(t, seen, "AllowRequest")
		var hs handshakeInfo
		if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
			t.Fatal(err)
		}
		// Requests of an open session are not vetted again.
		status, _ = (&pollClient{e: e, sid: hs.SID}).post("4x")
		if status != 200 {
			t.Fatalf("POST status %d", status)
		}
		select {
		case got := <-seen:
			t.Fatalf("AllowRequest called again for a session request: %q", got)
		default:
		}
	})
	if e.srv.Count() != 1 {
		t.Fatalf("Count = %d, want only the allowed session", e.srv.Count())
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{CORS: CORS{
		AllowOrigin: func(o string) bool { return o == "https://app.example" },
		Credentials: true,
		MaxAge:      90 * time.Second,
	}})
	plain := newEnv(t, Config{})
	tests := []struct {
		name       string
		env        *env
		method     string
		header     http.Header
		wantStatus int
		want       map[string]string // "" means absent
	}{
		{
			name: "preflight allowed", env: e, method: "OPTIONS",
			header:     http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type,x-token"}},
			wantStatus: 204,
			want: map[string]string{
				"Access-Control-Allow-Origin":      "https://app.example",
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     "GET,HEAD,PUT,PATCH,POST,DELETE",
				"Access-Control-Allow-Headers":     "content-type,x-token",
				"Access-Control-Max-Age":           "90",
			},
		},
		{
			name: "preflight other origin", env: e, method: "OPTIONS",
			header:     http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}},
			wantStatus: 204,
			want:       map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Access-Control-Allow-Credentials": ""},
		},
		{
			name: "preflight without policy", env: plain, method: "OPTIONS",
			header:     http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}},
			wantStatus: 204,
			want:       map[string]string{"Access-Control-Allow-Origin": ""},
		},
		{
			name: "handshake allowed origin", env: e, method: "GET",
			header:     http.Header{"Origin": {"https://app.example"}},
			wantStatus: 200,
			want:       map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Credentials": "true", "Vary": "Origin", "Access-Control-Allow-Methods": ""},
		},
		{
			name: "handshake other origin", env: e, method: "GET",
			header:     http.Header{"Origin": {"https://evil.example"}},
			wantStatus: 403,
			want:       map[string]string{"Access-Control-Allow-Origin": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := tt.env.httpDo(tt.method, tt.env.url("EIO=4&transport=polling"), nil, tt.header)
			if status != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", status, body, tt.wantStatus)
			}
			if status == 204 && body != "" {
				t.Fatalf("preflight body %q", body)
			}
			for k, want := range tt.want {
				if got := hdr.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
	// A preflight creates no session.
	if plain.srv.Count() != 0 {
		t.Fatalf("preflight created a session")
	}
}

// TestOriginCheck checks that handshakes on both transports, and upgrades
// of polling sessions, are refused with 403 and open no session when their
// Origin is neither allowed by CORS.AllowOrigin nor the server's own host;
// a request without Origin is not affected.
func TestOriginCheck(t *testing.T) {
	t.Parallel()
	listed := newEnv(t, Config{CORS: CORS{AllowOrigin: func(o string) bool { return o == "https://app.example" }}})
	plain := newEnv(t, Config{})
	tests := []struct {
		name   string
		env    *env
		origin string // "" sends none
		allow  bool
	}{
		{"no origin", listed, "", true},
		{"listed origin", listed, "https://app.example", true},
		{"other origin", listed, "https://evil.example", false},
		{"null origin", listed, "null", false},
		{"listed origin, other scheme", listed, "http://app.example", false},
		{"no policy, no origin", plain, "", true},
		{"no policy, other origin", plain, "https://app.example", false},
		{"no policy, own host", plain, plain.ts.URL, true},
		{"no policy, own host over ws scheme", plain, "ws://" + strings.TrimPrefix(plain.ts.URL, "http://"), false},
		{"no policy, own host name, other port", plain, "http://127.0.0.1:1", false},
	}
	forbidden := `{"code":4,"message":"Origin not allowed"}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			before := tt.env.opened()

			status, _, body := tt.env.httpDo("GET", tt.env.url("EIO=4&transport=polling"), nil, hdr)
			switch {
			case tt.allow && (status != 200 || !strings.HasPrefix(body, "0{")):
				t.Fatalf("polling handshake = %d %s, want 200 and an open packet", status, body)
			case !tt.allow && (status != 403 || body != forbidden):
				t.Fatalf("polling handshake = %d %s, want 403 %s", status, body, forbidden)
			}

			w, err := tt.env.tryDialWSHeader("EIO=4&transport=websocket", hdr)
			if tt.allow {
				if err != nil {
					t.Fatalf("WebSocket handshake: %v", err)
				}
				if msg := w.readText(); !strings.HasPrefix(msg, "0{") {
					t.Fatalf("WebSocket open packet %q", msg)
				}
				_ = w.conn.Close() // the session ends with it
				return
			}
			if err != ws.StatusError(403) {
				t.Fatalf("WebSocket handshake: %v, want 403", err)
			}
			if n := tt.env.opened(); n != before {
				t.Fatalf("refused handshakes opened %d sessions", n-before)
			}
		})
	}

	// A polling session opened without Origin cannot be upgraded by a page
	// of another origin (nor can anyone take it over who learnt its sid);
	// the session goes on.
	c := listed.openPolling()
	r := listed.session(c.sid)
	if _, err := listed.tryDialWSHeader("EIO=4&transport=websocket&sid="+c.sid, http.Header{"Origin": {"https://evil.example"}}); err != ws.StatusError(403) {
		t.Fatalf("upgrade from another origin: %v, want 403", err)
	}
	mustSend(t, r.sess, "still polling")
	if status, body := c.get(); status != 200 || body != "4still polling" {
		t.Fatalf("GET after the refused upgrade = %d %q", status, body)
	}
	w := listed.dialWS("EIO=4&transport=websocket&sid=" + c.sid) // no Origin: upgrades
	w.sendText("2probe")
	if msg := w.readText(); msg != "3probe" {
		t.Fatalf("probe answer %q", msg)
	}
}
