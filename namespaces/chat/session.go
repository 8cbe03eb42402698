package chat

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/rooms"
)

// session is one connected socket's chat state.
type session struct {
	srv  *server
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

// checkRoom maps an invalid room name to bad_request.
func checkRoom(name string) error {
	if err := rooms.Validate(name); err != nil {
		return events.Errorf(events.CodeBadRequest, "invalid room name: 1 to %d characters of A-Z a-z 0-9 _ . : -", rooms.MaxNameLen)
	}
	return nil
}

// in reports whether the socket is in the adapter room key.
func (s *session) in(key string) bool { return slices.Contains(s.c.Rooms(), key) }

// roomCount counts the chat rooms the socket is in.
func (s *session) roomCount() int {
	n := 0
	for _, r := range s.c.Rooms() {
		if strings.HasPrefix(r, RoomKey("")) {
			n++
		}
	}
	return n
}

func (s *session) logEmit(err error) {
	if err != nil {
		s.log.Warn("emit failed", "err", err)
	}
}

func (s *session) joinRoom(ctx context.Context, req events.JoinRoomRequest) (events.JoinRoomResult, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.JoinRoomResult{}, err
	}
	if err := s.srv.deps.Authorize(s.c, req.Room); err != nil {
		return events.JoinRoomResult{}, err
	}
	key := RoomKey(req.Room)
	joinedNow, err := s.join(req.Room, key)
	if err != nil {
		return events.JoinRoomResult{}, err
	}
	history, _, err := s.srv.deps.History.Page(ctx, req.Room, "", "", events.DefaultHistoryLimit)
	if err != nil {
		if joinedNow {
			// Undo the join, so the client may retry from a clean state.
			s.leave(req.Room, key)
		}
		return events.JoinRoomResult{}, events.WrapError(events.CodeUnavailable, "history is unavailable", err)
	}
	return events.JoinRoomResult{
		Room:    req.Room,
		Members: s.srv.members(key),
		History: nonNil(history),
	}, nil
}

// join joins the socket to the room unless it is in already, announcing the
// user when this is its first socket there. It reports whether it joined.
func (s *session) join(room, key string) (bool, error) {
	mu := s.srv.roomLock(key)
	mu.Lock()
	defer mu.Unlock()
	if s.in(key) {
		return false, nil
	}
	if s.roomCount() >= s.srv.deps.MaxRooms {
		return false, events.Errorf(events.CodeForbidden, "a connection may be in at most %d rooms", s.srv.deps.MaxRooms)
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
	first := !s.srv.userPresent(key, s.user.ID, s.c.ID())
	s.c.Join(key)
	if first {
		ru := events.RoomUser{Room: room, User: s.user}
		s.logEmit(events.Emit(s.c.To(key), events.UserJoined, ru))
		s.srv.deps.Observer.joined(ru)
	}
	return true, nil
}

// resume adopts the chat rooms a socket is already in when it connects:
// connection state recovery gives a socket back its rooms, and the room
// must hear that its user is back (the disconnect announced userLeft).
func (s *session) resume() {
	for _, key := range s.c.Rooms() {
		room, ok := strings.CutPrefix(key, roomPrefix)
		if !ok {
			continue
		}
		mu := s.srv.roomLock(key)
		mu.Lock()
		s.mu.Lock()
		s.joined[room] = struct{}{}
		s.mu.Unlock()
		if !s.srv.userPresent(key, s.user.ID, s.c.ID()) {
			ru := events.RoomUser{Room: room, User: s.user}
			s.logEmit(events.Emit(s.c.To(key), events.UserJoined, ru))
			s.srv.deps.Observer.joined(ru)
		}
		mu.Unlock()
	}
}

func (s *session) leaveRoom(_ context.Context, req events.LeaveRoomRequest) (events.LeaveRoomResult, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.LeaveRoomResult{}, err
	}
	if !s.leave(req.Room, RoomKey(req.Room)) {
		return events.LeaveRoomResult{}, events.Errorf(events.CodeNotFound, "not in room %q", req.Room)
	}
	return events.LeaveRoomResult{Room: req.Room}, nil
}

