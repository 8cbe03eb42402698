// Package server is Parley's composition root and nothing else: it
// validates a Config, builds the token verifier (internal/auth), opens the
// store, builds the application core (package core: chat and presence)
// over the Socket.IO /chat namespace, registers the transport adapters on
// it — the Socket.IO namespaces (namespaces/chat, namespaces/presence,
// behind namespaces/ratelimit), the SSE streams (internal/sse) and the HTTP
// API (internal/httpapi) — and mounts them with the demo page on a gin
// router. It defines no event handler and writes nothing to the store.
//
// Lifecycle: New starts nothing; Run (or Serve) listens; Shutdown stops
// accepting handshakes, drains the engine with the listener still open so
// polling clients fetch their close packet, waits for the handlers, ends
// the SSE streams, writes the last-seen times and closes the store.
// Shutdown is safe to call more than once and returns ctx.Err() when its
// deadline passes first. Server methods are safe for concurrent use.
//
// Lock order: the server holds one lock of its own (Server.mu, lifecycle
// state), never while calling into another package. The order of the
// application's locks is written in package core's documentation; the
// engine's in engineio's and socketio's.
package server
