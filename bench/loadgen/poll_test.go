package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/socketio"
)

func TestSplitPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"empty", "", nil},
		{"one", "42/chat,[\"message\",1]", []string{"42/chat,[\"message\",1]"}},
		{"ping and events", "2\x1e42/chat,[\"a\"]\x1e42/chat,[\"b\"]", []string{"2", "42/chat,[\"a\"]", "42/chat,[\"b\"]"}},
		{"empty record kept", "4a\x1e\x1e4b", []string{"4a", "", "4b"}},
		{"commas are not separators", "42/chat,[\"a,b\"]\x1e6", []string{"42/chat,[\"a,b\"]", "6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			err := splitPayload([]byte(tt.body), func(p []byte) error {
				got = append(got, string(p))
				return nil
			})
			if err != nil {
				t.Fatalf("splitPayload: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("splitPayload(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestSplitPayloadStopsAtError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	n := 0
	err := splitPayload([]byte("1\x1e4a\x1e4b"), func(p []byte) error {
		n++
		if string(p) == "1" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("got err %v after %d packets, want %v after 1", err, n, stop)
	}
}

func TestOutQueueTake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		push []string
		max  int
		want []string // successive POST bodies until the queue is empty
	}{
		{"empty", nil, 0, nil},
		{"one", []string{"40/chat,{}"}, 0, []string{"40/chat,{}"}},
		{"joined", []string{"3", "42/chat,[1]", "42/chat,[2]"}, 0, []string{"3\x1e42/chat,[1]\x1e42/chat,[2]"}},
		{"fits exactly", []string{"aaaa", "bbbb"}, 9, []string{"aaaa\x1ebbbb"}},
		{"split at max", []string{"aaaa", "bbbb", "cccc"}, 9, []string{"aaaa\x1ebbbb", "cccc"}},
		{"oversize packet alone", []string{"aaaaaaaaaaaa", "b", "c"}, 5, []string{"aaaaaaaaaaaa", "b\x1ec"}},
		{"one per post", []string{"aaa", "bbb", "ccc"}, 4, []string{"aaa", "bbb", "ccc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var q outQueue
			for _, p := range tt.push {
				q.push([]byte(p))
			}
			var got []string
			for range len(tt.push) + 1 {
				b := q.take(tt.max)
				if b == nil {
					break
				}
				got = append(got, string(b))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("bodies = %q, want %q", got, tt.want)
			}
			if b := q.take(tt.max); b != nil {
				t.Fatalf("queue not empty after %d bodies: %q", len(got), b)
			}
		})
	}
}

// TestOutQueueTakeDoesNotAlias checks that a body handed to a POST is not
// overwritten by packets queued while the POST is in flight.
func TestOutQueueTakeDoesNotAlias(t *testing.T) {
	t.Parallel()
	var q outQueue
	q.push([]byte("aaaa"))
	q.push([]byte("bbbb"))
	q.push([]byte("cccc"))
	first := q.take(9)
	q.push([]byte(strings.Repeat("x", 8)))
	all := q.take(0)
	q.push([]byte("zzzz"))
	if string(first) != "aaaa\x1ebbbb" || string(all) != "cccc\x1exxxxxxxx" {
		t.Fatalf("bodies changed after later pushes: %q, %q", first, all)
	}
}

// pollRecorder wraps the server under test and records what the polling
// clients send: request kinds, POSTs in flight per session, packets per POST.
// While hold is not nil, POSTs wait for it to close.
type pollRecorder struct {
	next http.Handler

	mu          sync.Mutex
	websocket   int            // requests with transport=websocket
	gets, posts int            // polling requests
	inflight    map[string]int // POSTs in flight per sid
	maxInflight int
	batches     []int // packets per POST, in arrival order
	pongs       int   // "3" packets POSTed
	hold        chan struct{}
	held        int // POSTs waiting on hold
}

func (pr *pollRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("transport") != transportPolling {
		pr.mu.Lock()
		pr.websocket++
		pr.mu.Unlock()
		pr.next.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		pr.mu.Lock()
		pr.gets++
		pr.mu.Unlock()
		pr.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sid := q.Get("sid")
	recs := bytes.Split(body, []byte{recordSeparator})
	pr.mu.Lock()
	pr.posts++
	pr.inflight[sid]++
	pr.maxInflight = max(pr.maxInflight, pr.inflight[sid])
	pr.batches = append(pr.batches, len(recs))
	for _, rec := range recs {
		if string(rec) == "3" {
			pr.pongs++
		}
	}
	hold := pr.hold
	if hold != nil {
		pr.held++
	}
	pr.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	pr.next.ServeHTTP(w, r)
	pr.mu.Lock()
	pr.inflight[sid]--
	pr.mu.Unlock()
}

// stats is a copy of the counters.
type stats struct {
	websocket, gets, posts, maxInflight, pongs, held int
	batches                                          []int
}

func (pr *pollRecorder) stats() stats {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return stats{websocket: pr.websocket, gets: pr.gets, posts: pr.posts, maxInflight: pr.maxInflight,
		pongs: pr.pongs, held: pr.held, batches: slices.Clone(pr.batches)}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newParley serves Parley's engine with the bench contract (as
// bench/fanout-server does) behind a pollRecorder, and returns the recorder
// and a loadgen config for polling clients.
func newParley(t *testing.T, ecfg engineio.Config) (*pollRecorder, config) {
	t.Helper()
	sio, err := socketio.New(socketio.Config{Engine: ecfg})
	if err != nil {
		t.Fatal(err)
	}
	sio.Of(nsp).OnConnection(func(s *socketio.Socket) {
		var auth struct {
			Room string `json:"room"`
		}
		if err := json.Unmarshal(s.Auth(), &auth); err != nil || auth.Room == "" {
			return
		}
		room := auth.Room
		s.Join(room)
		s.On("message", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
			if vals, err := args.Values(); err == nil {
				_ = s.To(room).Emit("message", vals...) // test server: a failed broadcast shows as a missing message
			}
		})
		s.On("echo", func(_ *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			if vals, err := args.Values(); err == nil && ack != nil {
				_ = ack(vals...) // test server: a failed ack shows as a missing ack
			}
		})
	})
	pr := &pollRecorder{next: sio, inflight: map[string]int{}}
	ts := httptest.NewServer(pr)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sio.Close(ctx) // the test has its verdict; a slow close is not part of it
		ts.Close()
	})
	return pr, config{addr: strings.TrimPrefix(ts.URL, "http://"), transport: transportPolling,
		dialTimeout: 5 * time.Second, maxTime: time.Minute}
}

