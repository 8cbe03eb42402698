package forward_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
)

// The cost of the extra hop: an Engine.IO echo round trip (a POST of one
// message, then the GET that returns it; or one WebSocket message and its
// echo) sent to the session's node ("direct") or to the other node, which
// relays it ("relayed"). Run:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/forward/
//
// Results are in redisadapter/FORWARDING.md.

// benchClient keeps connections alive across iterations, as a browser does.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func pollRoundTrip(base, sid string) error {
	q := base + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	res, err := benchClient.Post(q, "text/plain", strings.NewReader("4ping"))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body) // "ok"
	_ = res.Body.Close()
	for range 3 {
		res, err = benchClient.Get(q)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		switch {
		case err == nil && string(body) == "4ping":
			return nil
		case err == nil && string(body) == "2": // the heartbeat: answer it, fetch again
			res, err := benchClient.Post(q, "text/plain", strings.NewReader("3"))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body) // "ok"
			_ = res.Body.Close()
		default:
			return fmt.Errorf("echo %q: %v", body, err)
		}
	}
	return errors.New("no echo in three polls")
}

// reportLatency adds p50 and p99 of the samples, in microseconds.
func reportLatency(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	if len(samples) == 0 {
		return
	}
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkPollingRoundTrip(b *testing.B) {
	for _, path := range []string{"direct", "relayed"} {
		b.Run(path, func(b *testing.B) {
			b.Cleanup(benchClient.CloseIdleConnections) // after the nodes close: goleak checks
			a, other, _ := twoNodes(b)
			target := a
			if path == "relayed" {
				target = other
			}
			sid := handshake(b, a)
			if err := pollRoundTrip(target.ts.URL, sid); err != nil { // warms the connections and the owner cache
				b.Fatal(err)
			}
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if err := pollRoundTrip(target.ts.URL, sid); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(t0))
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
			reportLatency(b, samples)
		})
	}
}

// BenchmarkPollingRoundTripParallel: 8 sessions per core at once, each doing
// round trips back to back: the throughput of one node pair.
func BenchmarkPollingRoundTripParallel(b *testing.B) {
	for _, path := range []string{"direct", "relayed"} {
		b.Run(path, func(b *testing.B) {
			b.Cleanup(benchClient.CloseIdleConnections) // after the nodes close: goleak checks
			a, other, _ := twoNodes(b)
			target := a
			if path == "relayed" {
				target = other
			}
			var mu sync.Mutex
			var samples []time.Duration
			b.SetParallelism(8) // 16 goroutines on 2 cores
			n := 8 * runtime.GOMAXPROCS(0)
			sids := make(chan string, n)
			for range n {
				sids <- handshake(b, a)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				sid := <-sids
				var own []time.Duration
				for pb.Next() {
					t0 := time.Now()
					if err := pollRoundTrip(target.ts.URL, sid); err != nil {
						b.Error(err) // not Fatal: this is not the benchmark's goroutine
						return
					}
					own = append(own, time.Since(t0))
				}
				mu.Lock()
				samples = append(samples, own...)
				mu.Unlock()
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
			reportLatency(b, samples)
		})
	}
}

func BenchmarkWebSocketEcho(b *testing.B) {
	for _, path := range []string{"direct", "relayed"} {
		b.Run(path, func(b *testing.B) {
			b.Cleanup(benchClient.CloseIdleConnections) // after the nodes close: goleak checks
			a, other, _ := twoNodes(b)
			target := a
			if path == "relayed" {
				target = other
			}
			sid := handshake(b, a)
			conn := wsDial(b, target, sid)
			for _, m := range []string{"2probe", "5"} {
				if err := wsutil.WriteClientText(conn, []byte(m)); err != nil {
					b.Fatal(err)
				}
				if m == "2probe" {
					wsRead(b, conn)
				}
			}
			_ = conn.SetReadDeadline(time.Time{}) // no deadline during the run
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if err := wsutil.WriteClientText(conn, []byte("4ping")); err != nil {
					b.Fatal(err)
				}
				if msg, err := wsutil.ReadServerText(conn); err != nil || string(msg) != "4ping" {
					b.Fatalf("echo %q: %v", msg, err)
				}
				samples = append(samples, time.Since(t0))
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
			reportLatency(b, samples)
		})
	}
}
