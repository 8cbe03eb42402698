package redisadapter

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Records is a table of this node's records (key -> JSON value) replicated
// to every node of the cluster, for state that lives with a node's sockets
// and must die with it (presence). Each node keeps its records in the hash
// <prefix>-<name>#<uid>, with its sequence number in the field "" (keys
// are never empty), and announces every change on the channel
// <prefix>-<name> as {"n": uid, "q": seq, "k": key, "v": value} ("d": true
// for a deletion, "r": true for "read my hash again"). A node's changes
// are written and published in one MULTI, in order, so a receiver applies
// them in order and reads a node's hash again when it sees a gap in the
// sequence, a reset, or a node it does not know yet.
//
// A node whose heartbeat key expired (see Liveness) is gone: its records
// are dropped (RecordsEvents.Gone), and the live node with the smallest uid
// (the leader of that scan) deletes its hash. A node that finds its own
// key gone (it was taken for dead, or Redis restarted without its data)
// writes its whole table again and publishes a reset; so does a node whose
// writes failed or overflowed.
//
// Goroutine: one, owned by the Cluster (started by Start, stopped by the
// Cluster's Close), runs the heartbeat, the scans, the writes and the
// events. Put and Delete never block.
type Records struct {
	c       *Cluster
	name    string
	live    Liveness
	hash    string // this node's hash
	channel string
	ev      RecordsEvents

	mu    sync.Mutex
	own   map[string]json.RawMessage
	ops   []recordOp
	seq   uint64
	dirty bool // the table must be written whole again
	// written is the last sequence number written to Redis; flushed is
	// closed (and replaced) at every write, for Wait.
	written uint64
	flushed chan struct{}

	wake    chan struct{} // capacity 1: ops to write
	inbox   chan []byte
	resync  atomic.Bool // read every node's hash again
	started atomic.Bool

	// Owned by the goroutine.
	known   map[string]uint64    // node -> last sequence applied
	missing map[string]time.Time // known node -> since when its key is missing
}

// RecordsEvents receives the nodes' records. Its functions run on the
// records goroutine, one at a time, and must return at once; a nil one is
// skipped.
//
// This node's own changes come back too, as they come back through the
// channel (node is Records.Node()): the channel orders every node's
// changes, and every node sees them in that one order, which a receiver
// may use to decide alike on every node.
type RecordsEvents struct {
	// Load replaces everything known of node by recs (a first read, or a
	// read again after a gap; for this node, its table written whole
	// again after a failed write).
	Load func(node string, recs map[string][]byte)
	// Put and Delete apply one change of node's records.
	Put    func(node, key string, val []byte)
	Delete func(node, key string)
	// Gone reports a dead node: its records are dropped. leader is true on
	// exactly one live node per scan (the smallest uid), which should do
	// the cluster-wide work of the death once.
	Gone func(node string, leader bool)
}

type recordOp struct {
	key string
	val json.RawMessage // nil: deleted
	seq uint64
}

type recordMsg struct {
	Node  string          `json:"n"`
	Seq   uint64          `json:"q"`
	Key   string          `json:"k,omitempty"`
	Val   json.RawMessage `json:"v,omitempty"`
	Del   bool            `json:"d,omitempty"`
	Reset bool            `json:"r,omitempty"`
	Bye   bool            `json:"b,omitempty"` // the node shut down
}

// maxPendingOps bounds the writes queued while Redis is slow; beyond it
// the table is written whole once Redis answers.
const maxPendingOps = 16384

// Records returns the replicated table name (letters, digits, "-"), not
// started: Start it once its events can be taken. The heartbeat's TTL and
// interval are the cluster's (Config.NodeTTL); only live.Scan is taken
// from live.
func (c *Cluster) Records(name string, live Liveness) *Records {
	l := c.liveness()
	if live.Scan > 0 {
		l.Scan = live.Scan
	}
	return &Records{
		c: c, name: name, live: l,
		hash:    c.cfg.Prefix + "-" + name + "#" + c.uid,
		channel: c.cfg.Prefix + "-" + name,
		own:     map[string]json.RawMessage{},
		flushed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		inbox:   make(chan []byte, 4096),
		known:   map[string]uint64{},
		missing: map[string]time.Time{},
	}
}

// Liveness returns the timing in use (defaults filled).
func (r *Records) Liveness() Liveness { return r.live }

// Start subscribes and starts the goroutine. Later calls do nothing.
func (r *Records) Start(ev RecordsEvents) {
	if r.c.closed.Load() || !r.started.CompareAndSwap(false, true) {
		return
	}
	r.ev = ev
	r.c.Handle(r.channel, r.receive)
	r.c.OnRestore(func() { r.resync.Store(true) })
	// The registry's heartbeat (the Cluster's goroutine) says when this
	// node's entry was found gone: write the table whole again.
	r.c.onEntryLost(r.rewrite)
	r.rewrite()
	r.c.wg.Add(1)
	go r.run()
}

// Node returns this node's uid, as RecordsEvents name it.
func (r *Records) Node() string { return r.c.uid }

