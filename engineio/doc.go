// Package engineio implements the server side of Engine.IO protocol v4: the
// HTTP long-polling and WebSocket transports, the upgrade from one to the
// other, heartbeats, and session lifetime.
//
// With Config.AllowEIO3 it also serves Engine.IO v3, the protocol of
// socket.io-client 2.x, as Node's allowEIO3 does (eio3.go): a session keeps
// the revision of its handshake; only the framing and the heartbeat's
// direction differ.
//
// A Server is an http.Handler. Each client connection is a Session; the
// Server hands new sessions to Config.OnSession, which installs the Handler
// that receives the session's messages and its close.
//
// Concurrency: a Session's Handler.OnMessage calls are serialised, in
// arrival order, whichever transport they come from: readers queue
// messages in a bounded inbox that one short-lived deliverer goroutine
// drains, so a WebSocket reader's stack stays small. Session methods are safe
// for concurrent use. Sending never blocks on the network: frames go to a
// bounded per-session queue that one short-lived writer goroutine drains,
// coalescing everything queued into one write; a session whose queue
// overflows is closed ("slow consumer"). The heartbeat uses one runtime timer
// per session, not a goroutine. Each WebSocket session owns one reader
// goroutine (on Linux only while data arrives, see netpoll_linux.go); each
// polling request runs in its HTTP handler goroutine, except a GET that has
// waited Config.ParkDelay with nothing to answer on a connection served
// through Server.Listener: it is parked without a goroutine (park.go), and
// whoever wakes it starts one that writes the response and hands the
// connection back to the http.Server.
//
// Who writes a WebSocket. At most one goroutine writes a session's
// connection at a time: the one that set Session.writing, which is either
// the writer goroutine (writeLoop) or, for a frame sent to a connection
// that is quiet (nothing queued, no writer, no write for inlineGap), the
// sender's own goroutine (writeNow), which makes one non-blocking write and
// hands whatever the kernel did not take to a writer goroutine, so
// ordering per session and the queue bound hold as for queued frames. A
// close frame written outside the queue (writeClose) is skipped while
// writing is set.
//
// Goroutine ownership: every goroutine the engine starts (WebSocket readers,
// writers, deliverers, upgrade probes, the linger of a refused or oversized
// WebSocket, the answers and hang-ups of parked GETs, the pollers) is counted by its Server from the moment it is started, as are
// those registered with Server.Track. Server.Close closes every session,
// which ends their readers and probes (their connections close) and their
// writers (their queues empty or their writes fail), and returns only when
// the count is zero, or with ctx.Err() at the deadline. Heartbeat timers are
// runtime timers, stopped on close; one that fired at that very moment may
// still run briefly after Close returns, sees the session closed and does
// nothing. A Listener owns one goroutine, which accepts for it and ends
// with the Listener's Close (http.Server.Serve closes it on return).
//
// Lock order. The engine's locks are never held across a call into the
// handler, OnSession or the network (writeNow's single write(2) runs after
// Session.mu is released), and are taken in this order only:
//
//  1. Session.mu: one session's state, queue and inbox.
//  2. inflight.mu (Server.goroutines): taken only when the count drops to
//     zero, and by Close's wait; never while it calls anything.
//
// Server.mu (the session map, the closing flag, the recently client-closed
// sessions, the Listeners), addrLimiter.mu (the handshake buckets),
// parkWatcher.mu and handbackListener.mu are leaves: nothing
// else is locked while they are held, and none is taken while a
// Session.mu is held (closeNow unlocks the session before Server.remove;
// Close copies the session list, then unlocks, then closes each).
// Goroutines are started, and counted, while Session.mu is held: the count's
// increment is an atomic add, not a lock.
//
// A Frame is immutable once built and may be queued on many sessions: a
// broadcast is encoded once, and its WebSocket frame bytes are built once and
// written to every recipient.
package engineio
