package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/chat"
	"github.com/parley-rt/parley/namespaces/namespacestest"
)

func TestRegisterRejectsBadDeps(t *testing.T) {
	t.Parallel()
	h := newFakeHistory()
	for name, d := range map[string]deps{
		"no history":       {},
		"negative typing":  {History: h, TypingTimeout: -1},
		"negative rooms":   {History: h, MaxRooms: -1},
		"negative timeout": {History: h, HandlerTimeout: -time.Second},
	} {
		if _, err := register(namespacestest.NewNamespace("/chat"), d); err == nil {
			t.Errorf("%s: accepted %+v", name, d)
		}
	}
	if err := chat.Register(namespacestest.NewNamespace("/chat"), chat.Deps{}); err == nil {
		t.Error("Register accepted no core")
	}
}

func TestDevAuth(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", events.MaxIdentityChars+1)
	tests := []struct {
		name string
		auth any
		want events.UserRef
		msg  string // the refusal message, when refused
	}{
		{"valid", map[string]string{"userId": "u1", "name": "Ann"}, events.UserRef{ID: "u1", Name: "Ann"}, ""},
		{"extra fields ignored", map[string]any{"userId": "u1", "name": "Ann", "token": "t"}, events.UserRef{ID: "u1", Name: "Ann"}, ""},
		{"max length", map[string]string{"userId": strings.Repeat("é", 64), "name": strings.Repeat("n", 64)}, events.UserRef{ID: strings.Repeat("é", 64), Name: strings.Repeat("n", 64)}, ""},
		{"no auth", nil, events.UserRef{}, "auth.userId is required"},
		{"missing name", map[string]string{"userId": "u1"}, events.UserRef{}, "auth.name is required"},
		{"empty userId", map[string]string{"userId": "", "name": "Ann"}, events.UserRef{}, "auth.userId is required"},
		{"blank name", map[string]string{"userId": "u1", "name": "  "}, events.UserRef{}, "auth.name is required"},
		{"long userId", map[string]string{"userId": long, "name": "Ann"}, events.UserRef{}, "auth.userId is longer than 64"},
		{"long name", map[string]string{"userId": "u1", "name": long}, events.UserRef{}, "auth.name is longer than 64"},
		{"number userId", map[string]any{"userId": 7, "name": "Ann"}, events.UserRef{}, "auth must be an object"},
		{"array auth", []string{"u1"}, events.UserRef{}, "auth must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			c, err := e.ns.Connect("s1", tt.auth)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				defer c.Close("test over")
				if u, ok := namespaces.User(c); !ok || u != tt.want {
					t.Fatalf("User = %+v, %v; want %+v", u, ok, tt.want)
				}
				return
			}
			var ee *events.Error
			if !errors.As(err, &ee) || ee.Code != events.CodeUnauthorized || !strings.Contains(ee.Message, tt.msg) {
				t.Fatalf("err = %v, want unauthorized %q", err, tt.msg)
			}
			if len(e.ns.Sockets()) != 0 {
				t.Fatal("a refused socket is connected")
			}
		})
	}
}

