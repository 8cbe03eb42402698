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
// Concurrency: an Admin is safe for concurrent use. Its hooks run on the
// socket goroutines that trigger them and only emit or update state under
// a short lock. It owns one goroutine, the stats ticker, started by the
// first connection to an instrumented namespace (New starts nothing) and
// ended by Close, which waits for it.
package admin
