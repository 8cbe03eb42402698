//go:build integration

package redisadapter_test

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/redisadapter"
)

// view is what one node knows of the others' records, as RecordsEvents
// tell it.
type view struct {
	mu    sync.Mutex
	recs  map[string]map[string]string // node -> key -> value
	gone  []string
	leads int
	order []string // "node key value" of every Put, in the order received
}

func (v *view) events() redisadapter.RecordsEvents {
	return redisadapter.RecordsEvents{
		Load: func(node string, recs map[string][]byte) {
			v.mu.Lock()
			defer v.mu.Unlock()
			m := map[string]string{}
			for k, val := range recs {
				m[k] = string(val)
			}
			v.recs[node] = m
		},
		Put: func(node, key string, val []byte) {
			v.mu.Lock()
			defer v.mu.Unlock()
			if v.recs[node] == nil {
				v.recs[node] = map[string]string{}
			}
			v.recs[node][key] = string(val)
			v.order = append(v.order, node+" "+key+" "+string(val))
		},
		Delete: func(node, key string) {
			v.mu.Lock()
			defer v.mu.Unlock()
			delete(v.recs[node], key)
		},
		Gone: func(node string, leader bool) {
			v.mu.Lock()
			defer v.mu.Unlock()
			delete(v.recs, node)
			v.gone = append(v.gone, node)
			if leader {
				v.leads++
			}
		},
	}
}

func (v *view) of(node string) map[string]string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.recs[node])
}

func (v *view) goneCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.gone)
}

type recordsNode struct {
	c    *redisadapter.Cluster
	recs *redisadapter.Records
	v    *view
}

func newRecordsNode(t *testing.T, url string, live redisadapter.Liveness) *recordsNode {
	t.Helper()
	c, err := redisadapter.New(redisadapter.Config{URL: url, RequestTimeout: 2 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, NodeTTL: live.TTL})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	n := &recordsNode{c: c, recs: c.Records("test", live), v: &view{recs: map[string]map[string]string{}}}
	n.recs.Start(n.v.events())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("cluster close: %v", err)
		}
	})
	return n
}

func hasRecord(n *recordsNode, node, key, val string) func() bool {
	return func() bool { return n.v.of(node)[key] == val }
}

// Records replicate in order, survive a Redis restart (written whole
// again), and a node taken for dead (its key gone: a pause longer than the
// TTL) is dropped by the others, then comes back with its records.
func TestRecords(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	live := redisadapter.Liveness{TTL: 1500 * time.Millisecond}
	a := newRecordsNode(t, r.URL(), live)
	b := newRecordsNode(t, r.URL(), live)
	au := a.recs.Node()

	a.recs.Put("alice", []byte(`{"v":1}`))
	a.recs.Put("bob", []byte(`{"v":1}`))
	a.recs.Delete("bob")
	a.recs.Put("alice", []byte(`{"v":2}`))
	waitFor(t, "b sees alice v2", hasRecord(b, au, "alice", `{"v":2}`))
	if got := b.v.of(au); len(got) != 1 {
		t.Fatalf("b's view of a: %v; want alice only", got)
	}
	// a's own changes come back to it too.
	waitFor(t, "a sees its own alice v2", hasRecord(a, au, "alice", `{"v":2}`))
	if got := a.v.of(au); len(got) != 1 {
		t.Fatalf("a's view of itself: %v; want alice only", got)
	}
	// A node started later reads the hash.
	c := newRecordsNode(t, r.URL(), live)
	waitFor(t, "c reads a's records", hasRecord(c, au, "alice", `{"v":2}`))

	// Redis restarts without its data: a writes its records whole again.
	r.Kill()
	a.recs.Put("alice", []byte(`{"v":3}`)) // fails or is queued: written whole later
	r.Restart()
	waitFor(t, "b sees alice v3 after the restart", hasRecord(b, au, "alice", `{"v":3}`))
	waitFor(t, "c sees alice v3 after the restart", hasRecord(c, au, "alice", `{"v":3}`))
	if b.v.goneCount() != 0 || c.v.goneCount() != 0 {
		t.Fatalf("the restart was taken for deaths: %d, %d", b.v.goneCount(), c.v.goneCount())
	}

	// a is taken for dead (its key deleted, as after a long pause): the
	// others drop its records, the leader once; a's next heartbeat finds
	// its key gone and writes everything again.
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	before := b.v.goneCount()
	// Deleted again at each poll, since a renews it every 300ms.
	waitFor(t, "b and c see a gone", func() bool {
		if err := rc.Del(context.Background(), "socket.io-node#"+au).Err(); err != nil {
			t.Fatal(err)
		}
		return b.v.goneCount() > before && c.v.goneCount() > 0
	})
	// The live node with the smaller uid leads every scan that finds a
	// gone; the other never does.
	lead, other := b, c
	if c.recs.Node() < b.recs.Node() {
		lead, other = c, b
	}
	lead.v.mu.Lock()
	other.v.mu.Lock()
	leads, gone, otherLeads := lead.v.leads, len(lead.v.gone), other.v.leads
	other.v.mu.Unlock()
	lead.v.mu.Unlock()
	if leads != gone || otherLeads != 0 {
		t.Fatalf("leader led %d of its %d deaths, the other %d; want all and none", leads, gone, otherLeads)
	}
	waitFor(t, "b reads a's records again", hasRecord(b, au, "alice", `{"v":3}`))
}