func TestCustomAuthenticate(t *testing.T) {
	t.Parallel()
	secret := errors.New("jwks endpoint down")
	tests := []struct {
		name string
		auth func(namespaces.Conn) (events.UserRef, error)
		code events.Code
		msg  string
		log  string
	}{
		{"client error as written", func(namespaces.Conn) (events.UserRef, error) {
			return events.UserRef{}, events.NewError(events.CodeForbidden, "banned")
		}, events.CodeForbidden, "banned", ""},
		{"other error hidden", func(namespaces.Conn) (events.UserRef, error) {
			return events.UserRef{}, secret
		}, events.CodeUnauthorized, "authentication failed", "jwks endpoint down"},
		{"empty id", func(namespaces.Conn) (events.UserRef, error) {
			return events.UserRef{Name: "x"}, nil
		}, events.CodeUnauthorized, "authentication failed", "empty user id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(d *deps) {
				d.Authenticate = func(c namespaces.Conn) (auth.Identity, error) {
					u, err := tt.auth(c)
					return auth.Identity{User: u}, err
				}
			})
			_, err := e.ns.Connect("s1", map[string]string{"userId": "u1", "name": "Ann"})
			var ee *events.Error
			if !errors.As(err, &ee) || ee.Code != tt.code || ee.Message != tt.msg {
				t.Fatalf("err = %v, want %s %q", err, tt.code, tt.msg)
			}
			if errors.Is(err, secret) {
				t.Fatal("the internal cause reaches the client")
			}
			if !strings.Contains(e.logs.String(), tt.log) {
				t.Fatalf("log lacks %q: %s", tt.log, e.logs.String())
			}
		})
	}
	t.Run("custom identity used", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(d *deps) {
			d.Authenticate = func(namespaces.Conn) (auth.Identity, error) { return auth.Identity{User: user("jwt-user")}, nil }
		})
		c := e.connect(t, "s1", "ignored")
		if got := join(t, c, "r").Members; !slices.Equal(got, []events.UserRef{user("jwt-user")}) {
			t.Fatalf("members %v", got)
		}
	})
}

func TestJoinRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.hist.seed("general", 60)
	alice1 := e.connect(t, "a1", "alice")
	alice2 := e.connect(t, "a2", "alice")
	bob := e.connect(t, "b1", "bob")
	outsider := e.connect(t, "o1", "olga")

	res := join(t, bob, "general")
	if res.Room != "general" || !slices.Equal(res.Members, []events.UserRef{user("bob")}) {
		t.Fatalf("bob's join = %+v", res)
	}
	if len(res.History) != events.DefaultHistoryLimit || res.History[0].Content != "msg 10" || res.History[49].Content != "msg 59" {
		t.Fatalf("history: %d messages, first %q, want the latest 50 oldest first", len(res.History), res.History[0].Content)
	}
	if p := e.hist.lastPage(); p != (pageCall{room: "general", limit: 50}) {
		t.Fatalf("page call %+v", p)
	}

	res = join(t, alice1, "general")
	if !slices.Equal(res.Members, []events.UserRef{user("alice"), user("bob")}) {
		t.Fatalf("members %v", res.Members)
	}
	// alice's second socket: no second userJoined, members still distinct.
	res = join(t, alice2, "general")
	if !slices.Equal(res.Members, []events.UserRef{user("alice"), user("bob")}) {
		t.Fatalf("members %v", res.Members)
	}
	// Joining again is idempotent.
	res = join(t, alice2, "general")
	if !slices.Equal(res.Members, []events.UserRef{user("alice"), user("bob")}) || len(res.History) != 50 {
		t.Fatalf("rejoin %+v", res)
	}

	wantJoined := []events.RoomUser{{Room: "general", User: user("alice")}}
	if got := received(t, bob, events.UserJoined); !slices.Equal(got, wantJoined) {
		t.Fatalf("bob saw userJoined %v, want %v", got, wantJoined)
	}
	for _, c := range []*namespacestest.Conn{alice1, alice2, outsider} {
		if got := received(t, c, events.UserJoined); len(got) != 0 {
			t.Fatalf("%s saw userJoined %v", c.ID(), got)
		}
	}
	if len(alice2.Rooms()) != 2 || !slices.Contains(e.chat.Members("general"), user("alice")) {
		t.Fatalf("rooms %v, members %v", alice2.Rooms(), e.chat.Members("general"))
	}
}

func TestJoinRoomEmptyHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connect(t, "s1", "u1")
	ack, err := c.Call(events.JoinRoom.Name(), events.JoinRoomRequest{Room: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	// Arrays are [] on the wire, never null.
	if want := `{"ok":true,"data":{"room":"empty","members":[{"id":"u1","name":"Name u1"}],"history":[]}}`; string(ack.Args[0]) != want {
		t.Fatalf("ack %s, want %s", ack.Args[0], want)
	}
}

func TestJoinRoomRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		room string
		code events.Code
	}{
		{"empty", "", events.CodeBadRequest},
		{"space", "a b", events.CodeBadRequest},
		{"hash", "#general", events.CodeBadRequest},
		{"too long", strings.Repeat("r", 65), events.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			c := e.connect(t, "s1", "u1")
			mustFail(t, c, events.JoinRoom, events.JoinRoomRequest{Room: tt.room}, tt.code)
			if len(c.Rooms()) != 1 {
				t.Fatalf("rooms %v", c.Rooms())
			}
		})
	}
}

