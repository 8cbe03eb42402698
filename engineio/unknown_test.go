package engineio

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestSIDPrefix: every session id starts with SIDPrefix and keeps its 20
// characters; a bad prefix is refused by New.
func TestSIDPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SIDPrefix: "Ab-_9z"})
	seen := map[string]bool{}
	for range 3 {
		c := e.openPolling()
		if len(c.sid) != 20 || !strings.HasPrefix(c.sid, "Ab-_9z") || seen[c.sid] {
			t.Fatalf("sid %q: want 20 characters starting with Ab-_9z, all different", c.sid)
		}
		seen[c.sid] = true
	}
	_, hs := e.openWS()
	if !strings.HasPrefix(hs.SID, "Ab-_9z") || len(hs.SID) != 20 {
		t.Fatalf("websocket sid %q", hs.SID)
	}
	for _, bad := range []string{"1234567", "a/b", "a+b", "é"} {
		if _, err := New(Config{OnSession: func(*Session) {}, SIDPrefix: bad}); !errors.Is(err, ErrBadSIDPrefix) {
			t.Errorf("SIDPrefix %q: New = %v, want ErrBadSIDPrefix", bad, err)
		}
	}
}

// TestUnknownSession: a polling GET, a POST and an upgrade naming a sid
// the server does not have are offered to UnknownSession, which may answer
// them; when it declines, the client gets Session ID unknown. A handshake
// and a known sid are never offered.
func TestUnknownSession(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var offered []string
	e := newEnv(t, Config{UnknownSession: func(w http.ResponseWriter, r *http.Request, sid string) bool {
		mu.Lock()
		offered = append(offered, r.Method+" "+r.URL.Query().Get("transport")+" "+sid)
		mu.Unlock()
		if !strings.HasPrefix(sid, "elsewhere") {
			return false
		}
		_, _ = io.WriteString(w, "forwarded") // the test client reads it
		return true
	}})
	known := e.openPolling()
	if status, _ := known.post("4hi"); status != http.StatusOK {
		t.Fatalf("POST to a known sid: %d", status)
	}
	tests := []struct {
		method, query, want string
		status              int
	}{
		{http.MethodGet, "EIO=4&transport=polling&sid=elsewhere00000000000", "forwarded", 200},
		{http.MethodPost, "EIO=4&transport=polling&sid=elsewhere00000000000", "forwarded", 200},
		{http.MethodGet, "EIO=4&transport=polling&sid=nowhere0000000000000", `{"code":1,"message":"Session ID unknown"}`, 400},
	}
	for _, tt := range tests {
		status, _, body := e.httpDo(tt.method, e.url(tt.query), strings.NewReader("4x"), nil)
		if status != tt.status || body != tt.want {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.query, status, body, tt.status, tt.want)
		}
	}
	if _, err := e.tryDialWS("EIO=4&transport=websocket&sid=nowhere0000000000000"); err == nil {
		t.Error("upgrade of an unknown sid declined by the hook: dial succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"GET polling elsewhere00000000000", "POST polling elsewhere00000000000",
		"GET polling nowhere0000000000000", "GET websocket nowhere0000000000000",
	}
	if strings.Join(offered, "|") != strings.Join(want, "|") {
		t.Fatalf("offered %q, want %q", offered, want)
	}
}
