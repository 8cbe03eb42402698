//go:build integration

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/pgtest"
	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/internal/testutil"
	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/server"
)

// sharedDatabase returns a PostgreSQL URL (PARLEY_TEST_DATABASE_URL or a
// throwaway server) with an empty schema of its own: the nodes of a
// cluster share history, which SSE streams read.
func sharedDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv(pgtest.EnvURL)
	if base == "" {
		srv, err := pgtest.Start(t.Context())
		if err != nil {
			t.Fatalf("start PostgreSQL: %v", err)
		}
		t.Cleanup(func() {
			if err := srv.Stop(); err != nil {
				t.Errorf("stop PostgreSQL: %v", err)
			}
		})
		base = srv.URL
	}
	db, drop, err := pgtest.Schema(t.Context(), base)
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(context.Background()); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return db
}

// roomUserOf decodes a userJoined/userLeft payload's user id.
func nextRoomUser(ctx context.Context, c *wireClient, event string) events.RoomUser {
	c.t.Helper()
	var ru events.RoomUser
	c.next(ctx, event, &ru)
	return ru
}

// waitMembers polls the /presence snapshot of room on watcher until its
// online users are want (sorted ids): the other node's records have
// arrived.
func waitMembers(t *testing.T, watcher *wireClient, room string, want ...string) {
	t.Helper()
	testutil.WaitFor(t, fmt.Sprintf("members %v of %s", want, room), func() bool {
		var snap events.PresenceSnapshot
		watcher.callInto("subscribe", events.WatchRequest{Rooms: []string{room}}, &snap)
		var got []string
		for _, u := range snap.Users {
			if u.IsOnline {
				got = append(got, u.UserID)
			}
		}
		return slices.Equal(got, want)
	})
}

// TestClusterChat: two nodes on one Redis and one PostgreSQL. newChatMessage,
// typing, userJoined and userLeft cross nodes; a user with sockets on both
// nodes is announced once; the joinRoom ack lists the members of every
// node; the HTTP publish API and SSE streams work across nodes.
func TestClusterChat(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	db := sharedDatabase(t)
	cfg := server.Config{RedisURL: r.URL(), DatabaseURL: db, DatabasePool: 2, APIKey: "k"}
	_, a := start(t, cfg)
	_, b := start(t, cfg)
	ctx := waitCtx(t)

	bob := mustDial(t, b.URL, "/chat", devAuth("bob"))
	bob.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
	watchA := mustDial(t, a.URL, "/presence", devAuth("watcher"))
	waitMembers(t, watchA, "lobby", "bob") // node a knows bob is in lobby on b

	alice := mustDial(t, a.URL, "/chat", devAuth("alice"))
	var joined events.JoinRoomResult
	alice.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, &joined)
	var ids []string
	for _, m := range joined.Members {
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, []string{"alice", "bob"}) {
		t.Fatalf("joinRoom ack members %v; want alice and bob (bob is on the other node)", ids)
	}
	if ru := nextRoomUser(ctx, bob, "userJoined"); ru.User.ID != "alice" || ru.Room != "lobby" {
		t.Fatalf("bob saw userJoined %+v", ru)
	}

	// A message and typing from a to b.
	var sent events.ChatMessage
	alice.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "hi bob"}, &sent)
	var got events.ChatMessage
	bob.next(ctx, "newChatMessage", &got)
	if got.ID != sent.ID || got.Content != "hi bob" {
		t.Fatalf("bob got %+v; want %+v", got, sent)
	}
	alice.emit("typing", events.TypingStatus{Room: "lobby", IsTyping: true})
	var typing events.TypingNotice
	bob.next(ctx, "typing", &typing)
	if typing.User.ID != "alice" || !typing.IsTyping {
		t.Fatalf("bob saw typing %+v", typing)
	}

	// The HTTP API on b reaches alice on a; SSE on a streams it.
	stream := mustOpenSSE(t, a.URL+"/sse/rooms/lobby")
	pub := publish(t, b.URL, "lobby", "from the API on b")
	alice.next(ctx, "newChatMessage", &got)
	if got.ID != pub.ID {
		t.Fatalf("alice got %+v; want the API's %s", got, pub.ID)
	}
	bob.next(ctx, "newChatMessage", &got) // on b itself too
	if got.ID != pub.ID {
		t.Fatalf("bob got %+v; want the API's %s", got, pub.ID)
	}
	if ev := stream.nextNamed(t, "newChatMessage"); ev.id != pub.ID {
		t.Fatalf("SSE on a streamed %+v; want %s posted on b", ev, pub.ID)
	}
	// A socket message posted on b reaches the SSE stream on a too.
	bob.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "from bob on b"}, &sent)
	if ev := stream.nextNamed(t, "newChatMessage"); ev.id != sent.ID {
		t.Fatalf("SSE on a streamed %+v; want bob's %s", ev, sent.ID)
	}

	// alice's second tab, on b: no second userJoined; closing the first
	// tab announces no userLeft, closing the second does, once.
	alice2 := mustDial(t, b.URL, "/chat", devAuth("alice"))
	alice2.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
	// Once node a sees alice in "side", which she joined on b after lobby,
	// it knows she is in lobby on b too (a node's records arrive in order).
	alice2.callInto("joinRoom", events.JoinRoomRequest{Room: "side"}, nil)
	waitMembers(t, watchA, "side", "alice")
	alice.close()
	// bob's own message is the sync point: every event of the steps above
	// reached bob before it (one publisher per node, one subscription).
	alice2.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "still here"}, nil)
	bob.next(ctx, "newChatMessage", &got)
	if got.Content != "still here" {
		t.Fatalf("bob got %+v", got)
	}
	if n := bob.count("userJoined"); n != 0 {
		t.Fatalf("bob saw %d more userJoined for alice's second tab; want none", n)
	}
	waitMembers(t, watchA, "lobby", "alice", "bob")
	if n := bob.count("userLeft"); n != 0 {
		t.Fatalf("bob saw userLeft while alice is still in lobby on b")
	}
	alice2.callInto("leaveRoom", events.LeaveRoomRequest{Room: "lobby"}, nil)
	if ru := nextRoomUser(ctx, bob, "userLeft"); ru.User.ID != "alice" {
		t.Fatalf("bob saw userLeft %+v", ru)
	}
	if ev := stream.nextNamed(t, "userLeft"); ev.data == "" {
		t.Fatal("SSE on a: empty userLeft")
	}
}

