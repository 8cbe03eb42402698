// Package redistest starts redis-server processes for tests, on free
// loopback ports. It is used by integration tests only (build tag
// integration); redis-server comes from the Debian package.
//
// Concurrency: a Server's methods are called from the test goroutine.
package redistest
