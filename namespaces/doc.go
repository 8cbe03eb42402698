// Package namespaces is the seam between the Socket.IO engine and the
// application: the core and the /chat and /presence adapters are written
// against Conn and Namespace, never against the engine's types, so they are
// unit-tested with a fake (namespacestest).
//
// Identity: a connection's identity (auth.Identity) is kept under one key,
// written by one middleware (AuthMiddleware, with the Authenticator that
// Identify builds from the token verifier) and by a token refresh
// (WatchToken); IdentityOf and User read it.
//
// Concurrency: the engine calls one socket's handlers one at a time, in
// arrival order; different sockets run in parallel. Conn and Namespace
// methods are safe for concurrent use. WatchToken owns one timer per
// socket, stopped when the socket disconnects.
package namespaces
