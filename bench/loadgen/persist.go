package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"slices"
	"time"
)

// runPersist drives the /chat contract's write path: rooms x room-senders
// clients, each joined to its room, each sending chatMessage with an ack in a
// closed loop. It reports acked messages per second.
func runPersist(ctx context.Context, cfg config) (map[string]any, error) {
	n := cfg.rooms * cfg.roomSenders
	d := orDefault(cfg.duration, 10*time.Second)
	cl := newClosedLoop(n, cfg.inflight)
	log.Printf("persist: %d rooms x %d senders, %d in flight each, for %s", cfg.rooms, cfg.roomSenders, cfg.inflight, d)
	room := func(i int) string { return fmt.Sprintf("room-%d", i%cfg.rooms) }
	hs := func(i int) handlers {
		return handlers{ack: func(c *client, id int64, args []byte) {
			if id == 0 {
				joinAck(c, id, args)
				return
			}
			cl.onAck(i, id, bytes.Contains(args, []byte(`"ok":true`)))
		}}
	}
	auth := func(i int) string { return fmt.Sprintf(`{"userId":"p%d","name":"user %d"}`, i, i) }
	setup := func(c *client) error { return joinRoom(ctx, c, room(c.id), cfg.dialTimeout) }
	clients, failed, err := connectMany(ctx, cfg.dialCfg(n), n, cfg.dialConc, auth, hs, setup)
	defer closeAll(clients)
	if err != nil {
		return map[string]any{"connectFailed": failed}, fmt.Errorf("connect: %w", err)
	}
	pad := padding(cfg.payload)
	elapsed := cl.run(ctx, clients, d, func(b []byte, i int, seq int64) []byte {
		return fmt.Appendf(b, `["chatMessage",{"room":%q,"content":"m%d %s","clientMsgId":"c%d-%d"}]`, room(i), seq, pad, i, seq)
	})
	sleepCtx(ctx, time.Second)
	acks := cl.acks.Load()
	rate := float64(acks) / elapsed.Seconds()
	lat := cl.lat.summary()
	minS, maxS := int64(0), int64(0)
	if len(cl.sampled) > 0 {
		minS, maxS = slices.Min(cl.sampled), slices.Max(cl.sampled)
	}
	log.Printf("persist: %.0f acked msgs/s (per second min %d max %d), ack p50 %.2fms p99 %.2fms max %.1fms, %d not ok",
		rate, minS, maxS, lat.P50, lat.P99, lat.Max, cl.fail.Load())
	out := map[string]any{
		"rooms": cfg.rooms, "roomSenders": cfg.roomSenders, "inflight": cfg.inflight,
		"ackedPerSec": rate, "ackLatency": lat, "notOK": cl.fail.Load(), "perSecond": cl.sampled,
	}
	if rss, err := rssBytes(cfg.serverPID); err == nil {
		out["serverRSS"] = rss
	}
	if cl.fail.Load() > 0 {
		return out, fmt.Errorf("%d acks were not ok", cl.fail.Load())
	}
	return out, ctx.Err()
}
