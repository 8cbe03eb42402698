//go:build integration

package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parley-rt/parley/server"
)

// TestDatabaseURL runs two servers, as two nodes, on one PostgreSQL
// database (PARLEY_TEST_DATABASE_URL, or a throwaway server): a message
// published through one is in the other's history, and a resend with the
// same clientMsgId through the other returns the original.
func TestDatabaseURL(t *testing.T) {
	t.Parallel()
	db := sharedDatabase(t)

	_, a := start(t, server.Config{APIKey: "k", DatabaseURL: db, DatabasePool: 2})
	_, b := start(t, server.Config{APIKey: "k", DatabaseURL: db, DatabasePool: 2})
	const msg = `{"content":"hello","sender":{"id":"sys","name":"System"},"clientMsgId":"m1"}`
	code, body, _ := do(t, "POST", a.URL+"/api/rooms/lobby/messages", "k", msg)
	var first struct{ ID string }
	if code != 201 || json.Unmarshal([]byte(body), &first) != nil || len(first.ID) != 36 {
		t.Fatalf("publish on a = %d %s", code, body)
	}
	if code, page, _ := do(t, "GET", b.URL+"/api/rooms/lobby/messages", "k", ""); code != 200 || !strings.Contains(page, first.ID) {
		t.Fatalf("history on b = %d %s; want %s", code, page, first.ID)
	}
	if code, again, _ := do(t, "POST", b.URL+"/api/rooms/lobby/messages", "k", msg); code != 200 || !strings.Contains(again, first.ID) {
		t.Fatalf("resend on b = %d %s; want 200 with %s", code, again, first.ID)
	}
	if code, body, _ := do(t, "POST", b.URL+"/api/rooms/other/messages", "k", msg); code != 409 {
		t.Fatalf("key reused in another room on b = %d %s; want 409", code, body)
	}
}
