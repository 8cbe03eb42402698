package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/namespacestest"
	"github.com/parley-rt/parley/rooms"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memHistory is an in-memory core.History.
type memHistory struct {
	mu    sync.Mutex
	msgs  []events.ChatMessage
	byKey map[string]events.ChatMessage
}

func (h *memHistory) Append(_ context.Context, m events.ChatMessage) (events.ChatMessage, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := m.Sender.ID + "\x00" + m.ClientMsgID
	if orig, ok := h.byKey[key]; ok && m.ClientMsgID != "" {
		return orig, false, nil
	}
	m.ID, m.Timestamp = fmt.Sprintf("m%03d", len(h.msgs)+1), int64(len(h.msgs)+1)
	h.msgs = append(h.msgs, m)
	if h.byKey == nil {
		h.byKey = map[string]events.ChatMessage{}
	}
	if m.ClientMsgID != "" {
		h.byKey[key] = m
	}
	return m, true, nil
}

func (h *memHistory) Page(_ context.Context, room, _, _ string, limit int) ([]events.ChatMessage, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []events.ChatMessage
	for _, m := range h.msgs {
		if m.Room == room {
			out = append(out, m)
		}
	}
	return out[max(0, len(out)-limit):], len(out) > limit, nil
}

// member connects socket id to ns with identity u and opens its chat
// session, as the /chat adapter does.
func member(t *testing.T, ch *core.Chat, ns *namespacestest.Namespace, id string, u events.UserRef) (*namespacestest.Conn, *core.Session) {
	t.Helper()
	c, err := ns.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	namespaces.SetIdentity(c, auth.Identity{User: u})
	s, err := ch.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// Publish (the HTTP API's path) and Session.Post (a socket's) are one
// path: both store, both reach the room and the observers, a resend is
// not broadcast again, and a key reused in another room is a conflict.
func TestPublishAndPostShareOnePath(t *testing.T) {
	t.Parallel()
	ns := namespacestest.NewNamespace("/chat")
	hist := &memHistory{}
	ch, err := core.NewChat(core.ChatConfig{History: hist, Rooms: ns})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		observed []string
	)
	ch.Observe(core.Observer{Message: func(m events.ChatMessage) {
		mu.Lock()
		observed = append(observed, m.Content)
		mu.Unlock()
	}})
	ctx := context.Background()
	ann := events.UserRef{ID: "ann", Name: "Ann"}
	bob := events.UserRef{ID: "bob", Name: "Bob"}
	annC, annS := member(t, ch, ns, "a1", ann)
	bobC, bobS := member(t, ch, ns, "b1", bob)
	for _, s := range []*core.Session{annS, bobS} {
		if _, err := s.Join(ctx, events.JoinRoomRequest{Room: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	key := "k1"
	posted, err := annS.Post(ctx, events.ChatMessageRequest{Room: "r", Content: " hi ", ClientMsgID: &key})
	if err != nil || posted.Content != "hi" || posted.Sender != ann {
		t.Fatalf("Post = %+v, %v", posted, err)
	}
	sys := events.UserRef{ID: "sys", Name: "System"}
	published, created, err := ch.Publish(ctx, sys, events.ChatMessageRequest{Room: "r", Content: "from the API"})
	if err != nil || !created {
		t.Fatalf("Publish = %+v, %v, %v", published, created, err)
	}
	if again, err := annS.Post(ctx, events.ChatMessageRequest{Room: "r", Content: "hi", ClientMsgID: &key}); err != nil || again != posted {
		t.Fatalf("resend = %+v, %v; want the original", again, err)
	}
	if _, err := annS.Join(ctx, events.JoinRoomRequest{Room: "s"}); err != nil {
		t.Fatal(err)
	}
	_, err = annS.Post(ctx, events.ChatMessageRequest{Room: "s", Content: "elsewhere", ClientMsgID: &key})
	var e *events.Error
	if !errors.As(err, &e) || e.Code != events.CodeConflict {
		t.Fatalf("key reused in another room: %v; want conflict", err)
	}
	if _, _, err := ch.Publish(ctx, ann, events.ChatMessageRequest{Room: "s", Content: "x", ClientMsgID: &key}); !errors.As(err, &e) || e.Code != events.CodeConflict {
		t.Fatalf("Publish with a key of another room: %v; want conflict", err)
	}

	got, err := namespacestest.ReceivedAll(bobC, events.NewChatMessage)
	if err != nil || !slices.Equal(got, []events.ChatMessage{posted, published}) {
		t.Fatalf("bob received %+v, %v", got, err)
	}
	// The poster's own socket gets its message from the ack, the API's
	// message from the broadcast.
	if got, _ := namespacestest.ReceivedAll(annC, events.NewChatMessage); !slices.Equal(got, []events.ChatMessage{published}) {
		t.Fatalf("ann received %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(observed, []string{"hi", "from the API"}) {
		t.Fatalf("observed %v", observed)
	}
	page, _, err := ch.Page(ctx, "s", "", "", 10)
	if err != nil || len(page) != 0 {
		t.Fatalf("room s holds %+v, %v", page, err)
	}
}

// The room policy is the core's: a private room needs a claim on every
// transport, and invalid names are bad_request before anything else.
func TestAuthorizeAndRoomNames(t *testing.T) {
	t.Parallel()
	ch, err := core.NewChat(core.ChatConfig{History: &memHistory{}, Rooms: namespacestest.NewNamespace("/chat"), Policy: rooms.NewPolicy("staff-*")})
	if err != nil {
		t.Fatal(err)
	}
	plain := auth.Identity{User: events.UserRef{ID: "u", Name: "U"}}
	staff := auth.Identity{User: events.UserRef{ID: "s", Name: "S"}, Rooms: []string{"staff-*", "private:ops"}}
	for _, tc := range []struct {
		id   auth.Identity
		room string
		code events.Code
	}{
		{plain, "lobby", ""},
		{plain, "staff-a", events.CodeForbidden},
		{plain, "private:ops", events.CodeForbidden},
		{staff, "staff-a", ""},
		{staff, "private:ops", ""},
		{staff, "private:other", events.CodeForbidden},
	} {
		err := ch.Authorize(tc.id, tc.room)
		var e *events.Error
		if tc.code == "" && err != nil || tc.code != "" && (!errors.As(err, &e) || e.Code != tc.code) {
			t.Errorf("Authorize(%s, %q) = %v; want %q", tc.id.User.ID, tc.room, err, tc.code)
		}
	}
	for _, room := range []string{"", ".", "..", "a b", "#x"} {
		if _, _, err := ch.Publish(context.Background(), plain.User, events.ChatMessageRequest{Room: room, Content: "x"}); !isCode(err, events.CodeBadRequest) {
			t.Errorf("Publish to %q: %v; want bad_request", room, err)
		}
		if _, _, err := ch.Page(context.Background(), room, "", "", 10); !isCode(err, events.CodeBadRequest) {
			t.Errorf("Page of %q: %v; want bad_request", room, err)
		}
	}
}

func isCode(err error, code events.Code) bool {
	var e *events.Error
	return errors.As(err, &e) && e.Code == code
}
