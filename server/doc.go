// Package server is Parley's composition root: it validates a Config, opens
// the store, builds the Socket.IO server with the /chat and /presence
// namespaces, the presence tracker, authentication and limits, and mounts
// them with the HTTP API, the SSE feeds and the demo page on a gin router.
//
// Lifecycle: New starts nothing; Run (or Serve) listens; Shutdown stops
// accepting handshakes, drains the engine with the listener still open so
// polling clients fetch their close packet, waits for the handlers, ends
// the SSE streams and closes the store. Shutdown is safe to call more than
// once and returns ctx.Err() when its deadline passes first. Server methods
// are safe for concurrent use.
package server
