//go:build integration

package server_test

import (
	"testing"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/server"
	"github.com/parley-rt/parley/store"
)

// TestClusterResendOfAnUnpublishedMessage: two nodes on one Redis and one
// PostgreSQL. A message committed by a node that died before its
// broadcast (appended to PostgreSQL directly: nothing was published) is
// broadcast by its sender's resend through a live node, once, to the
// room's members on both nodes, and streamed by SSE on the other node; a
// second resend, through either node, broadcasts nothing.
func TestClusterResendOfAnUnpublishedMessage(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	db := sharedDatabase(t)
	cfg := server.Config{RedisURL: r.URL(), DatabaseURL: db, DatabasePool: 2}
	_, a := start(t, cfg)
	_, b := start(t, cfg)
	ctx := waitCtx(t)

	alice := mustDial(t, a.URL, "/chat", devAuth("alice"))
	alice.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
	carol := mustDial(t, a.URL, "/chat", devAuth("carol"))
	carol.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
	bob := mustDial(t, b.URL, "/chat", devAuth("bob"))
	bob.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
	watchA := mustDial(t, a.URL, "/presence", devAuth("watcher"))
	waitMembers(t, watchA, "lobby", "alice", "bob", "carol")
	stream := mustOpenSSE(t, b.URL+"/sse/rooms/lobby")

	pg, err := store.OpenPostgres(ctx, store.PostgresConfig{URL: db})
	if err != nil {
		t.Fatal(err)
	}
	orig, created, err := pg.Append(ctx, store.Message{Room: "lobby", SenderID: "alice", SenderName: "Name alice", Content: "lost", ClientMsgID: "c1"})
	if cerr := pg.Close(); err != nil || cerr != nil || !created {
		t.Fatalf("append: %v, %v, created %v", err, cerr, created)
	}

	key := "c1"
	var acked events.ChatMessage
	alice.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "lost", ClientMsgID: &key}, &acked)
	if acked.ID != orig.ID {
		t.Fatalf("resend acked %+v; want the stored original %s", acked, orig.ID)
	}
	var got events.ChatMessage
	for _, c := range []*wireClient{carol, bob} {
		c.next(ctx, "newChatMessage", &got)
		if got.ID != orig.ID || got.Content != "lost" {
			t.Fatalf("got %+v; want the original", got)
		}
	}
	if ev := stream.nextNamed(t, "newChatMessage"); ev.id != orig.ID {
		t.Fatalf("SSE on b streamed %+v; want %s", ev, orig.ID)
	}

	// Resent again, through b then a: nothing more. A new message from
	// each node is the sync point (a node's broadcasts arrive in order).
	aliceB := mustDial(t, b.URL, "/chat", devAuth("alice"))
	aliceB.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
	for _, c := range []*wireClient{aliceB, alice} {
		c.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "lost", ClientMsgID: &key}, &acked)
		if acked.ID != orig.ID {
			t.Fatalf("second resend acked %+v", acked)
		}
	}
	var endA, endB events.ChatMessage
	alice.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "end a"}, &endA)
	aliceB.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "end b"}, &endB)
	for _, c := range []*wireClient{carol, bob} {
		seen := map[string]bool{}
		for len(seen) < 2 {
			c.next(ctx, "newChatMessage", &got)
			if got.ID != endA.ID && got.ID != endB.ID {
				t.Fatalf("got %+v again after the first resend", got)
			}
			seen[got.ID] = true
		}
	}
}
