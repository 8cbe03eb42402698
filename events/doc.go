// Package events is the wire contract of Parley's namespaces: payload
// structs, event descriptors and their registry, the strict codec, the typed
// Handle and Emit verbs, and the two error types that reach a client (Error
// and Disconnect).
//
// Go is the single source of truth. Each event is a package-level descriptor
// built by ClientEvent, ClientEventNoAck or ServerEvent, which records it in
// the registry; go generate writes the TypeScript contract,
// client-js/src/generated/events.ts, from the registry, and
// TestTypeScriptUpToDate fails when the committed file drifts.
//
// Handle and Emit are generic functions (methods cannot take type
// parameters), so a handler or payload of the wrong type does not compile.
// They talk to the engine through two one-method interfaces, Receiver and
// Emitter, so this package imports only the standard library.
//
// Concurrency: the registry is written while package variables are
// initialized and only read afterwards. Descriptors are immutable values.
// The engine calls one socket's handlers one at a time; Handle adds no
// goroutines and keeps no state between events.
package events

//go:generate go run ./internal/tsgen -o ../client-js/src/generated/events.ts
