package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// soakServer is the bin/parley process a soak runs against (spawned by the
// loadgen with -parley), or the address of one started by hand.
type soakServer struct {
	cmd         *exec.Cmd // nil when not spawned
	pid         int
	addr        string // host:port of the Socket.IO listener
	metricsAddr string // host:port of /metrics
	apiKey      string
	dataDir     string // removed by stop when spawned
	logPath     string
	warnings    atomic.Int64 // WARN and ERROR log lines, after the start
	firstWarn   atomic.Pointer[string]
	exited      chan struct{}
	http        *http.Client // /metrics (keep-alive: one connection, in the baseline too)
	api         *http.Client // the HTTP API (idle connections closed before the leak check)
}

var errServerStart = errors.New("loadgen: parley did not start")

// startParley runs bin with a fresh SQLite data directory, both listeners
// on port 0, pprof on and the HTTP API keyed, plus extra arguments; it
// returns once both listen addresses have been logged.
func startParley(ctx context.Context, bin string, extra []string, logPath string) (*soakServer, error) {
	dir, err := os.MkdirTemp("", "parley-soak-")
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key) // crypto/rand never fails on Linux
	s := &soakServer{apiKey: hex.EncodeToString(key), dataDir: dir, logPath: logPath, exited: make(chan struct{}),
		http: newAPIClient(), api: newAPIClient()}
	args := append([]string{"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--pprof",
		"--data-dir", dir, "--api-key", s.apiKey, "--log-level", "info"}, extra...)
	s.cmd = exec.Command(bin, args...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stdout = os.Stderr
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir) // best effort: a temp dir
		return nil, fmt.Errorf("%w: %w", errServerStart, err)
	}
	s.pid = s.cmd.Process.Pid
	var logw io.WriteCloser = nopCloser{io.Discard}
	if logPath != "" {
		if logw, err = os.Create(logPath); err != nil {
			logw = nopCloser{io.Discard}
		}
	}
	ready := make(chan struct{})
	go func() {
		// Owned by the process: ends when its stderr closes.
		defer func() {
			_ = s.cmd.Wait() // how it exited does not matter: the soak's checks do
			_ = logw.Close() // best effort: the log is for reading after the run
			close(s.exited)
		}()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logw, line)
			switch {
			case strings.Contains(line, `msg="parley listening"`):
				s.addr = logField(line, "addr=")
			case strings.Contains(line, `msg="metrics listening"`):
				s.metricsAddr = logField(line, "addr=")
				close(ready)
			case (strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR")) &&
				!strings.Contains(line, "DEV MODE"):
				if s.warnings.Add(1) == 1 {
					s.firstWarn.Store(&line)
				}
			}
		}
	}()
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case <-ready:
		return s, nil
	case <-s.exited:
		_ = os.RemoveAll(dir) // best effort
		return nil, fmt.Errorf("%w: it exited (log: %s)", errServerStart, logPath)
	case <-t.C:
	case <-ctx.Done():
	}
	s.stop()
	return nil, fmt.Errorf("%w: no listen addresses logged in 60s", errServerStart)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// logField returns the value of key (e.g. "addr=") in a slog text line.
func logField(line, key string) string {
	i := strings.Index(line, " "+key)
	if i < 0 {
		return ""
	}
	v := line[i+1+len(key):]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// stop ends a spawned server (SIGTERM, then SIGKILL after 15 s) and removes
// its data directory.
func (s *soakServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = s.cmd.Process.Kill() // best effort after the grace period
		<-s.exited
	}
	_ = os.RemoveAll(s.dataDir) // best effort: a temp dir
}

// gauges is one reading of the server's resources.
type gauges struct {
	rss        int64
	fds        int // open files, sockets included
	sockets    int
	heap       int64 // go_memstats_alloc_bytes
	goroutines int
	cpu        time.Duration
}

// read samples RSS and fds from /proc, goroutines from /metrics.
func (s *soakServer) read(ctx context.Context) (gauges, error) {
	var g gauges
	var err error
	// /metrics first, so that its keep-alive connection is counted in
	// every reading of the fds.
	if g.goroutines, g.heap, err = s.scrape(ctx); err != nil {
		return g, err
	}
	if g.rss, err = rssBytes(s.pid); err != nil {
		return g, err
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid))
	if err != nil {
		return g, err
	}
	g.fds = len(ents)
	for _, e := range ents {
		// A link read fails only when the fd closed meanwhile.
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", s.pid, e.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			g.sockets++
		}
	}
	g.cpu, err = serverCPUTime(s.pid)
	return g, err
}

// scrape reads go_goroutines and go_memstats_alloc_bytes from the
// server's /metrics.
func (s *soakServer) scrape(ctx context.Context) (goroutines int, heap int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.metricsAddr+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != "go_goroutines" && name != "go_memstats_alloc_bytes") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s %q: %w", name, v, err)
		}
		found++
		if name == "go_goroutines" {
			goroutines = int(f)
		} else {
			heap = int64(f)
		}
	}
	if found != 2 {
		return 0, 0, errors.New("loadgen: no go_goroutines or go_memstats_alloc_bytes in /metrics")
	}
	return goroutines, heap, sc.Err()
}

// saveHeapProfile writes the server's heap profile (after a GC) to path.
func (s *soakServer) saveHeapProfile(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.metricsAddr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// collect has the server run a garbage collection (pprof's heap profile
// with gc=1), so that the next reading's heap holds live data only.
func (s *soakServer) collect(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.metricsAddr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("loadgen: /debug/pprof/heap: %s (is --pprof on?)", resp.Status)
	}
	return err
}
