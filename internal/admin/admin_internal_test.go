package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/parley-rt/parley/socketio"
)

func newIO(t *testing.T) *socketio.Server {
	t.Helper()
	sio, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sio.Close(context.Background()) }) // nothing connected
	return sio
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
		is   error
	}{
		{"open in dev", Config{}, true, nil},
		{"credentials", Config{User: "admin", PasswordHash: string(hash)}, true, nil},
		{"credentials in production", Config{User: "admin", PasswordHash: string(hash), Production: true}, true, nil},
		{"open in production", Config{Production: true}, false, ErrOpenInProduction},
		{"user without hash", Config{User: "admin"}, false, nil},
		{"hash without user", Config{PasswordHash: string(hash)}, false, nil},
		{"plain password as hash", Config{User: "admin", PasswordHash: "secret"}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.IO = newIO(t)
			a, err := New(cfg)
			if tc.ok != (err == nil) {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("New: %v, want %v", err, tc.is)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "admin: ") {
				t.Errorf("error %q does not name the package", err)
			}
			if a != nil {
				if err := a.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without IO succeeded")
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{IO: newIO(t), User: "admin", PasswordHash: string(hash)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, pw string
		want     bool
	}{
		{"admin", "right", true},
		{"admin", "wrong", false},
		{"Admin", "right", false},
		{"", "", false},
		{"admin", strings.Repeat("x", 100), false}, // over bcrypt's 72 bytes
	} {
		if got := a.checkPassword(tc.user, tc.pw); got != tc.want {
			t.Errorf("checkPassword(%q, %q) = %v", tc.user, tc.pw, got)
		}
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	ss := newSessions(time.Hour, 3)
	a := ss.create(now)
	if len(a) != 16 || !ss.valid(a, now) {
		t.Fatalf("session %q not valid", a)
	}
	if ss.valid("nope", now) || ss.valid("", now) {
		t.Fatal("unknown session valid")
	}
	if ss.valid(a, now.Add(time.Hour)) {
		t.Fatal("session valid after its TTL")
	}
	b, c, d := ss.create(now), ss.create(now), ss.create(now)
	if ss.valid(a, now) {
		t.Fatal("oldest session kept beyond max")
	}
	for _, id := range []string{b, c, d} {
		if !ss.valid(id, now) {
			t.Fatalf("session %s lost", id)
		}
	}
	ss.create(now.Add(2 * time.Hour)) // prunes the expired ones
	if len(ss.ids) != 1 || len(ss.order) != 1 {
		t.Fatalf("expired sessions kept: %d", len(ss.ids))
	}
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 21, 43, 6, 500_000_000, time.UTC)
	h := handshake(request{
		Header: http.Header{
			"Origin":        {"http://localhost:8080"},
			"Authorization": {"Bearer eyJsecret"},
			"Cookie":        {"sid=1"},
			"Accept":        {"a", "b"},
		},
		RawQuery:   "EIO=4&transport=polling&tag=x&tag=y",
		RemoteAddr: "[::1]:5555",
		Secure:     true,
		Time:       at,
		Auth:       json.RawMessage(`{"token":"eyJsecret","userId":"u1","nested":{"password":"p","ok":1},"list":[{"apiKey":"k"}]}`),
	}, "/socket.io/")
	want := Handshake{
		Headers: map[string]string{"origin": "http://localhost:8080", "authorization": redacted, "cookie": redacted, "accept": "a, b"},
		Time:    "Mon Dec 07 2026 21:43:06 GMT+0000 (Coordinated Universal Time)",
		Address: "::1",
		XDomain: true,
		Secure:  true,
		Issued:  at.UnixMilli(),
		URL:     "/socket.io/?EIO=4&transport=polling&tag=x&tag=y",
		Query:   map[string]any{"EIO": "4", "transport": "polling", "tag": []string{"x", "y"}},
		Auth:    json.RawMessage(`{"list":[{"apiKey":"[redacted]"}],"nested":{"ok":1,"password":"[redacted]"},"token":"[redacted]","userId":"u1"}`),
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("handshake\n got %+v\nwant %+v", h, want)
	}
	b, err := json.Marshal(h)
	if err != nil || strings.Contains(string(b), "eyJsecret") || strings.Contains(string(b), `"p"`) {
		t.Fatalf("secret in %s (%v)", b, err)
	}

	// A proxy's view of the client wins, as in Node's instrument.
	h = handshake(request{Header: http.Header{"X-Forwarded-For": {"203.0.113.7"}}, RemoteAddr: "10.0.0.1:1", Auth: json.RawMessage(`[1]`)}, "/socket.io/")
	if h.Address != "203.0.113.7" || string(h.Auth) != "{}" || h.URL != "/socket.io/" || h.XDomain {
		t.Fatalf("handshake %+v", h)
	}
}

func TestDataJSON(t *testing.T) {
	t.Parallel()
	got := dataJSON(map[string]any{"user": map[string]string{"id": "u1"}, adminKey: "session", "fn": func() {}})
	if string(got) != `{"user":{"id":"u1"}}` {
		t.Fatalf("dataJSON = %s", got)
	}
	if got := dataJSON(nil); string(got) != "{}" {
		t.Fatalf("dataJSON(nil) = %s", got)
	}
}

func TestEventBuffer(t *testing.T) {
	t.Parallel()
	var b eventBuffer
	t0 := time.UnixMilli(1_000_000_250)
	b.push(t0, "rawConnection", "", 1)
	b.push(t0.Add(300*time.Millisecond), "rawConnection", "", 1)
	b.push(t0, "rawDisconnection", "transport close", 1)
	b.push(t0, "rawDisconnection", "ping timeout", 1)
	b.push(t0.Add(time.Second), "rawConnection", "", 2)
	want := []AggregatedEvent{
		{Timestamp: 1_000_000_000, Type: "rawConnection", Count: 2},
		{Timestamp: 1_000_000_000, Type: "rawDisconnection", SubType: "transport close", Count: 1},
		{Timestamp: 1_000_000_000, Type: "rawDisconnection", SubType: "ping timeout", Count: 1},
		{Timestamp: 1_000_001_000, Type: "rawConnection", Count: 2},
	}
	if got := b.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("take = %+v", got)
	}
	if got := b.take(); got == nil || len(got) != 0 {
		t.Fatalf("second take = %#v, want an empty list", got)
	}
	js, _ := json.Marshal(want[0])
	if string(js) != `{"timestamp":1000000000,"type":"rawConnection","count":2}` {
		t.Fatalf("JSON %s: subType must be left out when empty, as undefined is", js)
	}
	for i := 0; i < maxBufferedEvents+10; i++ {
		b.push(t0.Add(time.Duration(i)*time.Second), "rawConnection", "", 1)
	}
	if n := len(b.take()); n != maxBufferedEvents {
		t.Fatalf("buffer grew to %d", n)
	}
}

func TestDecodeAction(t *testing.T) {
	t.Parallel()
	raw := func(s string) []json.RawMessage {
		var out []json.RawMessage
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		event, args string
		want        action
		bad         bool
	}{
		{evEmit, `["/chat","lobby","hello",{"a":1},2]`, action{event: evEmit, nsp: "/chat", filter: "lobby", name: "hello", args: []any{json.RawMessage(`{"a":1}`), json.RawMessage(`2`)}}, false},
		{evEmit, `["/chat",null,"hello"]`, action{event: evEmit, nsp: "/chat", name: "hello"}, false},
		{evEmit, `["/chat",null]`, action{}, true},
		{evEmit, `["/chat",null,""]`, action{}, true},
		{evEmit, `["/chat",7,"x"]`, action{}, true},
		{evJoin, `["/chat","lobby","sid1"]`, action{event: evJoin, nsp: "/chat", room: "lobby", filter: "sid1"}, false},
		{evJoin, `["/chat","lobby"]`, action{event: evJoin, nsp: "/chat", room: "lobby"}, false},
		{evJoin, `["/chat",""]`, action{}, true},
		{evLeave, `["/chat"]`, action{}, true},
		{evLeave, `["/chat","lobby",null]`, action{event: evLeave, nsp: "/chat", room: "lobby"}, false},
		{evDisconnect, `["/chat",false,"sid1"]`, action{event: evDisconnect, nsp: "/chat", filter: "sid1"}, false},
		{evDisconnect, `["/chat",true]`, action{event: evDisconnect, nsp: "/chat", close: true}, false},
		{evDisconnect, `["/chat","yes"]`, action{}, true},
		{evDisconnect, `[]`, action{}, true},
		{evDisconnect, `[{"nsp":"/"}]`, action{}, true},
	} {
		t.Run(tc.event+tc.args, func(t *testing.T) {
			t.Parallel()
			got, err := decodeAction(tc.event, raw(tc.args))
			if tc.bad {
				if !errors.Is(err, errBadAction) {
					t.Fatalf("decodeAction = %+v, %v; want errBadAction", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decodeAction = %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

func TestJSDate(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(jsDate(time.Date(2026, 12, 7, 21, 43, 6, 123_456_789, time.FixedZone("x", 3600))))
	if err != nil || string(b) != `"2026-12-07T20:43:06.123Z"` {
		t.Fatalf("jsDate = %s, %v", b, err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{IO: newIO(t), User: "admin", PasswordHash: string(hash)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	session, err := a.login(json.RawMessage(`{"username":"admin","password":"right"}`), now)
	if err != nil || len(session) != 16 {
		t.Fatalf("login = %q, %v", session, err)
	}
	for _, tc := range []struct {
		auth string
		want error
	}{
		{`{"sessionId":"` + session + `"}`, nil},
		{`{"sessionId":"0000000000000000"}`, errInvalidCredentials},
		{`{"username":"admin","password":"wrong"}`, errInvalidCredentials},
		{`{}`, errInvalidCredentials},
		{`"admin"`, errInvalidCredentials},
		{`{"username":1}`, errInvalidCredentials},
	} {
		got, err := a.login(json.RawMessage(tc.auth), now)
		if !errors.Is(err, tc.want) || got != "" {
			t.Errorf("login(%s) = %q, %v; want %v", tc.auth, got, err, tc.want)
		}
	}
	// While maxPasswordChecks checks run, another login is refused at once;
	// a session login still goes through.
	for range maxPasswordChecks {
		a.checking <- struct{}{}
	}
	if _, err := a.login(json.RawMessage(`{"username":"admin","password":"right"}`), now); !errors.Is(err, errBusy) {
		t.Fatalf("login while busy: %v, want errBusy", err)
	}
	if _, err := a.login(json.RawMessage(`{"sessionId":"`+session+`"}`), now); err != nil {
		t.Fatalf("session login while busy: %v", err)
	}
	for range maxPasswordChecks {
		<-a.checking
	}
	if _, err := a.login(json.RawMessage(`{"username":"admin","password":"right"}`), now); err != nil {
		t.Fatalf("login after the checks: %v", err)
	}

	open, err := New(Config{IO: newIO(t)})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := open.login(json.RawMessage(`{}`), now); err != nil || s != "" {
		t.Fatalf("open login = %q, %v", s, err)
	}
}
