//go:build integration

package redisadapter_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/redisadapter"
)

// rawClient is a plain Redis client on r, closed at the end of the test.
func rawClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rc.Close() }) // the test is over
	return rc
}

// collect returns, sorted, the string argument of every "msg" a client
// gets until it has n "end"s; any other event fails the test.
func collect(c *wsClient, n int) []string {
	c.t.Helper()
	var got []string
	for n > 0 {
		ev := c.next()
		switch ev.name {
		case "end":
			n--
		case "msg":
			got = append(got, strArg(c.t, ev, 0))
		default:
			c.t.Fatalf("client %s: unexpected %q %s", c.sid, ev.name, ev.args)
		}
	}
	slices.Sort(got)
	return got
}

// ends broadcasts "end" from every node: a node's broadcasts reach a
// client in order, so once a client has every end, whatever the nodes
// sent before has reached it.
func ends(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.io.Of("/chat").Emit("end"); err != nil {
			t.Fatal(err)
		}
	}
}

// A gated broadcast goes out as a plain one does (same channel, same
// bytes: Node nodes and emitters see no difference), at most once per key
// across the nodes: an original that went out makes every later resend a
// no-op; a resend of a key never sent broadcasts once, to every node's
// sockets, the resending node's included; one too old for the gate to
// tell is not sent.
func TestOnceAcrossNodes(t *testing.T) {
	r, a, b := twoNodes(t)
	a1 := dial(t, a, "/chat", `{"rooms":["lobby"]}`)
	b1 := dial(t, b, "/chat", `{"rooms":["lobby"]}`)
	rc := rawClient(t, r.Addr())
	ctx := context.Background()

	// The wire: a plain and a gated broadcast of one event are the same
	// message on the same channel.
	sub := rc.PSubscribe(ctx, "socket.io#/chat#*")
	defer func() { _ = sub.Close() }() // the test is over
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	chat := a.io.Of("/chat")
	if err := chat.To("lobby").Emit("wire", "x"); err != nil {
		t.Fatal(err)
	}
	if err := chat.To("lobby").EmitGated("wire-1", "wire", "x"); err != nil {
		t.Fatal(err)
	}
	var msgs []*redis.Message
	for range 2 {
		m, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if msgs[0].Channel != "socket.io#/chat#lobby#" || msgs[1].Channel != msgs[0].Channel || msgs[1].Payload != msgs[0].Payload {
		t.Fatalf("gated %q %x; plain %q %x", msgs[1].Channel, msgs[1].Payload, msgs[0].Channel, msgs[0].Payload)
	}
	for _, c := range []*wsClient{a1, b1} {
		c.expect("wire")
		c.expect("wire")
	}

	// An original that went out (its script ran: B has it; a resend that
	// overtakes the original's queued script is a known limit, see doc.go):
	// resends on either node send nothing.
	if err := chat.To("lobby").EmitGated("m1", "msg", "one"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsClient{a1, b1} {
		if ev := c.expect("msg"); strArg(t, ev, 0) != "one" {
			t.Fatalf("msg %s", ev.args)
		}
	}
	gatedBefore := b.cluster.Stats().Gated
	for _, n := range []*node{b, a} {
		sent, err := n.io.Of("/chat").To("lobby").EmitOnce(ctx, "m1", time.Now(), "msg", "one")
		if sent || err != nil {
			t.Fatalf("%s: resend of a sent key: %v, %v", n.name, sent, err)
		}
	}
	if got := b.cluster.Stats().Gated; got != gatedBefore+1 {
		t.Fatalf("B's Gated %d; want %d", got, gatedBefore+1)
	}
	owner, err := rc.Get(ctx, "socket.io-once#/chat#m1").Result()
	if err != nil || owner != a.cluster.UID() {
		t.Fatalf("gate of m1 holds %q, %v; want A's uid %q", owner, err, a.cluster.UID())
	}
	if ttl, err := rc.PTTL(ctx, "socket.io-once#/chat#m1").Result(); err != nil || ttl <= 0 || ttl > redisadapter.DefaultOnceTTL {
		t.Fatalf("gate TTL %v, %v; want up to %v", ttl, err, redisadapter.DefaultOnceTTL)
	}
	ends(t, a, b)
	for _, c := range []*wsClient{a1, b1} {
		if got := collect(c, 2); len(got) != 0 {
			t.Fatalf("client %s got %q again", c.sid, got)
		}
	}

	// A key never sent (its node died between commit and publish): the
	// first resend, on B, reaches both nodes once; later ones nothing.
	sent, err := b.io.Of("/chat").To("lobby").EmitOnce(ctx, "m2", time.Now(), "msg", "two")
	if !sent || err != nil {
		t.Fatalf("first resend of an unsent key: %v, %v", sent, err)
	}
	for _, n := range []*node{a, b} {
		if sent, err := n.io.Of("/chat").To("lobby").EmitOnce(ctx, "m2", time.Now(), "msg", "two"); sent || err != nil {
			t.Fatalf("%s: second resend: %v, %v", n.name, sent, err)
		}
	}
	// Too old for the gate to tell (half the TTL): not sent.
	if sent, err := b.io.Of("/chat").To("lobby").EmitOnce(ctx, "m3", time.Now().Add(-redisadapter.DefaultOnceTTL), "msg", "three"); sent || err != nil {
		t.Fatalf("resend older than the horizon: %v, %v", sent, err)
	}
	ends(t, a, b)
	for _, c := range []*wsClient{a1, b1} {
		if got := collect(c, 2); !slices.Equal(got, []string{"two"}) {
			t.Fatalf("client %s got %q; want two once", c.sid, got)
		}
	}
}

// While Redis is down a gated original reaches this node's sockets (as a
// plain broadcast does) and a resend sends nothing anywhere, saying so.
// After a SCRIPT FLUSH (or a restart) the gate works again: the script is
// loaded by EVAL.
func TestOnceRedisDown(t *testing.T) {
	r, a, b := twoNodes(t)
	a1 := dial(t, a, "/chat", `{"rooms":["lobby"]}`)
	b1 := dial(t, b, "/chat", `{"rooms":["lobby"]}`)
	ctx := context.Background()

	r.Kill()
	waitFor(t, "A to notice Redis is down", func() bool { return !a.cluster.Ready() })
	waitFor(t, "B to notice Redis is down", func() bool { return !b.cluster.Ready() })
	if err := a.io.Of("/chat").To("lobby").EmitGated("d1", "msg", "down"); err != nil {
		t.Fatal(err)
	}
	if ev := a1.expect("msg"); strArg(t, ev, 0) != "down" {
		t.Fatalf("msg %s", ev.args)
	}
	start := time.Now()
	sent, err := b.io.Of("/chat").To("lobby").EmitOnce(ctx, "d2", time.Now(), "msg", "resent while down")
	if sent || !errors.Is(err, redisadapter.ErrUnavailable) {
		t.Fatalf("resend with Redis down: %v, %v; want not sent, unavailable", sent, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the resend took %v with Redis down", d)
	}

	r.Restart()
	waitNodes(t, "/chat", 2, a, b)
	rc := rawClient(t, r.Addr())
	if err := rc.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.io.Of("/chat").To("lobby").EmitGated("f1", "msg", "after flush"); err != nil {
		t.Fatal(err)
	}
	sent, err = b.io.Of("/chat").To("lobby").EmitOnce(ctx, "f2", time.Now(), "msg", "resent after flush")
	if !sent || err != nil {
		t.Fatalf("resend after SCRIPT FLUSH: %v, %v", sent, err)
	}
	ends(t, a, b)
	// b1 never got the broadcasts of the outage: "down" was dropped (as a
	// plain broadcast is), the resend while down sent nothing.
	for _, c := range []*wsClient{a1, b1} {
		if got := collect(c, 2); !slices.Equal(got, []string{"after flush", "resent after flush"}) {
			t.Fatalf("client %s got %q", c.sid, got)
		}
	}
}

// A Redis that refuses scripts (here an ACL user without @scripting) loses
// the gate, not the broadcast: an original goes out by a plain PUBLISH; a
// resend sends nothing and says why.
func TestOnceScriptsRefused(t *testing.T) {
	r := redistest.Start(t)
	ctx := context.Background()
	rc := rawClient(t, r.Addr())
	if err := rc.Do(ctx, "ACL", "SETUSER", "noscripts", "on", ">pw", "~*", "&*", "+@all", "-@scripting").Err(); err != nil {
		t.Fatal(err)
	}
	a := newNodeCfg(t, "A", redisadapter.Config{URL: "redis://noscripts:pw@" + r.Addr() + "/0"}, nil, setupRooms)
	b := newNode(t, "B", r.URL(), setupRooms)
	waitNodes(t, "/chat", 2, a, b)
	a1 := dial(t, a, "/chat", `{"rooms":["lobby"]}`)
	b1 := dial(t, b, "/chat", `{"rooms":["lobby"]}`)

	if err := a.io.Of("/chat").To("lobby").EmitGated("g1", "msg", "ungated"); err != nil {
		t.Fatal(err)
	}
	sent, err := a.io.Of("/chat").To("lobby").EmitOnce(ctx, "g2", time.Now(), "msg", "resent")
	if sent || err == nil || errors.Is(err, redisadapter.ErrUnavailable) {
		t.Fatalf("resend with scripts refused: %v, %v; want not sent, refused", sent, err)
	}
	ends(t, a, b)
	for _, c := range []*wsClient{a1, b1} {
		if got := collect(c, 2); !slices.Equal(got, []string{"ungated"}) {
			t.Fatalf("client %s got %q", c.sid, got)
		}
	}
}
