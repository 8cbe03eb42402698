//go:build integration

package server_test

import (
	"net/http"
	"strings"
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
	// The outage shows in the Redis metrics: the subscription was restored.
	_, body, _ := do(t, "GET", ts.URL+"/metrics", "", "")
	for _, name := range []string{"parley_redis_published_total", "parley_redis_received_total", "parley_redis_dropped_total", "parley_redis_errors_total"} {
		if !strings.Contains(body, name+" ") {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if strings.Contains(body, "parley_redis_reconnects_total 0\n") || !strings.Contains(body, "parley_redis_reconnects_total ") {
		t.Errorf("parley_redis_reconnects_total did not count the restart:\n%s", grepLines(body, "parley_redis_"))
	}
}

func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
