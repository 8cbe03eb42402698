package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-rt/parley/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start serves a new Server from httptest and shuts both down at cleanup.
func start(t *testing.T, cfg server.Config) (*server.Server, *httptest.Server) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.CloseClientConnections()
		ts.Close()
	})
	return srv, ts
}

func do(t *testing.T, method, url, key, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
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
	return res.StatusCode, string(b), res.Header
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	if code, body, _ := do(t, "GET", ts.URL+"/healthz", "", ""); code != 200 || body != "ok" {
		t.Fatalf("healthz = %d %q", code, body)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, cfg := range []server.Config{
		{CORSOrigins: []string{"localhost:3000"}},
		{CORSOrigins: []string{"http://x.example/path"}},
		{PingInterval: -time.Second},
		{MaxHTTPBufferSize: -1},
	} {
		cfg.DataDir = t.TempDir()
		if srv, err := server.New(cfg); err == nil {
			_ = srv.Shutdown(context.Background()) // the test already failed
			t.Errorf("New(%+v) succeeded; want an error", cfg)
		}
	}
}

func TestAPI(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{APIKey: "k1"})
	url := ts.URL + "/api/rooms/lobby/messages"
	cases := []struct {
		name, method, key, body string
		code                    int
		errCode                 string
	}{
		{"no key", "GET", "", "", 401, "unauthorized"},
		{"wrong key", "GET", "k2", "", 401, "unauthorized"},
		{"unknown field", "POST", "k1", `{"content":"x","sender":{"id":"a","name":"A"},"room":"x"}`, 400, "bad_request"},
		{"missing sender", "POST", "k1", `{"content":"x"}`, 400, "bad_request"},
		{"empty content", "POST", "k1", `{"content":"  ","sender":{"id":"a","name":"A"}}`, 400, "bad_request"},
		{"too long", "POST", "k1", `{"content":"` + strings.Repeat("é", 4001) + `","sender":{"id":"a","name":"A"}}`, 413, "too_large"},
		{"bad limit", "GET", "k1", "", 400, "bad_request"},
	}
	for _, c := range cases {
		u := url
		if c.name == "bad limit" {
			u += "?limit=0"
		}
		code, body, _ := do(t, c.method, u, c.key, c.body)
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal([]byte(body), &e) // checked below
		if code != c.code || e.Error.Code != c.errCode || e.Error.Message == "" {
			t.Errorf("%s: %d %s; want %d %s", c.name, code, body, c.code, c.errCode)
		}
	}

	code, body, _ := do(t, "POST", url, "k1", `{"content":" hello ","sender":{"id":"sys","name":"System"},"clientMsgId":"m1"}`)
	var first struct {
		ID, Room, Content string
		Timestamp         int64
	}
	if code != 201 || json.Unmarshal([]byte(body), &first) != nil || first.Content != "hello" || first.Room != "lobby" || len(first.ID) != 36 {
		t.Fatalf("publish = %d %s", code, body)
	}
	if code, again, _ := do(t, "POST", url, "k1", `{"content":"hello","sender":{"id":"sys","name":"System"},"clientMsgId":"m1"}`); code != 200 || !strings.Contains(again, first.ID) {
		t.Fatalf("duplicate publish = %d %s; want 200 with %s", code, again, first.ID)
	}
	if code, page, _ := do(t, "GET", url+"?limit=10", "k1", ""); code != 200 || !strings.Contains(page, first.ID) || !strings.Contains(page, `"hasMore":false`) {
		t.Fatalf("history = %d %s", code, page)
	}
	if code, page, _ := do(t, "GET", url+"?before=01900000-0000-7000-8000-000000000000", "k1", ""); code != 404 || !strings.Contains(page, "not_found") {
		t.Fatalf("unknown cursor = %d %s", code, page)
	}
	// An idempotency key answers only for its own room: reusing it in
	// another room is a conflict, and nothing is stored there.
	other := ts.URL + "/api/rooms/other/messages"
	if code, body, _ := do(t, "POST", other, "k1", `{"content":"hello","sender":{"id":"sys","name":"System"},"clientMsgId":"m1"}`); code != 409 || !strings.Contains(body, `"conflict"`) {
		t.Fatalf("key reused in another room = %d %s; want 409 conflict", code, body)
	}
	if code, page, _ := do(t, "GET", other, "k1", ""); code != 200 || !strings.Contains(page, `"messages":[]`) {
		t.Fatalf("other room = %d %s; want empty", code, page)
	}
}

// Only JSON bodies are taken; dot-only room names are refused before a
// path-normalising proxy could send them elsewhere.
func TestAPIStrictInput(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{APIKey: "k1"})
	url := ts.URL + "/api/rooms/lobby/messages"
	body := `{"content":"x","sender":{"id":"a","name":"A"}}`
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/jsonx"} {
		if code, res, _ := do(t, "POST", url, "k1", body, "Content-Type", ct); code != 415 || !strings.Contains(res, "application/json") {
			t.Errorf("Content-Type %s: %d %s; want 415", ct, code, res)
		}
	}
	if code, res, _ := do(t, "POST", url, "k1", body, "Content-Type", "application/json; charset=utf-8"); code != 201 {
		t.Errorf("JSON with a charset: %d %s; want 201", code, res)
	}
	for _, room := range []string{".", "..", "%2e%2e", "..."} {
		for _, path := range []string{"/api/rooms/" + room + "/messages", "/sse/rooms/" + room} {
			method := "GET"
			if strings.HasPrefix(path, "/api") {
				method = "POST"
			}
			if code, res, _ := do(t, method, ts.URL+path, "k1", body); code != 400 || !strings.Contains(res, `"bad_request"`) {
				t.Errorf("%s %s: %d %s; want 400 bad_request", method, path, code, res)
			}
		}
	}
}

func TestAPIDisabledWithoutKey(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	if code, body, _ := do(t, "GET", ts.URL+"/api/rooms/lobby/messages", "anything", ""); code != 404 || !strings.Contains(body, "--api-key") {
		t.Fatalf("disabled API = %d %s", code, body)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{CORSOrigins: []string{"https://app.example"}, APIKey: "k"})
	for _, path := range []string{"/socket.io/?EIO=4&transport=polling", "/api/rooms/lobby/messages"} {
		code, _, h := do(t, "OPTIONS", ts.URL+path, "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
		if code != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("%s preflight allowed = %d %v", path, code, h)
		}
		code, _, h = do(t, "OPTIONS", ts.URL+path, "", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
		if code != 204 || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s preflight denied = %d %v", path, code, h)
		}
	}
}

// TestShutdownClosesSessions checks that Shutdown ends open sessions (a
// held long-poll answers with the close packet) and is idempotent.
func TestShutdownClosesSessions(t *testing.T) {
	t.Parallel()
	srv, err := server.New(server.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	_, open, _ := do(t, "GET", ts.URL+"/socket.io/?EIO=4&transport=polling", "", "")
	var hs struct{ SID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(open, "0")), &hs); err != nil || hs.SID == "" {
		t.Fatalf("handshake %q: %v", open, err)
	}
	polled := make(chan string, 1)
	go func() {
		res, err := http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling&sid=" + hs.SID)
		if err != nil {
			polled <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body) // an error leaves b short, which the check reports
		polled <- string(b)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The poll may not be held yet when Shutdown starts; either way it must
	// end with the close packet (or the session being gone).
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case got := <-polled:
		if got != "1" && !strings.Contains(got, `"code":1`) {
			t.Fatalf("held poll got %q; want the close packet", got)
		}
	case <-ctx.Done():
		t.Fatal("held poll not released by Shutdown")
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
