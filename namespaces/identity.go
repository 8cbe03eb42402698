package namespaces

import (
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
)

// identityKey is the Conn.Get key of the socket's auth.Identity: the one
// place a connection's identity is kept, written by AuthMiddleware (and by
// a token refresh).
const identityKey = "namespaces.identity"

// SetIdentity records the identity of c.
func SetIdentity(c Conn, id auth.Identity) { c.Set(identityKey, id) }

// IdentityOf returns the identity recorded on c.
func IdentityOf(c Conn) (auth.Identity, bool) {
	v, ok := c.Get(identityKey)
	if !ok {
		return auth.Identity{}, false
	}
	id, ok := v.(auth.Identity)
	return id, ok
}

// User returns the user of the identity recorded on c.
func User(c Conn) (events.UserRef, bool) {
	id, ok := IdentityOf(c)
	return id.User, ok
}

// ConnectError refuses a connection with a connect_error whose message and
// data the client sees as written ({message, data}).
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return "namespaces: connection refused: " + e.Message }

// Authenticator resolves the identity of a connecting socket.
type Authenticator func(c Conn) (auth.Identity, error)

// AuthMiddleware returns the connection middleware that runs authn and
// records the identity with SetIdentity. An *auth.Error refuses the
// connection with {message: "unauthorized", data: {code: "unauthorized",
// reason}}; an *events.Error or *ConnectError as written; any other error
// (or an empty user id) is logged and refused as a generic unauthorized, so
// no internal detail reaches the client.
func AuthMiddleware(authn Authenticator, log *slog.Logger) Middleware {
	return func(c Conn) error {
		id, err := authn(c)
		if err == nil && id.User.ID == "" {
			err = errors.New("namespaces: the authenticator returned an empty user id")
		}
		if err == nil {
			SetIdentity(c, id)
			return nil
		}
		var (
			ae *auth.Error
			e  *events.Error
			ce *ConnectError
		)
		switch {
		case errors.As(err, &ae):
			log.Debug("connection refused", "nsp", c.Namespace(), "socket", c.ID(), "reason", ae.Reason)
			return &ConnectError{Message: string(events.CodeUnauthorized), Data: struct {
				Code   events.Code `json:"code"`
				Reason string      `json:"reason"`
			}{events.CodeUnauthorized, ae.Reason}}
		case errors.As(err, &e), errors.As(err, &ce):
			log.Debug("connection refused", "nsp", c.Namespace(), "socket", c.ID(), "err", err)
			return err
		}
		log.Warn("authentication failed", "nsp", c.Namespace(), "socket", c.ID(), "err", err)
		return events.NewError(events.CodeUnauthorized, "authentication failed")
	}
}

// LegacyQuerier is implemented by Conns that may belong to a
// socket.io-client 2.x client (Engine.IO v3, served with --allow-eio3).
// LegacyQuery returns the engine handshake's query as a JSON object of
// strings, with ok true only for such a client.
type LegacyQuerier interface {
	LegacyQuery() (query json.RawMessage, ok bool)
}

// credentials returns what identifies c: its CONNECT auth object or, when
// that is empty and c is a socket.io-client 2.x client, its handshake
// query. A 2.x client has no auth object; its namespace query stands in
// for one (socketio), and a namespace opened on a shared Manager carries
// none, so its identity is where socket.io 2.x apps read it: the handshake
// query.
func credentials(c Conn) json.RawMessage {
	a := c.Auth()
	var fields map[string]json.RawMessage
	if json.Unmarshal(a, &fields) != nil || len(fields) > 0 {
		return a
	}
	if lq, ok := c.(LegacyQuerier); ok {
		if q, ok := lq.LegacyQuery(); ok {
			return q
		}
	}
	return a
}

// Identify returns the Authenticator every namespace shares: the handshake
// auth's {token} verified by v or, in dev mode without a token, the
// handshake's {userId, name} (auth.DevUser); for a socket.io-client 2.x
// client with an empty auth, the handshake query's (see credentials). A
// user who already has maxConns connections (counted by connections) is
// refused with rate_limited.
func Identify(v *auth.Verifier, maxConns int, connections func(userID string) int) Authenticator {
	return func(c Conn) (auth.Identity, error) {
		cred := credentials(c)
		var a struct {
			Token *string `json:"token"`
		}
		_ = json.Unmarshal(cred, &a) // not an object: no token
		var id auth.Identity
		if a.Token == nil && v.Dev() {
			u, err := auth.DevUser(cred)
			if err != nil {
				return auth.Identity{}, err
			}
			id = auth.Identity{User: u}
		} else {
			tok := ""
			if a.Token != nil {
				tok = *a.Token
			}
			var err error
			if id, err = v.Verify(tok); err != nil {
				return auth.Identity{}, err
			}
		}
		if maxConns > 0 && connections != nil && connections(id.User.ID) >= maxConns {
			return auth.Identity{}, events.Errorf(events.CodeRateLimited, "a user may have at most %d connections", maxConns)
		}
		return id, nil
	}
}
