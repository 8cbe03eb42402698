package socketio

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-rt/parley/engineio"
)

// newTestNamespace returns a namespace of a server that is never served:
// New starts nothing, so there is nothing to shut down.
func newTestNamespace(t *testing.T, name string) *Namespace {
	t.Helper()
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return srv.Of(name)
}

// addSocket puts a connected socket without a connection in n, in rooms.
func addSocket(t *testing.T, n *Namespace, id string, rooms ...string) *Socket {
	t.Helper()
	s := newSocket(n, nil, nil)
	t.Cleanup(s.cancel)
	s.id = id
	s.connected = true
	n.adapter.Add(s, s.id)
	s.Join(rooms...)
	return s
}

func ids(list []*Socket) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID()
	}
	slices.Sort(out)
	return out
}

func TestBroadcastOperatorIsImmutable(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/imm")
	// A base whose rooms slice has spare capacity: appending to it in
	// place would let the derived operators overwrite each other.
	base := n.To("a", "b", "c").To("d")
	x := base.To("x")
	y := base.To("y")
	if !slices.Equal(x.rooms, []string{"a", "b", "c", "d", "x"}) || !slices.Equal(y.rooms, []string{"a", "b", "c", "d", "y"}) {
		t.Fatalf("derived rooms %v and %v share storage", x.rooms, y.rooms)
	}
	if !slices.Equal(base.rooms, []string{"a", "b", "c", "d"}) {
		t.Fatalf("base rooms changed to %v", base.rooms)
	}

	ex := n.Except("e1", "e2").Except("e3")
	ex1 := ex.Except("p")
	ex2 := ex.Except("q")
	if !slices.Equal(ex1.except, []string{"e1", "e2", "e3", "p"}) || !slices.Equal(ex2.except, []string{"e1", "e2", "e3", "q"}) {
		t.Fatalf("derived excepts %v and %v share storage", ex1.except, ex2.except)
	}

	// Flags are values too.
	v := base.Volatile()
	tm := base.Timeout(time.Second)
	l := base.Local()
	if base.volatile || base.timeout != 0 || base.local {
		t.Fatalf("flags leaked into the base operator: %+v", base)
	}
	if !v.volatile || tm.timeout != time.Second || !l.local || v.timeout != 0 {
		t.Fatal("flags not set on the derived operators")
	}
	if c := base.Compress(true); !slices.Equal(c.rooms, base.rooms) {
		t.Fatal("Compress changed the selection")
	}
	// Socket.To excludes the socket itself without touching anything shared.
	s := addSocket(t, n, "self")
	op := s.To("r1")
	if !slices.Equal(op.except, []string{"self"}) || !slices.Equal(op.rooms, []string{"r1"}) {
		t.Fatalf("Socket.To = rooms %v except %v", op.rooms, op.except)
	}
	if in := s.In("r2"); !slices.Equal(in.rooms, []string{"r2"}) {
		t.Fatalf("Socket.In = %v", in.rooms)
	}
}

