package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
)

// tokenWatch disconnects a socket when its token expires, unless a
// refreshToken with a newer token for the same user came first. It owns one
// timer, stopped when the socket disconnects.
type tokenWatch struct {
	s *Server
	c namespaces.Conn

	mu      sync.Mutex
	exp     time.Time // zero: the identity has no token (dev handshake)
	timer   *time.Timer
	stopped bool
}

// watchToken installs the refreshToken handler ev on c and arms the expiry
// of its identity.
func (s *Server) watchToken(c namespaces.Conn, ev events.Inbound[events.RefreshTokenRequest, events.RefreshTokenResult]) {
	id := identityOf(c)
	if id == nil {
		return
	}
	w := &tokenWatch{s: s, c: c, exp: id.exp}
	w.mu.Lock()
	w.armLocked()
	w.mu.Unlock()
	c.OnDisconnect(func(string) { w.stop() })
	if c.Context().Err() != nil {
		w.stop() // disconnected before OnDisconnect was registered
		return
	}
	log := s.cfg.Logger.With("nsp", c.Namespace(), "socket", c.ID())
	events.Handle(c, ev, w.refresh, events.WithLogger(log))
}

func (w *tokenWatch) armLocked() {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if w.exp.IsZero() || w.stopped {
		return
	}
	exp := w.exp
	w.timer = time.AfterFunc(time.Until(exp), func() { w.expired(exp) })
}

// expired runs on the timer's goroutine.
func (w *tokenWatch) expired(exp time.Time) {
	w.mu.Lock()
	current := !w.stopped && w.exp.Equal(exp)
	w.mu.Unlock()
	if current {
		w.s.cfg.Logger.Info("token expired; disconnecting", "nsp", w.c.Namespace(), "socket", w.c.ID())
		w.c.Disconnect()
	}
}

func (w *tokenWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// refresh replaces the socket's token with a valid newer one for the same
// user: its expiry and rooms claim apply from now on.
func (w *tokenWatch) refresh(_ context.Context, req events.RefreshTokenRequest) (events.RefreshTokenResult, error) {
	cur := identityOf(w.c)
	next, err := w.s.auth.verify(req.Token)
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			return events.RefreshTokenResult{}, events.NewError(events.CodeUnauthorized, ae.reason)
		}
		return events.RefreshTokenResult{}, err
	}
	if cur == nil || next.user.ID != cur.user.ID {
		return events.RefreshTokenResult{}, events.NewError(events.CodeForbidden, "the token is for another user")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.exp.IsZero():
		return events.RefreshTokenResult{}, events.NewError(events.CodeBadRequest, "this connection has no token to refresh")
	case !next.exp.After(w.exp):
		return events.RefreshTokenResult{}, events.NewError(events.CodeBadRequest, "the token does not expire after the current one")
	}
	// The user's name stays as the namespaces know it; the rooms claim and
	// the expiry are the new token's.
	updated := *cur
	updated.rooms, updated.exp = next.rooms, next.exp
	w.c.Set(identityKey, &updated)
	w.exp = next.exp
	w.armLocked()
	return events.RefreshTokenResult{Exp: next.exp.Unix()}, nil
}
