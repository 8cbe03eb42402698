package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/parley-rt/parley/internal/admin"
	"github.com/parley-rt/parley/server"
)

// nextArgs waits for the next unreturned event named name and returns all
// its arguments.
func (c *wireClient) nextArgs(ctx context.Context, name string) []json.RawMessage {
	c.t.Helper()
	var out []json.RawMessage
	for {
		c.mu.Lock()
		for i, ev := range c.events {
			if ev.name == name {
				c.events = append(c.events[:i:i], c.events[i+1:]...)
				out = ev.args
				c.mu.Unlock()
				return out
			}
		}
		wait := c.changed
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			c.t.Fatalf("waiting for %q on %s: %v", name, c.nsp, ctx.Err())
		}
	}
}

// emit sends an event without an ack.
func (c *wireClient) emit(args ...any) {
	c.t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.post("42" + c.nspPrefix() + string(b)); err != nil {
		c.t.Fatalf("emit %v: %v", args[0], err)
	}
}

// chatEvent waits for the next event named name about /chat (the first
// argument), skipping those about the admin namespace's own sockets, and
// returns its first n arguments as strings.
func chatEvent(t *testing.T, ctx context.Context, c *wireClient, name string, n int) []string {
	t.Helper()
	for {
		got := strArgs(t, c.nextArgs(ctx, name), n)
		if got[0] == "/chat" {
			return got
		}
	}
}

func strArgs(t *testing.T, args []json.RawMessage, n int) []string {
	t.Helper()
	if len(args) < n {
		t.Fatalf("%d arguments, want %d: %s", len(args), n, args)
	}
	out := make([]string, n)
	for i := range n {
		if err := json.Unmarshal(args[i], &out[i]); err != nil {
			t.Fatalf("argument %d %s: %v", i, args[i], err)
		}
	}
	return out
}

