package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// soakConfig is the soak scenario's part of the flags (see bench/README.md,
// "Soak").
type soakConfig struct {
	parley       string   // binary to spawn; empty: -addr, -server-pid and -metrics-addr name a running server
	parleyArgs   []string // extra arguments for the spawned server
	metricsAddr  string
	apiKey       string
	logPath      string
	heapProfile  string        // the server's heap profile after every client left
	sample       time.Duration // one table row per sample
	warmup       time.Duration // zero: a quarter of the run, at most 3 minutes
	interval     time.Duration // mean time between one client's messages
	lifeMin      time.Duration // a connection lives lifeMin..lifeMax, then goes away abruptly
	lifeMax      time.Duration
	awayMin      time.Duration // and comes back after awayMin..awayMax
	awayMax      time.Duration
	pollingShare float64 // share of the clients on long-polling; the rest use WebSocket
	check        bool    // exit non-zero when an assertion fails
	maxGoroutine int     // goroutines allowed above the baseline after every client left
	maxFD        int     // open files allowed above the baseline after every client left
	maxSockets   int     // sockets allowed above the baseline after every client left
	maxRSSGrowth float64 // RSS growth allowed from the end of the warm-up to the run's peak
	maxHeap      int64   // bytes of live heap allowed above the baseline after every client left
	settle       time.Duration
	// recoveryWindow is the server's --recovery-duration (from parleyArgs,
	// else its default).
	recoveryWindow time.Duration
}

// soakRun is the state the soak's clients share.
type soakRun struct {
	cfg   config
	sc    soakConfig
	start time.Time

	lat  atomic.Pointer[hist] // ack latency of the current sample interval
	all  hist                 // ack latency over the run after the warm-up
	warm atomic.Bool

	live        atomic.Int64 // connections up now
	acks        atomic.Int64
	notOK       atomic.Int64
	connects    atomic.Int64 // fresh sessions (new sid), first connects included
	recovered   atomic.Int64 // reconnects that got their session back
	unrecovered atomic.Int64 // reconnects that asked for recovery and got a new sid
	unrecovPoll atomic.Int64 // of which polling clients (the server may not have seen the old session go yet)
	noOffset    atomic.Int64 // reconnects that could not ask (no offset received yet)
	dialErrors  atomic.Int64
	dropped     atomic.Int64 // connections the server ended (not our abrupt close)
	resent      atomic.Int64 // messages sent again after a reconnect (no ack before going away)
	replayed    atomic.Int64 // messages a recovered socket got that were posted while it was away
	dupRecv     atomic.Int64 // a socket got a recorded packet at or below one it had (duplicate or reorder)
	firstErr    atomic.Pointer[string]

	mu     sync.Mutex
	acked  map[string]string        // clientMsgId -> message id
	posted map[uint64]soakDelivered // recovery offset sequence -> message, from every receipt
	prefix string                   // the server's offset prefix
	epochs []*soakEpoch
	codes  map[string]int64 // error codes of not-ok acks
}

func (r *soakRun) notOKCode(code string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codes[code]++
	return r.codes[code]
}

// soakDelivered is a newChatMessage as some client received it.
type soakDelivered struct {
	room, id, sender string
}

// soakEpoch is one socket id's life: from the fresh CONNECT through every
// recovery until a reconnect gets a new sid. In an epoch the socket must
// get, per room, every message posted there by others between the first
// and the last it got, each once, in offset order.
type soakEpoch struct {
	user  string
	rooms map[string]*soakSpan
}

type soakSpan struct {
	lo, hi uint64
	n      int64
}

func (r *soakRun) noteErr(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if r.firstErr.CompareAndSwap(nil, &s) {
		log.Printf("soak: first error: %s", s)
	}
}

