package core

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
)

// Session is one connection's chat state: the rooms it is in and its
// typing indicators. Its methods have the shape events.Handle takes, so a
// transport adapter registers them as they are; they return *events.Error
// values for the client.
type Session struct {
	ch   *Chat
	c    namespaces.Conn
	user events.UserRef
	log  *slog.Logger

	mu sync.Mutex
	// joined holds the chat rooms this socket is in (the adapter is the
	// record of membership; this is the session's view of which rooms it
	// must announce a departure from).
	joined map[string]struct{}
	// typing holds the pending isTyping:false timer of each room.
	typing map[string]*typingTimer
	closed bool
}

type typingTimer struct {
	stop func() bool
}

// in reports whether the socket is in the adapter room key.
func (s *Session) in(key string) bool { return slices.Contains(s.c.Rooms(), key) }

// roomCount counts the chat rooms the socket is in.
func (s *Session) roomCount() int {
	n := 0
	for _, r := range s.c.Rooms() {
		if isChatRoom(s.c, r) {
			n++
		}
	}
	return n
}

func (s *Session) logEmit(err error) {
	if err != nil {
		s.log.Warn("emit failed", "err", err)
	}
}

// Open starts the chat session of a connected socket, whose identity the
// connection middleware recorded (namespaces.IdentityOf). It counts the
// connection for presence, adopts the chat rooms the socket is already in
// (connection state recovery gives a socket back its rooms) and ends
// everything when the socket disconnects.
func (ch *Chat) Open(c namespaces.Conn) (*Session, error) {
	user, ok := namespaces.User(c)
	if !ok {
		return nil, errors.New("core: a chat connection without an identity")
	}
	s := &Session{
		ch: ch, c: c, user: user, log: ch.cfg.Logger.With("nsp", c.Namespace(), "socket", c.ID()),
		joined: map[string]struct{}{}, typing: map[string]*typingTimer{},
	}
	// The session's handler is registered before presence's, so that it
	// runs first: the socket leaves its rooms (and, in a cluster, the
	// user's record says so, room by room) before presence untracks it,
	// in the order they happen.
	c.OnDisconnect(s.disconnected)
	if ch.presence != nil {
		if err := ch.presence.Track(c, user); err != nil {
			return nil, err
		}
	}
	s.resume()
	return s, nil
}

// Join joins a room (validated, and allowed by the policy for the
// connection's current identity) and returns its members and latest
// history; joining a room the connection is in already is not an error.
func (s *Session) Join(ctx context.Context, req events.JoinRoomRequest) (events.JoinRoomResult, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.JoinRoomResult{}, err
	}
	id, ok := namespaces.IdentityOf(s.c)
	if !ok {
		return events.JoinRoomResult{}, events.NewError(events.CodeUnauthorized, "no identity")
	}
	if err := s.ch.Authorize(id, req.Room); err != nil {
		return events.JoinRoomResult{}, err
	}
	key := roomKey(req.Room)
	joinedNow, err := s.join(req.Room, key)
	if err != nil {
		return events.JoinRoomResult{}, err
	}
	if joinedNow {
		s.ch.replicated(ctx, s.log)
	}
	history, _, err := s.ch.cfg.History.Page(ctx, req.Room, "", "", events.DefaultHistoryLimit)
	if err != nil {
		if joinedNow {
			// Undo the join, so the client may retry from a clean state.
			s.leave(req.Room, key)
		}
		return events.JoinRoomResult{}, events.WrapError(events.CodeUnavailable, "history is unavailable", err)
	}
	return events.JoinRoomResult{
		Room:    req.Room,
		Members: s.ch.Members(req.Room),
		History: nonNil(history),
	}, nil
}

// join joins the socket to the room unless it is in already, announcing the
// user when this is its first socket there. It reports whether it joined.
func (s *Session) join(room, key string) (bool, error) {
	mu := s.ch.roomLock(key)
	defer mu.drain() // after the unlock
	mu.Lock()
	defer mu.Unlock()
	if s.in(key) {
		return false, nil
	}
	if s.roomCount() >= s.ch.cfg.MaxRooms {
		return false, events.Errorf(events.CodeForbidden, "a connection may be in at most %d rooms", s.ch.cfg.MaxRooms)
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.joined[room] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		return false, context.Canceled
	}
	first := !s.ch.userPresent(key, s.user.ID, s.c.ID())
	s.c.Join(key)
	if first && (!s.ch.clustered() || s.ch.joinedHere(room, s.user)) {
		s.ch.queueJoined(mu, s.c.To(key), room, s.user)
	}
	return true, nil
}

// resume adopts the chat rooms a socket is already in when it connects:
// connection state recovery gives a socket back its rooms, and the room
// must hear that its user is back (the disconnect announced userLeft).
func (s *Session) resume() {
	for _, key := range s.c.Rooms() {
		if !isChatRoom(s.c, key) {
			continue
		}
		room := key
		mu := s.ch.roomLock(key)
		mu.Lock()
		s.mu.Lock()
		s.joined[room] = struct{}{}
		s.mu.Unlock()
		if !s.ch.userPresent(key, s.user.ID, s.c.ID()) && (!s.ch.clustered() || s.ch.joinedHere(room, s.user)) {
			s.ch.queueJoined(mu, s.c.To(key), room, s.user)
		}
		mu.Unlock()
		mu.drain()
	}
}