// TestClusterPresence: a user with sockets on two nodes is one user whose
// connections are counted on both, its status follows setStatus on any
// node, it goes offline after the grace period once the last socket on
// either node ends, and MaxConnectionsPerUser holds across nodes.
func TestClusterPresence(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	cfg := server.Config{RedisURL: r.URL(), PresenceGrace: 300 * time.Millisecond, MaxConnectionsPerUser: 2}
	_, a := start(t, cfg)
	_, b := start(t, cfg)
	ctx := waitCtx(t)

	w := mustDial(t, a.URL, "/presence", devAuth("watcher"))
	var snap events.PresenceSnapshot
	w.callInto("subscribe", events.WatchRequest{UserIDs: []string{"alice"}}, &snap)
	var st events.PresenceState
	nextAlice := func() events.PresenceState {
		t.Helper()
		for {
			w.next(ctx, "status", &st)
			if st.UserID == "alice" {
				return st
			}
		}
	}
	tabA := mustDial(t, a.URL, "/chat", devAuth("alice"))
	if s := nextAlice(); !s.IsOnline || s.Connections != 1 {
		t.Fatalf("after a tab on a: %+v", s)
	}
	tabB := mustDial(t, b.URL, "/presence", devAuth("alice"))
	if s := nextAlice(); !s.IsOnline || s.Connections != 2 {
		t.Fatalf("after a tab on b: %+v; want 2 connections", s)
	}
	// Node b counts both too (a watcher there sees them).
	wb := mustDial(t, b.URL, "/presence", devAuth("watcher2"))
	testutil.WaitFor(t, "node b counts alice's 2 connections", func() bool {
		var snap events.PresenceSnapshot
		wb.callInto("subscribe", events.WatchRequest{UserIDs: []string{"alice"}}, &snap)
		return len(snap.Users) == 1 && snap.Users[0].Connections == 2
	})
	// A third connection, on either node, is over the cap of 2.
	for _, base := range []string{a.URL, b.URL} {
		if c, err := dial(t, base, "/chat", devAuth("alice")); err == nil {
			c.close()
			t.Fatalf("a third connection on %s was accepted; the cap is 2 cluster-wide", base)
		}
	}
	var own events.PresenceState
	tabB.callInto("setStatus", events.SetStatusRequest{Status: events.UserBusy}, &own)
	if own.Status != events.StatusBusy || own.Connections != 2 {
		t.Fatalf("setStatus ack %+v", own)
	}
	if s := nextAlice(); s.Status != events.StatusBusy {
		t.Fatalf("watcher on a saw %+v; want busy set on b", s)
	}
	tabA.close()
	if s := nextAlice(); !s.IsOnline || s.Connections != 1 || s.Status != events.StatusBusy {
		t.Fatalf("after closing the tab on a: %+v", s)
	}
	closed := time.Now()
	tabB.close()
	if s := nextAlice(); s.IsOnline || s.Status != events.StatusOffline {
		t.Fatalf("after closing the tab on b: %+v; want offline", s)
	}
	if d := time.Since(closed); d < 300*time.Millisecond {
		t.Fatalf("offline after %v; want the grace period (300ms) first", d)
	}
	if n := w.count("status"); n != 0 {
		t.Fatalf("%d status events more than changes", n)
	}
}

