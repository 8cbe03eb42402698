package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/httpapi"
	"github.com/parley-rt/parley/namespaces/ratelimit"
	"github.com/parley-rt/parley/server"
)

const secret = "0123456789abcdef0123456789abcdef-test"

// claims builds token claims: sub, name, exp in d from now, extra fields.
func claims(sub string, d time.Duration, extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "name": "Name " + sub, "exp": time.Now().Add(d).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func hs256(t *testing.T, key string, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tokenAuth(tok string) map[string]string { return map[string]string{"token": tok} }

// refusal parses dial's error: connect_error {message, data}.
func refusal(t *testing.T, err error) (message string, data map[string]any) {
	t.Helper()
	if err == nil {
		t.Fatal("connected; want connect_error")
	}
	raw, ok := strings.CutPrefix(err.Error(), "connect_error ")
	if !ok {
		t.Fatalf("err = %v, want a connect_error", err)
	}
	var p struct {
		Message string
		Data    map[string]any
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatalf("connect_error %s: %v", raw, err)
	}
	return p.Message, p.Data
}

func TestProductionRefusesToStartWithoutKey(t *testing.T) {
	t.Parallel()
	for _, cfg := range []server.Config{{Production: true}, {Production: true, JWTAudience: "parley", CORSOrigins: []string{"*"}}} {
		cfg.DataDir = t.TempDir()
		srv, err := server.New(cfg)
		if err == nil {
			_ = srv.Shutdown(context.Background()) // the test already failed
			t.Fatal("production started without a key")
		}
		if !strings.Contains(err.Error(), "production") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "parley.db")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused server opened its store: %v", err)
		}
	}
	// With a key it starts, and serves no dev endpoint.
	_, ts := start(t, server.Config{Production: true, JWTSecret: secret})
	if code, _, _ := do(t, "GET", ts.URL+"/api/dev/token?name=alice", "", ""); code != 404 {
		t.Fatalf("dev endpoint in production: %d", code)
	}
}

func TestAuthConfigValidation(t *testing.T) {
	t.Parallel()
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]server.Config{
		"short secret":  {JWTSecret: "short"},
		"secret + key":  {JWTSecret: secret, JWTPublicKey: pemPublic(t, &ecKey.PublicKey)},
		"not a PEM key": {JWTPublicKey: []byte("hello")},
		"EC not P-256":  {JWTPublicKey: pemPublic(t, &ecKey.PublicKey)},
		"bad limit":     {RateLimits: map[string]ratelimit.RateLimit{"chatMessage": {Rate: 1}}},
	} {
		cfg.DataDir = t.TempDir()
		if srv, err := server.New(cfg); err == nil {
			_ = srv.Shutdown(context.Background()) // the test already failed
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func pemPublic(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Every rejection path of the handshake token, on both namespaces: the
// client sees connect_error "unauthorized" with {code, reason}, and the
// reason never carries the token or the key.
func TestHandshakeRejections(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret, JWTAudience: "parley", JWTIssuer: "https://id.example"})
	good := map[string]any{"aud": "parley", "iss": "https://id.example"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{"aud": "parley", "iss": "https://id.example"}
		m[k] = v
		return m
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims("mallory", time.Hour, good)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims("mallory", time.Hour, good)).SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		auth   any
		reason string
	}{
		{"no auth", nil, "missing token"},
		{"dev identity", devAuth("mallory"), "missing token"},
		{"empty token", tokenAuth(""), "missing token"},
		{"garbage", tokenAuth("not.a.jwt"), "malformed token"},
		{"not a jwt at all", tokenAuth("hello"), "malformed token"},
		{"wrong signature", tokenAuth(hs256(t, "another-secret-another-secret-1234", claims("mallory", time.Hour, good))), "bad signature"},
		{"alg none", tokenAuth(none), `signing algorithm "none" is not accepted`},
		{"alg RS256", tokenAuth(rs), `signing algorithm "RS256" is not accepted`},
		{"expired", tokenAuth(hs256(t, secret, claims("mallory", -time.Minute, good))), "token expired"},
		{"no exp", tokenAuth(hs256(t, secret, claims("mallory", time.Hour, with("exp", nil)))), "missing exp claim"},
		{"no sub", tokenAuth(hs256(t, secret, claims("", time.Hour, good))), "missing sub claim"},
		{"wrong audience", tokenAuth(hs256(t, secret, claims("mallory", time.Hour, with("aud", "other")))), "wrong audience"},
		{"no audience", tokenAuth(hs256(t, secret, claims("mallory", time.Hour, with("aud", nil)))), "wrong audience"},
		{"wrong issuer", tokenAuth(hs256(t, secret, claims("mallory", time.Hour, with("iss", "https://evil.example")))), "wrong issuer"},
		{"not yet valid", tokenAuth(hs256(t, secret, claims("mallory", time.Hour, with("nbf", time.Now().Add(time.Hour).Unix())))), "token not valid yet"},
	}
	for _, nsp := range []string{"/chat", "/presence"} {
		for _, c := range cases {
			t.Run(nsp+" "+c.name, func(t *testing.T) {
				t.Parallel()
				_, err := dial(t, ts.URL, nsp, c.auth)
				msg, data := refusal(t, err)
				if msg != "unauthorized" || data["code"] != "unauthorized" || data["reason"] != c.reason || len(data) != 2 {
					t.Fatalf("connect_error %q %v, want unauthorized %q", msg, data, c.reason)
				}
				if tok, _ := c.auth.(map[string]string); tok != nil && tok["token"] != "" && strings.Contains(err.Error(), tok["token"]) ||
					strings.Contains(err.Error(), secret) {
					t.Fatal("the refusal echoes the token or the secret")
				}
			})
		}
	}
	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		// A forged userId in the handshake is ignored: the token's sub wins.
		c := mustDial(t, ts.URL, "/chat", map[string]string{"token": hs256(t, secret, claims("alice", time.Hour, good)), "userId": "root"})
		var res events.JoinRoomResult
		c.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, &res)
		if len(res.Members) != 1 || res.Members[0] != (events.UserRef{ID: "alice", Name: "Name alice"}) {
			t.Fatalf("members %+v", res.Members)
		}
		// So is a sender in a payload.
		if raw := c.call("chatMessage", map[string]any{"room": "lobby", "content": "x", "sender": map[string]string{"id": "bob", "name": "Bob"}}); !strings.Contains(string(raw), "bad_request") {
			t.Fatalf("forged sender: %s", raw)
		}
		var m events.ChatMessage
		c.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "hi"}, &m)
		if m.Sender.ID != "alice" {
			t.Fatalf("sender %+v", m.Sender)
		}
	})
}

