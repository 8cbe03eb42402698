package socketio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/parley-rt/parley/internal/testutil"
	"github.com/parley-rt/parley/socketio"
)

// waitTimeout bounds every wait; nothing waits for it when things work.
const waitTimeout = testutil.Timeout

// waitFor and recv are the shared helpers (internal/testutil).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, cond)
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return testutil.Recv(t, ch, what)
}

// none checks that nothing arrives on ch right now.
func none[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %v", what, v)
	default:
	}
}

// send puts v on ch without ever blocking a client or server goroutine;
// a full channel fails the test.
func send[T any](t testing.TB, ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
		t.Errorf("channel full, dropped %v", v)
	}
}

// offer puts v on ch if there is room.
func offer[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// testServer is a socketio.Server behind an httptest.Server.
type testServer struct {
	io  *socketio.Server
	ts  *httptest.Server
	url string

	mu          sync.Mutex
	disconnects map[string]string // socket id -> reason, for every namespace
	discCh      chan string
}

// newServer starts cfg's server; it is closed (and its clients with it) at
// the end of the test. setup runs before the server accepts connections.
func newServer(t *testing.T, cfg socketio.Config, setup func(io *socketio.Server)) *testServer {
	t.Helper()
	io, err := socketio.New(cfg)
	if err != nil {
		t.Fatalf("socketio.New: %v", err)
	}
	s := &testServer{io: io, disconnects: make(map[string]string), discCh: make(chan string, 64)}
	if setup != nil {
		setup(io)
	}
	s.ts = httptest.NewServer(io)
	s.url = s.ts.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := io.Close(ctx); err != nil {
			t.Errorf("Server.Close: %v", err)
		}
		s.ts.Close()
	})
	return s
}

// track records the disconnect reason of every socket of n.
func (s *testServer) track(n *socketio.Namespace) {
	n.OnConnection(func(so *socketio.Socket) {
		id := so.ID()
		so.OnDisconnect(func(reason string) {
			s.mu.Lock()
			s.disconnects[id] = reason
			s.mu.Unlock()
			select {
			case s.discCh <- id + " " + reason:
			default:
			}
		})
	})
}

// disconnectReason waits for the disconnect of socket id.
func (s *testServer) disconnectReason(t *testing.T, id string) string {
	t.Helper()
	var reason string
	waitFor(t, fmt.Sprintf("disconnect of %s", id), func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		r, ok := s.disconnects[id]
		reason = r
		return ok
	})
	return reason
}

// echoHandler re-emits an event's arguments to its sender under the same
// name, and acks them when asked.
func echoHandler(event string) socketio.Handler {
	return func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
		vals, err := args.Values()
		if err != nil {
			return
		}
		if ack != nil {
			_ = ack(vals...) // the test sees a missing ack
			return
		}
		_ = s.Emit(event, vals...) // the test sees a missing echo
	}
}
