// Package socketio implements the server side of Socket.IO protocol v5 on
// top of package engineio: namespaces (static, and dynamic by function or
// regexp), connection and per-packet middleware, rooms, acknowledgements in
// both directions (a broadcast with ack collects one answer per socket),
// binary attachments, connection state recovery, and the immutable
// BroadcastOperator (To, In, Except, Volatile, Local, Timeout).
//
// An Engine.IO v3 session (engineio.Config.AllowEIO3) is a
// socket.io-client 2.x client and speaks Socket.IO protocol v4, served as
// Node's socket.io 4 serves it (v3.go).
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
// methods are safe for concurrent use.
//
// Goroutines: socketio starts two kinds, and Server.Close waits for both
// (through engineio.Server.Track): a socket's dispatcher, which lives while
// its inbox has items, and a connection's connect timer callback, counted
// from the session's start until the timer is stopped (on CONNECT or
// close) or its callback returns. Close returns when the engine's
// goroutines and these have ended, that is after every socket's queued
// events and disconnect handlers have run; goroutines that handlers start
// are theirs to end. A dispatcher started by a call made after Close
// returned (Socket.Disconnect, say) is not waited for.
//
// Connection state recovery: with Config.Recovery set, every recorded
// emit (Namespace and BroadcastOperator Emit without Volatile, and
// Socket.Emit) takes its offset, its place in the namespace's recovery log
// and its place in each recipient's engine queue in one step under the
// namespace's emit lock, so all sockets receive recorded packets in offset
// order. A recovered socket rejoins its rooms and gets its CONNECT and its
// missed packets in one step under the same lock, so it gets each missed
// packet once and before any newer one. Emits with acks and volatile emits
// are not recorded and take no lock of the namespace.
//
// Lock order. A lock on the left may be held while taking one on its
// right, never the other way:
//
//	Server.mu -> whatever the AdapterFactory takes (it runs when Of or a
//	             dynamic lookup creates a namespace)
//	emit lock (recoveryStore.mu) -> the adapter's locks (rooms.Index.mu)
//	emit lock (recoveryStore.mu) -> engineio Session.mu (Send, SendBatch)
//	Socket.mu -> engineio's goroutine count (Track)
//	client.mu -> engineio's goroutine count (a stopped connect timer)
//
// Namespace.mu, client.mu, Socket.mu, a broadcast-with-ack's collector and
// rooms.Index.mu are otherwise leaves: they guard maps and slices, are
// held for a copy or an append, and nothing else is taken under them (the
// memory adapter copies its selection and releases the index before it
// queues anything).
// Adapter.Broadcast runs under the emit lock when recovery is on: an
// adapter must not emit into the same namespace from it. Emits do happen
// under a lock: a recorded emit queues (and, to a quiet WebSocket, writes
// with one non-blocking write) under the emit lock; other emits under no
// socketio lock. No middleware, handler, connection, disconnect, error or
// ack callback runs under a socketio lock.
package socketio
