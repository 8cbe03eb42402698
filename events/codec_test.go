package events

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// check runs the Handle pipeline's decode step (strict decoding, then
// Validate) for payload type T.
func check[T any]() func([]byte) error {
	return func(b []byte) error {
		_, err := decodeArgs[T]([]json.RawMessage{b})
		return err
	}
}

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", MaxContentChars)
	tests := []struct {
		name    string
		decode  func([]byte) error
		payload string
	}{
		{"joinRoom", check[JoinRoomRequest](), `{"room":"general"}`},
		{"joinRoom whitespace", check[JoinRoomRequest](), " \n{ \"room\" : \"general\" }\n "},
		{"chatMessage minimal", check[ChatMessageRequest](), `{"room":"r","content":"hi"}`},
		{"chatMessage max content", check[ChatMessageRequest](), `{"room":"r","content":"` + long + `"}`},
		{"chatMessage content trimmed to max", check[ChatMessageRequest](), `{"room":"r","content":"  ` + long + `\n"}`},
		{"chatMessage clientMsgId max", check[ChatMessageRequest](), `{"room":"r","content":"hi","clientMsgId":"` + strings.Repeat("x", MaxClientMsgIDChars) + `"}`},
		{"typing false", check[TypingStatus](), `{"room":"r","isTyping":false}`},
		{"fetchHistory minimal", check[FetchHistoryRequest](), `{"room":"r"}`},
		{"fetchHistory limit 1", check[FetchHistoryRequest](), `{"room":"r","limit":1}`},
		{"fetchHistory limit max", check[FetchHistoryRequest](), `{"room":"r","limit":200}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.decode([]byte(tt.payload)); err != nil {
				t.Fatalf("rejected %s: %v", tt.payload, err)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	t.Parallel()
	tooLong := strings.Repeat("a", MaxContentChars+1)
	tests := []struct {
		name    string
		decode  func([]byte) error
		payload string
		code    Code
		msg     string // substring of the client's message
	}{
		{"not JSON", check[JoinRoomRequest](), `{"room":`, CodeBadRequest, "malformed JSON"},
		{"empty", check[JoinRoomRequest](), ``, CodeBadRequest, "malformed JSON"},
		{"trailing data", check[JoinRoomRequest](), `{"room":"a"} {}`, CodeBadRequest, "trailing data"},
		{"array payload", check[JoinRoomRequest](), `["a"]`, CodeBadRequest, "expected object, got array"},
		{"string payload", check[JoinRoomRequest](), `"general"`, CodeBadRequest, "expected object, got string"},
		{"null payload", check[JoinRoomRequest](), `null`, CodeBadRequest, "null is not allowed"},
		{"missing required", check[JoinRoomRequest](), `{}`, CodeBadRequest, `missing required field "room"`},
		{"zero value is present", check[TypingStatus](), `{"room":"r"}`, CodeBadRequest, `missing required field "isTyping"`},
		{"unknown field", check[JoinRoomRequest](), `{"room":"a","extra":1}`, CodeBadRequest, `unknown field "extra"`},
		{"case-folded key", check[JoinRoomRequest](), `{"Room":"a"}`, CodeBadRequest, `unknown field "Room"`},
		{"duplicate key", check[JoinRoomRequest](), `{"room":"a","room":"b"}`, CodeBadRequest, `duplicate field "room"`},
		{"wrong type", check[JoinRoomRequest](), `{"room":5}`, CodeBadRequest, "room: expected string, got number"},
		{"null required", check[JoinRoomRequest](), `{"room":null}`, CodeBadRequest, "room: null is not allowed"},
		{"null optional", check[FetchHistoryRequest](), `{"room":"r","before":null}`, CodeBadRequest, "before: null is not allowed"},
		{"bool as string", check[TypingStatus](), `{"room":"r","isTyping":"yes"}`, CodeBadRequest, "isTyping: expected boolean, got string"},
		{"fraction limit", check[FetchHistoryRequest](), `{"room":"r","limit":1.5}`, CodeBadRequest, "limit: expected an integer"},
		{"exponent limit", check[FetchHistoryRequest](), `{"room":"r","limit":1e2}`, CodeBadRequest, "limit: expected an integer"},
		{"huge limit", check[FetchHistoryRequest](), `{"room":"r","limit":99999999999999999999}`, CodeBadRequest, "limit: number out of range"},
		{"limit zero", check[FetchHistoryRequest](), `{"room":"r","limit":0}`, CodeBadRequest, "limit must be 1 to 200"},
		{"limit negative", check[FetchHistoryRequest](), `{"room":"r","limit":-1}`, CodeBadRequest, "limit must be 1 to 200"},
		{"limit too big", check[FetchHistoryRequest](), `{"room":"r","limit":201}`, CodeBadRequest, "limit must be 1 to 200"},
		{"empty before", check[FetchHistoryRequest](), `{"room":"r","before":""}`, CodeBadRequest, "before must not be empty"},
		{"empty after", check[FetchHistoryRequest](), `{"room":"r","after":""}`, CodeBadRequest, "after must not be empty"},
		{"empty content", check[ChatMessageRequest](), `{"room":"r","content":""}`, CodeBadRequest, "content is empty"},
		{"blank content", check[ChatMessageRequest](), `{"room":"r","content":" \t\n "}`, CodeBadRequest, "content is empty"},
		{"content too long", check[ChatMessageRequest](), `{"room":"r","content":"` + tooLong + `"}`, CodeTooLarge, "longer than 4000"},
		{"empty clientMsgId", check[ChatMessageRequest](), `{"room":"r","content":"x","clientMsgId":""}`, CodeBadRequest, "clientMsgId must be 1 to 128"},
		{"long clientMsgId", check[ChatMessageRequest](), `{"room":"r","content":"x","clientMsgId":"` + strings.Repeat("x", 129) + `"}`, CodeBadRequest, "clientMsgId must be 1 to 128"},
		{"sender in payload", check[ChatMessageRequest](), `{"room":"r","content":"x","sender":{"id":"u","name":"n"}}`, CodeBadRequest, `unknown field "sender"`},
		{"nested missing", check[RoomUser](), `{"room":"r","user":{"id":"u"}}`, CodeBadRequest, `user: missing required field "name"`},
		{"nested array path", check[JoinRoomResult](), `{"room":"r","members":[{"id":"a","name":"A"},{"id":1,"name":"B"}],"history":[]}`, CodeBadRequest, "members[1].id: expected string"},
		{"null array", check[JoinRoomResult](), `{"room":"r","members":null,"history":[]}`, CodeBadRequest, "members: null is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.decode([]byte(tt.payload))
			if err == nil {
				t.Fatalf("accepted %s", tt.payload)
			}
			got := rejection(err)
			if got.Code != tt.code || !strings.Contains(got.Message, tt.msg) {
				t.Fatalf("rejection = %s %q, want %s containing %q", got.Code, got.Message, tt.code, tt.msg)
			}
		})
	}
}

func TestDecodeErrorIsInvalidPayload(t *testing.T) {
	t.Parallel()
	_, err := Decode[JoinRoomRequest]([]byte(`{}`))
	if !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("err = %v, want ErrInvalidPayload", err)
	}
	var pe *PayloadError
	if !errors.As(err, &pe) || pe.Problem != `missing required field "room"` {
		t.Fatalf("err = %#v", err)
	}
}

func TestDecodeFillsValue(t *testing.T) {
	t.Parallel()
	got, err := Decode[FetchHistoryRequest]([]byte(`{"room":"r","before":"m1","limit":7}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Room != "r" || got.Before == nil || *got.Before != "m1" || got.After != nil || got.PageLimit() != 7 {
		t.Fatalf("decoded %+v", got)
	}
	if (FetchHistoryRequest{}).PageLimit() != DefaultHistoryLimit {
		t.Fatal("PageLimit default")
	}
}

func TestTrimmedContent(t *testing.T) {
	t.Parallel()
	if got := (ChatMessageRequest{Content: "\n  hi there \t"}).TrimmedContent(); got != "hi there" {
		t.Fatalf("TrimmedContent = %q", got)
	}
}

// TestRoomNamePattern holds the pattern's length bound to MaxRoomNameChars,
// which the generator cannot compute into a string constant.
func TestRoomNamePattern(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(RoomNamePattern)
	for s, want := range map[string]bool{
		strings.Repeat("a", MaxRoomNameChars):   true,
		strings.Repeat("a", MaxRoomNameChars+1): false,
		"Room_1.a:b-C":                          true, "": false, "a b": false, "#a": false, "café": false,
	} {
		if got := re.MatchString(s); got != want {
			t.Errorf("RoomNamePattern matches %q = %v, want %v", s, got, want)
		}
	}
	dots := regexp.MustCompile(RoomNameDotsPattern)
	for s, want := range map[string]bool{".": true, "..": true, "...": true, "a.": false, ".a": false, "": false} {
		if got := dots.MatchString(s); got != want {
			t.Errorf("RoomNameDotsPattern matches %q = %v, want %v", s, got, want)
		}
	}
}
