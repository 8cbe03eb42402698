package redisadapter

import (
	"context"
	"time"
)

// Handle subscribes the cluster's connection to channel (an exact name,
// outside the adapter's <prefix>#<nsp># space) and calls fn with the
// payload of each message published on it, this node's own included, on
// the subscriber goroutine: fn must return at once. Call it before Start
// or at any time after; a second Handle of one channel replaces fn.
func (c *Cluster) Handle(channel string, fn func(payload []byte)) {
	c.mu.Lock()
	c.handlers[channel] = fn
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, min(c.cfg.RequestTimeout, time.Second))
	defer cancel()
	c.psMu.Lock()
	defer c.psMu.Unlock()
	// A failed subscription is kept by the client and made again when the
	// subscriber reconnects.
	if err := c.ps.Subscribe(ctx, channel); err != nil {
		c.log.Warn("redisadapter: subscribe", "channel", channel, "err", err)
	}
}

// Publish queues payload for channel without blocking, behind the
// broadcasts queued before it. It reports false when the message was
// dropped (queue full, Redis unreachable, closed), which Stats counts.
func (c *Cluster) Publish(channel string, payload []byte) bool { return c.enqueue(channel, payload) }

// OnRestore registers fn, called on the subscriber goroutine each time the
// subscription comes back after a break: messages published meanwhile
// were lost, and fn may resynchronize. It must return at once.
func (c *Cluster) OnRestore(fn func()) {
	c.mu.Lock()
	c.restored = append(c.restored, fn)
	c.mu.Unlock()
}

func (c *Cluster) runRestored() {
	c.mu.RLock()
	fns := append([]func(){}, c.restored...)
	c.mu.RUnlock()
	for _, fn := range fns {
		fn()
	}
}
