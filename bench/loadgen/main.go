// Command loadgen drives Parley's benchmark scenarios against any server that
// speaks the bench contract (Engine.IO v4 / Socket.IO v5 at /socket.io/,
// namespace /chat) or, for the chat scenarios, Parley's /chat contract.
//
// It is its own minimal websocket client on gobwas/ws so that the client side
// costs little CPU and measures the server, not a client library. With
// -transport polling each client does Engine.IO HTTP long-polling instead, on
// net/http (poll.go, bench/POLLING.md); the scenarios do not change. Every
// scenario prints human-readable lines and exactly one "RESULT {json}" line.
// Every loop is bounded by -max-time.
//
//	loadgen -addr 127.0.0.1:3001 -scenario fanout
//	loadgen -addr 127.0.0.1:3001 -scenario fanout -transport polling -receivers 500
//	loadgen -report bench/results/20250101-120000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// config holds every flag; zero values mean "the scenario's default".
type config struct {
	addr        string
	recvAddrs   []string
	transport   string
	scenario    string
	label       string
	receivers   int
	senders     int
	rates       []float64
	rate        float64
	step        time.Duration
	duration    time.Duration
	conns       int
	rooms       int
	roomSenders int
	inflight    int
	payload     int
	serverPID   int
	srcIPs      int
	dialConc    int
	dialTimeout time.Duration
	maxTime     time.Duration
	refine      int
	allSteps    bool
	warmup      time.Duration
	report      string
	cpuProfile  string
	soak        soakConfig
}

