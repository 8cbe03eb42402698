package core

import (
	"cmp"
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/rooms"
)

// Defaults for the zero values of ChatConfig fields.
const (
	DefaultTypingTimeout = 5 * time.Second
	DefaultMaxRooms      = 100
)

// ErrNotFound is wrapped by a History.Page error when a cursor names no
// message of the room.
var ErrNotFound = errors.New("core: message not found")

// History is durable chat history, the core's store port. StoreHistory
// adapts package store to it.
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

// ChatConfig configures a Chat. NewChat copies it.
type ChatConfig struct {
	// History stores and pages messages. Required.
	History History
	// Rooms is the fan-out port: the namespace whose adapter is the record
	// of room membership and carries broadcasts (the /chat namespace, on
	// one node or on a cluster). Required.
	Rooms namespaces.Namespace
	// Policy decides which rooms need a claim. nil means rooms.NewPolicy():
	// only private:* rooms are private.
	Policy *rooms.Policy
	// MaxRooms is the most chat rooms one connection may be in at once;
	// joining beyond it fails with forbidden. Zero means DefaultMaxRooms.
	MaxRooms int
	// TypingTimeout is how long after a connection's last isTyping:true in
	// a room the core sends isTyping:false itself. Zero means
	// DefaultTypingTimeout.
	TypingTimeout time.Duration
	// AfterFunc starts the typing timers: it calls f once after d unless the
	// returned stop function is called first (stop reports whether it
	// prevented the call, as time.Timer.Stop does). nil means
	// time.AfterFunc; tests inject a manual clock.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Logger receives failed emits. nil discards.
	Logger *slog.Logger
	// Feed, when set, carries the messages, joins and leaves this node
	// announces to the other nodes of a cluster (see Relay and
	// Observer.Cluster). nil: a single node.
	Feed Feed
}

// Observer receives what the chat sends to a room, for feeds that are not
// sockets (SSE streams, metrics). Its functions must return at once and
// must not call into the chat: Joined and Left run in transition order,
// one at a time per room, after the room lock is released (see the
// package documentation); Message runs after the message is committed and
// broadcast. A nil function is skipped.
type Observer struct {
	// Message is called with each new message.
	Message func(events.ChatMessage)
	// Joined is called with each userJoined: a user's first connection
	// joined the room.
	Joined func(events.RoomUser)
	// Left is called with each userLeft: a user's last connection left the
	// room.
	Left func(events.RoomUser)
	// Cluster makes the observer see the messages, joins and leaves
	// announced on the other nodes of a cluster too (ChatConfig.Feed), on
	// the feed's goroutine and without a room lock. Feeds of what users
	// see (SSE) set it; counters of this node's work do not.
	Cluster bool
}

// Chat is the chat application: rooms, messages with durable history and
// typing indicators, for every transport. See the package documentation.
type Chat struct {
	cfg ChatConfig
	// presence, when set by NewPresence, tracks every connection Open
	// takes.
	presence *Presence

	obsMu     sync.RWMutex
	observers []Observer

	// roomLocks serialize membership transitions per room (see doc.go). A
	// fixed set keeps memory bounded however many rooms exist.
	roomLocks [64]roomSlot
}

