package presence

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
)

// Deps is what the /presence handlers need. Register copies it.
type Deps struct {
	// Presence is the application core's presence, shared with the other
	// namespaces. Required.
	Presence *core.Presence
	// Authenticate resolves the identity of a connecting socket (see
	// namespaces.Identify). Required.
	Authenticate namespaces.Authenticator
	// Verifier checks refreshToken's tokens. nil: the namespace has no
	// refreshToken handler and sockets never expire.
	Verifier *auth.Verifier
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
	case deps.Presence == nil:
		return errors.New("presence: Deps.Presence is nil")
	case deps.Authenticate == nil:
		return errors.New("presence: Deps.Authenticate is nil")
	case deps.HandlerTimeout < 0:
		return errors.New("presence: Deps.HandlerTimeout is negative")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.HandlerTimeout == 0 {
		deps.HandlerTimeout = events.DefaultTimeout
	}
	ns.Use(namespaces.AuthMiddleware(deps.Authenticate, deps.Logger))
	ns.OnConnection(func(c namespaces.Conn) { connected(c, deps) })
	return nil
}

// session is one /presence socket.
type session struct {
	c     namespaces.Conn
	p     *core.Presence
	watch *core.Watch
	log   *slog.Logger
}

func connected(c namespaces.Conn, deps Deps) {
	log := deps.Logger.With("nsp", c.Namespace(), "socket", c.ID())
	user, ok := namespaces.User(c)
	if !ok {
		log.Error("socket connected without an identity; disconnecting")
		c.Disconnect()
		return
	}
	s := &session{c: c, p: deps.Presence, log: log}
	s.logEmit(events.Emit(c, events.UserConnected, user.ID))
	if err := deps.Presence.Track(c, user); err != nil {
		return // over the connection cap: Track disconnected it
	}
	w, err := deps.Presence.Watch(user.ID, s.status)
	if err != nil {
		log.Warn("presence closed; disconnecting", "err", err)
		c.Disconnect()
		return
	}
	s.watch = w
	c.OnDisconnect(func(string) { w.Close() })
	if c.Context().Err() != nil {
		w.Close() // disconnected before OnDisconnect was registered
		return
	}
	opts := []events.Option{events.WithLogger(log), events.WithTimeout(deps.HandlerTimeout)}
	events.Handle(c, events.SetStatus, s.setStatus, opts...)
	events.Handle(c, events.Subscribe, s.subscribe, opts...)
	events.Handle(c, events.Unsubscribe, s.unsubscribe, opts...)
	if deps.Verifier != nil {
		namespaces.WatchToken(c, events.PresenceRefreshToken, deps.Verifier, deps.Logger)
	}
}

// status delivers a watched user's state; it runs under the presence lock
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
	user, _ := namespaces.User(s.c)
	st, err := s.p.SetStatus(user.ID, req.Status)
	if err != nil {
		return events.PresenceState{}, events.WrapError(events.CodeUnavailable, "presence is unavailable", err)
	}
	return st, nil
}

func (s *session) subscribe(ctx context.Context, req events.WatchRequest) (events.PresenceSnapshot, error) {
	id, _ := namespaces.IdentityOf(s.c) // the identity of the moment: a refreshed token's rooms apply
	return s.watch.Subscribe(ctx, id, req)
}

func (s *session) unsubscribe(_ context.Context, req events.WatchRequest) (events.UnsubscribeResult, error) {
	return events.UnsubscribeResult{}, s.watch.Unsubscribe(req)
}