func main() {
	log.SetFlags(0)
	var cfg config
	var rates string
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:3001", "server host:port")
	var recvAddrs string
	flag.StringVar(&recvAddrs, "receiver-addrs", "", "fanout/latency over WebSocket: comma-separated servers the receivers are spread over, round robin (a cluster); senders use -addr")
	flag.StringVar(&cfg.transport, "transport", transportWebsocket, "websocket | polling (Engine.IO HTTP long-polling, at most 9500 clients)")
	flag.StringVar(&cfg.scenario, "scenario", "fanout", "fanout | latency | idle | echo | chat | persist | soak")
	flag.StringVar(&cfg.label, "label", "", "server name recorded in the RESULT line")
	flag.IntVar(&cfg.receivers, "receivers", 1000, "fanout/latency/chat: receiving connections in the room")
	flag.IntVar(&cfg.senders, "senders", 0, "fanout/latency/chat: sending connections (default 10; chat 50)")
	flag.StringVar(&rates, "rates", "5,10,20,40,80,160,320,640,1280", "fanout/chat: message rates (msg/s, all senders together) to step through")
	flag.Float64Var(&cfg.rate, "rate", 40, "latency: fixed message rate (msg/s)")
	flag.DurationVar(&cfg.step, "step", 10*time.Second, "fanout/chat: duration of each rate step")
	flag.DurationVar(&cfg.duration, "duration", 0, "latency (20s), echo (10s), persist (10s), soak (30m): measuring time; idle (10s): hold time")
	flag.IntVar(&cfg.conns, "conns", 0, "idle: connections (default 10000); echo: connections (default 100); soak: clients (default 2000)")
	flag.IntVar(&cfg.rooms, "rooms", 100, "persist, soak: rooms")
	flag.IntVar(&cfg.roomSenders, "room-senders", 10, "persist: senders per room")
	flag.BoolVar(&cfg.allSteps, "all-steps", false, "fanout/chat: run every rate even after a step failed (no refinement): CPU and latency at fixed rates")
	flag.IntVar(&cfg.refine, "refine", 2, "fanout/chat: extra bisection steps between the last passing and the first failing rate")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "fanout/latency/chat: unreported warm-up at the first rate")
	flag.IntVar(&cfg.inflight, "inflight", 1, "echo/persist: unacknowledged emits per connection")
	flag.IntVar(&cfg.payload, "payload", 64, "bytes of padding added to each message")
	flag.IntVar(&cfg.serverPID, "server-pid", 0, "server process id, for RSS (idle; reported by every scenario when set)")
	flag.IntVar(&cfg.srcIPs, "src-ips", 0, "spread connections over 127.0.0.1..127.0.0.N (0 = automatic)")
	flag.IntVar(&cfg.dialConc, "dial-concurrency", 64, "connections being set up at once")
	flag.DurationVar(&cfg.dialTimeout, "dial-timeout", 15*time.Second, "timeout for one connection's setup")
	flag.DurationVar(&cfg.maxTime, "max-time", 10*time.Minute, "hard limit for the whole run")
	flag.StringVar(&cfg.report, "report", "", "print the comparison table for a results directory and exit")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the load generator's CPU profile to this file (to see where a LOADGEN-BOUND run spends its time)")
	sc := &cfg.soak
	var parleyArgs string
	flag.StringVar(&sc.parley, "parley", "", "soak: the bin/parley to start (own SQLite data dir in a temp dir, port 0); empty: a running server named by -addr, -server-pid, -metrics-addr and -api-key")
	flag.StringVar(&parleyArgs, "parley-args", "", "soak: more arguments for -parley, space-separated, e.g. '--recovery-duration 30s'")
	flag.StringVar(&sc.metricsAddr, "metrics-addr", "", "soak without -parley: host:port of the server's /metrics")
	flag.StringVar(&sc.apiKey, "api-key", "", "soak without -parley: the server's --api-key (history is read over the HTTP API)")
	flag.StringVar(&sc.logPath, "server-log", "", "soak: write the spawned server's log here")
	flag.StringVar(&sc.heapProfile, "heap-profile", "", "soak: save the server's heap profile here once every client left")
	flag.DurationVar(&sc.sample, "sample", time.Minute, "soak: one table row per this interval")
	flag.DurationVar(&sc.warmup, "soak-warmup", 0, "soak: warm-up before RSS is compared (default a quarter of -duration, at most 3m)")
	flag.DurationVar(&sc.interval, "interval", 10*time.Second, "soak: mean time between one client's messages (exponential)")
	flag.DurationVar(&sc.lifeMin, "life-min", 10*time.Second, "soak: shortest connection life before it goes away abruptly")
	flag.DurationVar(&sc.lifeMax, "life-max", 60*time.Second, "soak: longest connection life")
	flag.DurationVar(&sc.awayMin, "away-min", 200*time.Millisecond, "soak: shortest time away before reconnecting with recovery")
	flag.DurationVar(&sc.awayMax, "away-max", 3*time.Second, "soak: longest time away")
	flag.Float64Var(&sc.pollingShare, "polling-share", 0.5, "soak: share of the clients on long-polling (the rest on WebSocket)")
	flag.BoolVar(&sc.check, "check", false, "soak: exit 1 when a check fails (lost or duplicated message, leak, RSS growth)")
	flag.IntVar(&sc.maxGoroutine, "max-goroutine-excess", 5, "soak: goroutines allowed above the baseline once every client left")
	flag.IntVar(&sc.maxFD, "max-fd-excess", 12, "soak: open files allowed above the baseline once every client left (SQLite's read pool may grow by 3 connections of 3 files)")
	flag.IntVar(&sc.maxSockets, "max-socket-excess", 2, "soak: sockets allowed above the baseline once every client left")
	flag.Float64Var(&sc.maxRSSGrowth, "max-rss-growth", 0.5, "soak: RSS growth allowed from the end of the warm-up to the peak after it (0.5 = 50 %)")
	var maxHeapMiB float64
	flag.Float64Var(&maxHeapMiB, "max-heap-excess", 32, "soak: MiB of live heap (after a forced GC) allowed above the baseline once every client left")
	flag.DurationVar(&sc.settle, "settle", time.Minute, "soak: longest wait for goroutines and fds to come back after the clients left")
	flag.Parse()
	sc.parleyArgs = strings.Fields(parleyArgs)
	sc.recoveryWindow = 2 * time.Minute // bin/parley's default --recovery-duration
	for i, a := range sc.parleyArgs {
		v, ok := strings.CutPrefix(a, "--recovery-duration=")
		if !ok && a == "--recovery-duration" && i+1 < len(sc.parleyArgs) {
			v, ok = sc.parleyArgs[i+1], true
		}
		if d, err := time.ParseDuration(v); ok && err == nil {
			sc.recoveryWindow = max(d, 0)
		}
	}
	sc.maxHeap = int64(maxHeapMiB * (1 << 20))
	maxTimeSet := false
	flag.Visit(func(f *flag.Flag) { maxTimeSet = maxTimeSet || f.Name == "max-time" })
	if cfg.scenario == "soak" && !maxTimeSet {
		cfg.maxTime = orDefault(cfg.duration, 30*time.Minute) + 10*time.Minute
	}
	for _, a := range strings.Split(recvAddrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.recvAddrs = append(cfg.recvAddrs, a)
		}
	}

	if cfg.report != "" {
		if err := printReport(os.Stdout, cfg.report); err != nil {
			log.Fatalf("report: %v", err)
		}
		return
	}
	if cfg.transport != transportWebsocket && cfg.transport != transportPolling {
		log.Fatalf("bad -transport %q (websocket or polling)", cfg.transport)
	}
	for _, f := range strings.Split(rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			log.Fatalf("bad -rates entry %q", f)
		}
		cfg.rates = append(cfg.rates, r)
	}
	raiseNofile()

	ctx, cancel := context.WithTimeout(context.Background(), cfg.maxTime)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	stopProfile := startProfile(cfg.cpuProfile)
	psiStart := cpuPressure()
	res, err := run(ctx, cfg)
	stopProfile()
	if res == nil {
		res = map[string]any{}
	}
	// CPU pressure (share of time runnable tasks waited for a CPU, 10 s
	// average): other work on the machine makes the numbers noisy.
	if psiStart >= 0 {
		end := cpuPressure()
		res["cpuPressure"] = []float64{psiStart, end}
		if max(psiStart, end) > 20 {
			log.Printf("warning: CPU pressure %.0f%% -> %.0f%%: other processes compete for the CPUs; numbers are noisy", psiStart, end)
		}
	}
	res["scenario"] = cfg.scenario
	res["transport"] = cfg.transport
	res["server"] = cfg.label
	res["addr"] = cfg.addr
	if len(cfg.recvAddrs) > 0 {
		res["receiverAddrs"] = cfg.recvAddrs
	}
	if err != nil {
		res["error"] = err.Error()
		log.Printf("error: %v", err)
	}
	b, _ := json.Marshal(res) // map of plain values: cannot fail
	fmt.Printf("RESULT %s\n", b)
	if err != nil {
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) (map[string]any, error) {
	switch cfg.scenario {
	case "fanout":
		return runFanout(ctx, cfg, false)
	case "latency":
		cfg.rates = []float64{cfg.rate}
		cfg.refine = 0
		cfg.step = orDefault(cfg.duration, 20*time.Second)
		return runFanout(ctx, cfg, false)
	case "chat":
		return runFanout(ctx, cfg, true)
	case "idle":
		return runIdle(ctx, cfg)
	case "echo":
		return runEcho(ctx, cfg)
	case "persist":
		return runPersist(ctx, cfg)
	case "soak":
		return runSoak(ctx, cfg)
	}
	return nil, fmt.Errorf("unknown scenario %q", cfg.scenario)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// dialCfg builds the dial settings: source addresses are spread so that no
// single source IP needs more than 20000 ephemeral ports.
func (cfg config) dialCfg(total int) dialConfig {
	n := cfg.srcIPs
	if n == 0 {
		n = (total + 19999) / 20000
	}
	var ips []net.IP
	if n > 1 {
		for i := 1; i <= n; i++ {
			ips = append(ips, net.IPv4(127, 0, 0, byte(i)))
		}
	}
	dc := dialConfig{
		addr:      cfg.addr,
		recvAddrs: cfg.recvAddrs,
		recvCount: cfg.receivers,
		srcIPs:    ips,
		timeout:   cfg.dialTimeout,
		deadline:  time.Now().Add(cfg.maxTime + 5*time.Second),
		transport: cfg.transport,
	}
	if dc.transport == transportPolling {
		dc.poll = newPollDialer(dc)
	}
	return dc
}

// connectMany opens n clients with at most conc setups in flight. setup runs
// after the namespace connect (e.g. joinRoom); a nil slot means that client
// failed. It returns the clients and the first error seen.
func connectMany(ctx context.Context, dc dialConfig, n, conc int, auth func(i int) string,
	h func(i int) handlers, setup func(c *client) error) ([]*client, int, error) {
	clients := make([]*client, n)
	if dc.transport == transportPolling && n > maxPollingClients {
		return clients, n, errTooManyPolling
	}
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	started := time.Now()
	for w := 0; w < conc && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dial(ctx, dc, i, auth(i), h(i))
				if err == nil && setup != nil {
					if err = setup(c); err != nil {
						c.close()
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	f := int(failed.Load())
	log.Printf("connected %d/%d in %.1fs", n-f, n, time.Since(started).Seconds())
	if p := firstErr.Load(); p != nil {
		return clients, f, *p
	}
	return clients, f, ctx.Err()
}

func closeAll(clients []*client) {
	for _, c := range clients {
		if c != nil {
			c.close()
		}
	}
	for _, c := range clients {
		if c != nil {
			select {
			case <-c.done:
			case <-time.After(2 * time.Second):
			}
		}
	}
}

func countAlive(clients []*client) int {
	n := 0
	for _, c := range clients {
		if c != nil && c.alive() {
			n++
		}
	}
	return n
}

var errNoPID = errors.New("loadgen: no -server-pid")

// rssBytes reads VmRSS of pid from /proc.
func rssBytes(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errNoPID
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// padding returns n bytes of JSON-safe filler.
func padding(n int) string { return strings.Repeat("x", n) }

// sleepCtx sleeps for d or until ctx ends; it reports whether ctx is alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// startProfile starts a CPU profile into path (none when empty) and returns
// the function that ends it.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Fatalf("cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatalf("cpuprofile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Printf("cpuprofile: %v", err)
		}
	}
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// serverCPUTime is the user+system CPU time process pid has used, from
// /proc/PID/stat.
func serverCPUTime(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, errNoPID
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from the ')' after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// loadAvg returns the machine's 1-minute load average, or -1 when
// /proc/loadavg cannot be read.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// cpuPressure returns the "some avg10" CPU pressure in percent, or -1 when
// the kernel does not expose it.
func cpuPressure() float64 {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "avg10="); ok {
			p, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return p
		}
	}
	return -1
}