// runSoak is the soak scenario: churning clients against one server for
// -duration, a table row per -sample, then the checks (soakcheck.go).
func runSoak(ctx context.Context, cfg config) (map[string]any, error) {
	sc := cfg.soak
	n := orDefault(cfg.conns, 2000)
	d := orDefault(cfg.duration, 30*time.Minute)
	if sc.warmup == 0 {
		sc.warmup = min(d/4, 3*time.Minute)
	}
	var srv *soakServer
	if sc.parley != "" {
		var err error
		if srv, err = startParley(ctx, sc.parley, sc.parleyArgs, sc.logPath); err != nil {
			return nil, err
		}
		defer srv.stop()
		cfg.addr = srv.addr
		log.Printf("soak: parley pid %d on %s, metrics on %s, data in %s", srv.pid, srv.addr, srv.metricsAddr, srv.dataDir)
	} else {
		if cfg.serverPID == 0 || sc.metricsAddr == "" || sc.apiKey == "" {
			return nil, errors.New("loadgen: soak needs -parley, or -server-pid, -metrics-addr and -api-key")
		}
		srv = &soakServer{pid: cfg.serverPID, addr: cfg.addr, metricsAddr: sc.metricsAddr, apiKey: sc.apiKey,
			exited: make(chan struct{}), http: newAPIClient(), api: newAPIClient()}
	}
	r := &soakRun{cfg: cfg, sc: sc, acked: map[string]string{}, codes: map[string]int64{}, posted: map[uint64]soakDelivered{}}
	r.lat.Store(new(hist))
	if err := srv.collect(ctx); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	base, err := srv.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	log.Printf("soak: %d clients (%.0f%% polling), %d rooms, %s (warm-up %s); baseline RSS %.1f MiB, live heap %.1f MiB, %d goroutines, %d fds (%d sockets)",
		n, sc.pollingShare*100, cfg.rooms, d, sc.warmup, mib(base.rss), mib(base.heap), base.goroutines, base.fds, base.sockets)

	wsCfg := cfg.dialCfg(n)
	wsCfg.transport = transportWebsocket
	pollCfg := wsCfg
	pollCfg.transport = transportPolling
	pollCfg.poll = newPollDialer(pollCfg)
	clients := make([]*soakClient, n)
	for i := range clients {
		dc := wsCfg
		if float64(i%100) < sc.pollingShare*100 {
			dc = pollCfg
		}
		clients[i] = newSoakClient(r, i, dc)
	}

	// Clients start spread over the first half of the warm-up and run
	// until stop closes; each then waits for its last ack and leaves.
	r.start = time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		delay := time.Duration(i) * (sc.warmup / 2) / time.Duration(n)
		go func() {
			defer wg.Done()
			if !sleepCtx(ctx, delay) {
				return
			}
			c.loop(ctx, stop)
		}()
	}

	rows, samples := r.sampleUntil(ctx, srv, base, d)
	close(stop)
	wg.Wait()
	pollCfg.poll.closeIdle()
	log.Printf("soak: every client left (%s after the start)", time.Since(r.start).Round(time.Second))

	out := map[string]any{"clients": n, "rooms": cfg.rooms, "durationSec": d.Seconds(), "warmupSec": sc.warmup.Seconds(),
		"pollingShare": sc.pollingShare, "baseline": gaugeJSON(base), "rows": rows}
	res := r.check(ctx, srv, base, samples)
	for k, v := range res.out {
		out[k] = v
	}
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	if len(res.failures) > 0 {
		for _, f := range res.failures {
			log.Printf("soak: FAIL %s", f)
		}
		if sc.check {
			return out, fmt.Errorf("soak: %d checks failed: %s", len(res.failures), res.failures[0])
		}
	} else {
		log.Printf("soak: every check passed")
	}
	return out, nil
}

// sample is one table row.
type sample struct {
	at       time.Duration
	g        gauges
	cpuShare float64
	live     int64
	acks     int64
	lat      latency
	connects int64
	recov    int64
	unrecov  int64
}

