// Package presence is the Socket.IO adapter of the presence core on the
// /presence namespace: Register installs the connection middleware (the
// identity, namespaces.AuthMiddleware) and, for each connected socket,
// sends userConnected, tracks the socket (core.Presence.Track), watches the
// socket's own user (so a status set in one tab reaches the others) and
// registers setStatus, subscribe, unsubscribe and refreshToken.
//
// A subscribe ack carries a snapshot; status events received while a
// subscribe is pending are newer than it (see core's documentation of
// Watch). Deliveries run under the presence lock and only queue on the
// socket. The package starts no goroutine of its own.
package presence