// TestClusterNodeDeath: a node that stops without a word (its heartbeat
// stops, its records stay in Redis, as after SIGKILL) is noticed within
// the detection bound; its users leave their rooms (userLeft, once) and go
// offline after the grace period. The dead node is played by a Redis
// client writing what a node writes, then falling silent.
func TestClusterNodeDeath(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	const (
		ttl   = 600 * time.Millisecond // node a's: scans every 150ms
		grace = 300 * time.Millisecond
	)
	_, a := start(t, server.Config{RedisURL: r.URL(), PresenceGrace: grace, NodeTTL: ttl})
	ctx := waitCtx(t)
	member := mustDial(t, a.URL, "/chat", devAuth("member"))
	member.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
	w := mustDial(t, a.URL, "/presence", devAuth("watcher"))

	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	const p = "socket.io"
	rec, err := json.Marshal(map[string]any{"n": "Carol", "c": 2, "s": "online", "r": []string{"lobby"}})
	if err != nil {
		t.Fatal(err)
	}
	pipe := rc.TxPipeline()
	pipe.Set(ctx, p+"-node#ghost1", "1", ttl)
	pipe.SAdd(ctx, p+"-nodes", "ghost1")
	pipe.HSet(ctx, p+"-parley-presence#ghost1", "", "1", "carol", string(rec))
	pipe.Publish(ctx, p+"-parley-presence", `{"n":"ghost1","q":1,"r":true}`)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, w, "lobby", "carol", "member")
	var snap events.PresenceSnapshot
	w.callInto("subscribe", events.WatchRequest{UserIDs: []string{"carol"}}, &snap)
	if len(snap.Users) != 1 || !snap.Users[0].IsOnline || snap.Users[0].Connections != 2 || snap.Users[0].Name != "Carol" {
		t.Fatalf("carol on the ghost node: %+v", snap.Users)
	}
	// The ghost's heartbeat stops here: its key expires after ttl.
	died := time.Now()
	if ru := nextRoomUser(ctx, member, "userLeft"); ru.User.ID != "carol" || ru.Room != "lobby" {
		t.Fatalf("member saw userLeft %+v", ru)
	}
	var st events.PresenceState
	for {
		w.next(ctx, "status", &st)
		if st.UserID == "carol" && !st.IsOnline {
			break
		}
	}
	took := time.Since(died)
	bound := redisadapter.Liveness{TTL: ttl}.DetectionBound() + grace
	if took < grace || took > bound+2*time.Second {
		t.Fatalf("carol offline %v after the ghost's last heartbeat; want within %v (+ scheduling slack)", took, bound)
	}
	if member.count("userLeft") != 0 {
		t.Fatal("userLeft announced more than once")
	}
	if n, err := rc.Exists(ctx, p+"-parley-presence#ghost1").Result(); err != nil || n != 0 {
		t.Fatalf("the ghost's records are still in Redis (%d, %v); the leader deletes them", n, err)
	}
	if st.LastSeen < died.UnixMilli() {
		t.Fatalf("carol's last seen %d is before the death %d", st.LastSeen, died.UnixMilli())
	}
}