// TestAdminUI drives the /admin namespace as the Admin UI does, over the
// wire: login, greeting, live events of a /chat socket and the UI's
// actions on it.
func TestAdminUI(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, ts := start(t, server.Config{AdminUI: true, AdminUser: "ops", AdminPasswordHash: string(hash)})
	ctx := waitCtx(t)

	for _, auth := range []any{nil, map[string]string{"username": "ops", "password": "wrong"}, map[string]string{"sessionId": "0123456789abcdef"}} {
		if _, err := dial(t, ts.URL, "/admin", auth); err == nil || !strings.Contains(err.Error(), "invalid credentials") {
			t.Fatalf("auth %v: %v, want invalid credentials", auth, err)
		}
	}
	ui := mustDial(t, ts.URL, "/admin", map[string]string{"username": "ops", "password": "s3cret"})
	defer ui.close()
	var session string
	ui.next(ctx, "session", &session)
	var cfg struct{ SupportedFeatures []string }
	ui.next(ctx, "config", &cfg)
	for _, f := range []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"} {
		if !slices.Contains(cfg.SupportedFeatures, f) {
			t.Errorf("config lacks %s: %v", f, cfg.SupportedFeatures)
		}
	}
	var stats admin.ServerStats
	ui.next(ctx, "server_stats", &stats)
	if stats.ServerID == "" || stats.PID == 0 || stats.ClientsCount < 1 || stats.PollingClientsCount < 1 {
		t.Errorf("server_stats %+v", stats)
	}
	names := make([]string, 0, len(stats.Namespaces))
	for _, n := range stats.Namespaces {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, []string{"/", "/admin", "/chat", "/presence"}) {
		t.Errorf("namespaces %v", names)
	}
	var all []admin.Socket
	ui.next(ctx, "all_sockets", &all)
	if len(all) != 1 || all[0].Nsp != "/admin" || strings.Contains(string(all[0].Handshake.Auth), "s3cret") {
		t.Fatalf("all_sockets %+v", all)
	}

	// A session id logs in without the password, and hands out no new one.
	again := mustDial(t, ts.URL, "/admin", map[string]string{"sessionId": session})
	again.next(ctx, "config", nil)
	if again.count("session") != 0 {
		t.Error("a session login got a new session id")
	}
	again.close()

	chat := mustDial(t, ts.URL, "/chat", map[string]string{"userId": "u1", "name": "Una"})
	defer chat.close()
	var sock admin.Socket
	for sock.Nsp != "/chat" { // the second admin socket came and went first
		ui.next(ctx, "socket_connected", &sock)
	}
	if sock.Transport != "polling" || len(sock.ClientID) != 12 || sock.Handshake.Address == "" ||
		!strings.Contains(string(sock.Handshake.Auth), `"userId":"u1"`) || !slices.Contains(sock.Rooms, sock.ID) {
		t.Fatalf("socket_connected %+v", sock)
	}
	chat.callInto("joinRoom", map[string]string{"room": "lobby"}, nil)
	if got := chatEvent(t, ctx, ui, "room_joined", 3); !slices.Equal(got, []string{"/chat", "lobby", sock.ID}) {
		t.Fatalf("room_joined %v", got)
	}

	// The UI's actions, with the plain room name the UI shows.
	ui.emit("emit", "/chat", "lobby", "notice", map[string]int{"n": 1})
	var notice struct{ N int }
	chat.next(ctx, "notice", &notice)
	if notice.N != 1 {
		t.Fatalf("notice %+v", notice)
	}
	ui.emit("leave", "/chat", "lobby", sock.ID)
	if got := chatEvent(t, ctx, ui, "room_left", 3); !slices.Equal(got, []string{"/chat", "lobby", sock.ID}) {
		t.Fatalf("room_left %v", got)
	}
	ui.emit("join", "/chat", "lobby", sock.ID)
	if got := chatEvent(t, ctx, ui, "room_joined", 3); !slices.Equal(got, []string{"/chat", "lobby", sock.ID}) {
		t.Fatalf("room_joined %v", got)
	}
	// Malformed actions and unknown namespaces are dropped; the namespace
	// keeps serving and no namespace is created.
	ui.emit("_disconnect", 42)
	ui.emit("join")
	ui.emit("emit", "/nope", nil, "x")
	ui.emit("_disconnect", "/chat", false, sock.ID)
	chat.next(ctx, "disconnect", nil)
	if got := chatEvent(t, ctx, ui, "socket_disconnected", 3); !slices.Equal(got, []string{"/chat", sock.ID, "server namespace disconnect"}) {
		t.Fatalf("socket_disconnected %v", got)
	}
	left := map[string]bool{}
	for len(left) < 2 {
		got := chatEvent(t, ctx, ui, "room_left", 3)
		if got[2] != sock.ID {
			t.Fatalf("room_left %v", got)
		}
		left[got[1]] = true
	}
	if !left["lobby"] || !left[sock.ID] {
		t.Fatalf("rooms left at disconnect %v", left)
	}
	// The next stats count the connections of the last interval and know
	// no /nope.
	for {
		ui.next(ctx, "server_stats", &stats)
		if len(stats.AggregatedEvents) > 0 {
			break
		}
	}
	conns := 0
	for _, e := range stats.AggregatedEvents {
		if e.Type == "rawConnection" {
			conns += e.Count
		}
	}
	if conns < 1 {
		t.Errorf("aggregated events %+v", stats.AggregatedEvents)
	}
	for _, n := range stats.Namespaces {
		if n.Name == "/nope" {
			t.Fatal("an action created a namespace")
		}
	}
}

func TestAdminUIRefusedOpenInProduction(t *testing.T) {
	t.Parallel()
	_, err := server.New(server.Config{AdminUI: true, Production: true, JWTSecret: strings.Repeat("k", 32), DataDir: t.TempDir()})
	if !errors.Is(err, admin.ErrOpenInProduction) {
		t.Fatalf("server.New = %v, want admin.ErrOpenInProduction", err)
	}
}
