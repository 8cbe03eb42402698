package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"
)

// soakCheck is the outcome of the end-of-run checks: numbers for the RESULT
// line and the failed assertions.
type soakCheck struct {
	out      map[string]any
	failures []string
}

func (k *soakCheck) failf(format string, args ...any) {
	k.failures = append(k.failures, fmt.Sprintf(format, args...))
}

// check runs after every client left: acked messages against the stored
// history, each epoch's receipts against what was posted, goroutines and
// open files against the baseline, RSS after the warm-up.
func (r *soakRun) check(ctx context.Context, srv *soakServer, base gauges, samples []sample) soakCheck {
	k := soakCheck{out: map[string]any{}}
	lat := r.all.summary()
	k.out["ackLatencyAfterWarmup"] = lat
	counters := map[string]int64{
		"acks": r.acks.Load(), "notOK": r.notOK.Load(), "fresh": r.connects.Load(), "recovered": r.recovered.Load(),
		"notRecovered": r.unrecovered.Load(), "notRecoveredPolling": r.unrecovPoll.Load(), "noOffset": r.noOffset.Load(), "dialErrors": r.dialErrors.Load(),
		"droppedByServer": r.dropped.Load(), "resent": r.resent.Load(), "replayed": r.replayed.Load(),
		"duplicateOrReordered": r.dupRecv.Load(), "serverWarnings": srv.warnings.Load(),
	}
	k.out["counters"] = counters
	log.Printf("soak: %d acks (p50 %.1f ms, p99 %.1f ms, max %.0f ms after the warm-up), %d not ok; %d fresh sessions, %d recovered, %d not recovered (%d of them polling), %d without an offset; %d dial errors, %d closed by the server; %d resent, %d replayed on recovery",
		counters["acks"], lat.P50, lat.P99, lat.Max, counters["notOK"], counters["fresh"], counters["recovered"],
		counters["notRecovered"], counters["notRecoveredPolling"], counters["noOffset"], counters["dialErrors"], counters["droppedByServer"],
		counters["resent"], counters["replayed"])
	if p := srv.firstWarn.Load(); p != nil {
		log.Printf("soak: %d server warnings; the first: %s", counters["serverWarnings"], *p)
	}
	if p := r.firstErr.Load(); p != nil {
		k.out["firstClientError"] = *p
	}
	if counters["acks"] == 0 || counters["recovered"] == 0 || counters["replayed"] == 0 {
		k.failf("the soak did too little: %d acks, %d recoveries, %d replayed messages", counters["acks"], counters["recovered"], counters["replayed"])
	}
	if counters["notOK"] > 0 {
		r.mu.Lock()
		k.out["notOKCodes"] = maps.Clone(r.codes)
		r.mu.Unlock()
		k.failf("%d chatMessage acks were not ok (codes %v; first client error: %v)", counters["notOK"], k.out["notOKCodes"], k.out["firstClientError"])
	}
	if counters["duplicateOrReordered"] > 0 {
		k.failf("%d recorded packets arrived twice or out of offset order", counters["duplicateOrReordered"])
	}

	r.checkHistory(ctx, srv, &k)
	r.checkEpochs(&k)
	r.checkLeaks(ctx, srv, base, &k)
	r.checkRSS(samples, &k)
	return k
}

