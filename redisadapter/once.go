package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/socketio"
)

// DefaultOnceTTL is the default Config.OnceTTL.
const DefaultOnceTTL = time.Minute

// onceScript is the gate of a broadcast decided once per key (PublishOnce):
// KEYS[1] is the gate, ARGV the setting node's uid, the gate's TTL in
// milliseconds, the channel and the payload. It sets the gate if it is
// not set and then, only then, publishes: it returns 1 when it did, 0
// when an earlier broadcast had set the gate. A script runs atomically,
// so that a node killed at any point leaves either both done or neither.
var onceScript = redis.NewScript(`if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0`)

// onceSHA is the script's digest, for EVALSHA.
var onceSHA = onceScript.Hash()

var _ socketio.OnceAdapter = (*adapter)(nil)

// onceKey is the gate of key in the namespace: <prefix>-once#<nsp>#<key>.
func (a *adapter) onceKey(key string) string {
	return a.c.cfg.Prefix + "-once#" + a.nsp.Name() + "#" + key
}

// PublishOnce implements socketio.OnceAdapter: the broadcast is
// published as Publish publishes it (same channel, same payload), by one
// EVALSHA of onceScript instead of a PUBLISH, in the publisher's order.
// A resend (at set) older than half of OnceTTL is not published: the gate
// its original set may be gone by now, and half the TTL is the margin for
// the clocks of the database and the nodes and for the original's delay.
func (a *adapter) PublishOnce(key string, at time.Time, ev socketio.EncodedEvent, opts socketio.BroadcastOptions, then func(bool, error)) {
	m := outMsg{gate: a.onceKey(key), then: then} // then stays nil for an original (sendAgain tells them apart)
	if !at.IsZero() && time.Since(at) > a.c.cfg.OnceTTL/2 {
		a.c.gated.Add(1)
		m.answer(false, nil)
		return
	}
	var err error
	m.channel, m.payload, err = broadcastMessage(a.c.cfg.Prefix, a.c.uid, a.nsp.Name(), ev, opts)
	if err != nil {
		a.c.errs.Add(1)
		a.c.log.Error("redisadapter: cannot forward event", "nsp", a.nsp.Name(), "err", err)
		m.answer(false, err)
		return
	}
	if !a.c.enqueueMsg(m) {
		m.answer(false, fmt.Errorf("%w: gated broadcast not published", ErrUnavailable))
	}
}

// answer tells a gated message's sender what became of it.
func (m *outMsg) answer(sent bool, err error) {
	if m.then != nil {
		m.then(sent, err)
	}
}

// isReply reports whether err is Redis's answer (the connection works),
// not a failed connection.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// send publishes batch, pipelined: a PUBLISH per message, an EVALSHA of
// onceScript per gated one, and answers the gated ones. It returns an
// error when the connection failed; Redis refusing a command is counted
// and logged, and a gated broadcast whose script Redis refuses is
// published ungated (a Redis that forbids scripts loses the gate, not the
// broadcast) unless it is a resend, which is then not sent.
func (c *Cluster) send(ctx context.Context, batch []outMsg) error {
	pipe := c.pub.Pipeline()
	for i := range batch {
		m := &batch[i]
		if m.gate == "" {
			pipe.Publish(ctx, m.channel, m.payload)
		} else {
			pipe.EvalSha(ctx, onceSHA, []string{m.gate}, c.uidArg, c.ttlArg, m.channel, m.payload)
		}
	}
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		c.published.Add(uint64(len(batch)))
		for i := range batch {
			if batch[i].gate != "" {
				c.gateResult(&batch[i], cmds[i])
			}
		}
		return nil
	}
	var down error
	var retry []int // gated messages refused by Redis
	var refused error
	for i, cmd := range cmds {
		m := &batch[i]
		switch e := cmd.Err(); {
		case e == nil:
			c.published.Add(1)
			if m.gate != "" {
				c.gateResult(m, cmd)
			}
		case isReply(e) && m.gate != "":
			retry = append(retry, i)
			if !redis.HasErrorPrefix(e, "NOSCRIPT") {
				refused = e
			}
		case isReply(e):
			c.errs.Add(1)
			c.dropped.Add(1)
			refused = e
		default:
			down = e
			c.dropped.Add(1)
			m.answer(false, fmt.Errorf("%w: %w", ErrUnavailable, e))
		}
	}
	if refused != nil {
		c.log.Warn("redisadapter: redis refused a publish", "err", refused)
	}
	for _, i := range retry {
		m := &batch[i]
		if down == nil {
			down = c.sendAgain(ctx, m)
			continue
		}
		c.dropped.Add(1)
		m.answer(false, fmt.Errorf("%w: %w", ErrUnavailable, down))
	}
	return down
}

// sendAgain sends a gated message Redis refused in a pipeline: by EVAL,
// which loads the script after a restart or SCRIPT FLUSH (NOSCRIPT), or,
// when Redis refuses the script itself, by a plain PUBLISH for an original
// and not at all for a resend. It returns an error when the connection
// failed.
func (c *Cluster) sendAgain(ctx context.Context, m *outMsg) error {
	cmd := onceScript.Eval(ctx, c.pub, []string{m.gate}, c.uidArg, c.ttlArg, m.channel, m.payload)
	switch err := cmd.Err(); {
	case err == nil:
		c.published.Add(1)
		c.gateResult(m, cmd)
		return nil
	case !isReply(err):
		c.dropped.Add(1)
		m.answer(false, fmt.Errorf("%w: %w", ErrUnavailable, err))
		return err
	case m.then != nil:
		c.errs.Add(1)
		c.dropped.Add(1)
		m.answer(false, fmt.Errorf("redisadapter: gated broadcast refused: %w", err))
		return nil
	}
	if err := c.pub.Publish(ctx, m.channel, m.payload).Err(); err != nil {
		c.dropped.Add(1)
		if !isReply(err) {
			return err
		}
		c.errs.Add(1)
		return nil
	}
	c.published.Add(1)
	return nil
}

// gateResult answers a gated message from its script's reply.
func (c *Cluster) gateResult(m *outMsg, cmd redis.Cmder) {
	n, err := cmd.(*redis.Cmd).Int()
	if err != nil {
		c.errs.Add(1)
		m.answer(false, fmt.Errorf("redisadapter: gate: %w", err))
		return
	}
	if n != 1 {
		c.gated.Add(1)
	}
	m.answer(n == 1, nil)
}

// loadScripts loads onceScript into Redis's script cache (best effort: a
// NOSCRIPT is handled by send).
func (c *Cluster) loadScripts() {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	_ = onceScript.Load(ctx, c.pub).Err() // send falls back to EVAL
}

// ttlMillis is OnceTTL as the script's argument.
func ttlMillis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
