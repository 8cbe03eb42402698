package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Node liveness. Every node renews a key <prefix>-node#<uid> with a TTL
// (Heartbeat) and is listed in the set <prefix>-nodes; a node whose key
// expired is dead (killed, frozen or cut off from Redis), and LiveNodes no
// longer lists it. This is the one definition of a node's heartbeat in
// Redis: whatever needs to know the live nodes (presence, forwarding to a
// session's owner) reads it here.
const (
	// DefaultNodeTTL is how long a node's key outlives its last renewal.
	DefaultNodeTTL = 10 * time.Second
)

// Liveness is the timing of the heartbeat and of the scans for dead nodes.
// Its zero value means the defaults: TTL DefaultNodeTTL, Interval TTL/5,
// Scan TTL/4.
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

func (c *Cluster) nodeKey(uid string) string { return c.cfg.Prefix + "-node#" + uid }
func (c *Cluster) nodesKey() string          { return c.cfg.Prefix + "-nodes" }

// Heartbeat renews this node's key for ttl and lists the node in the set
// of nodes. It reports whether the key still existed: false on the first
// beat, and when the node was taken for dead meanwhile (a pause longer
// than ttl) or Redis lost its data (a restart without persistence); state
// this node keeps in Redis must then be written again.
func (c *Cluster) Heartbeat(ctx context.Context, ttl time.Duration) (existed bool, err error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	pipe := c.pub.Pipeline()
	get := pipe.SetArgs(ctx, c.nodeKey(c.uid), "1", redis.SetArgs{TTL: ttl, Get: true})
	pipe.SAdd(ctx, c.nodesKey(), c.uid)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("%w: heartbeat: %w", ErrUnavailable, err)
	}
	switch err := get.Err(); {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: heartbeat: %w", ErrUnavailable, err)
	}
	return true, nil
}

// LiveNodes returns the uids of the nodes whose key exists, sorted, this
// one included if its heartbeat runs.
func (c *Cluster) LiveNodes(ctx context.Context) ([]string, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	members, err := c.pub.SMembers(ctx, c.nodesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: nodes: %w", ErrUnavailable, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	pipe := c.pub.Pipeline()
	exists := make([]*redis.IntCmd, len(members))
	for i, m := range members {
		exists[i] = pipe.Exists(ctx, c.nodeKey(m))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("%w: nodes: %w", ErrUnavailable, err)
	}
	var live []string
	for i, m := range members {
		if exists[i].Val() > 0 {
			live = append(live, m)
		}
	}
	slices.Sort(live)
	return live, nil
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

// leave deletes this node's key and its entry in the set, at shutdown:
// the other nodes take it for gone at their next scan.
func (c *Cluster) leave(ctx context.Context, keys ...string) error {
	return c.forgetNode(ctx, c.uid, append(keys, c.nodeKey(c.uid))...)
}
