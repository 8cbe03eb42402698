// Package engineio implements the server side of Engine.IO protocol v4: the
// HTTP long-polling and WebSocket transports, the upgrade from one to the
// other, heartbeats, and session lifetime.
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
// goroutine; each polling request runs in its HTTP handler goroutine.
//
// A Frame is immutable once built and may be queued on many sessions: a
// broadcast is encoded once, and its WebSocket frame bytes are built once and
// written to every recipient.
package engineio
