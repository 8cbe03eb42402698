package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Pass criteria for one rate step.
const (
	minAchieved = 0.95
	maxP99Ms    = 500.0
)

// stepStats collects one rate step. Messages carry their step index, so late
// deliveries are still counted against the step that sent them.
type stepStats struct {
	rate     float64 // msg/s, all senders together
	startNs  int64   // since base
	sent     atomic.Int64
	recv     atomic.Int64
	reorder  atomic.Int64
	lastRecv atomic.Int64 // ns since base
	lat      hist
	acks     atomic.Int64 // chat: acks received
	ackFail  atomic.Int64 // chat: acks without "ok":true
	ackLat   hist
}

// receiver is the per-connection state of a receiving client; only its read
// goroutine writes it.
type receiver struct {
	last   []int64        // last seq seen per sender
	counts []atomic.Int64 // messages received per step
}

// ackRing maps outstanding ack ids to send times without locks.
type ackRing struct {
	id [4096]atomic.Int64
	ns [4096]atomic.Int64
	st [4096]atomic.Int32
}

func (r *ackRing) put(id, ns int64, step int) {
	i := id & 4095
	r.ns[i].Store(ns)
	r.st[i].Store(int32(step))
	r.id[i].Store(id)
}

func (r *ackRing) take(id int64) (ns int64, step int, ok bool) {
	i := id & 4095
	if r.id[i].Load() != id {
		return 0, 0, false
	}
	return r.ns[i].Load(), int(r.st[i].Load()), true
}

type stepResult struct {
	Rate         float64 `json:"rateMsgs"`
	Target       float64 `json:"targetDeliveries"`
	Achieved     float64 `json:"achievedDeliveries"`
	Sent         int64   `json:"sent"`
	Expected     int64   `json:"expected"`
	Received     int64   `json:"received"`
	Loss         int64   `json:"loss"`
	ShortRecv    int     `json:"receiversMissing"`
	Reorder      int64   `json:"reorder"`
	Latency      latency `json:"latency"`
	AckLatency   latency `json:"ackLatency,omitzero"`
	AckFail      int64   `json:"ackFail,omitempty"`
	Disconnected int     `json:"disconnected"`
	LoadgenCPU   float64 `json:"loadgenCPU"`          // share of one core the load generator used
	ServerCPU    float64 `json:"serverCPU,omitempty"` // share of one core the server used (with -server-pid)
	// ServerCPUPerDelivery is the server's CPU time over the step (sending,
	// receiving, everything) divided by the deliveries, in microseconds.
	ServerCPUPerDelivery float64 `json:"serverCPUusPerDelivery,omitempty"`
	LoadAvg              float64 `json:"loadAvg1"` // the machine's 1-minute load average at the step's end
	Pass                 bool    `json:"pass"`
	FailureReason        string  `json:"failure,omitempty"`
}

