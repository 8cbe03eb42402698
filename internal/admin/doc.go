// Package admin instruments Parley for the Socket.IO Admin UI (npm
// @socket.io/admin-ui 0.5), as that package's instrument() instruments a
// Node server: an /admin namespace speaking the UI's protocol (wire.go),
// with basic authentication against a bcrypt hash and session ids, the
// server_stats heartbeat, the list of sockets with their handshakes and
// rooms, live connection and room events, and the UI's actions (emit,
// join, leave, disconnect) on Parley's sockets.
//
// In a cluster every node runs its own Admin with its own ServerID: events
// and stats are emitted on the /admin namespace through its adapter, so a
// multi-node adapter delivers every node's reports to a UI connected to any
// node. Listing sockets, sessions and the UI's join, leave and disconnect
// actions are local to the node the UI is connected to until the cluster
// adapter's FetchAllSockets and SocketsJoin/SocketsLeave/DisconnectSockets
// are used here (see allSockets and act).
//
// The dashboard's connection chart counts a connection when its first
// socket connects to an instrumented namespace and a disconnection (with
// the reason) when its last one leaves; the bytes and packets charts stay
// empty (the engine exposes no such counts).
//
// Concurrency: an Admin is safe for concurrent use. Its hooks run on the
// socket goroutines that trigger them and only emit or update state under
// a short lock. That lock is a leaf: nothing calls into socketio or emits
// while holding it. At most two bcrypt comparisons run at once; logins
// beyond them are refused. It owns one goroutine, the stats ticker, started by the
// first connection to an instrumented namespace (New starts nothing) and
// ended by Close, which waits for it.
package admin
