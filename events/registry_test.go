package events

import (
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

type okPayload struct {
	A string `json:"a"`
}

type noTag struct {
	A string
}

type withMap struct {
	M map[string]string `json:"m"`
}

type withAny struct {
	V any `json:"v"`
}

type withBytes struct {
	B []byte `json:"b"`
}

type withEmbedded struct {
	okPayload
}

type withStringOpt struct {
	N int `json:"n,string"`
}

type nestedBad struct {
	Inner withMap `json:"inner"`
}

// seq makes registry names unique, so the tests survive -count=N.
var seq atomic.Int64

func uniqueName(prefix string) string { return fmt.Sprintf("%s%d", prefix, seq.Add(1)) }

func panicMessage(f func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
		}
	}()
	f()
	return ""
}

func TestRegisterPanics(t *testing.T) {
	t.Parallel()
	dup := uniqueName("dup")
	ClientEvent[okPayload, okPayload]("/regtest", dup)
	tests := []struct {
		name string
		reg  func()
		want string
	}{
		{"duplicate", func() { ClientEventNoAck[okPayload]("/regtest", dup) }, "duplicate clientToServer event"},
		{"reserved connect", func() { ServerEvent[okPayload]("/regtest", "connect") }, "reserved"},
		{"reserved disconnecting", func() { ClientEvent[okPayload, okPayload]("/regtest", "disconnecting") }, "reserved"},
		{"reserved newListener", func() { ClientEventNoAck[okPayload]("/regtest", "newListener") }, "reserved"},
		{"empty name", func() { ServerEvent[okPayload]("/regtest", "") }, "empty event name"},
		{"bad namespace", func() { ServerEvent[okPayload]("regtest", uniqueName("e")) }, "does not start with /"},
		{"non-struct payload", func() { ServerEvent[int]("/regtest", uniqueName("e")) }, "not a struct"},
		{"non-struct ack", func() { ClientEvent[okPayload, []okPayload]("/regtest", uniqueName("e")) }, "not a struct"},
		{"no json tag", func() { ServerEvent[noTag]("/regtest", uniqueName("e")) }, "no json tag"},
		{"map field", func() { ServerEvent[withMap]("/regtest", uniqueName("e")) }, "kind map is not supported"},
		{"any field", func() { ServerEvent[withAny]("/regtest", uniqueName("e")) }, "kind interface is not supported"},
		{"bytes field", func() { ServerEvent[withBytes]("/regtest", uniqueName("e")) }, "byte slices"},
		{"embedded", func() { ServerEvent[withEmbedded]("/regtest", uniqueName("e")) }, "embedded"},
		{"string option", func() { ServerEvent[withStringOpt]("/regtest", uniqueName("e")) }, `option "string"`},
		{"nested bad", func() { ServerEvent[nestedBad]("/regtest", uniqueName("e")) }, "kind map is not supported"},
		{"anonymous struct", func() { ServerEvent[struct{ A string }]("/regtest", uniqueName("e")) }, "only named"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := panicMessage(tt.reg); !strings.Contains(got, tt.want) {
				t.Fatalf("panic = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestSameNameBothDirections(t *testing.T) {
	t.Parallel()
	name := uniqueName("both")
	in := ClientEventNoAck[okPayload]("/regtest", name)
	out := ServerEvent[okPayload]("/regtest", name)
	if in.Name() != name || out.Name() != name {
		t.Fatalf("names %q %q", in.Name(), out.Name())
	}
	// The contract's own instance: typing in both directions.
	if Typing.Name() != UserTyping.Name() || Typing.Info().Payload == UserTyping.Info().Payload {
		t.Fatal("typing should exist in both directions with different payloads")
	}
}

func TestRegisteredChat(t *testing.T) {
	t.Parallel()
	var got []string
	for _, info := range Registered() {
		if info.Namespace == Chat {
			ack := "-"
			if info.Ack != nil {
				ack = info.Ack.Name()
			}
			got = append(got, fmt.Sprintf("%s %s(%s) %s", info.Direction, info.Name, info.Payload.Name(), ack))
		}
	}
	want := []string{
		"clientToServer chatMessage(ChatMessageRequest) ChatMessage",
		"clientToServer fetchHistory(FetchHistoryRequest) FetchHistoryResult",
		"clientToServer joinRoom(JoinRoomRequest) JoinRoomResult",
		"clientToServer leaveRoom(LeaveRoomRequest) LeaveRoomResult",
		"clientToServer refreshToken(RefreshTokenRequest) RefreshTokenResult",
		"clientToServer typing(TypingStatus) -",
		"serverToClient newChatMessage(ChatMessage) -",
		"serverToClient typing(TypingNotice) -",
		"serverToClient userJoined(RoomUser) -",
		"serverToClient userLeft(RoomUser) -",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("registered /chat events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestZeroDescriptorPanics(t *testing.T) {
	t.Parallel()
	if got := panicMessage(func() { _ = Outbound[okPayload]{}.Name() }); !strings.Contains(got, "zero event descriptor") {
		t.Fatalf("panic = %q", got)
	}
}

func TestTypeScriptPrefix(t *testing.T) {
	t.Parallel()
	for ns, want := range map[Namespace]string{"/chat": "Chat", "/": "", "/presence": "Presence", "/admin-panel": "AdminPanel", "/a/b_c": "ABC"} {
		if got := ns.TypeScriptPrefix(); got != want {
			t.Errorf("%q.TypeScriptPrefix() = %q, want %q", ns, got, want)
		}
	}
}

func TestFieldsOptional(t *testing.T) {
	t.Parallel()
	fields, err := Fields(reflect.TypeFor[ChatMessage]())
	if err != nil {
		t.Fatal(err)
	}
	var optional []string
	for _, f := range fields {
		if f.Optional {
			optional = append(optional, f.Name)
		}
	}
	if !reflect.DeepEqual(optional, []string{"clientMsgId"}) {
		t.Fatalf("optional fields of ChatMessage = %v", optional)
	}
}
