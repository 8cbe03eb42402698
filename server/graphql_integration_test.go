//go:build integration

package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/server"
)

// TestGraphQLAcrossACluster: a subscription on one node receives what a
// socket.io user posts on another (the graphql-ws connection is a client
// of the Socket.IO server, so its room is the Redis adapter's), and a
// sendMessage mutation on the first node reaches the socket.io user.
func TestGraphQLAcrossACluster(t *testing.T) {
	r := redistest.Start(t)
	_, a := start(t, server.Config{RedisURL: r.URL()})
	_, b := start(t, server.Config{RedisURL: r.URL()})
	for _, ts := range []string{a.URL, b.URL} {
		ctx := waitCtx(t)
		for code, _, _ := do(t, http.MethodGet, ts+"/readyz", "", ""); code != http.StatusOK; code, _, _ = do(t, http.MethodGet, ts+"/readyz", "", "") {
			if ctx.Err() != nil {
				t.Fatalf("%s never ready", ts)
			}
		}
	}

	gina := dialGQL(t, a.URL, map[string]string{"userId": "gina", "name": "Gina"})
	gina.next("connection_ack", "")
	gina.subscribe("m", `subscription { newChatMessage(room: "lobby") { content sender { id } } }`)
	inRoom(t, a.URL, "", "lobby", "gina")

	bob := mustDial(t, b.URL, "/chat", map[string]string{"userId": "bob", "name": "Bob"})
	bob.call("joinRoom", map[string]string{"room": "lobby"})
	bob.call("chatMessage", map[string]string{"room": "lobby", "content": "from node b"})
	var msg struct {
		NewChatMessage events.ChatMessage `json:"newChatMessage"`
	}
	if gina.data("m", &msg); msg.NewChatMessage.Content != "from node b" || msg.NewChatMessage.Sender.ID != "bob" {
		t.Fatalf("newChatMessage %+v", msg)
	}

	p, _ := json.Marshal(map[string]any{"query": sendMutation, "variables": map[string]any{"room": "lobby", "content": "from node a"}})
	gina.send(gqlMessage{ID: "send", Type: "subscribe", Payload: p})
	var got events.ChatMessage
	for got.Content != "from node a" { // gina's own subscription echo aside, bob gets it
		bob.next(waitCtx(t), "newChatMessage", &got)
	}
	if got.Sender.ID != "gina" {
		t.Fatalf("bob got %+v", got)
	}
}
