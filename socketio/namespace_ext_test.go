package socketio_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-rt/parley/socketio"
)

// TestRawDynamicNamespaces connects to children of a dynamic namespace:
// the parent's middleware and connection handlers apply to each, and
// broadcasts stay within their namespace.
func TestRawDynamicNamespaces(t *testing.T) {
	t.Parallel()
	conns := make(chan string, 8)
	srv := newServer(t, socketio.Config{}, func(io *socketio.Server) {
		dyn := io.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
		dyn.Use(func(s *socketio.Socket) error {
			if strings.HasSuffix(s.Namespace().Name(), "-0") {
				return &socketio.ConnectError{Message: "closed room", Data: map[string]any{}}
			}
			return nil
		})
		dyn.OnConnection(func(s *socketio.Socket) {
			send(t, conns, s.Namespace().Name())
			s.On("shout", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
				vals, _ := args.Values()                 // raw JSON: cannot fail
				_ = s.Namespace().Emit("heard", vals...) // the test sees a missing broadcast
			})
		})
	})
	a := dialRaw(t, srv, "websocket")
	b := dialRaw(t, srv, "polling")
	a.connect("/room-1", "")
	b.connect("/room-1", "")
	b.connect("/room-2", "")
	got := []string{recv(t, conns, "conn"), recv(t, conns, "conn"), recv(t, conns, "conn")}
	slices.Sort(got)
	if !slices.Equal(got, []string{"/room-1", "/room-1", "/room-2"}) {
		t.Fatalf("connections %v", got)
	}
	if srv.io.Of("/room-1") == nil || len(srv.io.Of("/room-1").Sockets()) != 2 {
		t.Fatal("child namespace /room-1 does not hold both sockets")
	}

	// The parent's middleware runs for every child.
	a.send("40/room-0,")
	if p := a.next(); p != `44/room-0,{"data":{},"message":"closed room"}` && p != `44/room-0,{"message":"closed room","data":{}}` {
		t.Fatalf("refused CONNECT answered %q", p)
	}
	// A name the pattern refuses is no namespace.
	a.send("40/room-x,")
	if p := a.next(); p != `44/room-x,{"message":"Invalid namespace"}` {
		t.Fatalf("CONNECT to a non-matching name answered %q", p)
	}

	// A broadcast in /room-2 reaches only /room-2.
	b.send(`42/room-2,["shout","two"]`)
	if p := b.next(); p != `42/room-2,["heard","two"]` {
		t.Fatalf("b got %q", p)
	}
	a.send(`42/room-1,["shout","one"]`)
	if p := a.next(); p != `42/room-1,["heard","one"]` {
		t.Fatalf("a got %q", p)
	}
	if p := b.next(); p != `42/room-1,["heard","one"]` {
		t.Fatalf("b got %q (a broadcast of another namespace leaked?)", p)
	}
	none(t, conns, "connection")
}

// TestRawDisconnectWholeConnection closes every namespace of a connection
// with Disconnect(true).
func TestRawDisconnectWholeConnection(t *testing.T) {
	t.Parallel()
	for _, tr := range rawTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, socketio.Config{}, func(io *socketio.Server) { io.Of("/chat") })
			srv.track(srv.io.Of("/"))
			srv.track(srv.io.Of("/chat"))
			c := dialRaw(t, srv, tr)
			main := c.connect("/", "")
			chat := c.connect("/chat", "")
			s := serverSocket(t, srv.io.Of("/chat"), chat)
			s.Disconnect(true)
			var got []string
			for !c.isClosed() || len(c.in) > 0 {
				select {
				case p := <-c.in:
					got = append(got, p)
				case <-c.closed:
				case <-time.After(waitTimeout):
					t.Fatal("connection still open")
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, []string{"41", "41/chat,"}) {
				t.Fatalf("client got %q, want a DISCONNECT for each namespace", got)
			}
			for _, id := range []string{main, chat} {
				if reason := srv.disconnectReason(t, id); reason != socketio.ReasonServerNamespaceDisconnect {
					t.Fatalf("socket %s: reason %q", id, reason)
				}
			}
		})
	}
}

