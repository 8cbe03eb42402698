package chat_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
)

// observed records what a core.Observer saw, in order.
type observed struct {
	mu  sync.Mutex
	log []string
}

func (o *observed) add(s string) {
	o.mu.Lock()
	o.log = append(o.log, s)
	o.mu.Unlock()
}

func (o *observed) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.log)
}

// The Observer sees exactly what the room is sent: newChatMessage,
// userJoined and userLeft, never typing, never a duplicate or a refused
// message.
func TestObserver(t *testing.T) {
	t.Parallel()
	o := &observed{}
	e := newEnv(t, func(d *deps) {
		d.Observer = core.Observer{
			Message: func(m events.ChatMessage) { o.add("message " + m.Room + " " + m.Content + " " + m.Sender.ID) },
			Joined:  func(ru events.RoomUser) { o.add("joined " + ru.Room + " " + ru.User.ID) },
			Left:    func(ru events.RoomUser) { o.add("left " + ru.Room + " " + ru.User.ID) },
		}
	})
	alice1 := e.connect(t, "a1", "alice")
	alice2 := e.connect(t, "a2", "alice")
	bob := e.connect(t, "b1", "bob")
	join(t, alice1, "r")
	join(t, alice2, "r") // not her first socket: nothing
	join(t, bob, "r")
	mustOK(t, alice1, events.SendChatMessage, events.ChatMessageRequest{Room: "r", Content: " hi ", ClientMsgID: ptr("k")})
	mustOK(t, alice1, events.SendChatMessage, events.ChatMessageRequest{Room: "r", Content: "hi", ClientMsgID: ptr("k")}) // a retry
	mustFail(t, alice1, events.SendChatMessage, events.ChatMessageRequest{Room: "elsewhere", Content: "x"}, events.CodeForbidden)
	send := func(on bool) {
		if err := alice1.Send(events.Typing.Name(), events.TypingStatus{Room: "r", IsTyping: on}); err != nil {
			t.Fatal(err)
		}
	}
	send(true)
	send(false)
	mustOK(t, bob, events.LeaveRoom, events.LeaveRoomRequest{Room: "r"})
	alice1.Close("transport close") // alice2 is still in r
	alice2.Close("transport close")
	want := []string{
		"joined r alice",
		"joined r bob",
		"message r hi alice",
		"left r bob",
		"left r alice",
	}
	if got := o.get(); !slices.Equal(got, want) {
		t.Fatalf("observed\n%v\nwant\n%v", got, want)
	}
}

func TestAuthorizeJoin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *deps) {
		d.Authenticate = func(c namespaces.Conn) (auth.Identity, error) {
			u, err := auth.DevUser(c.Auth())
			id := auth.Identity{User: u}
			if u.ID == "boss" {
				id.Rooms = []string{"private:*"}
			}
			return id, err
		}
	})
	boss := e.connect(t, "b1", "boss")
	clerk := e.connect(t, "c1", "clerk")
	join(t, boss, "private:staff")
	join(t, clerk, "lobby")
	if got := mustFail(t, clerk, events.JoinRoom, events.JoinRoomRequest{Room: "private:staff"}, events.CodeForbidden); !strings.Contains(got.Message, "private") {
		t.Fatalf("message %q", got.Message)
	}
	if len(clerk.Rooms()) != 2 || len(received(t, boss, events.UserJoined)) != 0 {
		t.Fatal("a refused join joined or was announced")
	}
	// Without the room, the clerk can neither post to it nor read it.
	mustFail(t, clerk, events.SendChatMessage, events.ChatMessageRequest{Room: "private:staff", Content: "hi"}, events.CodeForbidden)
	mustFail(t, clerk, events.FetchHistory, events.FetchHistoryRequest{Room: "private:staff"}, events.CodeForbidden)
}
