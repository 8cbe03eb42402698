package socketio_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/socketio"
)

// BenchmarkBroadcast measures Namespace.Emit to 100 WebSocket receivers,
// with connection state recovery off and on, from one goroutine and from
// four at once. It emits in batches of 256 and waits after each for every
// receiver to have read the batch, so no receiver falls behind and gets
// dropped as a slow consumer (which would make later broadcasts cheaper):
// ns/op is the cost of one broadcast delivered to all, writes included;
// cpu-ns/op is the process's CPU time for it.
func BenchmarkBroadcast(b *testing.B) {
	for _, rec := range []bool{false, true} {
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("recovery=%v/goroutines=%d", rec, par), func(b *testing.B) {
				benchBroadcast(b, rec, par, 100)
			})
		}
	}
}

func benchBroadcast(b *testing.B, recovery bool, par, receivers int) {
	cfg := socketio.Config{}
	if recovery {
		cfg.Recovery = &socketio.RecoveryConfig{}
	}
	srv, err := socketio.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var joined atomic.Int64
	srv.Of("/").OnConnection(func(*socketio.Socket) { joined.Add(1) })
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = srv.Close(ctx) // the measurement is over
	}()

	var target atomic.Int64 // messages each receiver must have read
	var batchDone sync.WaitGroup
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	for range receivers {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		conn, br, _, err := ws.Dialer{}.Dial(ctx, url)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		// Every receiver reads through a buffer of the same size. The
		// dialer returns one only when the server's first frame came with
		// the handshake's response, a race: reading the others straight
		// from conn cost three read(2) per frame, and how many lost the
		// race (10 in 100, or 25 after a change in the server's timing)
		// doubled ns/op without the server doing more.
		var r io.Reader = br
		if br == nil {
			r = bufio.NewReaderSize(conn, 4096)
		}
		if _, err := ws.ReadFrame(r); err != nil { // the open packet
			b.Fatal(err)
		}
		if err := wsutil.WriteClientText(conn, []byte("40")); err != nil {
			b.Fatal(err)
		}
		if _, err := ws.ReadFrame(r); err != nil { // CONNECT's answer
			b.Fatal(err)
		}
		go func() { // ends when conn closes
			var n int64
			var first [1]byte
			for {
				h, err := ws.ReadHeader(r)
				if err != nil {
					return
				}
				if h.Length == 0 {
					continue
				}
				if _, err := io.ReadFull(r, first[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, r, h.Length-1); err != nil {
					return
				}
				if first[0] == '4' { // a message, not a ping
					if n++; n == target.Load() {
						batchDone.Done()
					}
				}
			}
		}()
	}
	deadline := time.Now().Add(waitTimeout)
	for joined.Load() < int64(receivers) {
		if time.Now().After(deadline) {
			b.Fatal("receivers did not connect")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	nsp := srv.Of("/")
	const batch = 256
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	var seq atomic.Int64
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		batchDone.Add(receivers)
		target.Add(int64(n))
		var wg sync.WaitGroup
		for g := range par {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < n; i += par {
					if err := nsp.Emit("m", seq.Add(1), "some text of a typical chat message"); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		batchDone.Wait()
		done += n
	}
	b.StopTimer()
	// Wall time depends on what else the machine runs; CPU time less so.
	// Both include the receivers' reads, the same work for every variant
	// (every receiver reads through a buffer, see above).
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkEmitQueued measures the CPU cost of Namespace.Emit alone: its 20
// receivers are long-polling sessions that never poll again after joining,
// so every broadcast only queues (the engine's queue bound is raised to
// hold them all) and nothing is written or read. Four goroutines emit at
// once.
func BenchmarkEmitQueued(b *testing.B) {
	for _, rec := range []bool{false, true} {
		b.Run(fmt.Sprintf("recovery=%v", rec), func(b *testing.B) {
			cfg := socketio.Config{Engine: engineio.Config{MaxQueue: 1 << 30}}
			if rec {
				cfg.Recovery = &socketio.RecoveryConfig{}
			}
			srv, err := socketio.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				_ = srv.Close(ctx) // the measurement is over
			}()
			for range 20 {
				pollJoin(b, ts.URL+"/socket.io/?EIO=4&transport=polling")
			}
			nsp := srv.Of("/")
			b.SetParallelism(2) // 4 goroutines on 2 CPUs
			b.ReportAllocs()
			b.ResetTimer()
			var seq atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := nsp.Emit("m", seq.Add(1), "some text of a typical chat message"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// pollJoin opens a long-polling session and joins "/" on it.
func pollJoin(b *testing.B, base string) {
	b.Helper()
	get := func(url string) string {
		res, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
		}
		return string(body)
	}
	open := get(base)
	var hs struct{ SID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(open, "0")), &hs); err != nil {
		b.Fatalf("open packet %q", open)
	}
	url := base + "&sid=" + hs.SID
	res, err := http.Post(url, "text/plain", strings.NewReader("40"))
	if err != nil {
		b.Fatal(err)
	}
	_ = res.Body.Close() // the GET below shows whether it worked
	if p := get(url); !strings.HasPrefix(p, "40{") {
		b.Fatalf("CONNECT answered %q", p)
	}
}
