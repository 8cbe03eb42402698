package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/parley-rt/parley/events"
)

// socket stands in for a namespaces.Conn: it keeps the raw handlers that
// Handle installs and prints what is emitted to it.
type socket struct {
	handlers map[string]events.RawHandler
}

func (s *socket) On(event string, h events.RawHandler) { s.handlers[event] = h }

func (s *socket) Emit(event string, args ...any) error {
	b, err := json.Marshal(args)
	if err != nil {
		return err
	}
	fmt.Printf("emit %s %s\n", event, b)
	return nil
}

// receive plays the engine: it hands one client event to its handler and
// prints the ack.
func (s *socket) receive(event, payload string) {
	ack := func(args ...any) error {
		b, err := json.Marshal(args[0])
		fmt.Printf("ack %s\n", b)
		return err
	}
	s.handlers[event](context.Background(), []json.RawMessage{json.RawMessage(payload)}, ack)
}

func ExampleHandle() {
	conn := &socket{handlers: map[string]events.RawHandler{}}

	// The handler sees a decoded, validated JoinRoomRequest and returns the
	// ack data or an error.
	events.Handle(conn, events.JoinRoom, func(ctx context.Context, req events.JoinRoomRequest) (events.JoinRoomResult, error) {
		if strings.HasPrefix(req.Room, "staff") {
			return events.JoinRoomResult{}, events.NewError(events.CodeForbidden, "staff rooms are invite-only")
		}
		return events.JoinRoomResult{Room: req.Room, Members: []events.UserRef{}, History: []events.ChatMessage{}}, nil
	})

	conn.receive("joinRoom", `{"room":"general"}`)
	conn.receive("joinRoom", `{"room":"staff-only"}`)
	conn.receive("joinRoom", `{"room":"general","owner":"me"}`)
	// Output:
	// ack {"ok":true,"data":{"room":"general","members":[],"history":[]}}
	// ack {"ok":false,"error":{"code":"forbidden","message":"staff rooms are invite-only"}}
	// ack {"ok":false,"error":{"code":"bad_request","message":"invalid payload: unknown field \"owner\""}}
}

func ExampleHandleNoAck() {
	conn := &socket{handlers: map[string]events.RawHandler{}}
	events.HandleNoAck(conn, events.Typing, func(ctx context.Context, ev events.TypingStatus) error {
		fmt.Printf("typing in %s: %v\n", ev.Room, ev.IsTyping)
		return nil
	})
	conn.receive("typing", `{"room":"general","isTyping":true}`)
	conn.receive("typing", `{"room":"general"}`) // dropped: isTyping is required
	// Output:
	// typing in general: true
}

func ExampleEmit() {
	conn := &socket{}
	msg := events.ChatMessage{
		ID: "0192f0c1-7b5e-7a3c-9d2e-3f4a5b6c7d8f", Room: "general",
		Sender: events.UserRef{ID: "u-alice", Name: "Alice"}, Content: "hi", Timestamp: 1730000000123,
	}
	// events.Emit(conn, events.NewChatMessage, events.RoomUser{}) would not compile.
	if err := events.Emit(conn, events.NewChatMessage, msg); err != nil {
		fmt.Println(err)
	}
	// Output:
	// emit newChatMessage [{"id":"0192f0c1-7b5e-7a3c-9d2e-3f4a5b6c7d8f","room":"general","sender":{"id":"u-alice","name":"Alice"},"content":"hi","timestamp":1730000000123}]
}

func ExampleDecode() {
	_, err := events.Decode[events.FetchHistoryRequest]([]byte(`{"room":"general","limit":"10"}`))
	fmt.Println(err)
	// Output:
	// events: invalid payload: limit: expected integer, got string
}