// Put sets this node's record key to val (JSON).
func (r *Records) Put(key string, val []byte) { r.change(key, val) }

// Delete removes this node's record key.
func (r *Records) Delete(key string) { r.change(key, nil) }

// Wait returns once every change made before the call is written to
// Redis (and so ordered before any change a node makes later), or with
// ctx's error; at once when the Records are not started or the Cluster is
// closed. A caller that acknowledges a change to a client after Wait
// returns gives the cluster's order of changes the client's order.
func (r *Records) Wait(ctx context.Context) error {
	if !r.started.Load() {
		return nil
	}
	r.mu.Lock()
	want := r.seq
	for r.written < want {
		ch := r.flushed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.c.stop:
			return ErrClosed
		}
		r.mu.Lock()
	}
	r.mu.Unlock()
	return nil
}

func (r *Records) change(key string, val []byte) {
	r.mu.Lock()
	if val == nil {
		delete(r.own, key)
	} else {
		r.own[key] = val
	}
	r.seq++
	if !r.dirty {
		if len(r.ops) >= maxPendingOps {
			r.dirty, r.ops = true, nil
		} else {
			r.ops = append(r.ops, recordOp{key: key, val: val, seq: r.seq})
		}
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// receive runs on the subscriber goroutine.
func (r *Records) receive(payload []byte) {
	select {
	case r.inbox <- payload:
	default:
		r.resync.Store(true) // lost: read everything again
	}
}

func (r *Records) run() {
	defer r.c.wg.Done()
	// retry writes what a failed write left (the table stays dirty, or
	// its changes queued, while Redis is down).
	retry := time.NewTicker(r.live.Interval)
	defer retry.Stop()
	scan := time.NewTicker(r.live.Scan)
	defer scan.Stop()
	r.write()
	r.scan()
	for {
		select {
		case <-r.c.stop:
			r.leave()
			return
		case m := <-r.inbox:
			r.apply(m)
		case <-r.wake:
			r.write()
		case <-retry.C:
			r.write()
		case <-scan.C:
			r.scan()
		}
		if r.resync.Swap(false) {
			for node := range r.known {
				r.load(node)
			}
			r.scan()
		}
	}
}

func (r *Records) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.c.ctx, r.c.cfg.RequestTimeout)
}

