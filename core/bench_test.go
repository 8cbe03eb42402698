package core_test

import (
	"context"
	"testing"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/namespacestest"
)

// BenchmarkPost is a connection's post on one node (the single-node hot
// path: validate, append, broadcast, observers), presence attached, the
// room holding only the sender so that no test socket's inbox grows.
func BenchmarkPost(b *testing.B) {
	ns := namespacestest.NewNamespace("/chat")
	ch, err := core.NewChat(core.ChatConfig{History: &memHistory{}, Rooms: ns})
	if err != nil {
		b.Fatal(err)
	}
	p, err := core.NewPresence(core.PresenceConfig{Store: nopPresenceStore{}, Chat: ch})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Close(context.Background()) }() // nothing to write
	var n int
	ch.Observe(core.Observer{Message: func(events.ChatMessage) { n++ }})
	c, err := ns.Connect("s1", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close("done")
	namespaces.SetIdentity(c, auth.Identity{User: events.UserRef{ID: "alice", Name: "Alice"}})
	s, err := ch.Open(c)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Join(ctx, events.JoinRoomRequest{Room: "lobby"}); err != nil {
		b.Fatal(err)
	}
	req := events.ChatMessageRequest{Room: "lobby", Content: "hello, world"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Post(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
