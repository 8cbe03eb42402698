package main

import (
	"context"
	"fmt"
	"log"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// closedLoop runs emit/ack round trips on every client with at most
// cfg.inflight outstanding per client, for d. mk builds the emit arguments.
// Acks go through ring, which the handlers set up by the caller fill.
type closedLoop struct {
	acks    atomic.Int64
	fail    atomic.Int64
	lat     hist
	tokens  []chan struct{}
	rings   []*ackRing
	base    time.Time
	sampled []int64 // acks per second
}

func newClosedLoop(n, inflight int) *closedLoop {
	cl := &closedLoop{tokens: make([]chan struct{}, n), rings: make([]*ackRing, n), base: time.Now()}
	for i := range cl.tokens {
		cl.tokens[i] = make(chan struct{}, inflight)
		for range inflight {
			cl.tokens[i] <- struct{}{}
		}
		cl.rings[i] = &ackRing{}
	}
	return cl
}

func (cl *closedLoop) nowNs() int64 { return int64(time.Since(cl.base)) }

// onAck records the ack of client i and releases a token; ok reports whether
// the ack carried a success.
func (cl *closedLoop) onAck(i int, id int64, ok bool) {
	ns, _, found := cl.rings[i].take(id)
	if !found {
		return
	}
	cl.lat.record(time.Duration(cl.nowNs() - ns))
	cl.acks.Add(1)
	if !ok {
		cl.fail.Add(1)
	}
	select {
	case cl.tokens[i] <- struct{}{}:
	default:
	}
}

func (cl *closedLoop) run(ctx context.Context, clients []*client, d time.Duration, mk func(buf []byte, i int, seq int64) []byte) time.Duration {
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	// sample acks per second
	stopSample := make(chan struct{})
	var sw sync.WaitGroup
	sw.Add(1)
	go func() {
		defer sw.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		prev := cl.acks.Load()
		for {
			select {
			case <-t.C:
				cur := cl.acks.Load()
				cl.sampled = append(cl.sampled, cur-prev)
				prev = cur
			case <-stopSample:
				return
			}
		}
	}()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf, args []byte
			var seq int64
			for {
				left := time.Until(end)
				if left <= 0 || ctx.Err() != nil {
					return
				}
				t := time.NewTimer(left)
				select {
				case <-cl.tokens[i]:
					t.Stop()
				case <-t.C:
					return
				case <-c.done:
					t.Stop()
					return
				}
				id := c.nextAck.Add(1)
				args = mk(args[:0], i, seq)
				seq++
				cl.rings[i].put(id, cl.nowNs(), 0)
				var err error
				if buf, err = c.emit(buf, id, args); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSample)
	sw.Wait()
	return elapsed
}

// runEcho measures ack round trips: "echo" with an ack, answered by the
// server with the same arguments.
func runEcho(ctx context.Context, cfg config) (map[string]any, error) {
	n := orDefault(cfg.conns, 100)
	d := orDefault(cfg.duration, 10*time.Second)
	cl := newClosedLoop(n, cfg.inflight)
	log.Printf("echo: %d connections x %d in flight for %s", n, cfg.inflight, d)
	hs := func(i int) handlers {
		return handlers{ack: func(_ *client, id int64, _ []byte) { cl.onAck(i, id, true) }}
	}
	clients, failed, err := connectMany(ctx, cfg.dialCfg(n), n, cfg.dialConc,
		func(i int) string { return fmt.Sprintf(`{"room":"echo-%d"}`, i) }, hs, nil)
	defer closeAll(clients)
	if err != nil {
		return map[string]any{"connectFailed": failed}, fmt.Errorf("connect: %w", err)
	}
	pad := padding(cfg.payload)
	elapsed := cl.run(ctx, clients, d, func(b []byte, i int, seq int64) []byte {
		b = append(b, `["echo",`...)
		b = strconv.AppendInt(b, seq, 10)
		b = append(b, `,"`...)
		b = append(b, pad...)
		return append(b, `"]`...)
	})
	sleepCtx(ctx, 500*time.Millisecond) // let the last acks land
	acks := cl.acks.Load()
	rate := float64(acks) / elapsed.Seconds()
	lat := cl.lat.summary()
	log.Printf("echo: %.0f acks/s, rtt p50 %.2fms p99 %.2fms max %.1fms", rate, lat.P50, lat.P99, lat.Max)
	out := map[string]any{"conns": n, "inflight": cfg.inflight, "acksPerSec": rate, "latency": lat, "perSecond": cl.sampled}
	if rss, err := rssBytes(cfg.serverPID); err == nil {
		out["serverRSS"] = rss
	}
	return out, ctx.Err()
}
