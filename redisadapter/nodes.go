package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// The node registry is the cluster's one node heartbeat. Every node keeps
// a key <prefix>-node#<uid> (its forwarding address, JSON) with a TTL of
// Config.NodeTTL, renewed every NodeTTL/5 by Heartbeat, and lists its uid
// in the set <prefix>-nodes. A node whose key expired is dead (killed,
// frozen or cut off from Redis): LiveNodes no longer lists it, forwarding
// finds no address for its sessions, OnNodeDown reports it, and Records
// (presence) drop its records once it has stayed missing for
// Liveness.Confirm.

// DefaultNodeTTL is how long a node's registry entry outlives its last
// renewal, when Config.NodeTTL is zero.
const DefaultNodeTTL = 10 * time.Second

// Liveness is the timing of the heartbeat and of the scans for dead nodes,
// as Records use it. Its zero value means the defaults: TTL
// DefaultNodeTTL, Interval TTL/5, Scan TTL/4. TTL and Interval are the
// registry's (Config.NodeTTL, renewed every NodeTTL/5); Records take them
// from their Cluster.
//
// A node is declared dead once its key has been missing for Confirm
// (2 x Interval) in successive scans: a live node renews its key within
// Interval, so a key missing only for a moment (Redis restarted without
// its data, a failover, a renewal late by a pause) is not a death.
type Liveness struct {
	// TTL is how long a node's key outlives its last renewal.
	TTL time.Duration
	// Interval is the time between two renewals; it must be well below TTL
	// (a renewal may be late by a Redis round trip or a pause).
	Interval time.Duration
	// Scan is the time between two checks for dead nodes.
	Scan time.Duration
}

// WithDefaults returns l with its zero fields filled.
func (l Liveness) WithDefaults() Liveness {
	if l.TTL <= 0 {
		l.TTL = DefaultNodeTTL
	}
	if l.Interval <= 0 || l.Interval >= l.TTL/2 {
		l.Interval = l.TTL / 5
	}
	if l.Scan <= 0 {
		l.Scan = l.TTL / 4
	}
	return l
}

// Confirm is how long a node's key must stay missing before the node is
// declared dead.
func (l Liveness) Confirm() time.Duration { return 2 * l.WithDefaults().Interval }

// DetectionBound is the longest time from a node's death (SIGKILL: no
// cleanup) to the moment every other node has declared it dead: its key
// expires at most TTL after its last renewal, which came before its
// death; a scan sees it missing at most Scan later; it must stay missing
// for Confirm, seen by a scan at most Scan after that. With the defaults:
// 10 + 2.5 + 4 + 2.5 = 19 s (plus Redis round trips). Presence adds its
// grace period before the dead node's users are shown offline.
func (l Liveness) DetectionBound() time.Duration {
	l = l.WithDefaults()
	return l.TTL + 2*l.Scan + l.Confirm()
}

// liveness is the registry's timing.
func (c *Cluster) liveness() Liveness { return Liveness{TTL: c.cfg.NodeTTL}.WithDefaults() }

// ErrUnknownNode reports a node with no live registry entry: it never
// existed, it stopped, or it missed its renewals for NodeTTL.
var ErrUnknownNode = errors.New("redisadapter: unknown node")

// Node is a live node of the cluster, as its registry entry says.
type Node struct {
	// UID is the node's id on the wire (Cluster.UID); Parley nodes also
	// start their Engine.IO session ids with it.
	UID string
	// Addr is the host:port other nodes forward requests to, or empty
	// when the node takes no forwarded requests.
	Addr string
}

// nodeEntry is the JSON value of a node's registry key.
type nodeEntry struct {
	Addr string `json:"addr"`
}

// nodeKey is the registry key of node uid: <prefix>-node#<uid>.
func (c *Cluster) nodeKey(uid string) string { return c.cfg.Prefix + "-node#" + uid }

// nodesKey is the set of the uids that have registered:
// <prefix>-nodes. Members whose key expired are pruned by LiveNodes.
func (c *Cluster) nodesKey() string { return c.cfg.Prefix + "-nodes" }

// Advertise sets the address other nodes forward requests for this node's
// sessions to (host:port of its HTTP listener) and renews the registry
// entry at once. Empty: the node takes no forwarded requests.
func (c *Cluster) Advertise(addr string) {
	c.nodeMu.Lock()
	c.addr = addr
	c.nodeMu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default: // a renewal is already due
	}
}