func gaugeJSON(g gauges) map[string]any {
	return map[string]any{"rss": g.rss, "fds": g.fds, "sockets": g.sockets, "goroutines": g.goroutines, "heapAlloc": g.heap}
}

// sampleUntil reads the server's gauges every sample interval until d has
// passed, printing a table row each time.
func (r *soakRun) sampleUntil(ctx context.Context, srv *soakServer, base gauges, d time.Duration) ([]map[string]any, []sample) {
	var rows []map[string]any
	var samples []sample
	prev := sample{g: base}
	log.Printf("| min | live conns | RSS MiB | goroutines | fds | server CPU | acks/s | ack p50 ms | ack p99 ms | ack max ms | fresh | recovered | not recovered |")
	log.Printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	next := r.sc.sample
	for {
		wait := min(next, d) - time.Since(r.start)
		if !sleepCtx(ctx, wait) {
			return rows, samples
		}
		if time.Since(r.start) >= r.sc.warmup {
			r.warm.Store(true)
		}
		g, err := srv.read(ctx)
		if err != nil {
			r.noteErr("read gauges: %v", err)
			return rows, samples
		}
		h := r.lat.Swap(new(hist))
		s := sample{at: time.Since(r.start), g: g, live: r.live.Load(), acks: r.acks.Load(), lat: h.summary(),
			connects: r.connects.Load(), recov: r.recovered.Load(), unrecov: r.unrecovered.Load()}
		span := (s.at - prev.at).Seconds()
		s.cpuShare = (g.cpu - prev.g.cpu).Seconds() / span
		log.Printf("| %.1f | %d | %.1f | %d | %d | %.0f %% | %.0f | %.1f | %.1f | %.0f | %d | %d | %d |",
			s.at.Minutes(), s.live, mib(g.rss), g.goroutines, g.fds, s.cpuShare*100, float64(s.acks-prev.acks)/span,
			s.lat.P50, s.lat.P99, s.lat.Max, s.connects-prev.connects, s.recov-prev.recov, s.unrecov-prev.unrecov)
		rows = append(rows, map[string]any{"atSec": s.at.Seconds(), "live": s.live, "rss": g.rss, "goroutines": g.goroutines,
			"fds": g.fds, "cpuShare": s.cpuShare, "acksPerSec": float64(s.acks-prev.acks) / span, "ackLatency": s.lat,
			"fresh": s.connects - prev.connects, "recovered": s.recov - prev.recov, "notRecovered": s.unrecov - prev.unrecov})
		samples = append(samples, s)
		prev = s
		if s.at >= d {
			return rows, samples
		}
		next += r.sc.sample
	}
}

// soakClient is one virtual user: two rooms, one connection at a time.
type soakClient struct {
	r     *soakRun
	i     int
	user  string
	rooms [2]string
	dc    dialConfig
	acks  chan soakAck

	// Written by the read goroutine of the current connection and read
	// by loop after that goroutine ended (c.done), or under mu.
	mu         sync.Mutex
	epoch      *soakEpoch
	lastOffset string
	// awayFrom..awayTo is the last time away: a chat message stored
	// then and received later was replayed by recovery.
	awayFrom, awayTo time.Time

	pid, sid string    // of the session to recover
	recov    bool      // the current connection was recovered
	since    time.Time // the current connection's CONNECT
	seq      int
	pending  []soakMsg // sent and not acked when the connection went away
}

type soakAck struct {
	c    *client
	id   int64
	args []byte
}

type soakMsg struct {
	room, cmid string
}

func newSoakClient(r *soakRun, i int, dc dialConfig) *soakClient {
	a := i % r.cfg.rooms
	b := (a + 1 + (i/r.cfg.rooms)%(r.cfg.rooms-1)) % r.cfg.rooms
	return &soakClient{r: r, i: i, user: fmt.Sprintf("soak%d", i), dc: dc, acks: make(chan soakAck, 16),
		rooms: [2]string{fmt.Sprintf("soak-%d", a), fmt.Sprintf("soak-%d", b)}}
}

