//go:build integration

package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/server"
)

// TestReadyzFollowsRedis: with --redis-url, /readyz is 503 while Redis is
// down and 200 once it is back; /healthz stays 200 throughout.
func TestReadyzFollowsRedis(t *testing.T) {
	r := redistest.Start(t)
	_, ts := start(t, server.Config{RedisURL: r.URL()})
	status := func(path string) int {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close() // the status is all we read
		return res.StatusCode
	}
	poll := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for status("/readyz") != want {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for /readyz %d (%s)", want, what)
			}
			time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	poll("subscribed", http.StatusOK)
	r.Kill()
	poll("Redis down", http.StatusServiceUnavailable)
	if got := status("/healthz"); got != http.StatusOK {
		t.Fatalf("/healthz with Redis down: %d", got)
	}
	r.Restart()
	poll("Redis back", http.StatusOK)
}