// runFanout runs the fanout, latency and chat scenarios: receivers and senders
// share one room; senders emit at each rate of cfg.rates in turn.
func runFanout(ctx context.Context, cfg config, chat bool) (map[string]any, error) {
	S := orDefault(cfg.senders, 10)
	if chat {
		S = orDefault(cfg.senders, 50)
	}
	R := cfg.receivers
	base := time.Now()
	nowNs := func() int64 { return int64(time.Since(base)) }
	// Step slots: the planned rates plus up to cfg.refine bisection steps
	// between the last passing and the first failing rate.
	// Slot 0 is an unreported warm-up at the first rate (JIT, GC, buffers).
	steps := make([]*stepStats, 1+len(cfg.rates)+cfg.refine)
	for i := range steps {
		steps[i] = &stepStats{}
	}
	recvs := make([]*receiver, R)
	for i := range recvs {
		rv := &receiver{last: make([]int64, S), counts: make([]atomic.Int64, len(steps))}
		for j := range rv.last {
			rv.last[j] = -1
		}
		recvs[i] = rv
	}
	rings := make([]*ackRing, S)
	for i := range rings {
		rings[i] = &ackRing{}
	}
	evName := []byte("message")
	if chat {
		evName = []byte("newChatMessage")
	}
	marker := []byte("bm:")

	// onDelivery parses step, sender, seq and send time from a delivery.
	onDelivery := func(rv *receiver, args []byte) {
		name, rest := eventName(args)
		if !bytes.Equal(name, evName) {
			return
		}
		if chat {
			k := bytes.Index(rest, marker)
			if k < 0 {
				return
			}
			rest = rest[k+len(marker):]
		}
		step, rest, ok1 := nextNum(rest)
		sender, rest, ok2 := nextNum(rest)
		seq, rest, ok3 := nextNum(rest)
		ts, _, ok4 := nextNum(rest)
		if !ok1 || !ok2 || !ok3 || !ok4 || step < 0 || int(step) >= len(steps) || sender < 0 || int(sender) >= S {
			return
		}
		now := nowNs()
		st := steps[step]
		st.recv.Add(1)
		st.lat.record(time.Duration(now - ts))
		for {
			l := st.lastRecv.Load()
			if now <= l || st.lastRecv.CompareAndSwap(l, now) {
				break
			}
		}
		if seq <= rv.last[sender] {
			st.reorder.Add(1)
		} else {
			rv.last[sender] = seq
		}
		rv.counts[step].Add(1)
	}

	onAck := func(si int) func(c *client, id int64, args []byte) {
		return func(c *client, id int64, args []byte) {
			ns, step, ok := rings[si].take(id)
			if !ok || step < 0 || step >= len(steps) {
				return
			}
			st := steps[step]
			st.acks.Add(1)
			st.ackLat.record(time.Duration(nowNs() - ns))
			if !bytes.Contains(args, []byte(`"ok":true`)) {
				st.ackFail.Add(1)
			}
		}
	}

	total := R + S
	dc := cfg.dialCfg(total)
	auth := func(i int) string {
		if chat {
			return fmt.Sprintf(`{"userId":"u%d","name":"user %d"}`, i, i)
		}
		return `{"room":"r"}`
	}
	hs := func(i int) handlers {
		if i < R {
			rv := recvs[i]
			return handlers{
				event: func(_ *client, _ int64, args []byte) { onDelivery(rv, args) },
				ack:   joinAck,
			}
		}
		si := i - R
		ack := onAck(si)
		return handlers{ack: func(c *client, id int64, args []byte) {
			if id == 0 {
				joinAck(c, id, args)
				return
			}
			ack(c, id, args)
		}}
	}
	var setup func(c *client) error
	if chat {
		setup = func(c *client) error { return joinRoom(ctx, c, "r", cfg.dialTimeout) }
	}
	log.Printf("%s: %d receivers + %d senders, steps %v msg/s x %s", cfg.scenario, R, S, cfg.rates, cfg.step)
	// Receivers first, so that every sender's first message finds them all.
	clients, failed, err := connectMany(ctx, dc, total, cfg.dialConc, auth, hs, setup)
	defer closeAll(clients)
	if err != nil {
		return map[string]any{"connectFailed": failed}, fmt.Errorf("connect: %w", err)
	}
	senders := clients[R:]
	seqs := make([]int64, S)
	pad := padding(cfg.payload)
	if !sleepCtx(ctx, time.Second) { // let joins settle
		return nil, ctx.Err()
	}

	var results []stepResult
	var best *stepResult
	var fail *stepResult
	if cfg.warmup > 0 {
		steps[0].rate = cfg.rates[0]
		log.Printf("warm-up: %.0f msg/s for %s (not reported)", cfg.rates[0], cfg.warmup)
		runStep(ctx, cfg, chat, 0, steps[0], cfg.warmup, senders, seqs, rings, recvs, nowNs, pad)
		if !sleepCtx(ctx, time.Second) {
			return nil, ctx.Err()
		}
	}
	runOne := func(si int, rate float64) stepResult {
		st := steps[si]
		st.rate = rate
		res := runStep(ctx, cfg, chat, si, st, cfg.step, senders, seqs, rings, recvs, nowNs, pad)
		res.Disconnected = len(clients) - countAlive(clients)
		if res.Disconnected > 0 && res.Pass {
			res.Pass = false
			res.FailureReason = fmt.Sprintf("%d clients disconnected", res.Disconnected)
		}
		verdict := "PASS"
		if !res.Pass {
			verdict = "FAIL (" + res.FailureReason + ")"
		}
		line := fmt.Sprintf("step %2d: %6.0f msg/s  target %8.0f del/s  achieved %8.0f del/s (%5.1f%%)  loss %d  reorder %d  p50 %.1fms  p99 %.1fms  max %.1fms",
			si-1, res.Rate, res.Target, res.Achieved, 100*res.Achieved/res.Target, res.Loss, res.Reorder, res.Latency.P50, res.Latency.P99, res.Latency.Max)
		if chat {
			line += fmt.Sprintf("  ack p50 %.1fms p99 %.1fms fail %d", res.AckLatency.P50, res.AckLatency.P99, res.AckFail)
		}
		line += fmt.Sprintf("  loadgen cpu %.0f%%", 100*res.LoadgenCPU)
		if res.LoadgenCPU > 0.9 {
			line += " (LOADGEN-BOUND)"
		}
		if res.ServerCPU > 0 {
			line += fmt.Sprintf("  server cpu %.1f%% (%.2fµs/del)", 100*res.ServerCPU, res.ServerCPUPerDelivery)
		}
		line += fmt.Sprintf("  load %.1f", res.LoadAvg)
		log.Printf("%s  %s", line, verdict)
		if !res.Pass {
			// Let a backlog drain before anything else runs: wait until the
			// step's deliveries stop growing (bounded).
			quietUntil := time.Now().Add(15 * time.Second)
			prev := st.recv.Load()
			for time.Now().Before(quietUntil) && sleepCtx(ctx, time.Second) {
				cur := st.recv.Load()
				if cur == prev {
					break
				}
				prev = cur
			}
		}
		return res
	}
	si := 1
	for _, rate := range cfg.rates {
		res := runOne(si, rate)
		si++
		results = append(results, res)
		if !res.Pass {
			if fail == nil {
				fail = &results[len(results)-1]
			}
			if !cfg.allSteps {
				break
			}
		} else if fail == nil {
			best = &results[len(results)-1]
		}
		if ctx.Err() != nil || !sleepCtx(ctx, time.Second) {
			break
		}
	}
	// Refine: geometric bisection between the last pass and the first failure.
	for r := 0; r < cfg.refine && !cfg.allSteps && best != nil && fail != nil && fail.Disconnected == 0 && ctx.Err() == nil; r++ {
		rate := math.Round(math.Sqrt(best.Rate * fail.Rate))
		if rate <= best.Rate || rate >= fail.Rate {
			break
		}
		log.Printf("refine: between %.0f and %.0f msg/s", best.Rate, fail.Rate)
		res := runOne(si, rate)
		si++
		results = append(results, res)
		if res.Pass {
			best = &results[len(results)-1]
		} else {
			fail = &results[len(results)-1]
		}
		if !sleepCtx(ctx, time.Second) {
			break
		}
	}
	out := map[string]any{
		"receivers": R,
		"senders":   S,
		"stepSec":   cfg.step.Seconds(),
		"payload":   cfg.payload,
		"steps":     results,
	}
	if best != nil {
		out["maxSustainedDeliveries"] = best.Achieved
		out["maxSustainedRate"] = best.Rate
		out["maxSustainedP99Ms"] = best.Latency.P99
		log.Printf("max sustained: %.0f deliveries/s (%.0f msg/s x %d receivers), p99 %.1fms",
			best.Achieved, best.Rate, R, best.Latency.P99)
	} else {
		out["maxSustainedDeliveries"] = 0.0
		log.Printf("max sustained: none (first step failed)")
	}
	out["saturated"] = fail != nil
	if fail == nil && best != nil {
		log.Printf("note: every step passed; raise -rates to find the limit")
	}
	if rss, err := rssBytes(cfg.serverPID); err == nil {
		out["serverRSS"] = rss
	}
	return out, ctx.Err()
}