// RS256 and ES256 verify with a public key; an HS256 token keyed with the
// public key's bytes (the algorithm confusion attack) is refused.
func TestPublicKeyTokens(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		name   string
		method jwt.SigningMethod
		priv   any
		pub    any
	}{{"RS256", jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey}, {"ES256", jwt.SigningMethodES256, ecKey, &ecKey.PublicKey}} {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			pub := pemPublic(t, k.pub)
			_, ts := start(t, server.Config{JWTPublicKey: pub})
			tok, err := jwt.NewWithClaims(k.method, claims("alice", time.Hour, nil)).SignedString(k.priv)
			if err != nil {
				t.Fatal(err)
			}
			mustDial(t, ts.URL, "/presence", tokenAuth(tok))
			_, err = dial(t, ts.URL, "/presence", tokenAuth(hs256(t, string(pub), claims("mallory", time.Hour, nil))))
			if _, data := refusal(t, err); data["reason"] != `signing algorithm "HS256" is not accepted` {
				t.Fatalf("confusion attack: %v", data)
			}
		})
	}
}

// Private rooms need a rooms claim, for joinRoom, presence subscriptions
// and the SSE feed alike; public rooms are open to any authenticated user.
func TestPrivateRooms(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret, PrivateRooms: []string{"staff-*"}, APIKey: "k"})
	member := hs256(t, secret, claims("alice", time.Hour, map[string]any{"rooms": []string{"private:team", "staff-*"}}))
	outsider := hs256(t, secret, claims("bob", time.Hour, nil))
	a := mustDial(t, ts.URL, "/chat", tokenAuth(member))
	b := mustDial(t, ts.URL, "/chat", tokenAuth(outsider))
	for _, room := range []string{"private:team", "staff-ops", "lobby"} {
		a.callInto("joinRoom", events.JoinRoomRequest{Room: room}, nil)
	}
	for _, room := range []string{"private:team", "private:other", "staff-ops"} {
		if raw := b.call("joinRoom", events.JoinRoomRequest{Room: room}); !strings.Contains(string(raw), `"code":"forbidden"`) {
			t.Errorf("bob joined %s: %s", room, raw)
		}
		// Never joined: cannot post or read.
		if raw := b.call("chatMessage", events.ChatMessageRequest{Room: room, Content: "x"}); !strings.Contains(string(raw), `"code":"forbidden"`) {
			t.Errorf("bob posted to %s: %s", room, raw)
		}
		if raw := b.call("fetchHistory", events.FetchHistoryRequest{Room: room}); !strings.Contains(string(raw), `"code":"forbidden"`) {
			t.Errorf("bob read %s: %s", room, raw)
		}
	}
	if raw := a.call("joinRoom", events.JoinRoomRequest{Room: "private:other"}); !strings.Contains(string(raw), "forbidden") {
		t.Errorf("alice joined private:other: %s", raw)
	}
	b.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)

	bp := mustDial(t, ts.URL, "/presence", tokenAuth(outsider))
	if raw := bp.call("subscribe", events.WatchRequest{Rooms: []string{"private:team"}}); !strings.Contains(string(raw), "forbidden") {
		t.Errorf("bob watched private:team: %s", raw)
	}
	ap := mustDial(t, ts.URL, "/presence", tokenAuth(member))
	ap.callInto("subscribe", events.WatchRequest{Rooms: []string{"private:team"}}, nil)

	for _, c := range []struct {
		url, bearer string
		code        int
	}{
		{"/sse/rooms/lobby", "", 401},
		{"/sse/rooms/lobby", "garbage", 401},
		{"/sse/rooms/lobby", outsider, 200},
		{"/sse/rooms/private:team", outsider, 403},
		{"/sse/rooms/private:team?token=" + outsider, "", 403},
		{"/sse/rooms/private:team", member, 200},
		{"/sse/rooms/private:team?token=" + member, "", 200},
		{"/sse/presence?rooms=private:team", outsider, 403},
		{"/sse/presence?rooms=private:team", member, 200},
		{"/sse/presence?userIds=alice", "", 401},
	} {
		var hdr []string
		if c.bearer != "" {
			hdr = []string{"Authorization", "Bearer " + c.bearer}
		}
		s, err := openSSE(t, ts.URL+c.url, hdr...)
		if err != nil || s.res.StatusCode != c.code {
			t.Errorf("GET %s (token %v): %v %v, want %d", c.url, c.bearer != "", s.res.StatusCode, err, c.code)
		}
		s.close()
	}
	// A user token never opens the HTTP API: only the API key does.
	if code, _, _ := do(t, "GET", ts.URL+"/api/rooms/lobby/messages", member, ""); code != 401 {
		t.Errorf("API with a user token: %d", code)
	}
}