// TestBroadcastOperatorConcurrentDerivation derives from one shared
// operator on many goroutines; the race detector reports any shared write.
func TestBroadcastOperatorConcurrentDerivation(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/conc")
	base := n.To("a", "b").To("c").Except("z", "y").Except("w")
	var wg sync.WaitGroup
	results := make([]BroadcastOperator, 16)
	for i := range results {
		wg.Go(func() {
			results[i] = base.To(string(rune('A' + i))).Except(string(rune('a' + i))).Volatile()
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.rooms[3] != string(rune('A'+i)) || r.except[3] != string(rune('a'+i)) || len(r.rooms) != 4 {
			t.Fatalf("operator %d = rooms %v except %v", i, r.rooms, r.except)
		}
	}
}

func TestRoomSelection(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/rooms")
	addSocket(t, n, "s1", "red")
	addSocket(t, n, "s2", "red", "blue")
	addSocket(t, n, "s3", "blue")
	addSocket(t, n, "s4", "green")
	addSocket(t, n, "s5")

	tests := []struct {
		name string
		op   BroadcastOperator
		want []string
	}{
		{"everyone", n.operator(), []string{"s1", "s2", "s3", "s4", "s5"}},
		{"one room", n.To("red"), []string{"s1", "s2"}},
		{"In is To", n.In("blue"), []string{"s2", "s3"}},
		{"union without duplicates", n.To("red", "blue"), []string{"s1", "s2", "s3"}},
		{"union over two calls", n.To("red").To("blue"), []string{"s1", "s2", "s3"}},
		{"same room twice", n.To("red", "red"), []string{"s1", "s2"}},
		{"except", n.Except("red"), []string{"s3", "s4", "s5"}},
		{"except two", n.Except("red", "green"), []string{"s3", "s5"}},
		{"to and except", n.To("blue").Except("red"), []string{"s3"}},
		{"except then to", n.Except("red").To("blue", "green"), []string{"s3", "s4"}},
		{"socket room", n.To("s4"), []string{"s4"}},
		{"socket rooms and a room", n.To("s4", "s5", "red"), []string{"s1", "s2", "s4", "s5"}},
		{"except a socket", n.To("red").Except("s1"), []string{"s2"}},
		{"empty room", n.To("nobody"), []string{}},
		{"everything excluded", n.To("red").Except("red"), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ids(tt.op.FetchSockets()); !slices.Equal(got, tt.want) {
				t.Fatalf("selected %v, want %v", got, tt.want)
			}
		})
	}
	if got := ids(n.Sockets("red", "green")); !slices.Equal(got, []string{"s1", "s2", "s4"}) {
		t.Fatalf("Sockets(red, green) = %v", got)
	}
	if got := ids(n.Sockets()); len(got) != 5 {
		t.Fatalf("Sockets() = %v", got)
	}
}

func TestSocketRooms(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/members")
	s1 := addSocket(t, n, "s1", "b", "a")
	s2 := addSocket(t, n, "s2")
	if got := s1.Rooms(); !slices.Equal(got, []string{"a", "b", "s1"}) {
		t.Fatalf("Rooms = %v", got)
	}
	s1.Join("a", "c") // joining twice is harmless
	s1.Leave("b")
	s1.Leave("never")
	if got := s1.Rooms(); !slices.Equal(got, []string{"a", "c", "s1"}) {
		t.Fatalf("Rooms after join/leave = %v", got)
	}
	// Broadcast and Socket.To leave the sender out.
	s2.Join("a")
	if got := ids(s1.Broadcast().FetchSockets()); !slices.Equal(got, []string{"s2"}) {
		t.Fatalf("Broadcast selects %v", got)
	}
	if got := ids(s1.To("a").FetchSockets()); !slices.Equal(got, []string{"s2"}) {
		t.Fatalf("Socket.To(a) selects %v", got)
	}
	// SocketsJoin / SocketsLeave act on the selection.
	n.To("a").SocketsJoin("vip")
	if got := ids(n.To("vip").FetchSockets()); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("after SocketsJoin: %v", got)
	}
	n.Except("s1").SocketsLeave("vip", "a")
	if got := ids(n.To("vip").FetchSockets()); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("after SocketsLeave: %v", got)
	}
	if got := s2.Rooms(); !slices.Equal(got, []string{"s2"}) {
		t.Fatalf("s2 rooms = %v", got)
	}
	// A disconnected socket cannot join.
	s2.mu.Lock()
	s2.connected = false
	s2.mu.Unlock()
	s2.Join("late")
	if got := s2.Rooms(); !slices.Equal(got, []string{"s2"}) {
		t.Fatalf("a disconnected socket joined: %v", got)
	}
}

func TestNamespaceNames(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Of("chat") != srv.Of("/chat") {
		t.Fatal(`Of("chat") and Of("/chat") differ`)
	}
	if srv.Of("") != srv.Of("/") || srv.Of("/").Name() != "/" {
		t.Fatal("main namespace")
	}
	dyn := srv.OfFunc(func(name string) bool { return len(name) > 5 && name[:5] == "/dyn-" })
	if dyn.Name() != "" {
		t.Fatalf("dynamic parent name %q", dyn.Name())
	}
	child := srv.lookup("/dyn-1")
	if child == nil || child.Name() != "/dyn-1" || child.parent != dyn {
		t.Fatalf("lookup(/dyn-1) = %+v", child)
	}
	if srv.lookup("/dyn-1") != child {
		t.Fatal("a dynamic namespace was created twice")
	}
	if srv.lookup("/other") != nil {
		t.Fatal("lookup of an unknown namespace created it")
	}
	if _, err := New(Config{Engine: engineio.Config{OnSession: func(*engineio.Session) {}}}); err == nil {
		t.Fatal("New accepted an Engine.OnSession")
	}
}
