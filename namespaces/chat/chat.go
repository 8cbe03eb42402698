package chat

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
)

// Defaults for the zero values of Deps fields.
const (
	DefaultTypingTimeout = 5 * time.Second
	DefaultMaxRooms      = 100
	// MaxIdentityChars is events.MaxIdentityChars, which bounds DevAuth's
	// userId and name, in characters.
	MaxIdentityChars = events.MaxIdentityChars
)

// ErrNotFound is wrapped by a History.Page error when a cursor names no
// message of the room; the client gets not_found.
var ErrNotFound = errors.New("chat: message not found")

// History is durable chat history, as the chat handlers need it. The
// composition root adapts package store to it.
type History interface {
	// Append stores msg, whose ID and Timestamp are empty (the store assigns
	// both at commit), and returns the stored message. It returns only after
	// the message is committed. When msg.ClientMsgID is not empty and
	// (msg.Sender.ID, msg.ClientMsgID) was stored before, it writes nothing
	// and returns the original with created == false.
	Append(ctx context.Context, msg events.ChatMessage) (stored events.ChatMessage, created bool, err error)
	// Page returns up to limit (1..events.MaxHistoryLimit) messages of room,
	// oldest first. before and after are message ids, "" for none; with
	// neither, the page is the latest messages. hasMore reports whether more
	// messages exist in the paging direction: older ones without after, newer
	// ones with it. An error wrapping ErrNotFound means a cursor names no
	// message of the room; any other error means the store is unavailable.
	Page(ctx context.Context, room, before, after string, limit int) (msgs []events.ChatMessage, hasMore bool, err error)
}

// Deps is what the /chat handlers need. Register copies it.
type Deps struct {
	// History stores and pages messages. Required.
	History History
	// Logger receives refused connections, handler failures and panics,
	// with the socket id and event. nil discards.
	Logger *slog.Logger
	// Authenticate resolves the user of a connecting socket. An
	// *events.Error it returns refuses the connection as written; any other
	// error refuses it with unauthorized (and is logged). nil means DevAuth.
	Authenticate func(c namespaces.Conn) (events.UserRef, error)
	// TypingTimeout is how long after a socket's last isTyping:true in a room
	// the server emits isTyping:false itself. Zero means
	// DefaultTypingTimeout.
	TypingTimeout time.Duration
	// AfterFunc starts the typing timers: it calls f once after d unless the
	// returned stop function is called first (stop reports whether it
	// prevented the call, as time.Timer.Stop does). nil means time.AfterFunc;
	// tests inject a manual clock.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// MaxRooms is the most chat rooms one socket may be in at once; joinRoom
	// beyond it acks forbidden. Zero means DefaultMaxRooms.
	MaxRooms int
	// HandlerTimeout bounds each handler's context. Zero means
	// events.DefaultTimeout.
	HandlerTimeout time.Duration
	// Observer receives what the handlers broadcast to rooms. Its zero value
	// observes nothing.
	Observer Observer
	// Authorize decides whether the socket may join a room (the name is
	// valid): an *events.Error it returns is the joinRoom ack as written
	// (forbidden for a private room the user has no claim to). nil allows
	// every room.
	Authorize func(c namespaces.Conn, room string) error
}

// Observer receives what /chat broadcasts to a room, for feeds that are not
// sockets (the server's SSE streams, the presence tracker). Its functions
// run on the goroutine that broadcasts, some with a room lock held: they
// must return at once and must not call into chat. For one room they are
// called in broadcast order. A nil function is skipped.
type Observer struct {
	// Message is called with each new message broadcast as newChatMessage.
	Message func(events.ChatMessage)
	// Joined is called with each userJoined: a user's first socket joined
	// the room.
	Joined func(events.RoomUser)
	// Left is called with each userLeft: a user's last socket left the room.
	Left func(events.RoomUser)
}

func (o Observer) message(m events.ChatMessage) {
	if o.Message != nil {
		o.Message(m)
	}
}

func (o Observer) joined(ru events.RoomUser) {
	if o.Joined != nil {
		o.Joined(ru)
	}
}

func (o Observer) left(ru events.RoomUser) {
	if o.Left != nil {
		o.Left(ru)
	}
}