// TestPollingAgainstParley drives Parley's engine over polling only: a sender
// bursts messages and echoes, a receiver in the same room must get every
// message in order, the sender every ack, both must survive several ping
// rounds (pongs are POSTed), and no session may have two POSTs in flight.
func TestPollingAgainstParley(t *testing.T) {
	t.Parallel()
	pr, cfg := newParley(t, engineio.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 500 * time.Millisecond})
	var mu sync.Mutex
	var got []int64 // message numbers the receiver saw, in order
	var acks []int64
	hs := func(i int) handlers {
		if i == 0 {
			return handlers{event: func(_ *client, _ int64, args []byte) {
				name, rest := eventName(args)
				if string(name) != "message" {
					return
				}
				if n, _, ok := nextNum(rest); ok {
					mu.Lock()
					got = append(got, n)
					mu.Unlock()
				}
			}}
		}
		return handlers{ack: func(_ *client, id int64, _ []byte) {
			mu.Lock()
			acks = append(acks, id)
			mu.Unlock()
		}}
	}
	clients, _, err := connectMany(context.Background(), cfg.dialCfg(2), 2, 2, func(int) string { return `{"room":"r"}` }, hs, nil)
	defer closeAll(clients)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	const msgs, echoes = 200, 20
	sender := clients[1]
	var buf []byte
	for i := range msgs {
		if buf, err = sender.emit(buf, -1, fmt.Appendf(nil, `["message",%d,"pad"]`, i)); err != nil {
			t.Fatalf("emit: %v", err)
		}
		if i%10 == 0 {
			if buf, err = sender.emit(buf, sender.nextAck.Add(1), fmt.Appendf(nil, `["echo",%d]`, i)); err != nil {
				t.Fatalf("emit echo: %v", err)
			}
		}
	}
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(got), len(acks)
	}
	waitFor(t, "every message and ack", func() bool { m, a := count(); return m >= msgs && a >= echoes })
	mu.Lock()
	for i, n := range got {
		if n != int64(i) {
			t.Errorf("message %d is %d: lost or out of order", i, n)
			break
		}
	}
	for i, id := range acks {
		if id != int64(i+1) {
			t.Errorf("ack %d has id %d: lost or out of order", i, id)
			break
		}
	}
	mu.Unlock()

	// Several ping rounds: each client must answer every ping with a POST.
	waitFor(t, "pongs", func() bool { return pr.stats().pongs >= 10 })
	for i, c := range clients {
		if !c.alive() {
			t.Errorf("client %d died: %v", i, c.lastErr())
		}
	}
	s := pr.stats()
	if s.websocket != 0 {
		t.Errorf("%d websocket requests, want none", s.websocket)
	}
	if s.maxInflight != 1 {
		t.Errorf("at most %d POSTs in flight per session, want exactly 1", s.maxInflight)
	}
	if s.gets < 3 {
		t.Errorf("%d GETs: the long-polling loop did not run", s.gets)
	}
	t.Logf("GETs %d, POSTs %d, pongs %d", s.gets, s.posts, s.pongs)
}

// TestPollingBatchesQueuedPackets holds the first POST of a burst at the
// server: the packets emitted meanwhile must wait and then leave together in
// one second POST, never in a parallel one.
func TestPollingBatchesQueuedPackets(t *testing.T) {
	t.Parallel()
	pr, cfg := newParley(t, engineio.Config{}) // default 25 s pings: no pong joins the batch
	var acks atomic.Int64
	hs := func(int) handlers {
		return handlers{ack: func(*client, int64, []byte) { acks.Add(1) }}
	}
	clients, _, err := connectMany(context.Background(), cfg.dialCfg(1), 1, 1, func(int) string { return `{"room":"b"}` }, hs, nil)
	defer closeAll(clients)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	c := clients[0]
	before := len(pr.stats().batches) // the CONNECT
	hold := make(chan struct{})
	pr.mu.Lock()
	pr.hold = hold
	pr.mu.Unlock()
	const n = 100
	echo := func(i int) {
		if _, err := c.emit(nil, c.nextAck.Add(1), fmt.Appendf(nil, `["echo",%d]`, i)); err != nil {
			t.Fatalf("emit: %v", err)
		}
	}
	echo(0)
	waitFor(t, "the first POST to be held", func() bool { return pr.stats().held == 1 })
	for i := 1; i < n; i++ {
		echo(i)
	}
	pr.mu.Lock()
	pr.hold = nil
	pr.mu.Unlock()
	close(hold)
	waitFor(t, "every ack", func() bool { return acks.Load() == n })
	s := pr.stats()
	if got := s.batches[before:]; !slices.Equal(got, []int{1, n - 1}) {
		t.Errorf("packets per POST = %v, want [1 %d]: one POST in flight, the rest queued behind it", got, n-1)
	}
	if s.maxInflight != 1 {
		t.Errorf("at most %d POSTs in flight per session, want exactly 1", s.maxInflight)
	}
}