// OnNodeDown registers fn, called with the uid of every Parley node whose
// registry entry disappears (the node stopped, or missed its renewals for
// NodeTTL), on the heartbeat goroutine: fn must return quickly. Every node
// of the cluster calls its own callbacks for the same death. Deaths are
// not reported until the registry has answered, with this node's own
// entry intact, for NodeTTL, so that a Redis restart, which loses every
// entry, is not taken for the death of every node.
func (c *Cluster) OnNodeDown(fn func(uid string)) {
	c.nodeMu.Lock()
	c.downFns = append(c.downFns, fn)
	c.nodeMu.Unlock()
}

// NodeAddr returns the forwarding address of node uid, read from Redis
// (no cache). It fails with ErrUnknownNode when the node has no live
// entry or takes no forwarded requests, and with ErrUnavailable when
// Redis cannot be reached.
func (c *Cluster) NodeAddr(ctx context.Context, uid string) (string, error) {
	if c.closed.Load() {
		return "", ErrClosed
	}
	v, err := c.pub.Get(ctx, c.nodeKey(uid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%w: %s", ErrUnknownNode, uid)
	}
	if err != nil {
		return "", fmt.Errorf("%w: node %s: %w", ErrUnavailable, uid, err)
	}
	var e nodeEntry
	if err := json.Unmarshal(v, &e); err != nil || e.Addr == "" {
		return "", fmt.Errorf("%w: %s takes no forwarded requests", ErrUnknownNode, uid)
	}
	return e.Addr, nil
}

// LiveNodes returns the Parley nodes whose registry entry is live, this
// one included once registered, by uid. Node socket.io nodes do not
// register. It prunes the set of entries that expired.
func (c *Cluster) LiveNodes(ctx context.Context) ([]Node, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	uids, err := c.pub.SMembers(ctx, c.nodesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: nodes: %w", ErrUnavailable, err)
	}
	if len(uids) == 0 {
		return nil, nil
	}
	slices.Sort(uids)
	keys := make([]string, len(uids))
	for i, u := range uids {
		keys[i] = c.nodeKey(u)
	}
	vals, err := c.pub.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: nodes: %w", ErrUnavailable, err)
	}
	var out []Node
	var stale []any
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			stale = append(stale, uids[i])
			continue
		}
		var e nodeEntry
		_ = json.Unmarshal([]byte(s), &e) // a foreign value reads as a node without address
		out = append(out, Node{UID: uids[i], Addr: e.Addr})
	}
	if len(stale) > 0 {
		// Best effort: a node that registers again meanwhile adds itself
		// back on its next renewal.
		_ = c.pub.SRem(ctx, c.nodesKey(), stale...).Err()
	}
	return out, nil
}

// liveUIDs returns the uids of the live nodes, sorted.
func (c *Cluster) liveUIDs(ctx context.Context) ([]string, error) {
	nodes, err := c.LiveNodes(ctx)
	if err != nil {
		return nil, err
	}
	uids := make([]string, len(nodes))
	for i, n := range nodes {
		uids[i] = n.UID
	}
	return uids, nil // LiveNodes keeps the sorted order
}

// heartbeat keeps this node's registry entry alive until Close, which
// deletes it, and reports the deaths of other nodes to OnNodeDown.
func (c *Cluster) heartbeat() {
	defer c.wg.Done()
	t := time.NewTicker(c.liveness().Interval)
	defer t.Stop()
	var w nodeWatch
	for {
		ok, wiped := c.register()
		if wiped {
			w.upSince = time.Time{} // Redis lost its keys: give every node a TTL to register again
		}
		c.watchNodes(&w, ok)
		select {
		case <-t.C:
		case <-c.kick:
		case <-c.stop:
			c.deregister()
			return
		}
	}
}

// register renews this node's entry (Heartbeat) for the heartbeat
// goroutine. wiped reports that the entry was gone although renewed in
// time: Redis restarted empty (or was flushed), or this node stalled for a
// TTL; either way the other entries may be missing for a moment too.
func (c *Cluster) register() (ok, wiped bool) {
	ctx, cancel := context.WithTimeout(c.ctx, min(c.cfg.RequestTimeout, c.liveness().Interval))
	defer cancel()
	existed, err := c.Heartbeat(ctx)
	if err != nil {
		c.log.Debug("redisadapter: node registry not renewed", "err", err)
		return false, false
	}
	return true, !existed
}

