package socketio_test

import (
	"fmt"
	"testing"

	"github.com/parley-rt/parley/socketio"
)

// TestBackpressureKeepsOrder sends more events than MaxInbox to a socket
// whose handler is slow: reading pauses instead of queueing without bound,
// and every event is handled once, in order.
func TestBackpressureKeepsOrder(t *testing.T) {
	t.Parallel()
	for _, tr := range rawTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			got := make(chan int, 64)
			srv := newServer(t, socketio.Config{MaxInbox: 2}, func(io *socketio.Server) {
				io.Of("/").OnConnection(func(s *socketio.Socket) {
					s.On("n", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
						var n int
						_ = args.Decode(0, &n) // a wrong number fails the test
						if n == 0 {
							<-release
						}
						send(t, got, n)
					})
				})
			})
			c := dialRaw(t, srv, tr)
			c.connect("/", "")
			const total = 20
			sent := make(chan error, 1)
			go func() {
				var packets []string
				for i := range total {
					packets = append(packets, fmt.Sprintf(`42["n",%d]`, i))
				}
				if tr == "polling" {
					sent <- c.trySend(packets...)
					return
				}
				for _, p := range packets {
					if err := c.trySend(p); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			none(t, got, "event handled while the first handler blocks")
			close(release)
			for i := range total {
				if n := recv(t, got, "event"); n != i {
					t.Fatalf("event %d handled as number %d", i, n)
				}
			}
			if err := recv(t, sent, "sender"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBackpressureDisconnectWhileInboxFull fills a socket's inbox behind a
// handler that runs until the socket disconnects, then drops the
// connection: the socket must still learn of the disconnect.
//
// Regression: the engine's deliverer goroutine blocked in Socket.push
// waiting for inbox room, so the close marker it would deliver next
// (OnClose, which cancels the socket's context) never arrived: the handler
// waited forever, the socket stayed connected and in its rooms, and its
// goroutines leaked.
func TestBackpressureDisconnectWhileInboxFull(t *testing.T) {
	t.Parallel()
	for _, tr := range rawTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{}, 1)
			srv := newServer(t, socketio.Config{MaxInbox: 2}, func(io *socketio.Server) {
				io.Of("/").OnConnection(func(s *socketio.Socket) {
					s.On("wait for disconnect", func(s *socketio.Socket, _ *socketio.Args, _ socketio.AckFunc) {
						send(t, started, struct{}{})
						<-s.Context().Done()
					})
				})
			})
			srv.track(srv.io.Of("/"))
			c := dialRaw(t, srv, tr)
			id := c.connect("/", "")
			c.send(`42["wait for disconnect"]`)
			recv(t, started, "handler start")
			more := make([]string, 8)
			for i := range more {
				more[i] = fmt.Sprintf(`42["more",%d]`, i)
			}
			c.send(more...)
			c.close()
			if reason := srv.disconnectReason(t, id); reason == "" {
				t.Fatal("no reason")
			}
		})
	}
}