// TestRawBroadcastWithAck collects acknowledgements from every selected
// socket, and reports the ones missing at the deadline.
func TestRawBroadcastWithAck(t *testing.T) {
	t.Parallel()
	srv := newServer(t, socketio.Config{}, nil)
	var clients []*rawConn
	for _, tr := range []string{"websocket", "polling", "websocket"} {
		c := dialRaw(t, srv, tr)
		c.connect("/", "")
		clients = append(clients, c)
	}
	nsp := srv.io.Of("/")
	waitFor(t, "three sockets", func() bool { return len(nsp.Sockets()) == 3 })

	type result struct {
		acks []*socketio.Args
		err  error
	}
	ask := func(op socketio.BroadcastOperator) <-chan result {
		ch := make(chan result, 1)
		go func() {
			acks, err := op.EmitWithAck(context.Background(), "poll", "q")
			ch <- result{acks, err}
		}()
		return ch
	}
	answer := func(c *rawConn, reply string) {
		t.Helper()
		p := c.next()
		rest, ok := strings.CutPrefix(p, "42")
		if !ok || !strings.HasSuffix(rest, `["poll","q"]`) {
			t.Fatalf("got %q, want a poll with an ack id", p)
		}
		id := strings.TrimSuffix(rest, `["poll","q"]`)
		if reply != "" {
			c.send("43" + id + `["` + reply + `"]`)
		}
	}

	res := ask(nsp.Timeout(waitTimeout))
	for i, c := range clients {
		answer(c, string(rune('a'+i)))
	}
	r := recv(t, res, "EmitWithAck")
	if r.err != nil || len(r.acks) != 3 {
		t.Fatalf("EmitWithAck = %d acks, %v", len(r.acks), r.err)
	}
	var answers []string
	for _, a := range r.acks {
		var s string
		if err := a.Decode(0, &s); err != nil {
			t.Fatal(err)
		}
		answers = append(answers, s)
	}
	slices.Sort(answers)
	if !slices.Equal(answers, []string{"a", "b", "c"}) {
		t.Fatalf("answers %v", answers)
	}

	// One client stays silent: the others' answers come with ErrAckTimeout.
	res = ask(nsp.Timeout(200 * time.Millisecond))
	answer(clients[0], "x")
	answer(clients[1], "")
	answer(clients[2], "y")
	r = recv(t, res, "EmitWithAck")
	if !errors.Is(r.err, socketio.ErrAckTimeout) || len(r.acks) != 2 {
		t.Fatalf("EmitWithAck = %d acks, %v; want 2 and ErrAckTimeout", len(r.acks), r.err)
	}

	// No socket selected: nothing to wait for.
	r = recv(t, ask(nsp.To("nobody").Timeout(waitTimeout)), "EmitWithAck to nobody")
	if r.err != nil || len(r.acks) != 0 {
		t.Fatalf("EmitWithAck to nobody = %d acks, %v", len(r.acks), r.err)
	}
}

// TestCloseWaitsForDisconnectHandlers checks that Server.Close returns only
// after the sockets' disconnect handlers have run (so a shutdown that
// closes the store next loses no write they make), and that a deadline
// ends the wait with ctx.Err().
func TestCloseWaitsForDisconnectHandlers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	finished := make(chan string, 1)
	srv := newServer(t, socketio.Config{}, func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			s.OnDisconnect(func(reason string) {
				<-release
				finished <- reason
			})
		})
	})
	c := dialRaw(t, srv, "websocket")
	c.connect("/", "")

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.io.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a handler still running = %v, want the deadline", err)
	}
	select {
	case r := <-finished:
		t.Fatalf("the handler finished (%q) before it was released", r)
	default:
	}
	close(release)
	ctx, cancel2 := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel2()
	if err := srv.io.Close(ctx); err != nil {
		t.Fatalf("Close after the handler was released: %v", err)
	}
	select {
	case r := <-finished:
		if r != socketio.ReasonServerShuttingDown {
			t.Fatalf("reason %q", r)
		}
	default:
		t.Fatal("Close returned before the disconnect handler finished")
	}
}