// checkHistory pages through every room's stored history over the HTTP API:
// each acked message must be there exactly once, under its clientMsgId.
func (r *soakRun) checkHistory(ctx context.Context, srv *soakServer, k *soakCheck) {
	byID := map[string]int{}
	byCMID := map[string]int{}
	stored := 0
	for i := range r.cfg.rooms {
		room := fmt.Sprintf("soak-%d", i)
		before := ""
		for {
			q := url.Values{"limit": {"200"}}
			if before != "" {
				q.Set("before", before)
			}
			var page struct {
				Messages []struct {
					ID          string `json:"id"`
					Room        string `json:"room"`
					ClientMsgID string `json:"clientMsgId"`
				} `json:"messages"`
				HasMore bool `json:"hasMore"`
			}
			if err := srv.getJSON(ctx, "/api/rooms/"+room+"/messages?"+q.Encode(), &page); err != nil {
				k.failf("history of %s: %v", room, err)
				return
			}
			for _, m := range page.Messages {
				byID[m.ID]++
				if m.ClientMsgID != "" {
					byCMID[m.Room+" "+m.ClientMsgID]++
				}
				stored++
			}
			if !page.HasMore || len(page.Messages) == 0 {
				break
			}
			before = page.Messages[0].ID // oldest first
		}
	}
	srv.api.CloseIdleConnections()
	r.mu.Lock()
	defer r.mu.Unlock()
	lost, dup := 0, 0
	var firstLost string
	delivered := map[string]bool{}
	for _, d := range r.posted {
		delivered[d.id] = true
	}
	undelivered := 0
	for cmid, id := range r.acked {
		switch byID[id] {
		case 0:
			lost++
			if firstLost == "" {
				firstLost = cmid + " = " + id
			}
		case 1:
		default:
			dup++
		}
		if !delivered[id] {
			undelivered++
		}
	}
	for _, n := range byCMID {
		if n > 1 {
			dup++
		}
	}
	k.out["history"] = map[string]any{"stored": stored, "acked": len(r.acked), "lost": lost, "duplicates": dup,
		"ackedNeverDelivered": undelivered}
	log.Printf("soak: history: %d messages stored, %d acked; %d acked messages missing, %d stored twice; %d acked messages nobody received (a room with no other member online)",
		stored, len(r.acked), lost, dup, undelivered)
	if lost > 0 {
		k.failf("%d acked messages are not in the history (first: %s)", lost, firstLost)
	}
	if dup > 0 {
		k.failf("%d messages are stored more than once", dup)
	}
}

// checkEpochs: in each epoch (a socket id's life across recoveries) a
// socket must have every message others posted to its room between the
// first and the last it got there. Messages are known by their recovery
// offsets, from the receipts of all clients together.
func (r *soakRun) checkEpochs(k *soakCheck) {
	r.mu.Lock()
	defer r.mu.Unlock()
	type post struct {
		seq    uint64
		sender string
	}
	byRoom := map[string][]post{}
	for seq, d := range r.posted {
		byRoom[d.room] = append(byRoom[d.room], post{seq, d.sender})
	}
	for _, ps := range byRoom {
		slices.SortFunc(ps, func(a, b post) int { return cmp.Compare(a.seq, b.seq) })
	}
	missing, spans := int64(0), 0
	var first string
	for _, e := range r.epochs {
		for room, sp := range e.rooms {
			spans++
			ps := byRoom[room]
			i := sort.Search(len(ps), func(i int) bool { return ps[i].seq >= sp.lo })
			var want int64
			for ; i < len(ps) && ps[i].seq <= sp.hi; i++ {
				if ps[i].sender != e.user {
					want++
				}
			}
			if want != sp.n {
				missing += want - sp.n
				if first == "" {
					first = fmt.Sprintf("%s in %s: %d of %d messages between offsets %d and %d", e.user, room, sp.n, want, sp.lo, sp.hi)
				}
			}
		}
	}
	k.out["epochs"] = map[string]any{"epochs": len(r.epochs), "roomSpans": spans, "missed": missing}
	log.Printf("soak: %d epochs (socket ids), %d room spans checked against %d delivered messages: %d missed", len(r.epochs), spans, len(r.posted), missing)
	if missing != 0 {
		k.failf("sockets missed %d messages within their epochs (first: %s)", missing, first)
	}
}