func TestRefreshToken(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret, RateLimits: map[string]ratelimit.RateLimit{"refreshToken": {}}})
	// exp has a resolution of seconds: this token expires 1 to 2 s from now.
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
	short := hs256(t, secret, jwt.MapClaims{"sub": "alice", "exp": exp.Unix()})
	kept := mustDial(t, ts.URL, "/chat", tokenAuth(short))
	dropped := mustDial(t, ts.URL, "/presence", tokenAuth(short))
	for _, c := range []struct {
		token string
		code  string
	}{
		{hs256(t, secret, claims("alice", -time.Second, nil)), "unauthorized"},              // expired
		{hs256(t, secret, claims("bob", time.Hour, nil)), "forbidden"},                      // another user
		{hs256(t, secret, jwt.MapClaims{"sub": "alice", "exp": exp.Unix()}), "bad_request"}, // not newer
		{"garbage", "unauthorized"},
	} {
		if raw := kept.call("refreshToken", events.RefreshTokenRequest{Token: c.token}); !strings.Contains(string(raw), `"code":"`+c.code+`"`) {
			t.Errorf("refresh: %s, want %s", raw, c.code)
		}
	}
	later := time.Now().Add(time.Hour).Unix()
	var res events.RefreshTokenResult
	kept.callInto("refreshToken", events.RefreshTokenRequest{Token: hs256(t, secret, jwt.MapClaims{"sub": "alice", "exp": later})}, &res)
	if res.Exp != later {
		t.Fatalf("exp %d, want %d", res.Exp, later)
	}
	// Without a refresh the socket is disconnected when its token expires.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dropped.next(ctx, "disconnect", nil)
	if time.Now().Before(exp) {
		t.Fatal("disconnected before the token expired")
	}
	// The refreshed socket outlived its first token.
	kept.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{
		RateLimits:  map[string]ratelimit.RateLimit{"chatMessage": {Rate: 20, Burst: 3}, "joinRoom": {Rate: 10, Burst: 1}},
		AbuseWindow: 300 * time.Millisecond,
	})
	c := mustDial(t, ts.URL, "/chat", devAuth("alice"))
	c.callInto("joinRoom", events.JoinRoomRequest{Room: "r"}, nil)
	send := func() string {
		return string(c.call("chatMessage", events.ChatMessageRequest{Room: "r", Content: "x"}))
	}
	limited := 0
	for range 6 {
		if strings.Contains(send(), `"code":"rate_limited"`) {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("6 messages at once were not limited (burst 3)")
	}
	// Recovered: tokens come back at 20/s (polling a deadline).
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(send(), `"ok":true`) {
		if time.Now().After(deadline) {
			t.Fatal("the limit never recovered")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Persistent abuse (10x the rate for the window) disconnects.
	abuser := mustDial(t, ts.URL, "/chat", devAuth("mallory"))
	ctx := waitCtx(t)
	for i := 0; abuser.count("disconnect") == 0; i++ {
		if i > 1000 {
			t.Fatal("an abusive socket was never disconnected")
		}
		if err := abuser.post(`42/chat,["joinRoom",{"room":"r"}]`); err != nil {
			break // the session is gone
		}
	}
	abuser.next(ctx, "disconnect", nil)
	// alice, who kept to the limits, is still here.
	c.callInto("fetchHistory", events.FetchHistoryRequest{Room: "r"}, nil)
}

func TestConnectionsPerUser(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{MaxConnectionsPerUser: 2})
	mustDial(t, ts.URL, "/chat", devAuth("alice"))
	mustDial(t, ts.URL, "/presence", devAuth("alice"))
	_, err := dial(t, ts.URL, "/chat", devAuth("alice"))
	if msg, data := refusal(t, err); msg != "rate_limited" || data["code"] != "rate_limited" {
		t.Fatalf("third connection: %s %v", msg, data)
	}
	mustDial(t, ts.URL, "/chat", devAuth("bob"))
}

func TestDevToken(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	code, body, h := do(t, "GET", ts.URL+"/api/dev/token?name=Alice%20Smith&rooms=private:team", "", "")
	var dt httpapi.DevToken
	if code != 200 || json.Unmarshal([]byte(body), &dt) != nil || dt.UserID != "alice-smith" || dt.Name != "Alice Smith" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("dev token = %d %s", code, body)
	}
	if d := time.Until(time.Unix(dt.Exp, 0)); d < 11*time.Hour || d > 13*time.Hour {
		t.Fatalf("exp in %v", d)
	}
	c := mustDial(t, ts.URL, "/chat", tokenAuth(dt.Token))
	var res events.JoinRoomResult
	c.callInto("joinRoom", events.JoinRoomRequest{Room: "private:team"}, &res)
	if res.Members[0] != (events.UserRef{ID: "alice-smith", Name: "Alice Smith"}) {
		t.Fatalf("members %+v", res.Members)
	}
	// In dev mode a forged token is still refused, and private rooms need
	// the claim even for dev handshake identities.
	_, err := dial(t, ts.URL, "/chat", tokenAuth(hs256(t, secret, claims("alice", time.Hour, nil))))
	if _, data := refusal(t, err); data["reason"] != "bad signature" {
		t.Fatalf("forged token in dev mode: %v", data)
	}
	dev := mustDial(t, ts.URL, "/chat", devAuth("bob"))
	if raw := dev.call("joinRoom", events.JoinRoomRequest{Room: "private:team"}); !strings.Contains(string(raw), "forbidden") {
		t.Fatalf("dev identity joined a private room: %s", raw)
	}
	for _, q := range []string{"", "?name=", "?name=a&ttl=1ms", "?name=a&ttl=forever", "?name=" + strings.Repeat("x", 65)} {
		if code, _, _ := do(t, "GET", ts.URL+"/api/dev/token"+q, "", ""); code != 400 {
			t.Errorf("dev token%s = %d, want 400", q, code)
		}
	}
}

func TestCORSProduction(t *testing.T) {
	t.Parallel()
	_, closed := start(t, server.Config{Production: true, JWTSecret: secret})
	_, open := start(t, server.Config{Production: true, JWTSecret: secret, CORSOrigins: []string{"https://app.example"}})
	for _, path := range []string{"/socket.io/?EIO=4&transport=polling", "/api/rooms/lobby/messages", "/sse/rooms/lobby"} {
		for _, c := range []struct {
			base, origin, want string
		}{
			{closed.URL, "http://localhost:3000", ""},
			{open.URL, "http://localhost:3000", ""},
			{open.URL, "https://app.example", "https://app.example"},
		} {
			code, _, h := do(t, "OPTIONS", c.base+path, "", "", "Origin", c.origin, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
			if code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != c.want {
				t.Errorf("%s from %s: %d %q, want %q", path, c.origin, code, h.Get("Access-Control-Allow-Origin"), c.want)
			}
		}
	}
}