// TestClusterShutdown: a node that shuts down says so; the other nodes
// drop its records at once instead of waiting for its key to expire, and
// its users go offline there after the grace period.
func TestClusterShutdown(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	const grace = 300 * time.Millisecond
	cfg := server.Config{RedisURL: r.URL(), PresenceGrace: grace} // NodeTTL: the default 10s
	_, a := start(t, cfg)
	bsrv, b := start(t, cfg)
	ctx := waitCtx(t)
	w := mustDial(t, a.URL, "/presence", devAuth("watcher"))
	w.callInto("subscribe", events.WatchRequest{UserIDs: []string{"carol"}}, nil)
	mustDial(t, b.URL, "/chat", devAuth("carol"))
	var st events.PresenceState
	for st.UserID != "carol" {
		w.next(ctx, "status", &st)
	}
	if !st.IsOnline {
		t.Fatalf("carol %+v", st)
	}
	stopped := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bsrv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for {
		w.next(ctx, "status", &st)
		if st.UserID == "carol" && !st.IsOnline {
			break
		}
	}
	// Far below the 10s TTL plus the detection's scans.
	if d := time.Since(stopped); d > grace+3*time.Second {
		t.Fatalf("carol offline %v after her node shut down; want about the grace period", d)
	}
}

// TestClusterPresenceGraceMove: a user whose socket on node a goes away
// and who reconnects on node b within the grace period shows nothing to
// the watchers of either node, keeps the status chosen on a after a's
// grace period ends, and goes offline once, after b's grace period, when
// it goes away from b too.
func TestClusterPresenceGraceMove(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	const grace = 2 * time.Second // the reconnect must fit in it on a loaded machine
	cfg := server.Config{RedisURL: r.URL(), PresenceGrace: grace}
	_, a := start(t, cfg)
	_, b := start(t, cfg)
	ctx := waitCtx(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rc.Close() })

	var watchers []*wireClient
	for i, base := range []string{a.URL, b.URL} {
		w := mustDial(t, base, "/presence", devAuth(fmt.Sprintf("watcher%d", i)))
		var snap events.PresenceSnapshot
		w.callInto("subscribe", events.WatchRequest{UserIDs: []string{"alice"}}, &snap)
		watchers = append(watchers, w)
	}
	nextAlice := func(w *wireClient) string {
		t.Helper()
		for {
			var st events.PresenceState
			w.next(ctx, "status", &st)
			if st.UserID != "alice" {
				continue
			}
			if !st.IsOnline {
				return "offline"
			}
			return fmt.Sprintf("%s/%d", st.Status, st.Connections)
		}
	}
	expect := func(want ...string) {
		t.Helper()
		for i, w := range watchers {
			for _, s := range want {
				if got := nextAlice(w); got != s {
					t.Fatalf("watcher on node %d saw %s; want %s", i, got, s)
				}
			}
		}
	}
	// aliceRecords returns the nodes' presence records of alice (JSON).
	aliceRecords := func() []string {
		keys, err := rc.Keys(ctx, "*parley-presence#*").Result()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range keys {
			if v, err := rc.HGet(ctx, k, "alice").Result(); err == nil {
				out = append(out, v)
			}
		}
		return out
	}

	tabA := mustDial(t, a.URL, "/presence", devAuth("alice"))
	var own events.PresenceState
	tabA.callInto("setStatus", events.SetStatusRequest{Status: events.UserBusy}, &own)
	expect("online/1", "busy/1")
	tabA.close()
	// The drop is known (a's record is in its grace period) before the
	// reconnect: a reconnect that overtakes it counts two connections for
	// that moment, as it is.
	testutil.WaitFor(t, "a's record in its grace period", func() bool {
		recs := aliceRecords()
		return len(recs) == 1 && strings.Contains(recs[0], `"c":0`)
	})
	tabB := mustDial(t, b.URL, "/presence", devAuth("alice"))
	// The new tab's own state: the status outlived the reconnect.
	var st events.PresenceState
	tabB.next(ctx, "status", &st)
	if st.Status != events.StatusBusy || st.Connections != 1 {
		t.Fatalf("the tab on b starts with %+v; want busy, 1 connection", st)
	}
	// a's grace period ends (its record goes), alice being on b.
	testutil.WaitFor(t, "a's grace period over", func() bool {
		recs := aliceRecords()
		return len(recs) == 1 && strings.Contains(recs[0], `"c":1`)
	})
	tabB.callInto("setStatus", events.SetStatusRequest{Status: events.UserAway}, &own)
	expect("away/1") // nothing came between: no offline, no online again
	closed := time.Now()
	tabB.close()
	expect("offline")
	if d := time.Since(closed); d < grace {
		t.Fatalf("offline after %v; want the grace period (%v) first", d, grace)
	}
	for i, w := range watchers {
		if n := w.count("status"); n != 0 {
			t.Fatalf("watcher on node %d has %d more status events", i, n)
		}
	}
}
