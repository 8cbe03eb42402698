// Package chat serves the /chat namespace: rooms, messages with durable
// history, and typing indicators. Register installs its middleware and
// handlers on a namespaces.Namespace; the package sees only the
// namespaces seam, never the engine or the store, and is unit-tested with
// namespacestest.
//
// Identity: a connection middleware resolves the socket's user with
// Deps.Authenticate (DevAuth by default: handshake auth {userId, name}) and
// keeps it on the socket (see User). The sender of a message is always that
// identity, never the payload.
//
// Rooms: a chat room named N is the adapter room RoomKey(N) = "#"+N, so that
// a client cannot join another socket's private id room. Membership is read
// from the adapter (Conn.Rooms, Namespace.Sockets); members are the distinct
// users of a room. userJoined is sent when a user's first socket joins a
// room, userLeft when its last socket leaves it (leaveRoom or disconnect).
// leaveRoom for a room the socket is not in acks not_found.
//
// Concurrency: the engine runs one socket's handlers one at a time, but
// typing timers fire and OnDisconnect may run on other goroutines, and
// different sockets of one user race. Two kinds of lock keep announcements
// consistent:
//   - a room lock (one of a fixed set, picked by hashing the room key)
//     serializes the membership transitions of a room: the check "is this
//     the user's first or last socket here" and the Join, Leave or
//     announcement that follows;
//   - session.mu guards one socket's state (typing timers, the rooms it
//     joined, closed).
//
// Lock order: a room lock before session.mu; never two room locks. Events
// are emitted with these locks held, which is safe because Emit never blocks
// (events.Emitter) and keeps announcements in transition order.
//
// Goroutines: the package starts none. Each typing timer (at most one per
// socket and room) is owned by its session: it is stopped by the next typing
// event, leaveRoom or disconnect, and a timer that fires late finds itself
// replaced and does nothing.
package chat
