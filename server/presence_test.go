package server_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/server"
)

func devAuth(id string) map[string]string {
	return map[string]string{"userId": id, "name": "Name " + id}
}

// A user is online through its /chat and /presence sockets, a watcher sees
// each change, and the user goes offline after the grace period with its
// last-seen time.
func TestPresenceAcrossNamespaces(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{PresenceGrace: 200 * time.Millisecond})
	ctx := waitCtx(t)
	alice := mustDial(t, ts.URL, "/presence", devAuth("alice"))
	var id string
	alice.next(ctx, "userConnected", &id)
	if id != "alice" {
		t.Fatalf("userConnected %q", id)
	}
	var own events.PresenceState
	alice.next(ctx, "status", &own)
	if own.UserID != "alice" || !own.IsOnline || own.Connections != 1 {
		t.Fatalf("own state %+v", own)
	}
	var snap events.PresenceSnapshot
	alice.callInto("subscribe", events.WatchRequest{UserIDs: []string{"bob"}}, &snap)
	if len(snap.Users) != 1 || snap.Users[0].IsOnline || snap.Users[0].Status != events.StatusOffline {
		t.Fatalf("snapshot %+v", snap)
	}

	bobChat := mustDial(t, ts.URL, "/chat", devAuth("bob"))
	bobTab := mustDial(t, ts.URL, "/presence", devAuth("bob"))
	var st events.PresenceState
	for _, want := range []int{1, 2} {
		alice.next(ctx, "status", &st)
		if st.UserID != "bob" || !st.IsOnline || st.Connections != want || st.Name != "Name bob" {
			t.Fatalf("status %+v, want bob online with %d connections", st, want)
		}
	}
	bobTab.callInto("setStatus", events.SetStatusRequest{Status: events.UserBusy}, &st)
	if st.Status != events.StatusBusy {
		t.Fatalf("setStatus ack %+v", st)
	}
	alice.next(ctx, "status", &st)
	if st.Status != events.StatusBusy {
		t.Fatalf("alice saw %+v", st)
	}
	before := time.Now().UnixMilli()
	bobChat.close()
	alice.next(ctx, "status", &st)
	if st.Connections != 1 {
		t.Fatalf("after closing one socket %+v", st)
	}
	bobTab.close()
	alice.next(ctx, "status", &st)
	if st.IsOnline || st.Status != events.StatusOffline || st.LastSeen < before || st.LastSeen > time.Now().UnixMilli() {
		t.Fatalf("after grace %+v (closed after %d)", st, before)
	}
	if alice.count("status") != 0 {
		t.Fatal("more status events than changes")
	}
}

// Presence last-seen times survive a restart of the server on the same data
// directory.
func TestLastSeenSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := server.New(server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(first.Handler())
	bob := mustDial(t, ts.URL, "/chat", devAuth("bob"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown with bob connected: his last-seen time is the shutdown.
	before := time.Now().UnixMilli()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	bob.close()
	ts.CloseClientConnections()
	ts.Close()

	_, ts2 := start(t, server.Config{DataDir: dir})
	alice := mustDial(t, ts2.URL, "/presence", devAuth("alice"))
	var snap events.PresenceSnapshot
	alice.callInto("subscribe", events.WatchRequest{UserIDs: []string{"bob"}}, &snap)
	if len(snap.Users) != 1 || snap.Users[0].IsOnline || snap.Users[0].LastSeen < before || snap.Users[0].LastSeen > after {
		t.Fatalf("after restart %+v, want last seen in [%d, %d]", snap.Users, before, after)
	}
}
