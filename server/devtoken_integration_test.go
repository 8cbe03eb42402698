//go:build integration

package server_test

import (
	"encoding/json"
	"testing"

	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/server"
)

// TestDevTokenAcrossNodes: in dev mode the nodes of a cluster share the
// dev-token secret through Redis, so a token one node issued opens a
// connection on another, as behind a round-robin balancer.
func TestDevTokenAcrossNodes(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	_, a := start(t, server.Config{RedisURL: r.URL()})
	_, b := start(t, server.Config{RedisURL: r.URL()})
	code, body, _ := do(t, "GET", a.URL+"/api/dev/token?name=Dana", "", "")
	if code != 200 {
		t.Fatalf("dev token on a: %d %s", code, body)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" {
		t.Fatalf("dev token %s: %v", body, err)
	}
	c, err := dial(t, b.URL, "/chat", tokenAuth(tok.Token))
	if err != nil {
		t.Fatalf("a's dev token refused on b: %v", err)
	}
	c.close()
}