// Every node receives every node's changes, its own included, in one
// order: what core.Presence decides room announcements by.
func TestRecordsOneOrder(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	live := redisadapter.Liveness{TTL: 1500 * time.Millisecond}
	nodes := []*recordsNode{newRecordsNode(t, r.URL(), live), newRecordsNode(t, r.URL(), live), newRecordsNode(t, r.URL(), live)}
	// Each node knows the others before the changes (a first read
	// replaces a node's records, which would lose their order).
	for _, n := range nodes {
		n.recs.Put("hello", []byte(`{}`))
	}
	for _, n := range nodes {
		for _, o := range nodes {
			waitFor(t, "every node knows every node", hasRecord(n, o.recs.Node(), "hello", `{}`))
		}
	}
	// Wait returns once a change is in Redis.
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range 20 {
		v := strconv.Itoa(i)
		nodes[0].recs.Put("w", []byte(v))
		if err := nodes[0].recs.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := rc.HGet(ctx, "socket.io-test#"+nodes[0].recs.Node(), "w").Result(); err != nil || got != v {
			t.Fatalf("after Wait, redis has %q (%v); want %q", got, err, v)
		}
	}
	const each = 200
	start := make([]int, len(nodes))
	for i, n := range nodes {
		n.v.mu.Lock()
		start[i] = len(n.v.order)
		n.v.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			for i := range each {
				n.recs.Put("k", []byte(strconv.Itoa(i)))
			}
		})
	}
	wg.Wait()
	for _, n := range nodes {
		for _, o := range nodes {
			waitFor(t, "every node's last change received", hasRecord(n, o.recs.Node(), "k", strconv.Itoa(each-1)))
		}
	}
	orders := make([][]string, len(nodes))
	for i, n := range nodes {
		n.v.mu.Lock()
		orders[i] = slices.Clone(n.v.order[start[i]:])
		n.v.mu.Unlock()
	}
	// A node's table read whole (its first read, or a write of the whole
	// table, which a node makes again when its first heartbeat finds no
	// entry) skips some of its changes; the changes received one by one
	// must be in one order.
	for i := 1; i < len(nodes); i++ {
		a, b := common(orders[0], orders[i]), common(orders[i], orders[0])
		if len(a) < each {
			t.Fatalf("nodes 0 and %d received only %d changes in common", i, len(a))
		}
		if !slices.Equal(a, b) {
			t.Fatalf("node %d received the changes in another order than node 0", i)
		}
	}
}

// common returns the entries of a that are in b, in a's order.
func common(a, b []string) []string {
	in := map[string]bool{}
	for _, e := range b {
		in[e] = true
	}
	var out []string
	for _, e := range a {
		if in[e] {
			out = append(out, e)
		}
	}
	return out
}