// NewChat validates cfg and returns the Chat; it starts no goroutine.
func NewChat(cfg ChatConfig) (*Chat, error) {
	switch {
	case cfg.History == nil:
		return nil, errors.New("core: ChatConfig.History is nil")
	case cfg.Rooms == nil:
		return nil, errors.New("core: ChatConfig.Rooms is nil")
	case cfg.TypingTimeout < 0:
		return nil, errors.New("core: ChatConfig.TypingTimeout is negative")
	case cfg.MaxRooms < 0:
		return nil, errors.New("core: ChatConfig.MaxRooms is negative")
	}
	if cfg.Policy == nil {
		cfg.Policy = rooms.NewPolicy()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TypingTimeout == 0 {
		cfg.TypingTimeout = DefaultTypingTimeout
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if cfg.MaxRooms == 0 {
		cfg.MaxRooms = DefaultMaxRooms
	}
	return &Chat{cfg: cfg}, nil
}

// Observe adds an observer. Observers added while messages flow see the
// events from then on.
func (ch *Chat) Observe(o Observer) {
	ch.obsMu.Lock()
	defer ch.obsMu.Unlock()
	ch.observers = append(ch.observers, o)
}

func (ch *Chat) notify(f func(Observer)) {
	ch.obsMu.RLock()
	defer ch.obsMu.RUnlock()
	for _, o := range ch.observers {
		f(o)
	}
}

// roomKey is the adapter room of the chat room name: the name itself, so
// that Node nodes of a mixed cluster and @socket.io/redis-emitter address a
// chat room as io.of("/chat").to(name). A name that could be taken for a
// socket id (its private room) is refused by checkRoom. No other package
// needs to know more than that.
func roomKey(name string) string { return name }

// isChatRoom reports whether the adapter room key of socket c is a chat
// room: every room but the socket's own id room.
func isChatRoom(c namespaces.Conn, key string) bool { return key != c.ID() }

// socketIDLike matches the names a socket id can take: 20 characters of
// the URL-safe base64 alphabet (15 random bytes, in Parley and in Node's
// socket.io alike).
func socketIDLike(name string) bool {
	if len(name) != 20 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

func (ch *Chat) roomLock(key string) *roomSlot {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key)) // hash.Hash.Write never fails
	return &ch.roomLocks[h.Sum32()%uint32(len(ch.roomLocks))]
}

// roomsOf returns the chat rooms c is in, by name.
func (ch *Chat) roomsOf(c namespaces.Conn) []string {
	if c.Namespace() != ch.cfg.Rooms.Name() {
		return nil
	}
	var out []string
	for _, key := range c.Rooms() {
		if isChatRoom(c, key) {
			out = append(out, key)
		}
	}
	return out
}

// userPresent reports whether a connection other than exceptID of user
// userID is in the adapter room key.
func (ch *Chat) userPresent(key, userID, exceptID string) bool {
	for _, c := range ch.cfg.Rooms.Sockets(key) {
		if c.ID() == exceptID {
			continue
		}
		if u, ok := namespaces.User(c); ok && u.ID == userID {
			return true
		}
	}
	return false
}

// Members returns the distinct users in a room, on every node of a
// cluster, sorted by id; none for a name that could be a socket id (whose
// adapter room is that socket's).
func (ch *Chat) Members(room string) []events.UserRef {
	out := ch.localMembers(room)
	if p := ch.presence; p != nil && p.cfg.Replica != nil && !socketIDLike(room) {
		for _, u := range p.remoteMembers(room) {
			if !slices.ContainsFunc(out, func(m events.UserRef) bool { return m.ID == u.ID }) {
				out = append(out, u)
			}
		}
		slices.SortFunc(out, func(a, b events.UserRef) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out
}

// localMembers returns the distinct users in a room on this node.
func (ch *Chat) localMembers(room string) []events.UserRef {
	seen := map[string]bool{}
	out := []events.UserRef{}
	if socketIDLike(room) {
		return out
	}
	for _, c := range ch.cfg.Rooms.Sockets(roomKey(room)) {
		if u, ok := namespaces.User(c); ok && !seen[u.ID] {
			seen[u.ID] = true
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b events.UserRef) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// CheckRoom maps an invalid room name to bad_request.
func CheckRoom(name string) error { return checkRoom(name) }

func checkRoom(name string) error {
	if err := rooms.Validate(name); err != nil {
		return events.Errorf(events.CodeBadRequest, "invalid room name: 1 to %d characters of A-Z a-z 0-9 _ . : -, not only dots", events.MaxRoomNameChars)
	}
	if socketIDLike(name) {
		// A chat room is the adapter room of its name, and a socket's
		// private room is its id: such a name would reach a socket.
		return events.NewError(events.CodeBadRequest, "invalid room name: 20 characters of A-Z a-z 0-9 _ - could be taken for a socket id")
	}
	return nil
}

// Authorize applies the room policy to an identity: forbidden for a
// private room it has no claim to.
func (ch *Chat) Authorize(id auth.Identity, room string) error {
	if ch.cfg.Policy.Allows(id.Rooms, room) {
		return nil
	}
	return events.Errorf(events.CodeForbidden, "room %q is private: the token has no claim to it", room)
}

// Publish posts a message on behalf of sender without a connection (the
// HTTP API): the same path as a connection's Post, broadcast to every
// member of the room. created is false for a resend of a known clientMsgId.
func (ch *Chat) Publish(ctx context.Context, sender events.UserRef, req events.ChatMessageRequest) (msg events.ChatMessage, created bool, err error) {
	return ch.post(ctx, sender, req, nil)
}

// post is the one way a message enters the chat: validate, deduplicate
// and append durably (History.Append), then broadcast to the room (but
// from) and tell the observers. A clientMsgId already used by the sender
// in another room fails with conflict: a message is never acknowledged for
// a room it is not in. A resend (the sender's clientMsgId stored before)
// is not broadcast again, except in a cluster when its original never was
// (see rebroadcast): in a cluster the broadcast is gated by the message's
// id, so that it goes out at most once.
func (ch *Chat) post(ctx context.Context, sender events.UserRef, req events.ChatMessageRequest, from namespaces.Conn) (events.ChatMessage, bool, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.ChatMessage{}, false, err
	}
	if err := req.Validate(); err != nil {
		return events.ChatMessage{}, false, err
	}
	msg := events.ChatMessage{Room: req.Room, Sender: sender, Content: req.TrimmedContent()}
	if req.ClientMsgID != nil {
		msg.ClientMsgID = *req.ClientMsgID
	}
	stored, created, err := ch.cfg.History.Append(ctx, msg)
	if err != nil {
		return events.ChatMessage{}, false, events.WrapError(events.CodeUnavailable, "the message could not be stored", err)
	}
	if !created && stored.Room != req.Room {
		return events.ChatMessage{}, false, events.Errorf(events.CodeConflict, "clientMsgId %q was used for a message in another room", msg.ClientMsgID)
	}
	key := roomKey(req.Room)
	var b namespaces.Broadcaster = ch.cfg.Rooms.To(key)
	if from != nil {
		b = from.To(key)
	}
	if !created {
		ch.rebroadcast(ctx, b, stored)
		return stored, false, nil
	}
	if err := events.Emit(ch.gated(b, stored.ID), events.NewChatMessage, stored); err != nil {
		ch.cfg.Logger.Warn("broadcast failed", "room", req.Room, "err", err)
	}
	ch.notify(func(o Observer) {
		if o.Message != nil {
			o.Message(stored)
		}
	})
	if ch.cfg.Feed != nil {
		ch.feedMessage(stored)
	}
	return stored, true, nil
}

// Page returns one page of a room's history (limit 1..events.MaxHistoryLimit,
// cursors as in History.Page). Errors are *events.Error values: not_found
// for a cursor that names no message of the room, bad_request for a bad
// limit, unavailable when the store fails.
func (ch *Chat) Page(ctx context.Context, room, before, after string, limit int) ([]events.ChatMessage, bool, error) {
	if err := checkRoom(room); err != nil {
		return nil, false, err
	}
	if limit < 1 || limit > events.MaxHistoryLimit {
		return nil, false, events.Errorf(events.CodeBadRequest, "limit must be 1 to %d", events.MaxHistoryLimit)
	}
	msgs, more, err := ch.cfg.History.Page(ctx, room, before, after, limit)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, events.NewError(events.CodeNotFound, "the cursor names no message of this room")
	case errors.Is(err, context.Canceled):
		return nil, false, err
	case err != nil:
		return nil, false, events.WrapError(events.CodeUnavailable, "history is unavailable", err)
	}
	return nonNil(msgs), more, nil
}

func (ch *Chat) logEmit(err error) {
	if err != nil {
		ch.cfg.Logger.Warn("emit failed", "err", err)
	}
}

// announceJoined tells the room and the observers that u's first
// connection joined. It runs from the room's queue (roomSlot.drain), in
// transition order, without the room lock.
// to is the room as the joining socket addresses it (itself excluded).
func (ch *Chat) announceJoined(to namespaces.Broadcaster, room string, u events.UserRef) {
	ru := events.RoomUser{Room: room, User: u}
	ch.logEmit(events.Emit(to, events.UserJoined, ru))
	if ch.presence != nil {
		ch.presence.joined(room, u.ID)
	}
	ch.notify(func(o Observer) {
		if o.Joined != nil {
			o.Joined(ru)
		}
	})
	if ch.cfg.Feed != nil {
		ch.feedJoined(ru)
	}
}

// announceLeft tells the room and the observers that u's last connection
// left. It runs from the room's queue (roomSlot.drain), in transition
// order, without the room lock.
func (ch *Chat) announceLeft(room, key string, u events.UserRef) {
	ru := events.RoomUser{Room: room, User: u}
	ch.logEmit(events.Emit(ch.cfg.Rooms.To(key), events.UserLeft, ru))
	ch.notify(func(o Observer) {
		if o.Left != nil {
			o.Left(ru)
		}
	})
	if ch.cfg.Feed != nil {
		ch.feedLeft(ru)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
