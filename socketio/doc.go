// Package socketio implements the server side of Socket.IO protocol v5 on
// top of package engineio: namespaces (static, and dynamic by function or
// regexp), connection and per-packet middleware, rooms, acknowledgements in
// both directions (a broadcast with ack collects one answer per socket),
// binary attachments, connection state recovery, and the immutable
// BroadcastOperator (To, In, Except, Volatile, Local, Timeout).
//
// Each engine session is a client; its sockets, one per namespace, are
// multiplexed on it. A namespace keeps membership in its Adapter (the
// in-memory one by default; a multi-node adapter can replace it). A
// broadcast is encoded once into engine frames that every recipient shares.
// With a ClusterAdapter (package redisadapter), the broadcast operator also
// forwards broadcasts, acknowledgement requests, SocketsJoin/Leave and
// DisconnectSockets to the other nodes, and FetchAllSockets,
// ServerSideEmit, AllRooms and ServerCount span them (cluster.go).
//
// Concurrency: one socket's event handlers and its disconnect handlers run
// one at a time, in arrival order, on a short-lived dispatcher goroutine
// fed by a bounded inbox; when the inbox is full the connection's reads
// pause. Different sockets run in parallel. Acknowledgements are delivered
// without waiting behind the socket's handlers, so a handler may wait for
// an ack (EmitWithAck). OnDisconnect handlers run while the socket is still
// in its rooms, after its queued events; broadcasts skip it from the
// moment it disconnects. Server, Namespace, Socket and BroadcastOperator
// methods are safe for concurrent use; Server.Close returns after the last
// handler has run.
package socketio