func between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}

// loop connects, chats and goes away abruptly, over and over, until stop
// closes; it then waits for its last ack and leaves.
func (sc *soakClient) loop(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := sc.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			sc.r.dialErrors.Add(1)
			sc.r.noteErr("client %d connect: %v", sc.i, err)
			if !sleepCtx(ctx, between(sc.r.sc.awayMin, sc.r.sc.awayMax)) {
				return
			}
			continue
		}
		sc.r.live.Add(1)
		stopping := sc.chat(ctx, c, stop)
		sc.r.live.Add(-1)
		c.close()
		<-c.done
		sc.mu.Lock()
		sc.awayFrom, sc.awayTo = time.Now(), time.Time{}
		sc.mu.Unlock()
		if stopping || ctx.Err() != nil {
			return
		}
		if !sleepCtx(ctx, between(sc.r.sc.awayMin, sc.r.sc.awayMax)) {
			return
		}
	}
}

// connect opens a connection, asking for recovery when it has a session
// and an offset; a fresh session starts a new epoch and joins both rooms.
func (sc *soakClient) connect(ctx context.Context) (*client, error) {
	sc.mu.Lock()
	auth := fmt.Sprintf(`{"userId":%q,"name":"soak user %d"`, sc.user, sc.i)
	asked := sc.pid != "" && sc.lastOffset != ""
	if asked {
		auth += fmt.Sprintf(`,"pid":%q,"offset":%q`, sc.pid, sc.lastOffset)
	} else if sc.pid != "" {
		sc.r.noOffset.Add(1)
	}
	auth += "}"
	if !sc.awayFrom.IsZero() {
		sc.awayTo = time.Now()
	}
	sc.mu.Unlock()
	c, err := dial(ctx, sc.dc, sc.i, auth, handlers{event: sc.onEvent, ack: sc.onAck})
	if err != nil {
		return nil, err
	}
	sc.mu.Lock()
	recovered := asked && c.sid == sc.sid
	if !recovered {
		sc.epoch = &soakEpoch{user: sc.user, rooms: map[string]*soakSpan{}}
		sc.r.addEpoch(sc.epoch)
	}
	sc.sid, sc.pid = c.sid, c.pid
	sc.recov, sc.since = recovered, time.Now()
	sc.mu.Unlock()
	switch {
	case recovered:
		sc.r.recovered.Add(1)
	case asked:
		sc.r.unrecovered.Add(1)
		if sc.dc.transport == transportPolling {
			sc.r.unrecovPoll.Add(1)
		}
		sc.r.connects.Add(1)
	default:
		sc.r.connects.Add(1)
	}
	if !recovered {
		for _, room := range sc.rooms {
			if err := sc.call(ctx, c, fmt.Appendf(nil, `["joinRoom",{"room":%q}]`, room), nil); err != nil {
				c.close()
				<-c.done
				// Recovering this session would give back only the
				// rooms joined so far: start afresh next time.
				sc.mu.Lock()
				sc.pid, sc.sid = "", ""
				sc.mu.Unlock()
				return nil, fmt.Errorf("joinRoom %s: %w", room, err)
			}
		}
	}
	return c, nil
}

// chat resends what went unacked, then posts at random intervals until
// the connection's life ends (false: go away abruptly) or stop closes
// (true: after the last ack).
func (sc *soakClient) chat(ctx context.Context, c *client, stop <-chan struct{}) bool {
	life := time.NewTimer(between(sc.r.sc.lifeMin, sc.r.sc.lifeMax))
	defer life.Stop()
	for len(sc.pending) > 0 {
		sc.r.resent.Add(1)
		if !sc.post(ctx, c, sc.pending[0], life.C) {
			return false
		}
		sc.pending = sc.pending[1:]
	}
	for {
		think := time.NewTimer(time.Duration(rand.ExpFloat64() * float64(sc.r.sc.interval)))
		select {
		case <-think.C:
		case <-life.C:
			think.Stop()
			return false
		case <-stop:
			think.Stop()
			return true
		case <-c.done:
			think.Stop()
			sc.r.dropped.Add(1)
			return false
		case <-ctx.Done():
			think.Stop()
			return true
		}
		sc.seq++
		m := soakMsg{room: sc.rooms[rand.N(2)], cmid: fmt.Sprintf("%s-%d", sc.user, sc.seq)}
		if !sc.post(ctx, c, m, life.C) {
			sc.pending = append(sc.pending, m)
			return false
		}
	}
}

