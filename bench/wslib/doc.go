// Command wslib serves Parley's bench contract (bench/README.md) on one of
// three Go websocket libraries, each used the way its documentation and
// examples recommend, so that Parley's own engine can be measured against
// them side by side:
//
//	wslib --addr 127.0.0.1:3205 --lib gorilla   # github.com/gorilla/websocket v1.5.3
//	wslib --addr 127.0.0.1:3206 --lib coder     # github.com/coder/websocket v1.8.15
//	wslib --addr 127.0.0.1:3207 --lib gobwas    # github.com/gobwas/ws v1.4.0
//
// Only what the load generator uses is implemented: Engine.IO v4 over
// websocket (no polling, no upgrade, no binary packets), heartbeats, and the
// Socket.IO v5 namespace /chat whose handshake auth {room} joins a room;
// "message" is re-broadcast to the room except the sender and "echo" is
// acked with its arguments. The protocol layer (protocol.go, hub.go,
// session.go) is shared; only the websocket handling differs (gorilla.go,
// coder.go, gobwas.go).
//
// Concurrency: every connection has one reader goroutine, which parses
// packets and runs broadcasts, and one writer goroutine, which owns every
// write to the connection and the heartbeat timer. They meet through the
// session's bounded send channel: a broadcast never blocks on a receiver, and
// a session whose channel is full is closed as a slow consumer. A broadcast
// is encoded once; where the library can, its websocket frame is built once
// too. The room index (hub) is guarded by one RWMutex. Both goroutines of
// every connection are owned by the server and waited for at shutdown.
//
// It is its own module so that Parley's main module never depends on gorilla
// or coder.
package main
