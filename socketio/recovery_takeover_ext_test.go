package socketio_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/parley-rt/parley/socketio"
)

// TestRecoveryWhileOldSocketLeaves: a client reconnects and is recovered
// while the old socket's disconnect handlers have not run yet (they run
// after the session is saved, on the old socket's dispatcher). The
// recovered socket must get the room's broadcasts at once, and the old
// socket leaving its rooms in its handler (as /chat does) must not take
// the recovered one out of them. Found by bench/loadgen's soak: posts from
// recovered sockets were refused as "join room before posting".
func TestRecoveryWhileOldSocketLeaves(t *testing.T) {
	t.Parallel()
	const tr = "websocket" // a dropped polling client is noticed only by the heartbeat
	leaving := make(chan struct{}, 1)
	release := make(chan struct{})
	left := make(chan struct{}, 1)
	recovered := make(chan *socketio.Socket, 1)
	srv := newServer(t, socketio.Config{Recovery: &socketio.RecoveryConfig{}}, func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			if s.Recovered() {
				send(t, recovered, s)
				return
			}
			s.Join("red")
			s.OnDisconnect(func(string) {
				send(t, leaving, struct{}{})
				<-release
				s.Leave("red")
				send(t, left, struct{}{})
			})
		})
	})
	var once bool
	t.Cleanup(func() {
		if !once {
			close(release)
		}
	})
	nsp := srv.io.Of("/")

	c := dialRaw(t, srv, tr)
	c.send("40")
	var hs struct{ SID, PID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(c.next(), "40")), &hs); err != nil {
		t.Fatal(err)
	}
	if err := nsp.To("red").Emit("news", 0); err != nil {
		t.Fatal(err)
	}
	var offset string
	if args := eventArgs(t, c.next()); len(args) != 3 || json.Unmarshal(args[2], &offset) != nil {
		t.Fatalf("broadcast without an offset: %s", args)
	}
	c.close()
	recv(t, leaving, "the old socket's disconnect handler")

	c2 := dialRaw(t, srv, tr)
	c2.send(fmt.Sprintf(`40{"pid":%q,"offset":%q}`, hs.PID, offset))
	if p := c2.next(); !strings.Contains(p, hs.SID) {
		t.Fatalf("CONNECT answer %q: not recovered as %s", p, hs.SID)
	}
	recv(t, recovered, "recovered connection")
	if err := nsp.To("red").Emit("news", 1); err != nil {
		t.Fatal(err)
	}
	if args := eventArgs(t, c2.next()); string(args[1]) != "1" {
		t.Fatalf("recovered socket got %s, want news 1", args)
	}

	once = true
	close(release)
	recv(t, left, "the old socket's Leave")
	if err := nsp.To("red").Emit("news", 2); err != nil {
		t.Fatal(err)
	}
	if args := eventArgs(t, c2.next()); string(args[1]) != "2" {
		t.Fatalf("recovered socket got %s, want news 2", args)
	}
}
