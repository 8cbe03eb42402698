package core_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/namespacestest"
)

// fakeGate is a cluster of namespacestest namespaces (one per node) whose
// gated broadcasts are decided once per key, as redisadapter's gate does:
// the first broadcast under a key reaches the other nodes, later ones do
// not.
type fakeGate struct {
	mu    sync.Mutex
	nodes []*namespacestest.Namespace
	set   map[string]bool
	// lose drops the next original's forwarding: its node dies between
	// the commit and the publish.
	lose bool
	// resends records each EmitOnce's key and time.
	resends []string
	ats     []time.Time
}

func (g *fakeGate) forward(from int, rooms []string, event string, args []any) error {
	for i, ns := range g.nodes {
		if i != from {
			if err := ns.To(rooms...).Emit(event, args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// gatedB is one node's broadcast; key is set by Once.
type gatedB struct {
	namespaces.Broadcaster
	g     *fakeGate
	node  int
	rooms []string
	key   string
}

func (b gatedB) Once(key string) namespaces.Broadcaster { b.key = key; return b }

func (b gatedB) Emit(event string, args ...any) error {
	if err := b.Broadcaster.Emit(event, args...); err != nil || b.key == "" {
		return err
	}
	b.g.mu.Lock()
	lost, set := b.g.lose, b.g.set[b.key]
	b.g.lose = false
	if !lost {
		b.g.set[b.key] = true
	}
	b.g.mu.Unlock()
	if lost || set {
		return nil
	}
	return b.g.forward(b.node, b.rooms, event, args)
}

func (b gatedB) EmitOnce(_ context.Context, key string, at time.Time, event string, args ...any) (bool, error) {
	b.g.mu.Lock()
	b.g.resends, b.g.ats = append(b.g.resends, key), append(b.g.ats, at)
	set := b.g.set[key]
	b.g.set[key] = true
	b.g.mu.Unlock()
	if set {
		return false, nil
	}
	if err := b.g.forward(b.node, b.rooms, event, args); err != nil {
		return false, err
	}
	return true, b.Broadcaster.Emit(event, args...)
}

var _ core.OnceBroadcaster = gatedB{}

type gatedNS struct {
	namespaces.Namespace
	g    *fakeGate
	node int
}

func (n gatedNS) To(rooms ...string) namespaces.Broadcaster {
	return gatedB{Broadcaster: n.Namespace.To(rooms...), g: n.g, node: n.node, rooms: rooms}
}

type gatedConn struct {
	namespaces.Conn
	g    *fakeGate
	node int
}

func (c gatedConn) To(rooms ...string) namespaces.Broadcaster {
	return gatedB{Broadcaster: c.Conn.To(rooms...), g: c.g, node: c.node, rooms: rooms}
}

// feedLog is a core.Feed that keeps what it is given.
type feedLog struct {
	mu      sync.Mutex
	entries []string
}

func (f *feedLog) Publish(p []byte) {
	f.mu.Lock()
	f.entries = append(f.entries, string(p))
	f.mu.Unlock()
}

func (f *feedLog) messages(t *testing.T) []string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.entries {
		var m struct {
			M *events.ChatMessage `json:"m"`
		}
		if err := json.Unmarshal([]byte(e), &m); err != nil {
			t.Fatal(err)
		}
		if m.M != nil {
			out = append(out, m.M.Content)
		}
	}
	return out
}

// gateNode is one node of the fake cluster.
type gateNode struct {
	ns      *namespacestest.Namespace
	ch      *core.Chat
	feed    *feedLog
	cluster []string // what its Cluster observer saw
	local   []string // what its node-only observer saw
	mu      sync.Mutex
}

func (n *gateNode) seen() (cluster, local []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.cluster), slices.Clone(n.local)
}

func newGateCluster(t *testing.T, nodes int, hist core.History) (*fakeGate, []*gateNode) {
	t.Helper()
	g := &fakeGate{set: map[string]bool{}}
	var out []*gateNode
	for i := range nodes {
		ns := namespacestest.NewNamespace("/chat")
		g.nodes = append(g.nodes, ns)
		n := &gateNode{ns: ns, feed: &feedLog{}}
		ch, err := core.NewChat(core.ChatConfig{History: hist, Rooms: gatedNS{ns, g, i}, Feed: n.feed})
		if err != nil {
			t.Fatal(err)
		}
		ch.Observe(core.Observer{Cluster: true, Message: func(m events.ChatMessage) {
			n.mu.Lock()
			n.cluster = append(n.cluster, m.Content)
			n.mu.Unlock()
		}})
		ch.Observe(core.Observer{Message: func(m events.ChatMessage) {
			n.mu.Lock()
			n.local = append(n.local, m.Content)
			n.mu.Unlock()
		}})
		n.ch = ch
		out = append(out, n)
	}
	return g, out
}

// gatedMember connects u to node i of the fake cluster, in room r.
func gatedMember(t *testing.T, g *fakeGate, n *gateNode, i int, id string, u events.UserRef, room string) (*namespacestest.Conn, *core.Session) {
	t.Helper()
	c, err := n.ns.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	namespaces.SetIdentity(c, auth.Identity{User: u})
	s, err := n.ch.Open(gatedConn{c, g, i})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(context.Background(), events.JoinRoomRequest{Room: room}); err != nil {
		t.Fatal(err)
	}
	return c, s
}

func contents(t *testing.T, c *namespacestest.Conn) []string {
	t.Helper()
	got, err := namespacestest.ReceivedAll(c, events.NewChatMessage)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range got {
		out = append(out, m.Content)
	}
	return out
}

// In a cluster a message is broadcast at most once: a resend of a message
// whose original went out is not broadcast again, whichever node it goes
// through; a resend of one whose node died between the commit and the
// publish is broadcast once, by the first node it reaches, to every node,
// with its feed entry and this node's Cluster observers.
func TestResendBroadcastsOnceInACluster(t *testing.T) {
	t.Parallel()
	hist := &memHistory{}
	g, nodes := newGateCluster(t, 2, hist)
	ctx := context.Background()
	ann := events.UserRef{ID: "ann", Name: "Ann"}
	bob := events.UserRef{ID: "bob", Name: "Bob"}
	cat := events.UserRef{ID: "cat", Name: "Cat"}
	_, annS := gatedMember(t, g, nodes[0], 0, "a1", ann, "r")
	bobC, _ := gatedMember(t, g, nodes[0], 0, "b1", bob, "r")
	catC, _ := gatedMember(t, g, nodes[1], 1, "c1", cat, "r")
	annC2, annS2 := gatedMember(t, g, nodes[1], 1, "a2", ann, "r") // Ann reconnected to node 1

	// An original that went out: resends on either node are no-ops.
	k1 := "k1"
	first, err := annS.Post(ctx, events.ChatMessageRequest{Room: "r", Content: "one", ClientMsgID: &k1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*core.Session{annS2, annS} {
		if again, err := s.Post(ctx, events.ChatMessageRequest{Room: "r", Content: "one", ClientMsgID: &k1}); err != nil || again != first {
			t.Fatalf("resend = %+v, %v; want the original", again, err)
		}
	}

	// An original whose node died before the publish: its own sockets got
	// it (and die with it), the other node's did not.
	g.mu.Lock()
	g.lose = true
	g.mu.Unlock()
	k2 := "k2"
	lost, err := annS.Post(ctx, events.ChatMessageRequest{Room: "r", Content: "two", ClientMsgID: &k2})
	if err != nil {
		t.Fatal(err)
	}
	if got := contents(t, catC); !slices.Equal(got, []string{"one"}) {
		t.Fatalf("cat before the resend: %q", got)
	}
	for range 2 { // the first resend broadcasts, the second does not
		if again, err := annS2.Post(ctx, events.ChatMessageRequest{Room: "r", Content: "two", ClientMsgID: &k2}); err != nil || again != lost {
			t.Fatalf("resend = %+v, %v; want the original", again, err)
		}
	}
	if got := contents(t, catC); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("cat received %q; want one, two: each once", got)
	}
	// Ann's socket on node 1 got the first from node 0's broadcast, the
	// second from its ack only (a broadcast excludes its sender).
	if got := contents(t, annC2); !slices.Equal(got, []string{"one"}) {
		t.Fatalf("ann's socket on node 1 received %q", got)
	}
	// Bob, on the original's node, got both from it (in the real cluster he
	// would be gone with it; the fake keeps him to show the resend reached
	// both nodes once).
	if got := contents(t, bobC); !slices.Equal(got, []string{"one", "two", "two"}) {
		t.Fatalf("bob received %q", got)
	}
	g.mu.Lock()
	resends, ats := slices.Clone(g.resends), slices.Clone(g.ats)
	g.mu.Unlock()
	if want := []string{first.ID, first.ID, lost.ID, lost.ID}; !slices.Equal(resends, want) {
		t.Fatalf("EmitOnce keys %q; want the message ids %q", resends, want)
	}
	if !ats[2].Equal(time.UnixMilli(lost.Timestamp)) {
		t.Fatalf("EmitOnce at %v; want the commit time %d", ats[2], lost.Timestamp)
	}
	// Observers: node 0 saw both as its own; node 1's Cluster observer saw
	// the re-broadcast one (the feed's copy of the other comes through
	// Relay, not called here), its node-only observer nothing.
	if cl, loc := nodes[0].seen(); !slices.Equal(cl, []string{"one", "two"}) || !slices.Equal(loc, []string{"one", "two"}) {
		t.Fatalf("node 0 observers: %q %q", cl, loc)
	}
	if cl, loc := nodes[1].seen(); !slices.Equal(cl, []string{"two"}) || len(loc) != 0 {
		t.Fatalf("node 1 observers: %q %q", cl, loc)
	}
	if got := nodes[0].feed.messages(t); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("node 0 fed %q", got)
	}
	if got := nodes[1].feed.messages(t); !slices.Equal(got, []string{"two"}) {
		t.Fatalf("node 1 fed %q", got)
	}
}

// Without a feed (a single node) the gate is never used: an original is a
// plain broadcast and a resend is not broadcast again.
func TestSingleNodeUsesNoGate(t *testing.T) {
	t.Parallel()
	g := &fakeGate{set: map[string]bool{}}
	ns := namespacestest.NewNamespace("/chat")
	g.nodes = []*namespacestest.Namespace{ns}
	ch, err := core.NewChat(core.ChatConfig{History: &memHistory{}, Rooms: gatedNS{ns, g, 0}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := ns.Connect("a1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close("test over")
	namespaces.SetIdentity(c, auth.Identity{User: events.UserRef{ID: "ann", Name: "Ann"}})
	s, err := ch.Open(gatedConn{c, g, 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, events.JoinRoomRequest{Room: "r"}); err != nil {
		t.Fatal(err)
	}
	k := "k"
	for range 2 {
		if _, err := s.Post(ctx, events.ChatMessageRequest{Room: "r", Content: "x", ClientMsgID: &k}); err != nil {
			t.Fatal(err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.set) != 0 || len(g.resends) != 0 {
		t.Fatalf("gate used on a single node: set %v, resends %q", g.set, g.resends)
	}
}