// A chat room is the adapter room of its name, and a socket's private room
// is its id: a client must not reach another socket's id room by naming it,
// so names that could be socket ids (20 characters of URL-safe base64, in
// Parley and in Node) are refused.
func TestJoinRoomCannotJoinSocketRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const victimID = "Vq3_x-9ZbT0aKk2LmNoP" // shaped like a real socket id
	victim := e.connect(t, victimID, "v")
	spy := e.connect(t, "spy", "s")
	for _, room := range []string{victimID, "AAAAAAAAAAAAAAAAAAAA", "a-b_c-d_e-f_g-h_i-j_"} {
		if got := mustFail(t, spy, events.JoinRoom, events.JoinRoomRequest{Room: room}, events.CodeBadRequest); !strings.Contains(got.Message, "socket id") {
			t.Fatalf("join %q: %q", room, got.Message)
		}
	}
	// 19 or 21 characters, or a "." or ":" in them, cannot be an id.
	for _, room := range []string{"AAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAA.AAAAAAAAAA", "lobby"} {
		join(t, spy, room)
	}
	if err := victim.Emit("private", "secret"); err != nil {
		t.Fatal(err)
	}
	_ = e.ns.To(victimID).Emit("private", "secret") // to the victim's id room
	if got := spy.ReceivedEvent("private"); len(got) != 0 {
		t.Fatalf("spy received %v", got)
	}
	if len(e.chat.Members(victimID)) != 0 {
		t.Fatalf("members of the id room %v", e.chat.Members(victimID))
	}
}

func TestJoinRoomLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *deps) { d.MaxRooms = 2 })
	c := e.connect(t, "s1", "u1")
	join(t, c, "r1")
	join(t, c, "r2")
	join(t, c, "r2") // already in: not a new room
	mustFail(t, c, events.JoinRoom, events.JoinRoomRequest{Room: "r3"}, events.CodeForbidden)
	mustOK(t, c, events.LeaveRoom, events.LeaveRoomRequest{Room: "r1"})
	join(t, c, "r3")
}

func TestJoinRoomHistoryUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	bob := e.connect(t, "b1", "bob")
	join(t, bob, "r")
	alice := e.connect(t, "a1", "alice")
	e.hist.mu.Lock()
	e.hist.pageErr = errors.New("database is locked")
	e.hist.mu.Unlock()
	msg := mustFail(t, alice, events.JoinRoom, events.JoinRoomRequest{Room: "r"}, events.CodeUnavailable)
	if strings.Contains(msg.Message, "locked") {
		t.Fatalf("the store error reaches the client: %q", msg.Message)
	}
	if len(alice.Rooms()) != 1 || slices.Contains(e.chat.Members("r"), user("alice")) {
		t.Fatal("a failed join left the socket in the room")
	}
	// The join was announced and then undone.
	if j, l := received(t, bob, events.UserJoined), received(t, bob, events.UserLeft); len(j) != 1 || len(l) != 1 {
		t.Fatalf("bob saw joined %v, left %v", j, l)
	}
	if !strings.Contains(e.logs.String(), "database is locked") {
		t.Fatal("the store error was not logged")
	}
}

func TestLeaveRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	alice1 := e.connect(t, "a1", "alice")
	alice2 := e.connect(t, "a2", "alice")
	bob := e.connect(t, "b1", "bob")
	join(t, bob, "r")
	join(t, alice1, "r")
	join(t, alice2, "r")

	mustFail(t, bob, events.LeaveRoom, events.LeaveRoomRequest{Room: "elsewhere"}, events.CodeNotFound)
	mustFail(t, bob, events.LeaveRoom, events.LeaveRoomRequest{Room: "bad room"}, events.CodeBadRequest)

	if got := mustOK(t, alice1, events.LeaveRoom, events.LeaveRoomRequest{Room: "r"}); got.Room != "r" {
		t.Fatalf("ack %+v", got)
	}
	if got := received(t, bob, events.UserLeft); len(got) != 0 {
		t.Fatalf("userLeft while alice still has a socket in the room: %v", got)
	}
	mustFail(t, alice1, events.LeaveRoom, events.LeaveRoomRequest{Room: "r"}, events.CodeNotFound)

	mustOK(t, alice2, events.LeaveRoom, events.LeaveRoomRequest{Room: "r"})
	want := []events.RoomUser{{Room: "r", User: user("alice")}}
	if got := received(t, bob, events.UserLeft); !slices.Equal(got, want) {
		t.Fatalf("bob saw userLeft %v, want %v", got, want)
	}
	for _, c := range []*namespacestest.Conn{alice1, alice2} {
		if got := received(t, c, events.UserLeft); len(got) != 0 {
			t.Fatalf("%s saw its own userLeft", c.ID())
		}
	}
	if got := join(t, bob, "r").Members; !slices.Equal(got, []events.UserRef{user("bob")}) {
		t.Fatalf("members after leaving %v", got)
	}
}

func TestDisconnectAnnouncesLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	alice1 := e.connect(t, "a1", "alice")
	alice2 := e.connect(t, "a2", "alice")
	bob := e.connect(t, "b1", "bob")
	for _, r := range []string{"r1", "r2"} {
		join(t, bob, r)
	}
	join(t, alice1, "r1")
	join(t, alice1, "r2")
	join(t, alice2, "r2")

	alice1.Close("transport close")
	want := []events.RoomUser{{Room: "r1", User: user("alice")}}
	if got := received(t, bob, events.UserLeft); !slices.Equal(got, want) {
		t.Fatalf("after a1 left: userLeft %v, want %v (alice is still in r2 through a2)", got, want)
	}
	alice2.Close("client namespace disconnect")
	want = append(want, events.RoomUser{Room: "r2", User: user("alice")})
	if got := received(t, bob, events.UserLeft); !slices.Equal(got, want) {
		t.Fatalf("after a2 left: userLeft %v, want %v", got, want)
	}
}

func TestChatMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	alice1 := e.connect(t, "a1", "alice")
	alice2 := e.connect(t, "a2", "alice")
	bob := e.connect(t, "b1", "bob")
	outsider := e.connect(t, "o1", "olga")
	for _, c := range []*namespacestest.Conn{alice1, alice2, bob} {
		join(t, c, "r")
	}
	join(t, outsider, "other")

	stored := mustOK(t, alice1, events.SendChatMessage, events.ChatMessageRequest{Room: "r", Content: "  hello \n", ClientMsgID: ptr("c1")})
	if stored.ID == "" || stored.Timestamp == 0 || stored.Room != "r" || stored.Content != "hello" ||
		stored.Sender != user("alice") || stored.ClientMsgID != "c1" {
		t.Fatalf("stored %+v", stored)
	}
	for _, c := range []*namespacestest.Conn{alice2, bob} {
		if got := received(t, c, events.NewChatMessage); !slices.Equal(got, []events.ChatMessage{stored}) {
			t.Fatalf("%s received %v", c.ID(), got)
		}
	}
	for _, c := range []*namespacestest.Conn{alice1, outsider} {
		if got := received(t, c, events.NewChatMessage); len(got) != 0 {
			t.Fatalf("%s received %v", c.ID(), got)
		}
	}

	// A retry with the same clientMsgId acks the original and sends nothing.
	again := mustOK(t, alice1, events.SendChatMessage, events.ChatMessageRequest{Room: "r", Content: "hello", ClientMsgID: ptr("c1")})
	if again != stored || e.hist.count("r") != 1 {
		t.Fatalf("retry = %+v, %d stored", again, e.hist.count("r"))
	}
	if got := received(t, bob, events.NewChatMessage); len(got) != 1 {
		t.Fatalf("a duplicate was broadcast: %v", got)
	}
	// Without a clientMsgId every message is new.
	second := mustOK(t, bob, events.SendChatMessage, events.ChatMessageRequest{Room: "r", Content: "hi"})
	if second.ID == stored.ID || second.ClientMsgID != "" || second.Sender != user("bob") {
		t.Fatalf("second %+v", second)
	}
	if got := received(t, alice1, events.NewChatMessage); !slices.Equal(got, []events.ChatMessage{second}) {
		t.Fatalf("alice received %v", got)
	}
}

func TestChatMessageRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		code    events.Code
	}{
		{"not joined", `{"room":"elsewhere","content":"x"}`, events.CodeForbidden},
		{"bad room", `{"room":"a b","content":"x"}`, events.CodeBadRequest},
		{"empty content", `{"room":"r","content":"   "}`, events.CodeBadRequest},
		{"too long", `{"room":"r","content":"` + strings.Repeat("x", 4001) + `"}`, events.CodeTooLarge},
		{"spoofed sender", `{"room":"r","content":"x","sender":{"id":"bob","name":"Bob"}}`, events.CodeBadRequest},
		{"empty clientMsgId", `{"room":"r","content":"x","clientMsgId":""}`, events.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			c := e.connect(t, "s1", "u1")
			peer := e.connect(t, "s2", "u2")
			join(t, c, "r")
			join(t, peer, "r")
			ack, err := c.CallRaw(events.SendChatMessage.Name(), []json.RawMessage{json.RawMessage(tt.payload)}, true)
			if err != nil {
				t.Fatal(err)
			}
			var res events.Result[events.ChatMessage]
			if err := json.Unmarshal(ack.Args[0], &res); err != nil {
				t.Fatal(err)
			}
			if res.OK || res.Error.Code != tt.code {
				t.Fatalf("ack %s, want %s", ack.Args[0], tt.code)
			}
			if e.hist.count("r") != 0 || len(peer.ReceivedEvent(events.NewChatMessage.Name())) != 0 {
				t.Fatal("a rejected message was stored or sent")
			}
		})
	}
}

func TestChatMessageStoreUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connect(t, "s1", "u1")
	peer := e.connect(t, "s2", "u2")
	join(t, c, "r")
	join(t, peer, "r")
	e.hist.mu.Lock()
	e.hist.appendErr = errors.New("disk full")
	e.hist.mu.Unlock()
	res := mustFail(t, c, events.SendChatMessage, events.ChatMessageRequest{Room: "r", Content: "x"}, events.CodeUnavailable)
	if strings.Contains(res.Message, "disk") {
		t.Fatalf("store error leaked: %q", res.Message)
	}
	if len(peer.ReceivedEvent(events.NewChatMessage.Name())) != 0 {
		t.Fatal("an unstored message was broadcast")
	}
	if !strings.Contains(e.logs.String(), "disk full") || !strings.Contains(e.logs.String(), `"event":"chatMessage"`) {
		t.Fatalf("log: %s", e.logs.String())
	}
}

func TestChatMessageWithoutAckDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connect(t, "s1", "u1")
	join(t, c, "r")
	if err := c.Send(events.SendChatMessage.Name(), events.ChatMessageRequest{Room: "r", Content: "x"}); err != nil {
		t.Fatal(err)
	}
	if e.hist.count("r") != 0 {
		t.Fatal("a message without an ack callback was stored")
	}
}

func TestFetchHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.hist.seed("r", 120)
	c := e.connect(t, "s1", "u1")
	mustFail(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r"}, events.CodeForbidden)
	join(t, c, "r")

	res := mustOK(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r"})
	if len(res.Messages) != 50 || !res.HasMore || res.Messages[0].Content != "msg 70" {
		t.Fatalf("default page: %d messages from %q, hasMore %v", len(res.Messages), res.Messages[0].Content, res.HasMore)
	}
	if p := e.hist.lastPage(); p != (pageCall{room: "r", limit: 50}) {
		t.Fatalf("page call %+v", p)
	}
	older := mustOK(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r", Before: &res.Messages[0].ID, Limit: ptr(200)})
	if len(older.Messages) != 70 || older.HasMore || older.Messages[69].Content != "msg 69" {
		t.Fatalf("older page: %d messages, hasMore %v", len(older.Messages), older.HasMore)
	}
	newer := mustOK(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r", After: &older.Messages[0].ID, Limit: ptr(1)})
	if len(newer.Messages) != 1 || !newer.HasMore || newer.Messages[0].Content != "msg 1" {
		t.Fatalf("newer page %+v", newer)
	}
	if p := e.hist.lastPage(); p != (pageCall{room: "r", after: older.Messages[0].ID, limit: 1}) {
		t.Fatalf("page call %+v", p)
	}

	mustFail(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r", Before: ptr("nope")}, events.CodeNotFound)
	mustFail(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r", Limit: ptr(201)}, events.CodeBadRequest)
	mustFail(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r", After: ptr("")}, events.CodeBadRequest)
	mustFail(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r r"}, events.CodeBadRequest)

	e.hist.mu.Lock()
	e.hist.pageErr = errors.New("closed")
	e.hist.mu.Unlock()
	mustFail(t, c, events.FetchHistory, events.FetchHistoryRequest{Room: "r"}, events.CodeUnavailable)
}

func TestFetchHistoryEmptyIsArray(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connect(t, "s1", "u1")
	join(t, c, "r")
	ack, err := c.Call(events.FetchHistory.Name(), events.FetchHistoryRequest{Room: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ok":true,"data":{"messages":[],"hasMore":false}}`; string(ack.Args[0]) != want {
		t.Fatalf("ack %s, want %s", ack.Args[0], want)
	}
}

func TestTyping(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *deps) { d.TypingTimeout = 3 * time.Second })
	alice := e.connect(t, "a1", "alice")
	bob := e.connect(t, "b1", "bob")
	outsider := e.connect(t, "o1", "olga")
	join(t, alice, "r")
	join(t, bob, "r")

	send := func(c *namespacestest.Conn, room string, on bool) {
		t.Helper()
		if err := namespacestest.Send(c, events.Typing, events.TypingStatus{Room: room, IsTyping: on}); err != nil {
			t.Fatal(err)
		}
	}
	send(alice, "r", true)
	pkts := bob.ReceivedEvent(events.UserTyping.Name())
	if len(pkts) != 1 || !pkts[0].Volatile {
		t.Fatalf("bob received %+v, want one volatile typing", pkts)
	}
	want := []events.TypingNotice{{Room: "r", User: user("alice"), IsTyping: true}}
	if got := received(t, bob, events.UserTyping); !slices.Equal(got, want) {
		t.Fatalf("bob saw %v", got)
	}
	if len(alice.ReceivedEvent("typing")) != 0 || len(outsider.ReceivedEvent("typing")) != 0 {
		t.Fatal("typing reached the sender or a non-member")
	}
	if p := e.timers.Pending(); len(p) != 1 || p[0].D != 3*time.Second {
		t.Fatalf("pending timers %+v", p)
	}

	// Not joined, invalid, or malformed: dropped.
	send(outsider, "r", true)
	send(alice, "nowhere", true)
	send(alice, "bad room", true)
	if err := outsider.Send("typing", map[string]any{"room": "r"}); err != nil {
		t.Fatal(err)
	}
	if got := received(t, bob, events.UserTyping); len(got) != 1 {
		t.Fatalf("dropped typing events reached bob: %v", got)
	}
	if len(e.timers.Pending()) != 1 {
		t.Fatal("a dropped typing event armed a timer")
	}
}

// The brief's end-to-end path with a real timer: the server clears a stale
// isTyping:true itself.
func TestTypingExpiresWithRealTimer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *deps) {
		d.TypingTimeout = 20 * time.Millisecond
		d.AfterFunc = nil // time.AfterFunc
	})
	alice := e.connect(t, "a1", "alice")
	bob := e.connect(t, "b1", "bob")
	join(t, alice, "r")
	join(t, bob, "r")
	if err := namespacestest.Send(alice, events.Typing, events.TypingStatus{Room: "r", IsTyping: true}); err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t)
	first, _, err := namespacestest.Next(ctx, bob, events.UserTyping)
	if err != nil || !first.IsTyping {
		t.Fatalf("first typing %+v, %v", first, err)
	}
	cleared, pkt, err := namespacestest.Next(ctx, bob, events.UserTyping)
	if err != nil {
		t.Fatal(err)
	}
	if cleared != (events.TypingNotice{Room: "r", User: user("alice"), IsTyping: false}) || pkt.Volatile {
		t.Fatalf("cleared %+v (volatile %v)", cleared, pkt.Volatile)
	}
}

func TestTypingTimers(t *testing.T) {
	t.Parallel()
	notice := func(on bool) events.TypingNotice {
		return events.TypingNotice{Room: "r", User: user("alice"), IsTyping: on}
	}
	tests := []struct {
		name string
		// steps run after alice and bob joined r; they return the timer
		// that a late fire should find stale, or nil.
		steps func(t *testing.T, e *env, alice *namespacestest.Conn) *namespacestest.Timer
		want  []events.TypingNotice // what bob sees
	}{
		{
			name: "expiry clears",
			steps: func(t *testing.T, e *env, alice *namespacestest.Conn) *namespacestest.Timer {
				sendTyping(t, alice, true)
				e.timers.Fire(only(t, e.timers.Pending()))
				return nil
			},
			want: []events.TypingNotice{notice(true), notice(false)},
		},
		{
			name: "new typing event replaces the timer",
			steps: func(t *testing.T, e *env, alice *namespacestest.Conn) *namespacestest.Timer {
				sendTyping(t, alice, true)
				old := only(t, e.timers.Pending())
				sendTyping(t, alice, true)
				if only(t, e.timers.Pending()) == old {
					t.Fatal("timer not replaced")
				}
				return old
			},
			want: []events.TypingNotice{notice(true), notice(true)},
		},
		{
			name: "isTyping false cancels",
			steps: func(t *testing.T, e *env, alice *namespacestest.Conn) *namespacestest.Timer {
				sendTyping(t, alice, true)
				old := only(t, e.timers.Pending())
				sendTyping(t, alice, false)
				if len(e.timers.Pending()) != 0 {
					t.Fatal("timer still pending")
				}
				return old
			},
			want: []events.TypingNotice{notice(true), notice(false)},
		},
		{
			name: "leave cancels and clears",
			steps: func(t *testing.T, e *env, alice *namespacestest.Conn) *namespacestest.Timer {
				sendTyping(t, alice, true)
				old := only(t, e.timers.Pending())
				mustOK(t, alice, events.LeaveRoom, events.LeaveRoomRequest{Room: "r"})
				if len(e.timers.Pending()) != 0 {
					t.Fatal("timer still pending")
				}
				return old
			},
			want: []events.TypingNotice{notice(true), notice(false)},
		},
		{
			name: "disconnect cancels and clears",
			steps: func(t *testing.T, e *env, alice *namespacestest.Conn) *namespacestest.Timer {
				sendTyping(t, alice, true)
				old := only(t, e.timers.Pending())
				alice.Close("transport close")
				if len(e.timers.Pending()) != 0 {
					t.Fatal("timer still pending")
				}
				return old
			},
			want: []events.TypingNotice{notice(true), notice(false)},
		},
		{
			name: "one timer per room",
			steps: func(t *testing.T, e *env, alice *namespacestest.Conn) *namespacestest.Timer {
				join(t, alice, "r2")
				sendTyping(t, alice, true)
				if err := namespacestest.Send(alice, events.Typing, events.TypingStatus{Room: "r2", IsTyping: true}); err != nil {
					t.Fatal(err)
				}
				sendTyping(t, alice, true)
				if n := len(e.timers.Pending()); n != 2 {
					t.Fatalf("%d pending timers, want one per room", n)
				}
				return nil
			},
			want: []events.TypingNotice{notice(true), notice(true)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			alice := e.connect(t, "a1", "alice")
			bob := e.connect(t, "b1", "bob")
			join(t, alice, "r")
			join(t, bob, "r")
			if stale := tt.steps(t, e, alice); stale != nil {
				e.timers.Fire(stale) // fired just before it was stopped
			}
			if got := received(t, bob, events.UserTyping); !slices.Equal(got, tt.want) {
				t.Fatalf("bob saw %v, want %v", got, tt.want)
			}
			for _, tm := range e.timers.All() {
				if tm.D != core.DefaultTypingTimeout {
					t.Fatalf("timer of %v, want the default %v", tm.D, core.DefaultTypingTimeout)
				}
			}
		})
	}
}

func sendTyping(t *testing.T, c *namespacestest.Conn, on bool) {
	t.Helper()
	if err := namespacestest.Send(c, events.Typing, events.TypingStatus{Room: "r", IsTyping: on}); err != nil {
		t.Fatal(err)
	}
}

func only(t *testing.T, timers []*namespacestest.Timer) *namespacestest.Timer {
	t.Helper()
	if len(timers) != 1 {
		t.Fatalf("%d pending timers, want 1", len(timers))
	}
	return timers[0]
}

// TestPresenceRace joins and leaves one user's sockets concurrently; an
// observer must see userJoined and userLeft strictly alternate, ending in
// the right state.
func TestPresenceRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	observer := e.connect(t, "obs", "observer")
	join(t, observer, "r")
	const sockets, rounds = 4, 25
	conns := make([]*namespacestest.Conn, sockets)
	for i := range conns {
		conns[i] = e.connect(t, fmt.Sprintf("s%d", i), "alice")
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for range rounds {
				if _, err := namespacestest.Call(c, events.JoinRoom, events.JoinRoomRequest{Room: "r"}); err != nil {
					t.Error(err)
					return
				}
				if _, err := namespacestest.Call(c, events.LeaveRoom, events.LeaveRoomRequest{Room: "r"}); err != nil {
					t.Error(err)
					return
				}
			}
			if i%2 == 0 { // half end inside the room
				if _, err := namespacestest.Call(c, events.JoinRoom, events.JoinRoomRequest{Room: "r"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var seq []string
	for _, p := range observer.Received() {
		if p.Event == events.UserJoined.Name() || p.Event == events.UserLeft.Name() {
			seq = append(seq, p.Event)
		}
	}
	if len(seq) == 0 || seq[0] != "userJoined" || seq[len(seq)-1] != "userJoined" {
		t.Fatalf("sequence starts or ends wrong: %v", seq)
	}
	for i := 1; i < len(seq); i++ {
		if seq[i] == seq[i-1] {
			t.Fatalf("%s twice in a row at %d: %v", seq[i], i, seq)
		}
	}
	if got := join(t, observer, "r").Members; !slices.Equal(got, []events.UserRef{user("alice"), user("observer")}) {
		t.Fatalf("members %v", got)
	}
}

func TestHandlerTimeout(t *testing.T) {
	t.Parallel()
	hist := &blockingHistory{fakeHistory: newFakeHistory()}
	ns := namespacestest.NewNamespace("/chat")
	if _, err := register(ns, deps{History: hist, HandlerTimeout: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c, err := ns.Connect("s1", map[string]string{"userId": "u", "name": "U"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close("test over")
	join(t, c, "r")
	hist.block.Store(true)
	mustFail(t, c, events.SendChatMessage, events.ChatMessageRequest{Room: "r", Content: "x"}, events.CodeUnavailable)
}

// blockingHistory's Append waits for its context when block is set.
type blockingHistory struct {
	*fakeHistory
	block atomic.Bool
}

func (h *blockingHistory) Append(ctx context.Context, m events.ChatMessage) (events.ChatMessage, bool, error) {
	if h.block.Load() {
		<-ctx.Done()
		return events.ChatMessage{}, false, ctx.Err()
	}
	return h.fakeHistory.Append(ctx, m)
}