// runStep sends at st.rate for dur, drains, and judges the step.
func runStep(ctx context.Context, cfg config, chat bool, si int, st *stepStats, dur time.Duration, senders []*client,
	seqs []int64, rings []*ackRing, recvs []*receiver, nowNs func() int64, pad string) stepResult {
	S := len(senders)
	R := len(recvs)
	perSender := st.rate / float64(S)
	st.startNs = nowNs()
	cpu0 := cpuTime()
	scpu0, scpuErr := serverCPUTime(cfg.serverPID)
	var wg sync.WaitGroup
	for i, c := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			phase := float64(i) / float64(S)
			sendLoop(ctx, dur, chat, si, i, phase, st, c, &seqs[i], rings[i], perSender, nowNs, pad)
		}()
	}
	wg.Wait()
	sendEnd := nowNs()
	sent := st.sent.Load()
	expected := sent * int64(R)
	drain := max(3*time.Second, dur/2)
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if st.recv.Load() >= expected && (!chat || st.acks.Load() >= sent) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	recv := st.recv.Load()
	short := 0
	for _, rv := range recvs {
		if rv.counts[si].Load() < sent {
			short++
		}
	}
	window := float64(max(st.lastRecv.Load(), sendEnd)-st.startNs) / 1e9
	window = max(window, dur.Seconds())
	elapsed := float64(nowNs()-st.startNs) / 1e9
	res := stepResult{
		LoadgenCPU: (cpuTime() - cpu0).Seconds() / elapsed,
		Rate:       st.rate,
		Target:     st.rate * float64(R),
		Achieved:   float64(recv) / window,
		Sent:       sent,
		Expected:   expected,
		Received:   recv,
		Loss:       max(expected-recv, 0),
		ShortRecv:  short,
		Reorder:    st.reorder.Load(),
		Latency:    st.lat.summary(),
	}
	if scpu1, err := serverCPUTime(cfg.serverPID); err == nil && scpuErr == nil {
		res.ServerCPU = (scpu1 - scpu0).Seconds() / elapsed
		if recv > 0 {
			res.ServerCPUPerDelivery = float64((scpu1 - scpu0).Nanoseconds()) / 1e3 / float64(recv)
		}
	}
	res.LoadAvg = loadAvg()
	if chat {
		res.AckLatency = st.ackLat.summary()
		res.AckFail = st.ackFail.Load() + max(sent-st.acks.Load(), 0)
	}
	res.Pass = true
	switch {
	case res.Loss > 0:
		res.FailureReason = fmt.Sprintf("loss %d", res.Loss)
	case res.Achieved < minAchieved*res.Target:
		res.FailureReason = fmt.Sprintf("achieved %.0f%% of target", 100*res.Achieved/res.Target)
	case res.Latency.P99 > maxP99Ms:
		res.FailureReason = fmt.Sprintf("p99 %.0fms > %.0fms", res.Latency.P99, maxP99Ms)
	case chat && res.AckFail > 0:
		res.FailureReason = fmt.Sprintf("%d acks failed or missing", res.AckFail)
	default:
		return res
	}
	res.Pass = false
	return res
}

