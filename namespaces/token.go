package namespaces

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
)

// WatchToken installs the refreshToken handler ev on c and disconnects c
// when its token expires, unless a refreshToken with a newer token for the
// same user came first. It owns one timer, stopped when c disconnects. A
// socket whose identity has no token (a dev handshake) never expires.
func WatchToken(c Conn, ev events.Inbound[events.RefreshTokenRequest, events.RefreshTokenResult], v *auth.Verifier, log *slog.Logger) {
	id, ok := IdentityOf(c)
	if !ok {
		return
	}
	w := &tokenWatch{c: c, v: v, log: log, exp: id.Exp}
	w.mu.Lock()
	w.armLocked()
	w.mu.Unlock()
	c.OnDisconnect(func(string) { w.stop() })
	if c.Context().Err() != nil {
		w.stop() // disconnected before OnDisconnect was registered
		return
	}
	events.Handle(c, ev, w.refresh, events.WithLogger(log.With("nsp", c.Namespace(), "socket", c.ID())))
}

type tokenWatch struct {
	c   Conn
	v   *auth.Verifier
	log *slog.Logger

	mu      sync.Mutex
	exp     time.Time // zero: the identity has no token
	timer   *time.Timer
	stopped bool
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
		w.log.Info("token expired; disconnecting", "nsp", w.c.Namespace(), "socket", w.c.ID())
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
// user: its expiry and rooms claim apply from now on; the name stays as the
// namespaces know it.
func (w *tokenWatch) refresh(_ context.Context, req events.RefreshTokenRequest) (events.RefreshTokenResult, error) {
	cur, ok := IdentityOf(w.c)
	next, err := w.v.Verify(req.Token)
	if err != nil {
		if r := auth.Reason(err); r != "" {
			return events.RefreshTokenResult{}, events.NewError(events.CodeUnauthorized, r)
		}
		return events.RefreshTokenResult{}, err
	}
	if !ok || next.User.ID != cur.User.ID {
		return events.RefreshTokenResult{}, events.NewError(events.CodeForbidden, "the token is for another user")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.exp.IsZero():
		return events.RefreshTokenResult{}, events.NewError(events.CodeBadRequest, "this connection has no token to refresh")
	case !next.Exp.After(w.exp):
		return events.RefreshTokenResult{}, events.NewError(events.CodeBadRequest, "the token does not expire after the current one")
	}
	updated := cur
	updated.Rooms, updated.Exp = next.Rooms, next.Exp
	SetIdentity(w.c, updated)
	w.exp = next.Exp
	w.armLocked()
	return events.RefreshTokenResult{Exp: next.Exp.Unix()}, nil
}
