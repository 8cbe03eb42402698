// Package ratelimit applies per-socket token buckets to client events of
// any namespace: over an event's limit it is answered rate_limited (or
// dropped when it has no ack), and a socket that keeps sending at
// Config.AbuseFactor times a limit for about Config.AbuseWindow is
// disconnected. The limits are per socket, so they stay per node in a
// cluster.
//
// Concurrency: a Limiter is immutable after New. A socket's buckets are
// touched only by its own event handlers, which the engine runs one at a
// time, so they need no lock. The package starts no goroutine: a bucket is
// refilled from the time elapsed when an event arrives.
package ratelimit
