package events

import (
	"strings"
	"unicode/utf8"
)

// Chat is the chat namespace.
const Chat Namespace = "/chat"

// The /chat events. Room names are not checked by Validate: RoomNamePattern
// states the rule, and the chat handlers check it with rooms.Validate, so
// a bad room gets the handlers' error message.
var (
	// JoinRoom joins the socket to a room and answers with its members and
	// latest history.
	JoinRoom = ClientEvent[JoinRoomRequest, JoinRoomResult](Chat, "joinRoom")
	// LeaveRoom leaves a room the socket has joined.
	LeaveRoom = ClientEvent[LeaveRoomRequest, LeaveRoomResult](Chat, "leaveRoom")
	// SendChatMessage (wire name "chatMessage") posts a message to a joined
	// room and answers with the stored message.
	SendChatMessage = ClientEvent[ChatMessageRequest, ChatMessage](Chat, "chatMessage")
	// Typing reports that the user started or stopped typing in a room.
	Typing = ClientEventNoAck[TypingStatus](Chat, "typing")
	// FetchHistory pages through a joined room's history.
	FetchHistory = ClientEvent[FetchHistoryRequest, FetchHistoryResult](Chat, "fetchHistory")

	// NewChatMessage delivers a message posted by another socket.
	NewChatMessage = ServerEvent[ChatMessage](Chat, "newChatMessage")
	// UserJoined tells a room that a user's first socket joined it.
	UserJoined = ServerEvent[RoomUser](Chat, "userJoined")
	// UserLeft tells a room that a user's last socket left it.
	UserLeft = ServerEvent[RoomUser](Chat, "userLeft")
	// UserTyping (wire name "typing") relays another user's typing state.
	UserTyping = ServerEvent[TypingNotice](Chat, "typing")
)

// UserRef identifies a user.
type UserRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ChatMessage is a stored message.
type ChatMessage struct {
	// ID is a UUIDv7 assigned by the store when it commits the message.
	ID     string  `json:"id"`
	Room   string  `json:"room"`
	Sender UserRef `json:"sender"`
	// Content is the trimmed text.
	Content string `json:"content"`
	// Timestamp is the commit time in Unix milliseconds.
	Timestamp int64 `json:"timestamp"`
	// ClientMsgID is the sender's idempotency key; empty when none was given.
	ClientMsgID string `json:"clientMsgId,omitempty"`
}

// JoinRoomRequest is the joinRoom payload.
type JoinRoomRequest struct {
	Room string `json:"room"`
}

// JoinRoomResult is the joinRoom ack data.
type JoinRoomResult struct {
	Room string `json:"room"`
	// Members are the distinct users in the room, this one included.
	Members []UserRef `json:"members"`
	// History is the room's latest DefaultHistoryLimit messages, oldest
	// first.
	History []ChatMessage `json:"history"`
}

// LeaveRoomRequest is the leaveRoom payload.
type LeaveRoomRequest struct {
	Room string `json:"room"`
}

// LeaveRoomResult is the leaveRoom ack data.
type LeaveRoomResult struct {
	Room string `json:"room"`
}

// ChatMessageRequest is the chatMessage payload.
type ChatMessageRequest struct {
	Room    string `json:"room"`
	Content string `json:"content"`
	// ClientMsgID is an idempotency key: resending a message with the same
	// key returns the stored original instead of posting twice.
	ClientMsgID *string `json:"clientMsgId,omitempty"`
}

// TrimmedContent is Content without leading and trailing white space: what
// is validated and stored.
func (r ChatMessageRequest) TrimmedContent() string { return strings.TrimSpace(r.Content) }

// Validate checks the content (1 to MaxContentChars characters after
// trimming: empty is bad_request, longer is too_large) and the clientMsgId
// (1 to MaxClientMsgIDChars characters when present, else bad_request).
func (r ChatMessageRequest) Validate() error {
	switch n := utf8.RuneCountInString(r.TrimmedContent()); {
	case n == 0:
		return NewError(CodeBadRequest, "content is empty")
	case n > MaxContentChars:
		return Errorf(CodeTooLarge, "content is longer than %d characters", MaxContentChars)
	}
	if r.ClientMsgID != nil {
		if n := utf8.RuneCountInString(*r.ClientMsgID); n == 0 || n > MaxClientMsgIDChars {
			return Errorf(CodeBadRequest, "clientMsgId must be 1 to %d characters", MaxClientMsgIDChars)
		}
	}
	return nil
}

// TypingStatus is the client's typing payload.
type TypingStatus struct {
	Room     string `json:"room"`
	IsTyping bool   `json:"isTyping"`
}

// FetchHistoryRequest is the fetchHistory payload. Before and After are
// message ids; with neither, the page is the latest messages.
type FetchHistoryRequest struct {
	Room   string  `json:"room"`
	Before *string `json:"before,omitempty"`
	After  *string `json:"after,omitempty"`
	// Limit is the page size, 1 to MaxHistoryLimit; DefaultHistoryLimit
	// when absent.
	Limit *int `json:"limit,omitempty"`
}

// Validate checks that the cursors are non-empty and the limit in range
// when present.
func (r FetchHistoryRequest) Validate() error {
	if r.Before != nil && *r.Before == "" {
		return NewError(CodeBadRequest, "before must not be empty")
	}
	if r.After != nil && *r.After == "" {
		return NewError(CodeBadRequest, "after must not be empty")
	}
	if r.Limit != nil && (*r.Limit < 1 || *r.Limit > MaxHistoryLimit) {
		return Errorf(CodeBadRequest, "limit must be 1 to %d", MaxHistoryLimit)
	}
	return nil
}

// PageLimit is Limit, or DefaultHistoryLimit when absent.
func (r FetchHistoryRequest) PageLimit() int {
	if r.Limit == nil {
		return DefaultHistoryLimit
	}
	return *r.Limit
}

// FetchHistoryResult is the fetchHistory ack data.
type FetchHistoryResult struct {
	// Messages are oldest first.
	Messages []ChatMessage `json:"messages"`
	// HasMore reports whether more messages exist in the paging direction:
	// older ones without after, newer ones with it.
	HasMore bool `json:"hasMore"`
}

// RoomUser is the userJoined and userLeft payload.
type RoomUser struct {
	Room string  `json:"room"`
	User UserRef `json:"user"`
}

// TypingNotice is the server's typing payload.
type TypingNotice struct {
	Room     string  `json:"room"`
	User     UserRef `json:"user"`
	IsTyping bool    `json:"isTyping"`
}