// Leave leaves a room; not_found when the connection is not in it.
func (s *Session) Leave(ctx context.Context, req events.LeaveRoomRequest) (events.LeaveRoomResult, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.LeaveRoomResult{}, err
	}
	if !s.leave(req.Room, roomKey(req.Room)) {
		return events.LeaveRoomResult{}, events.Errorf(events.CodeNotFound, "not in room %q", req.Room)
	}
	s.ch.replicated(ctx, s.log)
	return events.LeaveRoomResult{Room: req.Room}, nil
}

// leave takes the socket out of the room, ending its typing state there
// and announcing the user's departure when this was its last socket. It
// reports false when the socket was not in the room.
func (s *Session) leave(room, key string) bool {
	mu := s.ch.roomLock(key)
	defer mu.drain() // after the unlock
	mu.Lock()
	defer mu.Unlock()
	if !s.in(key) {
		return false
	}
	s.mu.Lock()
	s.stopTypingLocked(room, key)
	delete(s.joined, room)
	s.mu.Unlock()
	s.c.Leave(key)
	s.left(mu, room, key)
	return true
}

// left follows the socket's leaving a room (under the room lock): when
// the user has no other socket in it here, userLeft is announced, or, in
// a cluster, the user's record says so (see announceCluster).
func (s *Session) left(mu *roomSlot, room, key string) {
	switch {
	case s.ch.userPresent(key, s.user.ID, s.c.ID()):
	case s.ch.clustered():
		s.ch.leftHere(room, s.user)
	default:
		s.ch.queueLeft(mu, room, key, s.user)
	}
}

// Post posts a message to a room the connection is in (forbidden
// otherwise) and returns the stored message: the original one for a
// resend of a known clientMsgId, which is not broadcast again.
func (s *Session) Post(ctx context.Context, req events.ChatMessageRequest) (events.ChatMessage, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.ChatMessage{}, err
	}
	if !s.in(roomKey(req.Room)) {
		return events.ChatMessage{}, events.Errorf(events.CodeForbidden, "join room %q before posting to it", req.Room)
	}
	msg, _, err := s.ch.post(ctx, s.user, req, s.c)
	return msg, err
}

// Typing relays a typing indicator to the room (volatile: a lost one is
// corrected by the next), and sends isTyping:false itself when no newer
// indicator comes within TypingTimeout.
func (s *Session) Typing(_ context.Context, ev events.TypingStatus) error {
	if err := checkRoom(ev.Room); err != nil {
		return err
	}
	key := roomKey(ev.Room)
	if !s.in(key) {
		return events.Errorf(events.CodeForbidden, "typing in room %q, which the socket has not joined", ev.Room)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if t := s.typing[ev.Room]; t != nil {
		t.stop()
		delete(s.typing, ev.Room)
	}
	if ev.IsTyping {
		t := &typingTimer{}
		t.stop = s.ch.cfg.AfterFunc(s.ch.cfg.TypingTimeout, func() { s.typingExpired(ev.Room, key, t) })
		s.typing[ev.Room] = t
	}
	return events.Emit(s.c.To(key).Volatile(), events.UserTyping, events.TypingNotice{Room: ev.Room, User: s.user, IsTyping: ev.IsTyping})
}

// typingExpired runs on the timer's goroutine.
func (s *Session) typingExpired(room, key string, t *typingTimer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.typing[room] != t {
		return // stopped or replaced after it fired
	}
	delete(s.typing, room)
	// Not volatile: a lost "stopped typing" would leave the indicator on.
	s.logEmit(events.Emit(s.c.To(key), events.UserTyping, events.TypingNotice{Room: room, User: s.user}))
}

// stopTypingLocked cancels the room's typing timer and, when one was
// pending, tells the room the user stopped typing. s.mu is held.
func (s *Session) stopTypingLocked(room, key string) {
	t := s.typing[room]
	if t == nil {
		return
	}
	t.stop()
	delete(s.typing, room)
	s.logEmit(events.Emit(s.c.To(key), events.UserTyping, events.TypingNotice{Room: room, User: s.user}))
}

// History returns a page of a room the connection is in (forbidden
// otherwise).
func (s *Session) History(ctx context.Context, req events.FetchHistoryRequest) (events.FetchHistoryResult, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.FetchHistoryResult{}, err
	}
	if !s.in(roomKey(req.Room)) {
		return events.FetchHistoryResult{}, events.Errorf(events.CodeForbidden, "join room %q before reading its history", req.Room)
	}
	msgs, hasMore, err := s.ch.Page(ctx, req.Room, deref(req.Before), deref(req.After), req.PageLimit())
	if err != nil {
		return events.FetchHistoryResult{}, err
	}
	return events.FetchHistoryResult{Messages: msgs, HasMore: hasMore}, nil
}

// disconnected runs once, while the socket is still in its rooms: for each,
// under the room lock, it leaves and announces userLeft if no other socket
// of the user remains, so two tabs closing at once announce exactly once.
func (s *Session) disconnected(string) {
	s.mu.Lock()
	s.closed = true
	typing := map[string]bool{}
	for room, t := range s.typing {
		t.stop()
		typing[room] = true
	}
	s.typing = nil
	joined := slices.Sorted(maps.Keys(s.joined))
	s.joined = nil
	s.mu.Unlock()

	for _, room := range joined {
		key := roomKey(room)
		mu := s.ch.roomLock(key)
		mu.Lock()
		s.c.Leave(key)
		if typing[room] {
			// Queued too: before the userLeft that may follow.
			mu.add(func() {
				s.logEmit(events.Emit(s.ch.cfg.Rooms.To(key), events.UserTyping, events.TypingNotice{Room: room, User: s.user}))
			})
		}
		s.left(mu, room, key)
		mu.Unlock()
		mu.drain()
	}
}
