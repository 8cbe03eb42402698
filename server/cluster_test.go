package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/parley-rt/parley/server"
)

// TestSingleNodeReadyz: without --redis-url the node is always ready.
func TestSingleNodeReadyz(t *testing.T) {
	_, ts := start(t, server.Config{})
	res, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close() // the status is all we read
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %d", res.StatusCode)
	}
}

// TestClusterAddrChecked: a ClusterAddr other nodes could not dial, or one
// without RedisURL, stops New with an error naming the flag.
func TestClusterAddrChecked(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, redis, want string }{
		{"10.0.0.5:3000", "", "needs RedisURL"},
		{"0.0.0.0:3000", "redis://127.0.0.1:1/0", "not 0.0.0.0"},
		{"[::]:3000", "redis://127.0.0.1:1/0", "not 0.0.0.0"},
		{":3000", "redis://127.0.0.1:1/0", "not 0.0.0.0"},
		{"10.0.0.5:0", "redis://127.0.0.1:1/0", "not port 0"},
		{"10.0.0.5", "redis://127.0.0.1:1/0", "want host:port"},
	}
	for _, tt := range tests {
		_, err := server.New(server.Config{DataDir: t.TempDir(), ClusterAddr: tt.addr, RedisURL: tt.redis})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ClusterAddr %q: New = %v, want an error with %q", tt.addr, err, tt.want)
		}
	}
}