// sendLoop emits at rate msg/s for dur on one sender, catching up in
// bursts when it falls behind (so a slow server shows as lower achieved rate).
// Message k is due at (k+phase)/rate; phase in [0,1) staggers the senders so
// that together they send rate×dur messages evenly spread.
func sendLoop(ctx context.Context, dur time.Duration, chat bool, step, sender int, phase float64, st *stepStats, c *client,
	seq *int64, ring *ackRing, rate float64, nowNs func() int64, pad string) {
	start := time.Now()
	end := start.Add(dur)
	var buf, args []byte
	var n int64
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		due := int64(math.Floor(now.Sub(start).Seconds()*rate-phase)) + 1
		for n < due && ctx.Err() == nil && time.Now().Before(end) {
			ts := nowNs()
			args = args[:0]
			var id int64 = -1
			if chat {
				id = c.nextAck.Add(1)
				tag := fmt.Appendf(nil, "bm:%d:%d:%d:%d", step, sender, *seq, ts)
				args = append(args, `["chatMessage",{"room":"r","content":"`...)
				args = append(args, tag...)
				args = append(args, ' ')
				args = append(args, pad...)
				args = append(args, `","clientMsgId":"`...)
				args = append(args, tag...)
				args = append(args, `"}]`...)
				ring.put(id, ts, step)
			} else {
				args = append(args, `["message",`...)
				args = strconv.AppendInt(args, int64(step), 10)
				args = append(args, ',')
				args = strconv.AppendInt(args, int64(sender), 10)
				args = append(args, ',')
				args = strconv.AppendInt(args, *seq, 10)
				args = append(args, ',')
				args = strconv.AppendInt(args, ts, 10)
				args = append(args, `,"`...)
				args = append(args, pad...)
				args = append(args, `"]`...)
			}
			var err error
			buf, err = c.emit(buf, id, args)
			if err != nil {
				return
			}
			*seq++
			n++
			st.sent.Add(1)
		}
		next := start.Add(time.Duration((float64(n) + phase) / rate * 1e9))
		if d := time.Until(next); d > 0 {
			if d > 50*time.Millisecond {
				d = 50 * time.Millisecond
			}
			time.Sleep(d)
		}
	}
}

// joinAck completes a pending joinRoom (ack id 0) started by joinRoom.
func joinAck(c *client, id int64, args []byte) {
	if id != 0 {
		return
	}
	select {
	case c.joinCh <- bytes.Contains(args, []byte(`"ok":true`)):
	default:
	}
}

// joinRoom emits joinRoom with ack id 0 and waits for an ok ack.
func joinRoom(ctx context.Context, c *client, room string, timeout time.Duration) error {
	c.nextAck.Store(0)
	if _, err := c.emit(nil, 0, fmt.Appendf(nil, `["joinRoom",{"room":%q}]`, room)); err != nil {
		return fmt.Errorf("joinRoom: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ok := <-c.joinCh:
		if !ok {
			return fmt.Errorf("joinRoom %q refused", room)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("joinRoom: %w", c.lastErr())
	case <-t.C:
		return fmt.Errorf("joinRoom %q: no ack in %s", room, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
