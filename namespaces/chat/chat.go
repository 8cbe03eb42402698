package chat

import (
	"errors"
	"log/slog"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
)

// Deps is what the /chat handlers need. Register copies it.
type Deps struct {
	// Chat is the application core. Required.
	Chat *core.Chat
	// Authenticate resolves the identity of a connecting socket (see
	// namespaces.Identify). Required.
	Authenticate namespaces.Authenticator
	// Verifier checks refreshToken's tokens. nil: the namespace has no
	// refreshToken handler and sockets never expire.
	Verifier *auth.Verifier
	// HandlerTimeout bounds each handler's context. Zero means
	// events.DefaultTimeout.
	HandlerTimeout time.Duration
	// Logger receives refused connections, handler failures and panics,
	// with the socket id and event. nil discards.
	Logger *slog.Logger
}

// Register installs the /chat middleware and connection handler on ns. It
// fails when deps is unusable.
func Register(ns namespaces.Namespace, deps Deps) error {
	switch {
	case deps.Chat == nil:
		return errors.New("chat: Deps.Chat is nil")
	case deps.Authenticate == nil:
		return errors.New("chat: Deps.Authenticate is nil")
	case deps.HandlerTimeout < 0:
		return errors.New("chat: Deps.HandlerTimeout is negative")
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

func connected(c namespaces.Conn, deps Deps) {
	log := deps.Logger.With("nsp", c.Namespace(), "socket", c.ID())
	sess, err := deps.Chat.Open(c)
	if err != nil {
		if !errors.Is(err, core.ErrTooManyConnections) {
			log.Error("chat session refused; disconnecting", "err", err)
			c.Disconnect()
		}
		return
	}
	opts := []events.Option{events.WithLogger(log), events.WithTimeout(deps.HandlerTimeout)}
	events.Handle(c, events.JoinRoom, sess.Join, opts...)
	events.Handle(c, events.LeaveRoom, sess.Leave, opts...)
	events.Handle(c, events.SendChatMessage, sess.Post, opts...)
	events.HandleNoAck(c, events.Typing, sess.Typing, opts...)
	events.Handle(c, events.FetchHistory, sess.History, opts...)
	if deps.Verifier != nil {
		namespaces.WatchToken(c, events.ChatRefreshToken, deps.Verifier, deps.Logger)
	}
}