// leave takes the socket out of the room, ending its typing state there
// and announcing the user's departure when this was its last socket. It
// reports false when the socket was not in the room.
func (s *session) leave(room, key string) bool {
	mu := s.srv.roomLock(key)
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
	if !s.srv.userPresent(key, s.user.ID, s.c.ID()) {
		ru := events.RoomUser{Room: room, User: s.user}
		s.logEmit(events.Emit(s.srv.ns.To(key), events.UserLeft, ru))
		s.srv.deps.Observer.left(ru)
	}
	return true
}

func (s *session) chatMessage(ctx context.Context, req events.ChatMessageRequest) (events.ChatMessage, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.ChatMessage{}, err
	}
	key := RoomKey(req.Room)
	if !s.in(key) {
		return events.ChatMessage{}, events.Errorf(events.CodeForbidden, "join room %q before posting to it", req.Room)
	}
	msg := events.ChatMessage{Room: req.Room, Sender: s.user, Content: req.TrimmedContent()}
	if req.ClientMsgID != nil {
		msg.ClientMsgID = *req.ClientMsgID
	}
	stored, created, err := s.srv.deps.History.Append(ctx, msg)
	if err != nil {
		return events.ChatMessage{}, events.WrapError(events.CodeUnavailable, "the message could not be stored", err)
	}
	if created {
		s.logEmit(events.Emit(s.c.To(key), events.NewChatMessage, stored))
		s.srv.deps.Observer.message(stored)
	}
	return stored, nil
}

func (s *session) typingStatus(_ context.Context, ev events.TypingStatus) error {
	if err := checkRoom(ev.Room); err != nil {
		return err
	}
	key := RoomKey(ev.Room)
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
		t.stop = s.srv.deps.AfterFunc(s.srv.deps.TypingTimeout, func() { s.typingExpired(ev.Room, key, t) })
		s.typing[ev.Room] = t
	}
	return events.Emit(s.c.To(key).Volatile(), events.UserTyping, events.TypingNotice{Room: ev.Room, User: s.user, IsTyping: ev.IsTyping})
}

// typingExpired runs on the timer's goroutine.
func (s *session) typingExpired(room, key string, t *typingTimer) {
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
func (s *session) stopTypingLocked(room, key string) {
	t := s.typing[room]
	if t == nil {
		return
	}
	t.stop()
	delete(s.typing, room)
	s.logEmit(events.Emit(s.c.To(key), events.UserTyping, events.TypingNotice{Room: room, User: s.user}))
}

func (s *session) fetchHistory(ctx context.Context, req events.FetchHistoryRequest) (events.FetchHistoryResult, error) {
	if err := checkRoom(req.Room); err != nil {
		return events.FetchHistoryResult{}, err
	}
	if !s.in(RoomKey(req.Room)) {
		return events.FetchHistoryResult{}, events.Errorf(events.CodeForbidden, "join room %q before reading its history", req.Room)
	}
	msgs, hasMore, err := s.srv.deps.History.Page(ctx, req.Room, deref(req.Before), deref(req.After), req.PageLimit())
	switch {
	case errors.Is(err, ErrNotFound):
		return events.FetchHistoryResult{}, events.NewError(events.CodeNotFound, "the cursor names no message of this room")
	case err != nil:
		return events.FetchHistoryResult{}, events.WrapError(events.CodeUnavailable, "history is unavailable", err)
	}
	return events.FetchHistoryResult{Messages: nonNil(msgs), HasMore: hasMore}, nil
}

// disconnected runs once, while the socket is still in its rooms: for each,
// under the room lock, it leaves and announces userLeft if no other socket
// of the user remains, so two tabs closing at once announce exactly once.
func (s *session) disconnected(string) {
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
		key := RoomKey(room)
		mu := s.srv.roomLock(key)
		mu.Lock()
		s.c.Leave(key)
		if typing[room] {
			s.logEmit(events.Emit(s.srv.ns.To(key), events.UserTyping, events.TypingNotice{Room: room, User: s.user}))
		}
		if !s.srv.userPresent(key, s.user.ID, s.c.ID()) {
			ru := events.RoomUser{Room: room, User: s.user}
			s.logEmit(events.Emit(s.srv.ns.To(key), events.UserLeft, ru))
			s.srv.deps.Observer.left(ru)
		}
		mu.Unlock()
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

func sortUsers(users []events.UserRef) {
	slices.SortFunc(users, func(a, b events.UserRef) int { return cmp.Compare(a.ID, b.ID) })
}
