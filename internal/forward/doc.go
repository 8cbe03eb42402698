// Package forward lets a cluster run without sticky sessions: a polling
// request or WebSocket upgrade that names an Engine.IO session owned by
// another node is sent to that node over plain HTTP, and its answer (or,
// for an upgrade, the whole connection) is relayed back. The owner is read
// from the sid, whose first characters are the owning node's tag
// (engineio.Config.SIDPrefix); its address comes from Config.Resolve (the
// Redis node registry, redisadapter.Cluster.NodeAddr). See
// redisadapter/FORWARDING.md for the design and its measurements.
//
// A forwarded request carries the Parley-Forwarded-By header and is never
// forwarded again: on the owner it is an ordinary client request, served
// if the session is there and refused with "Session ID unknown" if not.
//
// Concurrency: a Forwarder is safe for concurrent use. It starts no
// goroutine of its own beyond those of net/http's ReverseProxy inside a
// forwarded request, which end with it; Close cancels every request in
// flight (relayed WebSocket connections included) and waits for them.
package forward