// post sends one chatMessage and waits for its ack; false when the
// connection went away first (the message is then pending).
func (sc *soakClient) post(ctx context.Context, c *client, m soakMsg, away <-chan time.Time) bool {
	args := fmt.Appendf(nil, `["chatMessage",{"room":%q,"content":"soak %s %s","clientMsgId":%q}]`,
		m.room, m.cmid, padding(sc.r.cfg.payload), m.cmid)
	sent := time.Now()
	var res struct {
		OK   bool `json:"ok"`
		Data struct {
			ID          string `json:"id"`
			Room        string `json:"room"`
			ClientMsgID string `json:"clientMsgId"`
		} `json:"data"`
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	err := sc.callUntil(ctx, c, args, &res, away)
	switch {
	case errors.Is(err, errAway):
		return false
	case err != nil:
		sc.r.noteErr("client %d chatMessage: %v", sc.i, err)
		return false
	case !res.OK || res.Data.ClientMsgID != m.cmid || res.Data.Room != m.room || res.Data.ID == "":
		sc.r.notOK.Add(1)
		if sc.r.notOKCode(res.Error.Code) <= 5 {
			log.Printf("soak: client %d (%s, sid %s, recovered %v, connected %s ago) chatMessage %s: %s %s", sc.i, sc.dc.transport,
				sc.sid, sc.recov, time.Since(sc.since).Round(time.Millisecond), m.cmid, res.Error.Code, res.Error.Message)
		}
		sc.r.noteErr("client %d chatMessage %s: ack %+v", sc.i, m.cmid, res)
		return true // not retried: the server refused it
	}
	d := time.Since(sent)
	sc.r.lat.Load().record(d)
	if sc.r.warm.Load() {
		sc.r.all.record(d)
	}
	sc.r.acks.Add(1)
	sc.r.mu.Lock()
	if prev, ok := sc.r.acked[m.cmid]; ok && prev != res.Data.ID {
		sc.r.mu.Unlock()
		sc.r.notOK.Add(1)
		sc.r.noteErr("clientMsgId %s acked as %s and as %s", m.cmid, prev, res.Data.ID)
		return true
	}
	sc.r.acked[m.cmid] = res.Data.ID
	sc.r.mu.Unlock()
	return true
}

var errAway = errors.New("loadgen: connection went away before the ack")

// call emits args with an ack id and decodes the ack's {ok, data} into
// res (nil: only ok is checked).
func (sc *soakClient) call(ctx context.Context, c *client, args []byte, res any) error {
	return sc.callUntil(ctx, c, args, res, nil)
}

func (sc *soakClient) callUntil(ctx context.Context, c *client, args []byte, res any, away <-chan time.Time) error {
	id := c.nextAck.Add(1)
	if _, err := c.emit(nil, id, args); err != nil {
		return errAway
	}
	t := time.NewTimer(sc.r.cfg.dialTimeout)
	defer t.Stop()
	for {
		select {
		case a := <-sc.acks:
			if a.c != c || a.id != id {
				continue // a late ack of an earlier connection or call
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(a.args, &arr); err != nil || len(arr) != 1 {
				return fmt.Errorf("bad ack %s", a.args)
			}
			if res == nil {
				if !bytes.Contains(arr[0], []byte(`"ok":true`)) {
					return fmt.Errorf("refused: %s", arr[0])
				}
				return nil
			}
			return json.Unmarshal(arr[0], res)
		case <-away:
			return errAway
		case <-c.done:
			return errAway
		case <-t.C:
			return fmt.Errorf("no ack in %s", sc.r.cfg.dialTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (sc *soakClient) onAck(c *client, id int64, args []byte) {
	a := soakAck{c: c, id: id, args: bytes.Clone(args)}
	select {
	case sc.acks <- a:
	default: // the loop waits for one ack at a time: a full queue holds stale ones
		sc.r.noteErr("client %d: ack queue full", sc.i)
	}
}

// onEvent records every recorded packet's offset and every chat message.
func (sc *soakClient) onEvent(_ *client, _ int64, args []byte) {
	off, seq, ok := sc.r.offsetOf(args)
	name, rest := eventName(args)
	if !ok {
		if string(name) == "newChatMessage" {
			sc.r.noteErr("client %d: newChatMessage without a recovery offset: %.200s", sc.i, args)
		}
		return
	}
	sc.mu.Lock()
	sc.lastOffset = off
	ep := sc.epoch
	from, to := sc.awayFrom, sc.awayTo
	sc.mu.Unlock()
	if string(name) != "newChatMessage" {
		return
	}
	var m struct {
		ID        string `json:"id"`
		Room      string `json:"room"`
		Timestamp int64  `json:"timestamp"`
		Sender    struct {
			ID string `json:"id"`
		} `json:"sender"`
	}
	if err := json.NewDecoder(bytes.NewReader(rest)).Decode(&m); err != nil {
		sc.r.noteErr("client %d: newChatMessage %.200s: %v", sc.i, args, err)
		return
	}
	if ts := time.UnixMilli(m.Timestamp); !to.IsZero() && ts.After(from) && ts.Before(to) {
		sc.r.replayed.Add(1)
	}
	sc.r.mu.Lock()
	if _, ok := sc.r.posted[seq]; !ok {
		sc.r.posted[seq] = soakDelivered{room: m.Room, id: m.ID, sender: m.Sender.ID}
	}
	sc.r.mu.Unlock()
	if ep == nil || m.Sender.ID == sc.user {
		// Its own message reaches a socket when it was posted from an
		// earlier connection the server had not yet seen go: only the
		// others' messages are checked.
		return
	}
	sc.mu.Lock()
	sp := ep.rooms[m.Room]
	switch {
	case sp == nil:
		ep.rooms[m.Room] = &soakSpan{lo: seq, hi: seq, n: 1}
	case seq <= sp.hi:
		sc.r.dupRecv.Add(1)
		sc.r.noteErr("client %d: offset %d after %d in %s", sc.i, seq, sp.hi, m.Room)
	default:
		sp.hi = seq
		sp.n++
	}
	sc.mu.Unlock()
}

// offsetOf returns the recovery offset that ends a recorded event's
// arguments (",\"PREFIX-SEQ\"]") and its sequence number.
func (r *soakRun) offsetOf(args []byte) (string, uint64, bool) {
	if !bytes.HasSuffix(args, []byte(`"]`)) {
		return "", 0, false
	}
	i := bytes.LastIndex(args, []byte(`,"`))
	if i < 0 {
		return "", 0, false
	}
	off := args[i+2 : len(args)-2]
	j := bytes.LastIndexByte(off, '-')
	if j < 1 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(string(off[j+1:]), 36, 64)
	if err != nil {
		return "", 0, false
	}
	prefix := string(off[:j+1])
	r.mu.Lock()
	if r.prefix == "" {
		r.prefix = prefix
	}
	same := r.prefix == prefix
	r.mu.Unlock()
	return string(off), seq, same
}

// addEpoch keeps an epoch for the end-of-run check.
func (r *soakRun) addEpoch(e *soakEpoch) {
	r.mu.Lock()
	r.epochs = append(r.epochs, e)
	r.mu.Unlock()
}