// checkLeaks waits (up to -settle) for goroutines, open files and the live
// heap to come back within the bounds of the baseline after every client
// left. The recovery store keeps the sessions and packets of its window
// and prunes them on its next use, so the check first waits out the window
// and has one client connect and go (the prune).
func (r *soakRun) checkLeaks(ctx context.Context, srv *soakServer, base gauges, k *soakCheck) {
	log.Printf("soak: waiting out the recovery window (%s), then one connection to prune it", r.sc.recoveryWindow)
	if !sleepCtx(ctx, r.sc.recoveryWindow+time.Second) {
		return
	}
	dc := r.cfg.dialCfg(1)
	dc.transport = transportWebsocket
	c, err := dial(ctx, dc, 0, `{"userId":"soak-prune","name":"prune"}`, handlers{})
	if err != nil {
		k.failf("the prune connection: %v", err)
		return
	}
	c.close()
	<-c.done
	deadline := time.Now().Add(r.sc.settle)
	var g gauges
	for {
		if err = srv.collect(ctx); err != nil {
			k.failf("garbage collection after the run: %v", err)
			return
		}
		if g, err = srv.read(ctx); err != nil {
			k.failf("read gauges after the run: %v", err)
			return
		}
		ok := g.goroutines <= base.goroutines+r.sc.maxGoroutine && g.fds <= base.fds+r.sc.maxFD &&
			g.sockets <= base.sockets+r.sc.maxSockets && g.heap <= base.heap+r.sc.maxHeap
		if ok || time.Now().After(deadline) || !sleepCtx(ctx, 250*time.Millisecond) {
			break
		}
	}
	k.out["final"] = gaugeJSON(g)
	if r.sc.heapProfile != "" {
		if err := srv.saveHeapProfile(ctx, r.sc.heapProfile); err != nil {
			log.Printf("soak: heap profile: %v", err)
		}
	}
	log.Printf("soak: after every client left: %d goroutines (baseline %d, +%d allowed), %d fds (baseline %d, +%d allowed), %d of them sockets (baseline %d, +%d allowed), live heap %.1f MiB (baseline %.1f, +%.0f allowed), RSS %.1f MiB",
		g.goroutines, base.goroutines, r.sc.maxGoroutine, g.fds, base.fds, r.sc.maxFD, g.sockets, base.sockets, r.sc.maxSockets,
		mib(g.heap), mib(base.heap), mib(r.sc.maxHeap), mib(g.rss))
	if g.goroutines > base.goroutines+r.sc.maxGoroutine {
		k.failf("goroutines did not come back: %d, baseline %d", g.goroutines, base.goroutines)
	}
	if g.fds > base.fds+r.sc.maxFD {
		k.failf("open files did not come back: %d, baseline %d", g.fds, base.fds)
	}
	if g.heap > base.heap+r.sc.maxHeap {
		k.failf("the live heap did not come back: %.1f MiB, baseline %.1f MiB", mib(g.heap), mib(base.heap))
	}
	if g.sockets > base.sockets+r.sc.maxSockets {
		k.failf("sockets did not come back: %d, baseline %d", g.sockets, base.sockets)
	}
}

// checkRSS compares the peak RSS after the warm-up with RSS at its end.
func (r *soakRun) checkRSS(samples []sample, k *soakCheck) {
	var warm, peak int64
	for _, s := range samples {
		if s.at < r.sc.warmup {
			continue
		}
		if warm == 0 {
			warm = s.g.rss
		}
		peak = max(peak, s.g.rss)
	}
	if warm == 0 {
		k.failf("no sample after the warm-up")
		return
	}
	growth := float64(peak-warm) / float64(warm)
	k.out["rss"] = map[string]any{"afterWarmup": warm, "peak": peak, "growth": growth}
	log.Printf("soak: RSS %.1f MiB after the warm-up, peak %.1f MiB after it (%+.0f %%, %.0f %% allowed)",
		mib(warm), mib(peak), growth*100, r.sc.maxRSSGrowth*100)
	if growth > r.sc.maxRSSGrowth {
		k.failf("RSS grew %.0f %% after the warm-up (%.1f -> %.1f MiB)", growth*100, mib(warm), mib(peak))
	}
}

// getJSON GETs path from the server's HTTP API with its key.
func (s *soakServer) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	resp, err := s.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func newAPIClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
}
