package store

import (
	"context"
	"errors"
)

// Sentinel errors. Callers compare with errors.Is.
var (
	// ErrUnavailable reports that the store cannot take writes or reads now
	// (closed, disk full, database locked past its timeout). Nothing was
	// written.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrNotFound reports that a paging cursor names no message of the room.
	ErrNotFound = errors.New("store: message not found")
	// ErrBadQuery reports a Query that can never succeed, such as a Limit
	// outside 0..MaxLimit. Retrying it unchanged fails again.
	ErrBadQuery = errors.New("store: bad history query")
	// ErrInvalid reports a write with a string field the database cannot
	// store as text: a NUL byte or invalid UTF-8. Only the PostgreSQL store
	// returns it; the write fails alone and nothing of it is stored.
	ErrInvalid = errors.New("store: invalid text")
)

// Message is one stored chat message.
type Message struct {
	// ID is a UUIDv7 string assigned by the store at commit time, so that id
	// order is commit order within a room.
	ID string
	// Room is the room name.
	Room string
	// SenderID and SenderName identify the author.
	SenderID   string
	SenderName string
	// Content is the message text.
	Content string
	// Timestamp is the server time in Unix milliseconds, assigned by the store
	// together with ID: the process's clock for SQLite, the database's for
	// PostgreSQL (one clock for every node).
	Timestamp int64
	// ClientMsgID is the sender's idempotency key; empty when none was given.
	ClientMsgID string
}

// Query selects a page of a room's history. Before and After are message ids
// (either, both or neither); Limit is the page size, 1..MaxLimit, and 0 means
// DefaultLimit. Any other Limit fails with ErrBadQuery, and a cursor that is
// not a message of the room fails with ErrNotFound.
type Query struct {
	Before string
	After  string
	Limit  int
}

// MaxLimit is the largest page a Query may ask for.
const MaxLimit = 200

// DefaultLimit is the page size of a Query whose Limit is 0.
const DefaultLimit = 50

// Page is one page of history, oldest first. HasMore reports whether more
// messages exist in the paging direction: older ones for a Before-only or
// cursor-less query, newer ones for a query with After.
type Page struct {
	Messages []Message
	HasMore  bool
}

// Messages is durable chat history.
type Messages interface {
	// Append stores m durably and returns it with ID and Timestamp set. It
	// returns only after the message is committed. When m.ClientMsgID is not
	// empty and (SenderID, ClientMsgID) was stored before, it returns the
	// original message and created == false, writing nothing.
	Append(ctx context.Context, m Message) (stored Message, created bool, err error)
	// History returns one page of the room's messages, oldest first.
	History(ctx context.Context, room string, q Query) (Page, error)
}

// Presence is durable last-seen state.
type Presence interface {
	// SetLastSeen records that the user went offline at ms (Unix ms).
	SetLastSeen(ctx context.Context, userID, name string, ms int64) error
	// LastSeen returns the records of the users that have one.
	LastSeen(ctx context.Context, userIDs []string) (map[string]Seen, error)
}

// Seen is a user's last-seen record: the name it had and when it went
// offline (Unix ms).
type Seen struct {
	Name string
	At   int64
}
