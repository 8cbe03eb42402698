package store

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// benchContent is a typical chat line.
var benchContent = strings.Repeat("lorem ipsum ", 8)

// benchStore is one store configuration the benchmarks measure.
type benchStore struct {
	name string
	// open returns a started store on a fresh database.
	open func(b *testing.B) Messages
}

// benchStores are the configurations measured: SQLite's two sync modes,
// and PostgreSQL in an integration build (postgres_test.go).
var benchStores = []benchStore{
	{"sqlite/sync=" + string(syncFull), func(b *testing.B) Messages { return openBench(b, syncFull) }},
	{"sqlite/sync=" + string(syncNormal), func(b *testing.B) Messages { return openBench(b, syncNormal) }},
}

func openBench(b *testing.B, sync syncMode) *SQLite {
	b.Helper()
	s, err := openSQLite(SQLiteConfig{Path: filepath.Join(b.TempDir(), "bench.db")}, sync)
	if err != nil {
		b.Fatalf("openSQLite: %v", err)
	}
	s.start()
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return s
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// Both benchmarks append messages with a ClientMsgID, as the chat handler
// does, so each append pays the idempotency check too.

// BenchmarkAppend appends from one goroutine: every Append is its own batch,
// so this is the cost of one commit.
func BenchmarkAppend(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			ctx := context.Background()
			m := Message{Room: "bench", SenderID: "u", SenderName: "n", Content: benchContent}
			i := 0
			for b.Loop() {
				i++
				m.ClientMsgID = strconv.Itoa(i)
				if _, _, err := s.Append(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
	}
}

// BenchmarkAppendParallel appends from 32 goroutines per core (64 on the
// 2-core machine we size for), as many sockets sending at once do: their
// appends share commits.
func BenchmarkAppendParallel(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			ctx := context.Background()
			b.SetParallelism(32)
			b.ResetTimer()
			var sender atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				m := Message{Room: "bench", SenderID: strconv.FormatInt(sender.Add(1), 10), SenderName: "n", Content: benchContent}
				i := 0
				for pb.Next() {
					i++
					m.ClientMsgID = strconv.Itoa(i)
					if _, _, err := s.Append(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b)
		})
	}
}
