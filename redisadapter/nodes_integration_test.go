//go:build integration

package redisadapter_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/internal/testutil"
	"github.com/parley-rt/parley/redisadapter"
)

// TestNodeRegistry: each node's entry names its advertised address;
// LiveNodes lists the live ones; a node that closes is gone at once, and
// one whose entry expires (a node that died without closing) is reported
// to OnNodeDown by the others.
func TestNodeRegistry(t *testing.T) {
	r := redistest.Start(t)
	newCluster := func() *redisadapter.Cluster {
		c, err := redisadapter.New(redisadapter.Config{URL: r.URL(), Prefix: "app", NodeTTL: 600 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		t.Cleanup(func() { _ = c.Close(context.Background()) }) // closed again: a no-op
		return c
	}
	a, b := newCluster(), newCluster()
	downs := make(chan string, 4)
	a.OnNodeDown(func(uid string) { downs <- uid })
	a.Advertise("10.0.0.1:3000")
	b.Advertise("10.0.0.2:3000")
	ctx := testutil.Context(t)
	want := []redisadapter.Node{{UID: a.UID(), Addr: "10.0.0.1:3000"}, {UID: b.UID(), Addr: "10.0.0.2:3000"}}
	slices.SortFunc(want, func(x, y redisadapter.Node) int { return strings.Compare(x.UID, y.UID) })
	waitFor(t, "both nodes registered with their addresses", func() bool {
		got, err := a.LiveNodes(ctx)
		return err == nil && slices.Equal(got, want)
	})
	if addr, err := a.NodeAddr(ctx, b.UID()); err != nil || addr != "10.0.0.2:3000" {
		t.Fatalf("NodeAddr(b) = %q, %v", addr, err)
	}
	if _, err := a.NodeAddr(ctx, "nobody"); !errors.Is(err, redisadapter.ErrUnknownNode) {
		t.Fatalf("NodeAddr(nobody) = %v, want ErrUnknownNode", err)
	}

	// A node dies without closing: an entry nobody renews.
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	if err := rc.Set(ctx, "app-node#ghost1", `{"addr":"10.0.0.9:3000"}`, 700*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.SAdd(ctx, "app-nodes", "ghost1").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ghost listed", func() bool {
		got, err := a.LiveNodes(ctx)
		return err == nil && len(got) == 3
	})
	if got := testutil.Recv(t, downs, "the ghost's death"); got != "ghost1" {
		t.Fatalf("OnNodeDown(%q), want ghost1", got)
	}
	if n, err := rc.SIsMember(ctx, "app-nodes", "ghost1").Result(); err != nil || n {
		t.Fatalf("the expired ghost is still in the set (%v, %v)", n, err)
	}

	// A node that closes deletes its entry.
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.NodeAddr(ctx, b.UID()); !errors.Is(err, redisadapter.ErrUnknownNode) {
		t.Fatalf("NodeAddr of a closed node = %v, want ErrUnknownNode", err)
	}
	if got := testutil.Recv(t, downs, "b's death"); got != b.UID() {
		t.Fatalf("OnNodeDown(%q), want %s", got, b.UID())
	}
	got, err := a.LiveNodes(ctx)
	if err != nil || len(got) != 1 || got[0].UID != a.UID() {
		t.Fatalf("LiveNodes after b closed: %v, %v", got, err)
	}
	select {
	case uid := <-downs:
		t.Fatalf("a second death reported: %s", uid)
	default:
	}
}

// TestNodeRegistryRedisRestart: Redis restarting empty loses every entry;
// the nodes register again and no death is reported, however quick the
// restart; a node that closes afterwards still is.
func TestNodeRegistryRedisRestart(t *testing.T) {
	r := redistest.Start(t)
	const ttl = 600 * time.Millisecond
	newCluster := func() *redisadapter.Cluster {
		c, err := redisadapter.New(redisadapter.Config{URL: r.URL(), NodeTTL: ttl, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		t.Cleanup(func() { _ = c.Close(context.Background()) }) // closed again: a no-op
		return c
	}
	a, b := newCluster(), newCluster()
	downs := make(chan string, 4)
	a.OnNodeDown(func(uid string) { downs <- uid })
	ctx := testutil.Context(t)
	live := func() int {
		got, err := a.LiveNodes(ctx)
		if err != nil {
			return -1
		}
		return len(got)
	}
	waitFor(t, "both registered", func() bool { return live() == 2 })
	r.Kill()
	r.Restart()
	waitFor(t, "both registered again", func() bool { return live() == 2 })
	// A restart quicker than a renewal looks to the nodes like a flush:
	// no command fails, the keys are just gone.
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	for range 5 {
		if err := rc.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "both registered again", func() bool { return live() == 2 })
	}
	// A false death would be reported within a TTL of the registry
	// answering again: wait three (a bounded negative check).
	select {
	case uid := <-downs:
		t.Fatalf("node %s reported dead after a Redis restart", uid)
	case <-time.After(3 * ttl):
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.Recv(t, downs, "b's death"); got != b.UID() {
		t.Fatalf("OnNodeDown(%q), want %s", got, b.UID())
	}
}
