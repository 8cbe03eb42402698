package redisadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

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

// heartbeat keeps this node's registry entry alive until Close, which
// deletes it, and reports the deaths of other nodes to OnNodeDown.
func (c *Cluster) heartbeat() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.NodeTTL / 3)
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

// register writes this node's entry with a TTL of NodeTTL. wiped reports
// that the entry was gone although renewed in time: Redis restarted empty
// (or was flushed), or this node stalled for a TTL; either way the other
// entries may be missing for a moment too.
func (c *Cluster) register() (ok, wiped bool) {
	c.nodeMu.Lock()
	v, _ := json.Marshal(nodeEntry{Addr: c.addr}) // cannot fail: a string
	c.nodeMu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, min(c.cfg.RequestTimeout, c.cfg.NodeTTL/3))
	defer cancel()
	pipe := c.pub.Pipeline()
	existed := pipe.Exists(ctx, c.nodeKey(c.uid))
	pipe.Set(ctx, c.nodeKey(c.uid), v, c.cfg.NodeTTL)
	pipe.SAdd(ctx, c.nodesKey(), c.uid)
	if _, err := pipe.Exec(ctx); err != nil {
		c.log.Debug("redisadapter: node registry not renewed", "err", err)
		return false, false
	}
	return true, existed.Val() == 0
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
		ctx, cancel := context.WithTimeout(c.ctx, min(c.cfg.RequestTimeout, c.cfg.NodeTTL/3))
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
