package server_test

import (
	"net/http"
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
