package socketio

import (
	"context"
	"time"

	"github.com/parley-rt/parley/namespaces"
)

// This file holds the broadcasts decided once per key across a cluster:
// whichever node's broadcast under a key reaches the cluster first goes
// out, every later one under the same key is dropped. The chat uses it so
// that a message, keyed by its id, is broadcast at most once whatever the
// number of its resends and the nodes they go through.

// OnceAdapter is a ClusterAdapter that can gate a broadcast by a key
// across the cluster (package redisadapter).
type OnceAdapter interface {
	ClusterAdapter
	// PublishOnce forwards ev to the other nodes as Publish does, unless a
	// broadcast gated by key was forwarded before, by any node, within the
	// adapter's horizon. A non-zero at is when the keyed broadcast was
	// first due (a message's commit): one older than the adapter can tell
	// about is not forwarded. It does not block. then, when not nil, is
	// called once with whether this call forwarded it, on a goroutine of
	// the adapter or before PublishOnce returns; false with an error when
	// the adapter cannot tell (Redis unreachable: nothing was sent, or an
	// answer was lost).
	PublishOnce(key string, at time.Time, ev EncodedEvent, opts BroadcastOptions, then func(sent bool, err error))
}

// onceAdapter returns the namespace's OnceAdapter unless the operator is
// Local or the adapter has no gate.
func (b BroadcastOperator) onceAdapter() (OnceAdapter, bool) {
	if b.local {
		return nil, false
	}
	oa, ok := b.nsp.adapter.(OnceAdapter)
	return oa, ok
}

// EmitGated is Emit whose forwarding to the other nodes is gated by key:
// this node's sockets get the event at once, the other nodes only if no
// broadcast gated by key went out before. It does not wait for the
// cluster. Without a OnceAdapter it is Emit.
func (b BroadcastOperator) EmitGated(key, event string, args ...any) error {
	oa, ok := b.onceAdapter()
	if !ok {
		return b.Emit(event, args...)
	}
	if err := b.Local().Emit(event, args...); err != nil {
		return err
	}
	data, buffers, err := encodeArgs(make([]byte, 0, 64), []any{event}, args)
	if err != nil {
		return err
	}
	oa.PublishOnce(key, time.Time{}, EncodedEvent{Data: data, Buffers: buffers}, b.options(), nil)
	return nil
}

// EmitOnce broadcasts the event to every node, this one included, unless
// a broadcast gated by key went out before (EmitGated or EmitOnce, on any
// node), and reports whether it did. at is when the keyed broadcast was
// first due (see OnceAdapter). This node's sockets get the event only
// when the gate says so, after the other nodes' copy is on its way; that
// happens even when ctx ends first (then sent is false and the error is
// ctx's). Without a OnceAdapter it sends nothing: on a single node the
// first broadcast was this node's.
func (b BroadcastOperator) EmitOnce(ctx context.Context, key string, at time.Time, event string, args ...any) (bool, error) {
	oa, ok := b.onceAdapter()
	if !ok {
		return false, nil
	}
	data, buffers, err := encodeArgs(make([]byte, 0, 64), []any{event}, args)
	if err != nil {
		return false, err
	}
	type result struct {
		sent bool
		err  error
	}
	done := make(chan result, 1)
	oa.PublishOnce(key, at, EncodedEvent{Data: data, Buffers: buffers}, b.options(), func(sent bool, err error) {
		if sent {
			err = b.Local().Emit(event, args...)
		}
		done <- result{sent, err}
	})
	select {
	case r := <-done:
		return r.sent, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Once and EmitOnce make the handler-facing broadcasts gateable (the core's
// OnceBroadcaster).

// Once returns the broadcast whose Emit is EmitGated with key.
func (v opView) Once(key string) namespaces.Broadcaster { return onceView{v.b, key} }

// EmitOnce is BroadcastOperator.EmitOnce.
func (v opView) EmitOnce(ctx context.Context, key string, at time.Time, event string, args ...any) (bool, error) {
	return v.b.EmitOnce(ctx, key, at, event, args...)
}

type onceView struct {
	b   BroadcastOperator
	key string
}

func (v onceView) Emit(event string, args ...any) error { return v.b.EmitGated(v.key, event, args...) }
func (v onceView) To(rooms ...string) namespaces.Broadcaster {
	return onceView{v.b.To(rooms...), v.key}
}
func (v onceView) Except(rooms ...string) namespaces.Broadcaster {
	return onceView{v.b.Except(rooms...), v.key}
}
func (v onceView) Volatile() namespaces.Broadcaster { return onceView{v.b.Volatile(), v.key} }
