package core_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces/namespacestest"
)

// Announcements are made after the room lock is released, in transition
// order: while a userLeft is being made (its emit or an observer slow), a
// join in the same room is not held up, and its userJoined, queued behind
// the userLeft, reaches the room after it.
func TestAnnouncementsOutsideTheLockInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := namespacestest.NewNamespace("/chat")
	ch, err := core.NewChat(core.ChatConfig{History: &memHistory{}, Rooms: ns})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var seen []string
	ch.Observe(core.Observer{
		Joined: func(ru events.RoomUser) { mu.Lock(); seen = append(seen, "+"+ru.User.ID); mu.Unlock() },
		Left: func(ru events.RoomUser) {
			mu.Lock()
			seen = append(seen, "-"+ru.User.ID)
			mu.Unlock()
			once.Do(func() { close(entered); <-release }) // a slow announcement
		},
	})
	alice := events.UserRef{ID: "alice", Name: "Alice"}
	bobConn, sbob := member(t, ch, ns, "b1", events.UserRef{ID: "bob", Name: "Bob"})
	_, s1 := member(t, ch, ns, "a1", alice)
	_, s2 := member(t, ch, ns, "a2", alice)
	lobby := events.JoinRoomRequest{Room: "lobby"}
	for _, s := range []*core.Session{sbob, s1} {
		if _, err := s.Join(ctx, lobby); err != nil {
			t.Fatal(err)
		}
	}

	left := make(chan error, 1)
	go func() {
		_, err := s1.Leave(ctx, events.LeaveRoomRequest{Room: "lobby"})
		left <- err
	}()
	<-entered // the userLeft is being made, the room lock released
	joined := make(chan error, 1)
	go func() {
		_, err := s2.Join(ctx, lobby)
		joined <- err
	}()
	select {
	case err := <-joined:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("a join waited for an announcement of the room in progress")
	}
	if n := len(bobConn.ReceivedEvent("userJoined")); n != 1 {
		t.Fatalf("bob got %d userJoined before the userLeft was made; want 1 (the join's is queued behind it)", n)
	}
	close(release)
	if err := <-left; err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range bobConn.Received() {
		if p.Event == "userJoined" || p.Event == "userLeft" {
			got = append(got, p.Event)
		}
	}
	if want := []string{"userJoined", "userLeft", "userJoined"}; !slices.Equal(got, want) {
		t.Fatalf("bob got %v; want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"+bob", "+alice", "-alice", "+alice"}; !slices.Equal(seen, want) {
		t.Fatalf("observers saw %v; want %v", seen, want)
	}
}