// Register installs the /chat middleware and connection handler on ns. It
// fails when deps is unusable.
func Register(ns namespaces.Namespace, deps Deps) error {
	switch {
	case deps.History == nil:
		return errors.New("chat: Deps.History is nil")
	case deps.TypingTimeout < 0:
		return errors.New("chat: Deps.TypingTimeout is negative")
	case deps.MaxRooms < 0:
		return errors.New("chat: Deps.MaxRooms is negative")
	case deps.HandlerTimeout < 0:
		return errors.New("chat: Deps.HandlerTimeout is negative")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Authenticate == nil {
		deps.Authenticate = DevAuth
	}
	if deps.TypingTimeout == 0 {
		deps.TypingTimeout = DefaultTypingTimeout
	}
	if deps.AfterFunc == nil {
		deps.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if deps.MaxRooms == 0 {
		deps.MaxRooms = DefaultMaxRooms
	}
	if deps.HandlerTimeout == 0 {
		deps.HandlerTimeout = events.DefaultTimeout
	}
	if deps.Authorize == nil {
		deps.Authorize = func(namespaces.Conn, string) error { return nil }
	}
	srv := &server{ns: ns, deps: deps}
	ns.Use(namespaces.AuthMiddleware(deps.Authenticate, deps.Logger))
	ns.OnConnection(srv.connected)
	return nil
}

// User returns the identity the chat middleware stored on c.
func User(c namespaces.Conn) (events.UserRef, bool) { return namespaces.User(c) }

// RoomKey is the adapter room of the chat room name. The "#" prefix cannot
// occur in a socket id, so no chat room is a socket's private room.
func RoomKey(name string) string { return roomPrefix + name }

// roomPrefix marks the adapter rooms that are chat rooms.
const roomPrefix = "#"

// DevAuth is the development identity source: the handshake auth must be an
// object with non-blank string fields userId and name, each at most
// MaxIdentityChars characters (other fields are ignored). It trusts the
// client entirely; production replaces it through Deps.Authenticate.
func DevAuth(c namespaces.Conn) (events.UserRef, error) {
	var auth struct {
		UserID *string `json:"userId"`
		Name   *string `json:"name"`
	}
	if err := json.Unmarshal(c.Auth(), &auth); err != nil {
		return events.UserRef{}, events.NewError(events.CodeUnauthorized, "auth must be an object with string fields userId and name")
	}
	for _, f := range []struct {
		name  string
		value *string
	}{{"userId", auth.UserID}, {"name", auth.Name}} {
		if f.value == nil || strings.TrimSpace(*f.value) == "" {
			return events.UserRef{}, events.Errorf(events.CodeUnauthorized, "auth.%s is required", f.name)
		}
		if utf8.RuneCountInString(*f.value) > MaxIdentityChars {
			return events.UserRef{}, events.Errorf(events.CodeUnauthorized, "auth.%s is longer than %d characters", f.name, MaxIdentityChars)
		}
	}
	return events.UserRef{ID: *auth.UserID, Name: *auth.Name}, nil
}

// server is the namespace-wide state.
type server struct {
	ns   namespaces.Namespace
	deps Deps
	// roomLocks serialize membership transitions per room (see doc.go). A
	// fixed set keeps memory bounded however many rooms exist.
	roomLocks [64]sync.Mutex
}

func (s *server) roomLock(key string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key)) // hash.Hash.Write never fails
	return &s.roomLocks[h.Sum32()%uint32(len(s.roomLocks))]
}

func (s *server) connected(c namespaces.Conn) {
	log := s.deps.Logger.With("nsp", c.Namespace(), "socket", c.ID())
	user, ok := User(c)
	if !ok {
		log.Error("socket connected without an identity; disconnecting")
		c.Disconnect()
		return
	}
	sess := &session{
		srv: s, c: c, user: user, log: log,
		joined: map[string]struct{}{}, typing: map[string]*typingTimer{},
	}
	opts := []events.Option{events.WithLogger(log), events.WithTimeout(s.deps.HandlerTimeout)}
	events.Handle(c, events.JoinRoom, sess.joinRoom, opts...)
	events.Handle(c, events.LeaveRoom, sess.leaveRoom, opts...)
	events.Handle(c, events.SendChatMessage, sess.chatMessage, opts...)
	events.HandleNoAck(c, events.Typing, sess.typingStatus, opts...)
	events.Handle(c, events.FetchHistory, sess.fetchHistory, opts...)
	c.OnDisconnect(sess.disconnected)
	sess.resume()
}

// userPresent reports whether a socket other than exceptID of user userID is
// in the adapter room key.
func (s *server) userPresent(key, userID, exceptID string) bool {
	for _, c := range s.ns.Sockets(key) {
		if c.ID() == exceptID {
			continue
		}
		if u, ok := User(c); ok && u.ID == userID {
			return true
		}
	}
	return false
}

// members returns the distinct users in the adapter room key, sorted by id.
func (s *server) members(key string) []events.UserRef {
	seen := map[string]bool{}
	out := []events.UserRef{}
	for _, c := range s.ns.Sockets(key) {
		if u, ok := User(c); ok && !seen[u.ID] {
			seen[u.ID] = true
			out = append(out, u)
		}
	}
	sortUsers(out)
	return out
}
