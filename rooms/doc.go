// Package rooms holds room names and membership: the validation rule for
// room names and Index, the two-way membership record the Socket.IO adapter
// is built on. It imports only package events, whose limits declare the
// room-name rule once for the server and its clients.
//
// Concurrency: Index is safe for concurrent use; it holds its lock only for
// map work, never while calling out.
package rooms
