// Package namespaces is the seam between the Socket.IO engine and the
// application: handlers for /chat and /presence are written against Conn and
// Namespace, never against the engine's types, so they are unit-tested with a
// fake.
//
// Concurrency: the engine calls one socket's handlers one at a time, in
// arrival order; different sockets run in parallel. Conn and Namespace
// methods are safe for concurrent use.
package namespaces
