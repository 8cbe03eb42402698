package socketio_test

import (
	"slices"
	"testing"

	"github.com/parley-rt/parley/socketio"
)

// roomChange is one RoomObserver call.
type roomChange struct {
	op, id, room string
}

func TestRoomObserver(t *testing.T) {
	t.Parallel()
	changes := make(chan roomChange, 32)
	var n *socketio.Namespace
	srv := newServer(t, socketio.Config{}, func(io *socketio.Server) {
		n = io.Of("/watched")
		n.ObserveRooms(socketio.RoomObserver{
			Joined: func(s *socketio.Socket, room string) { send(t, changes, roomChange{"join", s.ID(), room}) },
			Left:   func(s *socketio.Socket, room string) { send(t, changes, roomChange{"leave", s.ID(), room}) },
		})
		n.OnConnection(func(s *socketio.Socket) {
			s.On("join", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
				var rooms []string
				for i := range args.Len() {
					var r string
					_ = args.Decode(i, &r) // the test sends strings
					rooms = append(rooms, r)
				}
				s.Join(rooms...)
			})
			s.On("leave", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
				var r string
				_ = args.Decode(0, &r) // the test sends a string
				s.Leave(r)
			})
		})
		io.Of("/quiet") // a namespace without observers works as before
	})
	c := dialRaw(t, srv, "websocket")
	id := c.connect("/watched", "")
	none(t, changes, "change at connect (the own room is not reported)")

	// Only rooms the socket was not in are reported, each once.
	c.send(`42/watched,["join","a","b","a"]`)
	for _, want := range []roomChange{{"join", id, "a"}, {"join", id, "b"}} {
		if got := recv(t, changes, "join"); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	c.send(`42/watched,["join","a","c"]`)
	if got := recv(t, changes, "join"); got != (roomChange{"join", id, "c"}) {
		t.Fatalf("got %+v", got)
	}
	// Leaving a room the socket is not in reports nothing.
	c.send(`42/watched,["leave","zzz"]`, `42/watched,["leave","a"]`)
	if got := recv(t, changes, "leave"); got != (roomChange{"leave", id, "a"}) {
		t.Fatalf("got %+v", got)
	}
	// At disconnect, every remaining room, the own one included.
	c.send(`41/watched,`)
	var left []string
	for range 3 {
		got := recv(t, changes, "leave at disconnect")
		if got.op != "leave" || got.id != id {
			t.Fatalf("got %+v", got)
		}
		left = append(left, got.room)
	}
	slices.Sort(left)
	want := []string{"b", "c", id}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	waitFor(t, "socket gone", func() bool { return n.SocketCount() == 0 })

	names := []string{}
	for _, ns := range srv.io.Namespaces() {
		names = append(names, ns.Name())
	}
	if !slices.Equal(names, []string{"/", "/quiet", "/watched"}) {
		t.Fatalf("Namespaces = %v", names)
	}
	q := dialRaw(t, srv, "websocket")
	q.connect("/quiet", "")
	none(t, changes, "change from an unobserved namespace")
}

func TestSocketData(t *testing.T) {
	t.Parallel()
	got := make(chan map[string]any, 1)
	srv := newServer(t, socketio.Config{}, func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			s.Set("user", "u1")
			d := s.Data()
			d["user"] = "changed" // a copy
			s.Set("n", 2)
			send(t, got, s.Data())
		})
	})
	c := dialRaw(t, srv, "polling")
	c.connect("/", "")
	d := recv(t, got, "data")
	if len(d) != 2 || d["user"] != "u1" || d["n"] != 2 {
		t.Fatalf("Data = %v", d)
	}
}
