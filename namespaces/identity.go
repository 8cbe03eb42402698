package namespaces

import (
	"errors"
	"log/slog"

	"github.com/parley-rt/parley/events"
)

// userKey is the Conn.Get key of the socket's authenticated user.
const userKey = "namespaces.user"

// SetUser records the authenticated user of c; a namespace's connection
// middleware calls it.
func SetUser(c Conn, u events.UserRef) { c.Set(userKey, u) }

// User returns the user SetUser recorded on c.
func User(c Conn) (events.UserRef, bool) {
	v, ok := c.Get(userKey)
	if !ok {
		return events.UserRef{}, false
	}
	u, ok := v.(events.UserRef)
	return u, ok
}

// Authenticator resolves the user of a connecting socket.
type Authenticator func(c Conn) (events.UserRef, error)

// AuthMiddleware returns the connection middleware that runs auth and
// records the user with SetUser. An *events.Error from auth refuses the
// connection as written; any other error (or an empty user id) is logged
// and refused as a generic unauthorized, so no internal detail reaches the
// client.
func AuthMiddleware(auth Authenticator, log *slog.Logger) Middleware {
	return func(c Conn) error {
		user, err := auth(c)
		if err == nil && user.ID == "" {
			err = errors.New("namespaces: Authenticate returned an empty user id")
		}
		if err != nil {
			var e *events.Error
			if errors.As(err, &e) {
				log.Debug("connection refused", "nsp", c.Namespace(), "socket", c.ID(), "code", e.Code, "message", e.Message)
				return e
			}
			log.Warn("authentication failed", "nsp", c.Namespace(), "socket", c.ID(), "err", err)
			return events.NewError(events.CodeUnauthorized, "authentication failed")
		}
		SetUser(c, user)
		return nil
	}
}
