package namespaces

import (
	"context"
	"encoding/json"

	"github.com/parley-rt/parley/events"
)

// Conn is one client socket in one namespace, as handlers see it. It is
// implemented by the socketio package; handler tests use a fake.
type Conn interface {
	events.Receiver
	events.Emitter

	// ID is the socket id (also the name of the socket's own room).
	ID() string
	// Namespace is the namespace name, for example "/chat".
	Namespace() string
	// Auth is the CONNECT packet's auth object as raw JSON; "{}" when the
	// client sent none.
	Auth() json.RawMessage
	// Context is cancelled when the socket disconnects.
	Context() context.Context

	// Get and Set hold per-socket values such as the authenticated user.
	// They are safe for concurrent use, and visible to Namespace.Sockets.
	Get(key string) (any, bool)
	Set(key string, value any)

	// Join adds the socket to rooms; Leave removes it from one; Rooms lists
	// the rooms it is in (its own id room included).
	Join(rooms ...string)
	Leave(room string)
	Rooms() []string

	// To returns a broadcast to the rooms that excludes this socket.
	To(rooms ...string) Broadcaster
	// Volatile returns an emitter whose packets are dropped rather than
	// queued when the socket's transport is not writable.
	Volatile() events.Emitter

	// OnDisconnect registers fn, called once with the reason, after the
	// socket's queued events and while it is still in its rooms (as Node's
	// "disconnecting"); the engine takes it out of them when fn returns.
	// Broadcasts no longer reach it.
	OnDisconnect(fn func(reason string))
	// Disconnect closes this namespace socket ("server namespace disconnect").
	Disconnect()
}

// Broadcaster is an immutable broadcast operator: every method returns a new
// value and Emit sends one packet, encoded once, to every selected socket.
type Broadcaster interface {
	events.Emitter
	To(rooms ...string) Broadcaster
	Except(rooms ...string) Broadcaster
	Volatile() Broadcaster
}

// Middleware runs for each socket before it is connected. A non-nil error
// refuses the connection with a connect_error packet; an *events.Error
// reaches the client as {message, data: {code, message}}, any other error as
// a generic message.
type Middleware func(c Conn) error

// Namespace is one Socket.IO namespace as handlers see it.
type Namespace interface {
	Broadcaster
	// Name is the namespace name, for example "/chat".
	Name() string
	// Use appends a connection middleware.
	Use(mw Middleware)
	// OnConnection registers the handler run for each connected socket.
	OnConnection(fn func(c Conn))
	// Sockets returns the sockets of this node in any of rooms (all sockets
	// when rooms is empty).
	Sockets(rooms ...string) []Conn
}
