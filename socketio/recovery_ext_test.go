package socketio_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/socketio"
)

// eventArgs splits an EVENT packet `42[...]` into its arguments.
func eventArgs(t *testing.T, p string) []json.RawMessage {
	t.Helper()
	body, ok := strings.CutPrefix(p, "42")
	if !ok {
		t.Fatalf("packet %q is not an event on /", p)
	}
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(body), &args); err != nil {
		t.Fatalf("packet %q: %v", p, err)
	}
	return args
}

// TestRawRecovery drops a connection and reconnects with the pid and last
// offset: the socket gets its id, rooms and data back, and exactly the
// broadcasts it missed, in order.
func TestRawRecovery(t *testing.T) {
	t.Parallel()
	for _, tr := range rawTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			type conn struct {
				id        string
				recovered bool
				rooms     []string
				user      any
			}
			conns := make(chan conn, 4)
			// A polling client that stops polling is noticed by the
			// heartbeat: keep it short.
			cfg := socketio.Config{
				Recovery: &socketio.RecoveryConfig{},
				Engine:   engineio.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond},
			}
			srv := newServer(t, cfg, func(io *socketio.Server) {
				io.Of("/").OnConnection(func(s *socketio.Socket) {
					user, _ := s.Get("user")
					send(t, conns, conn{s.ID(), s.Recovered(), s.Rooms(), user})
					s.On("setup", func(s *socketio.Socket, _ *socketio.Args, ack socketio.AckFunc) {
						s.Join("red")
						s.Set("user", "ann")
						_ = ack() // a missing ack fails the test
					})
				})
			})
			srv.track(srv.io.Of("/"))
			nsp := srv.io.Of("/")

			c := dialRaw(t, srv, tr)
			c.send("40")
			p := c.next()
			var hs struct{ SID, PID string }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(p, "40")), &hs); err != nil || hs.PID == "" {
				t.Fatalf("CONNECT answer %q: want a sid and a pid", p)
			}
			first := recv(t, conns, "connection")
			if first.recovered {
				t.Fatal("a first connection reported as recovered")
			}
			c.send(`421["setup"]`)
			if p := c.next(); p != "431[]" {
				t.Fatalf("setup ack %q", p)
			}
			// Broadcasts carry their offset as the last argument.
			if err := nsp.Emit("news", 0); err != nil {
				t.Fatal(err)
			}
			args := eventArgs(t, c.next())
			var offset string
			if len(args) != 3 || json.Unmarshal(args[2], &offset) != nil || offset == "" {
				t.Fatalf("broadcast without an offset: %s", args)
			}

			// The connection drops; broadcasts go on meanwhile.
			c.close()
			switch reason := srv.disconnectReason(t, hs.SID); reason {
			case engineio.ReasonTransportClose, engineio.ReasonTransportError, engineio.ReasonPingTimeout:
			default:
				t.Fatalf("disconnect reason %q", reason)
			}
			emits := []struct {
				op   socketio.BroadcastOperator
				n    int
				miss bool
			}{
				{nsp.To("red"), 1, true},
				{nsp.To("blue"), 2, false},
				{nsp.Except("red"), 3, false},
				{nsp.To(hs.SID), 4, true},
				{nsp.To("blue", "red"), 5, true},
				{nsp.Volatile(), 6, false},
				{nsp.Except("blue"), 7, true},
			}
			var want []string
			for _, e := range emits {
				if err := e.op.Emit("news", e.n); err != nil {
					t.Fatal(err)
				}
				if e.miss {
					want = append(want, fmt.Sprint(e.n))
				}
			}

			c2 := dialRaw(t, srv, tr)
			c2.send(fmt.Sprintf(`40{"pid":%q,"offset":%q}`, hs.PID, offset))
			p = c2.next()
			var hs2 struct{ SID, PID string }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(p, "40")), &hs2); err != nil {
				t.Fatalf("CONNECT answer %q: %v", p, err)
			}
			if hs2.SID != hs.SID || hs2.PID != hs.PID {
				t.Fatalf("recovered as %+v, want %+v", hs2, hs)
			}
			var got []string
			for range want {
				args := eventArgs(t, c2.next())
				got = append(got, string(args[1]))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("replayed %v, want %v", got, want)
			}
			second := recv(t, conns, "recovered connection")
			if !second.recovered || second.id != hs.SID || !slices.Contains(second.rooms, "red") || second.user != "ann" {
				t.Fatalf("recovered socket %+v", second)
			}
			// Live traffic follows the replay.
			if err := nsp.To("red").Emit("news", 8); err != nil {
				t.Fatal(err)
			}
			if args := eventArgs(t, c2.next()); string(args[1]) != "8" {
				t.Fatalf("after replay got %s", args)
			}

			// A stale offset cannot be used twice.
			c3 := dialRaw(t, srv, tr)
			c3.send(fmt.Sprintf(`40{"pid":%q,"offset":%q}`, hs.PID, offset))
			p = c3.next()
			var hs3 struct{ SID, PID string }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(p, "40")), &hs3); err != nil {
				t.Fatalf("CONNECT answer %q: %v", p, err)
			}
			if hs3.SID == hs.SID || hs3.PID == hs.PID {
				t.Fatalf("a second recovery of the same session: %+v", hs3)
			}
			if third := recv(t, conns, "third connection"); third.recovered {
				t.Fatal("third connection recovered")
			}
		})
	}
}
