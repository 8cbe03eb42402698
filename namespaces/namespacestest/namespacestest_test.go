package namespacestest_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/namespacestest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func connect(t *testing.T, ns *namespacestest.Namespace, id string) *namespacestest.Conn {
	t.Helper()
	c, err := ns.Connect(id, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { c.Close("test over") })
	return c
}

func ids(conns []namespaces.Conn) []string {
	var out []string
	for _, c := range conns {
		out = append(out, c.ID())
	}
	return out
}

func eventNames(c *namespacestest.Conn) []string {
	var out []string
	for _, p := range c.Received() {
		out = append(out, p.Event)
	}
	return out
}

func TestBroadcastSelection(t *testing.T) {
	t.Parallel()
	ns := namespacestest.NewNamespace("/t")
	a, b, c, d := connect(t, ns, "a"), connect(t, ns, "b"), connect(t, ns, "c"), connect(t, ns, "d")
	a.Join("r1")
	b.Join("r1", "r2")
	c.Join("r2")
	_ = d
	tests := []struct {
		name string
		emit func() error
		want []string // ids that received the event
	}{
		{"namespace", func() error { return ns.Emit("e") }, []string{"a", "b", "c", "d"}},
		{"ns to room", func() error { return ns.To("r1").Emit("e") }, []string{"a", "b"}},
		{"ns to two rooms, once each", func() error { return ns.To("r1").To("r2").Emit("e") }, []string{"a", "b", "c"}},
		{"ns except", func() error { return ns.Except("r2").Emit("e") }, []string{"a", "d"}},
		{"conn to excludes self", func() error { return a.To("r1").Emit("e") }, []string{"b"}},
		{"conn to other room", func() error { return a.To("r2").Emit("e") }, []string{"b", "c"}},
		{"conn to own id room", func() error { return b.To("a").Emit("e") }, []string{"a"}},
		{"conn to except", func() error { return c.To("r2", "r1").Except("a").Emit("e") }, []string{"b"}},
		{"conn emit is private", func() error { return d.Emit("e") }, []string{"d"}},
	}
	for _, tt := range tests {
		// Sequential: the subtests share the sockets' inboxes.
		before := map[string]int{}
		for _, x := range []*namespacestest.Conn{a, b, c, d} {
			before[x.ID()] = len(x.Received())
		}
		if err := tt.emit(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got []string
		for _, x := range []*namespacestest.Conn{a, b, c, d} {
			if len(x.Received()) > before[x.ID()] {
				got = append(got, x.ID())
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: received by %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBroadcasterImmutable(t *testing.T) {
	t.Parallel()
	ns := namespacestest.NewNamespace("/t")
	a, b := connect(t, ns, "a"), connect(t, ns, "b")
	a.Join("r")
	base := ns.To("r")
	_ = base.Except("r") // must not change base
	vol := base.Volatile()
	if err := base.Emit("plain"); err != nil {
		t.Fatal(err)
	}
	if err := vol.Emit("vol"); err != nil {
		t.Fatal(err)
	}
	got := a.Received()
	if len(got) != 2 || got[0].Volatile || !got[1].Volatile {
		t.Fatalf("received %+v", got)
	}
	if len(b.Received()) != 0 {
		t.Fatal("b is not in r")
	}
	if err := a.Volatile().Emit("self"); err != nil {
		t.Fatal(err)
	}
	if p := a.ReceivedEvent("self"); len(p) != 1 || !p[0].Volatile {
		t.Fatalf("volatile self emit %+v", p)
	}
}

func TestMiddlewareRefuses(t *testing.T) {
	t.Parallel()
	ns := namespacestest.NewNamespace("/t")
	refusal := events.NewError(events.CodeUnauthorized, "who are you")
	ns.Use(func(c namespaces.Conn) error {
		if string(c.Auth()) == "{}" {
			return refusal
		}
		c.Set("user", "ok")
		return nil
	})
	connected := 0
	ns.OnConnection(func(namespaces.Conn) { connected++ })
	if _, err := ns.Connect("a", nil); !errors.Is(err, refusal) {
		t.Fatalf("err = %v", err)
	}
	if len(ns.Sockets()) != 0 || connected != 0 {
		t.Fatal("a refused socket must not be connected")
	}
	c, err := ns.Connect("b", map[string]string{"token": "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close("test over")
	if _, err := ns.Connect("b", map[string]string{"token": "t"}); err == nil {
		t.Fatal("duplicate id accepted")
	}
	if v, _ := c.Get("user"); v != "ok" || connected != 1 {
		t.Fatalf("user = %v, connected = %d", v, connected)
	}
	if string(c.Auth()) != `{"token":"t"}` {
		t.Fatalf("auth %s", c.Auth())
	}
}

func TestCloseOrder(t *testing.T) {
	t.Parallel()
	ns := namespacestest.NewNamespace("/t")
	a := connect(t, ns, "a")
	a.Join("r")
	if !slices.Equal(a.Rooms(), []string{"a", "r"}) {
		t.Fatalf("rooms %v", a.Rooms())
	}
	var reasons []string
	a.OnDisconnect(func(reason string) {
		// As in the engine: the handler runs with the socket still in its
		// rooms and its context already cancelled.
		if !slices.Equal(a.Rooms(), []string{"a", "r"}) || len(ns.Sockets("r")) != 1 || a.Context().Err() == nil {
			t.Errorf("OnDisconnect: rooms %v, members of r %d, ctx %v", a.Rooms(), len(ns.Sockets("r")), a.Context().Err())
		}
		reasons = append(reasons, reason)
	})
	a.Disconnect()
	a.Close("again")
	if !slices.Equal(reasons, []string{namespacestest.DisconnectReason}) {
		t.Fatalf("reasons %v", reasons)
	}
	if len(ns.Sockets("r")) != 0 {
		t.Fatal("the socket did not leave its rooms after the handlers")
	}
	if _, err := a.Call("x"); !errors.Is(err, namespacestest.ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
	if err := ns.Emit("late"); err != nil || len(a.Received()) != 0 {
		t.Fatal("a closed socket received a packet")
	}
}

func TestAckOnce(t *testing.T) {
	t.Parallel()
	ns := namespacestest.NewNamespace("/t")
	a := connect(t, ns, "a")
	a.On("e", func(ctx context.Context, args []json.RawMessage, ack events.AckFunc) {
		_ = ack("first", len(args))
		_ = ack("second")
	})
	got, err := a.Call("e", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Calls != 2 || len(got.Args) != 2 || string(got.Args[0]) != `"first"` || string(got.Args[1]) != "2" {
		t.Fatalf("ack %+v", got)
	}
	if _, err := a.Call("missing"); err == nil {
		t.Fatal("no error for an unhandled event")
	}
}

func TestNextWaits(t *testing.T) {
	t.Parallel()
	ns := namespacestest.NewNamespace("/t")
	a := connect(t, ns, "a")
	if err := a.Emit("early", 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Emit("other")    // delivery cannot fail for an int
		_ = a.Emit("later", 2) // delivery cannot fail for an int
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []string{"later", "early"} {
		p, err := a.Next(ctx, want)
		if err != nil || p.Event != want {
			t.Fatalf("Next(%s) = %+v, %v", want, p, err)
		}
	}
	<-done
	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := a.Next(short, "later"); !errors.Is(err, context.Canceled) {
		t.Fatalf("taken packet returned again: %v", err)
	}
	if got := eventNames(a); !slices.Equal(got, []string{"early", "other", "later"}) {
		t.Fatalf("received %v", got)
	}
}

func TestSocketsSorted(t *testing.T) {
	t.Parallel()
	ns := namespacestest.NewNamespace("/t")
	for _, id := range []string{"c", "a", "b"} {
		connect(t, ns, id).Join("r")
	}
	if got := ids(ns.Sockets("r")); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("sockets %v", got)
	}
	if got := ids(ns.Sockets("nobody")); len(got) != 0 {
		t.Fatalf("sockets of an empty room %v", got)
	}
}