// rewrite marks the table to be written whole and wakes the goroutine.
func (r *Records) rewrite() {
	r.mu.Lock()
	r.dirty = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// write writes the queued changes, or the whole table when it is dirty.
func (r *Records) write() {
	r.mu.Lock()
	dirty, ops := r.dirty, r.ops
	r.ops = nil
	var all map[string]json.RawMessage
	var seq uint64
	if dirty {
		r.seq++
		seq = r.seq
		all = make(map[string]json.RawMessage, len(r.own))
		for k, v := range r.own {
			all[k] = v
		}
		r.dirty = false
	}
	r.mu.Unlock()
	if !dirty && len(ops) == 0 {
		return
	}
	ctx, cancel := r.ctx()
	defer cancel()
	pipe := r.c.pub.TxPipeline()
	if dirty {
		pipe.Del(ctx, r.hash)
		args := make([]any, 0, 2*len(all)+2)
		args = append(args, "", strconv.FormatUint(seq, 10))
		for k, v := range all {
			args = append(args, k, string(v))
		}
		pipe.HSet(ctx, r.hash, args...)
		r.publish(ctx, pipe, recordMsg{Node: r.c.uid, Seq: seq, Reset: true})
	} else {
		for _, op := range ops {
			if op.val == nil {
				pipe.HDel(ctx, r.hash, op.key)
			} else {
				pipe.HSet(ctx, r.hash, op.key, string(op.val))
			}
			r.publish(ctx, pipe, recordMsg{Node: r.c.uid, Seq: op.seq, Key: op.key, Val: op.val, Del: op.val == nil})
		}
		pipe.HSet(ctx, r.hash, "", strconv.FormatUint(ops[len(ops)-1].seq, 10))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		r.c.errs.Add(1)
		r.c.log.Warn("redisadapter: records write failed; writing them whole when redis answers", "records", r.name, "err", err)
		r.mu.Lock()
		r.dirty, r.ops = true, nil
		r.mu.Unlock()
		return
	}
	r.c.published.Add(1)
	if !dirty {
		seq = ops[len(ops)-1].seq
	}
	r.mu.Lock()
	r.written = max(r.written, seq)
	close(r.flushed)
	r.flushed = make(chan struct{})
	r.mu.Unlock()
}

func (r *Records) publish(ctx context.Context, pipe redis.Pipeliner, m recordMsg) {
	b, err := json.Marshal(m)
	if err != nil {
		r.c.log.Error("redisadapter: encode record", "err", err)
		return
	}
	pipe.Publish(ctx, r.channel, b)
}

// apply handles a message of the channel.
func (r *Records) apply(payload []byte) {
	var m recordMsg
	if err := json.Unmarshal(payload, &m); err != nil || m.Node == "" {
		r.c.errs.Add(1)
		return
	}
	if m.Node == r.c.uid {
		r.echo(m)
		return
	}
	if m.Bye {
		// Its key is deleted already: declared dead at once, without the
		// confirmation a missing key needs.
		if _, ok := r.known[m.Node]; ok {
			r.missing[m.Node] = time.Time{}
			r.scan()
		}
		return
	}
	last, ok := r.known[m.Node]
	switch {
	case !ok || m.Reset || m.Seq > last+1:
		r.load(m.Node)
		return
	case m.Seq <= last:
		return // in the hash read already
	}
	r.known[m.Node] = m.Seq
	if m.Del {
		if r.ev.Delete != nil {
			r.ev.Delete(m.Node, m.Key)
		}
	} else if r.ev.Put != nil {
		r.ev.Put(m.Node, m.Key, m.Val)
	}
}

// echo hands this node's own change back, in the channel's order (see
// RecordsEvents): a write of the whole table comes back as a Load of the
// table as it is now.
func (r *Records) echo(m recordMsg) {
	switch {
	case m.Bye:
	case m.Reset:
		if r.ev.Load == nil {
			return
		}
		r.mu.Lock()
		recs := make(map[string][]byte, len(r.own))
		for k, v := range r.own {
			recs[k] = v
		}
		r.mu.Unlock()
		r.ev.Load(r.c.uid, recs)
	case m.Del:
		if r.ev.Delete != nil {
			r.ev.Delete(r.c.uid, m.Key)
		}
	case r.ev.Put != nil:
		r.ev.Put(r.c.uid, m.Key, m.Val)
	}
}

// load reads node's hash and replaces what is known of it.
func (r *Records) load(node string) {
	ctx, cancel := r.ctx()
	defer cancel()
	h, err := r.c.pub.HGetAll(ctx, r.c.cfg.Prefix+"-"+r.name+"#"+node).Result()
	if err != nil {
		r.c.log.Debug("redisadapter: records read", "node", node, "err", err)
		r.resync.Store(true) // try again after the next event
		return
	}
	seq, _ := strconv.ParseUint(h[""], 10, 64)
	delete(h, "")
	recs := make(map[string][]byte, len(h))
	for k, v := range h {
		recs[k] = []byte(v)
	}
	r.known[node] = seq
	if r.ev.Load != nil {
		r.ev.Load(node, recs)
	}
}

// scan drops the nodes that died and reads the hashes of live nodes not
// known yet.
func (r *Records) scan() {
	ctx, cancel := r.ctx()
	defer cancel()
	live, err := r.c.liveUIDs(ctx)
	if err != nil {
		// Without Redis no death can be told from an outage: keep
		// everything until Redis answers.
		r.c.log.Debug("redisadapter: scan", "err", err)
		return
	}
	leader := len(live) > 0 && live[0] == r.c.uid
	now := time.Now()
	for node := range r.known {
		if slices.Contains(live, node) {
			delete(r.missing, node)
			continue
		}
		since, ok := r.missing[node]
		if !ok {
			r.missing[node] = now
		}
		if !ok || now.Sub(since) < r.live.Confirm() {
			continue // missing for a moment only, so far
		}
		delete(r.missing, node)
		delete(r.known, node)
		r.c.log.Info("redisadapter: node gone", "node", node, "records", r.name)
		if r.ev.Gone != nil {
			r.ev.Gone(node, leader)
		}
		if leader {
			if err := r.c.forgetNode(ctx, node, r.c.cfg.Prefix+"-"+r.name+"#"+node); err != nil {
				r.c.log.Debug("redisadapter: forget node", "node", node, "err", err)
			}
		}
	}
	if leader && len(r.missing) == 0 {
		// Nodes that died before this one knew them (or while no node
		// scanned) are still listed: forget them too (not while a known
		// node's key is missing: Redis may have lost the keys of live
		// nodes, which are listed again at their next renewal).
		members, err := r.c.pub.SMembers(ctx, r.c.nodesKey()).Result()
		if err == nil {
			for _, m := range members {
				if !slices.Contains(live, m) {
					_ = r.c.forgetNode(ctx, m, r.c.cfg.Prefix+"-"+r.name+"#"+m) // the next scan retries
				}
			}
		}
	}
	for _, node := range live {
		if _, ok := r.known[node]; !ok && node != r.c.uid {
			r.load(node)
		}
	}
}

// leave runs at Close: this node's hash and key go, then a bye tells the
// others to drop its records now.
func (r *Records) leave() {
	ctx, cancel := context.WithTimeout(r.c.ctx, time.Second)
	defer cancel()
	if err := r.c.leave(ctx, r.hash); err != nil {
		if !errors.Is(err, context.Canceled) {
			r.c.log.Debug("redisadapter: leave", "err", err)
		}
		return
	}
	b, err := json.Marshal(recordMsg{Node: r.c.uid, Bye: true})
	if err == nil {
		err = r.c.pub.Publish(ctx, r.channel, b).Err()
	}
	if err != nil {
		r.c.log.Debug("redisadapter: bye", "err", err) // the others' scans notice
	}
}
