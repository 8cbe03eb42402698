package presence

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/rooms"
)

// Defaults for the zero values of Deps fields.
const (
	DefaultMaxWatchedUsers = 1000
	DefaultMaxWatchedRooms = 100
)

// Deps is what the /presence handlers need. Register copies it.
type Deps struct {
	// Tracker is the presence state shared with the other namespaces.
	// Required.
	Tracker *Tracker
	// Authenticate resolves the user of a connecting socket, as
	// chat.Deps.Authenticate does: an *events.Error refuses the connection
	// as written, any other error with unauthorized (and is logged).
	// Required: the composition root gives both namespaces the same
	// identity source.
	Authenticate func(c namespaces.Conn) (events.UserRef, error)
	// Authorize decides whether the socket may watch a chat room's presence;
	// an *events.Error it returns reaches the client as written. nil allows
	// every valid room name.
	Authorize func(c namespaces.Conn, room string) error
	// MaxWatchedUsers and MaxWatchedRooms bound what one socket watches;
	// subscribe beyond them acks forbidden. Zero means the defaults.
	MaxWatchedUsers int
	MaxWatchedRooms int
	// HandlerTimeout bounds each handler's context. Zero means
	// events.DefaultTimeout.
	HandlerTimeout time.Duration
	// Logger receives refused connections and handler failures. nil
	// discards.
	Logger *slog.Logger
}

// Register installs the /presence middleware and connection handler on ns.
// It fails when deps is unusable.
func Register(ns namespaces.Namespace, deps Deps) error {
	switch {
	case deps.Tracker == nil:
		return errors.New("presence: Deps.Tracker is nil")
	case deps.Authenticate == nil:
		return errors.New("presence: Deps.Authenticate is nil")
	case deps.MaxWatchedUsers < 0 || deps.MaxWatchedRooms < 0:
		return errors.New("presence: Deps.MaxWatched* is negative")
	case deps.HandlerTimeout < 0:
		return errors.New("presence: Deps.HandlerTimeout is negative")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Authorize == nil {
		deps.Authorize = func(namespaces.Conn, string) error { return nil }
	}
	if deps.MaxWatchedUsers == 0 {
		deps.MaxWatchedUsers = DefaultMaxWatchedUsers
	}
	if deps.MaxWatchedRooms == 0 {
		deps.MaxWatchedRooms = DefaultMaxWatchedRooms
	}
	if deps.HandlerTimeout == 0 {
		deps.HandlerTimeout = events.DefaultTimeout
	}
	srv := &server{deps: deps}
	ns.Use(namespaces.AuthMiddleware(deps.Authenticate, deps.Logger))
	ns.OnConnection(srv.connected)
	return nil
}

// User returns the identity the presence middleware stored on c.
func User(c namespaces.Conn) (events.UserRef, bool) { return namespaces.User(c) }

type server struct {
	deps Deps
}

// session is one /presence socket.
type session struct {
	srv   *server
	c     namespaces.Conn
	user  events.UserRef
	watch *Watch
	log   *slog.Logger
}

func (s *server) connected(c namespaces.Conn) {
	log := s.deps.Logger.With("nsp", c.Namespace(), "socket", c.ID())
	user, ok := User(c)
	if !ok {
		log.Error("socket connected without an identity; disconnecting")
		c.Disconnect()
		return
	}
	sess := &session{srv: s, c: c, user: user, log: log}
	sess.logEmit(events.Emit(c, events.UserConnected, user.ID))
	s.deps.Tracker.Connect(c, user)
	w, err := s.deps.Tracker.Watch(user.ID, sess.status)
	if err != nil {
		log.Warn("presence tracker closed; disconnecting", "err", err)
		c.Disconnect()
		return
	}
	sess.watch = w
	c.OnDisconnect(func(string) { w.Close() })
	if c.Context().Err() != nil {
		w.Close() // disconnected before OnDisconnect was registered
		return
	}
	opts := []events.Option{events.WithLogger(log), events.WithTimeout(s.deps.HandlerTimeout)}
	events.Handle(c, events.SetStatus, sess.setStatus, opts...)
	events.Handle(c, events.Subscribe, sess.subscribe, opts...)
	events.Handle(c, events.Unsubscribe, sess.unsubscribe, opts...)
}

// status delivers a watched user's state; it runs under the tracker lock
// and Emit never blocks.
func (s *session) status(st events.PresenceState) {
	s.logEmit(events.Emit(s.c, events.Status, st))
}

func (s *session) logEmit(err error) {
	if err != nil {
		s.log.Debug("emit failed", "err", err)
	}
}

func (s *session) setStatus(_ context.Context, req events.SetStatusRequest) (events.PresenceState, error) {
	st, err := s.srv.deps.Tracker.SetStatus(s.user.ID, req.Status)
	if err != nil {
		return events.PresenceState{}, events.WrapError(events.CodeUnavailable, "presence is unavailable", err)
	}
	return st, nil
}

func (s *session) checkRooms(names []string) error {
	for _, r := range names {
		if err := rooms.Validate(r); err != nil {
			return events.Errorf(events.CodeBadRequest, "invalid room name: 1 to %d characters of A-Z a-z 0-9 _ . : -", rooms.MaxNameLen)
		}
	}
	return nil
}

func (s *session) subscribe(ctx context.Context, req events.WatchRequest) (events.PresenceSnapshot, error) {
	if err := s.checkRooms(req.Rooms); err != nil {
		return events.PresenceSnapshot{}, err
	}
	for _, r := range req.Rooms {
		if err := s.srv.deps.Authorize(s.c, r); err != nil {
			return events.PresenceSnapshot{}, err
		}
	}
	// The engine runs one socket's handlers one at a time, so the counts
	// cannot change before Add.
	users, rms := s.watch.Counts()
	if users+len(req.UserIDs) > s.srv.deps.MaxWatchedUsers || rms+len(req.Rooms) > s.srv.deps.MaxWatchedRooms {
		return events.PresenceSnapshot{}, events.Errorf(events.CodeForbidden,
			"a connection may watch at most %d users and %d rooms", s.srv.deps.MaxWatchedUsers, s.srv.deps.MaxWatchedRooms)
	}
	snap, err := s.watch.Add(ctx, req.UserIDs, req.Rooms)
	if err != nil {
		return events.PresenceSnapshot{}, events.WrapError(events.CodeUnavailable, "presence is unavailable", err)
	}
	return events.PresenceSnapshot{Users: snap}, nil
}

func (s *session) unsubscribe(_ context.Context, req events.WatchRequest) (events.UnsubscribeResult, error) {
	if err := s.checkRooms(req.Rooms); err != nil {
		return events.UnsubscribeResult{}, err
	}
	s.watch.Remove(req.UserIDs, req.Rooms)
	return events.UnsubscribeResult{}, nil
}
