package core

import (
	"context"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
)

// OnceBroadcaster is the optional capability of the fan-out's broadcasts
// (ChatConfig.Rooms.To and a connection's To) in a cluster: a broadcast
// decided once per key across every node. The core keys a message's
// newChatMessage by its id, so that a message is broadcast at most once
// cluster-wide however many times it is sent again, and a resend through
// any node broadcasts a message whose node died between its commit and
// its broadcast. The /chat namespace's broadcasts implement it (package
// socketio, over redisadapter's gate); it is used only in a cluster
// (ChatConfig.Feed set).
type OnceBroadcaster interface {
	namespaces.Broadcaster
	// Once returns the broadcast whose Emit delivers to this node's
	// sockets at once, as Emit does, and forwards to the other nodes
	// unless a broadcast gated by key went out before. It does not wait
	// for the cluster.
	Once(key string) namespaces.Broadcaster
	// EmitOnce broadcasts to every node, this one included, unless a
	// broadcast gated by key went out before, or at (when the keyed
	// broadcast was first due) is too long ago to tell, and reports
	// whether it did. This node's sockets get it only when sent. With an
	// error, nothing may have been sent (the gate was unreachable) or the
	// answer was lost; either way this node does not deliver it.
	EmitOnce(ctx context.Context, key string, at time.Time, event string, args ...any) (sent bool, err error)
}

// onceEmit is the events.Emitter of a resend: EmitOnce keyed by the
// message's id, remembering whether it sent.
type onceEmit struct {
	ctx  context.Context
	b    OnceBroadcaster
	key  string
	at   time.Time
	sent bool
}

func (e *onceEmit) Emit(event string, args ...any) (err error) {
	e.sent, err = e.b.EmitOnce(e.ctx, e.key, e.at, event, args...)
	return err
}

// gated returns b with its forwarding gated by the message id in a
// cluster (the original of a message), b itself otherwise.
func (ch *Chat) gated(b namespaces.Broadcaster, id string) namespaces.Broadcaster {
	if ch.cfg.Feed == nil {
		return b
	}
	if ob, ok := b.(OnceBroadcaster); ok {
		return ob.Once(id)
	}
	return b
}

// rebroadcast is a resend's fan-out in a cluster: the message is
// broadcast, to every node, only when its original never was (its node
// died between the commit and the publish). Then this node's Cluster
// observers hear of it and the feed carries it to the other nodes', as
// the original's feed entry would have. On a single node, whose sockets
// got the original, it does nothing.
func (ch *Chat) rebroadcast(ctx context.Context, b namespaces.Broadcaster, stored events.ChatMessage) {
	ob, ok := b.(OnceBroadcaster)
	if !ok || ch.cfg.Feed == nil {
		return
	}
	e := &onceEmit{ctx: ctx, b: ob, key: stored.ID, at: time.UnixMilli(stored.Timestamp)}
	if err := events.Emit(e, events.NewChatMessage, stored); err != nil {
		ch.cfg.Logger.Warn("resend: the message's broadcast could not be decided", "room", stored.Room, "id", stored.ID, "err", err)
	}
	if !e.sent {
		return
	}
	ch.cfg.Logger.Info("resend: broadcast a message its original node never did", "room", stored.Room, "id", stored.ID)
	ch.obsMu.RLock()
	for _, o := range ch.observers {
		if o.Cluster && o.Message != nil {
			o.Message(stored)
		}
	}
	ch.obsMu.RUnlock()
	ch.feedMessage(stored)
}