// Heartbeat renews this node's registry entry (its forwarding address,
// TTL NodeTTL) and lists the node in the set of nodes. It reports whether
// the entry still existed: false on the first beat, and when the node was
// taken for dead meanwhile (a pause longer than the TTL) or Redis lost its
// data (a restart without persistence); state this node keeps in Redis
// must then be written again (Records do, told through onEntryLost). The
// heartbeat goroutine calls it every NodeTTL/5.
func (c *Cluster) Heartbeat(ctx context.Context) (existed bool, err error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	c.nodeMu.Lock()
	v, _ := json.Marshal(nodeEntry{Addr: c.addr}) // cannot fail: a string
	c.nodeMu.Unlock()
	pipe := c.pub.Pipeline()
	ex := pipe.Exists(ctx, c.nodeKey(c.uid))
	pipe.Set(ctx, c.nodeKey(c.uid), v, c.cfg.NodeTTL)
	pipe.SAdd(ctx, c.nodesKey(), c.uid)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("%w: heartbeat: %w", ErrUnavailable, err)
	}
	existed = ex.Val() > 0
	if !existed {
		c.nodeMu.Lock()
		fns := slices.Clone(c.lostFns)
		c.nodeMu.Unlock()
		for _, fn := range fns {
			fn()
		}
	}
	return existed, nil
}

// onEntryLost registers fn, called (on the caller of Heartbeat, quickly)
// whenever a renewal finds this node's entry gone: at the first beat, and
// after the node was taken for dead or Redis lost its data. Records use it
// to write their table whole again, whoever renewed.
func (c *Cluster) onEntryLost(fn func()) {
	c.nodeMu.Lock()
	c.lostFns = append(c.lostFns, fn)
	c.nodeMu.Unlock()
}

// forgetNode removes a dead node from the set of nodes and deletes the
// keys it left (keys: full names).
func (c *Cluster) forgetNode(ctx context.Context, uid string, keys ...string) error {
	pipe := c.pub.TxPipeline()
	pipe.SRem(ctx, c.nodesKey(), uid)
	if len(keys) > 0 {
		pipe.Del(ctx, keys...)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// leave deletes this node's entry, its entry in the set and keys, at
// shutdown: the other nodes take it for gone at their next scan.
func (c *Cluster) leave(ctx context.Context, keys ...string) error {
	return c.forgetNode(ctx, c.uid, append(keys, c.nodeKey(c.uid))...)
}

// deregister deletes this node's entry, so that other nodes see it gone
// at once instead of after NodeTTL.
func (c *Cluster) deregister() {
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	pipe := c.pub.Pipeline()
	pipe.Del(ctx, c.nodeKey(c.uid))
	pipe.SRem(ctx, c.nodesKey(), c.uid)
	_, _ = pipe.Exec(ctx) // Redis down: the entry expires after NodeTTL
}

// nodeWatch is the heartbeat's memory of the live nodes.
type nodeWatch struct {
	live    map[string]bool
	upSince time.Time // since when the registry has answered; zero while it fails
}

// watchNodes compares the live nodes with the last scan and calls the
// OnNodeDown callbacks for the ones gone. It does nothing without
// callbacks.
func (c *Cluster) watchNodes(w *nodeWatch, registered bool) {
	c.nodeMu.Lock()
	fns := slices.Clone(c.downFns)
	c.nodeMu.Unlock()
	if len(fns) == 0 {
		return
	}
	var nodes []Node
	var err error
	if registered {
		ctx, cancel := context.WithTimeout(c.ctx, min(c.cfg.RequestTimeout, c.liveness().Interval))
		nodes, err = c.LiveNodes(ctx)
		cancel()
	}
	now := time.Now()
	if !registered || err != nil {
		w.upSince = time.Time{}
		return
	}
	if w.upSince.IsZero() {
		w.upSince = now
	}
	live := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		live[n.UID] = true
	}
	settled := now.Sub(w.upSince) >= c.cfg.NodeTTL
	var gone []string
	for uid := range w.live {
		if live[uid] {
			continue
		}
		if settled {
			gone = append(gone, uid)
		} else {
			live[uid] = true // not reported yet: the registry may still be refilling
		}
	}
	w.live = live
	slices.Sort(gone)
	for _, uid := range gone {
		if uid == c.uid {
			continue
		}
		c.log.Info("redisadapter: node gone", "node", uid)
		for _, fn := range fns {
			fn(uid)
		}
	}
}

// SharedSecret returns the cluster's secret called name (<prefix>-name in
// Redis): the first node to ask creates it (n random bytes, SET NX, no
// expiry), every other node reads the same one. It fails with
// ErrUnavailable when Redis cannot be reached.
func (c *Cluster) SharedSecret(ctx context.Context, name string, n int) ([]byte, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	key := c.cfg.Prefix + "-" + name
	if err := c.pub.SetNX(ctx, key, hex.EncodeToString(b), 0).Err(); err != nil {
		return nil, fmt.Errorf("%w: secret %s: %w", ErrUnavailable, name, err)
	}
	v, err := c.pub.Get(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: secret %s: %w", ErrUnavailable, name, err)
	}
	secret, err := hex.DecodeString(v)
	if err != nil || len(secret) < n {
		return nil, fmt.Errorf("redisadapter: secret %s in Redis is not %d hex bytes", name, n)
	}
	return secret, nil
}
