//go:build !unix

package engineio

import "syscall"

// inlineWrites disables writeNow where no non-blocking write(2) is at hand
// (Windows, wasm): every frame goes through the writer goroutine, which
// coalesces as usual; only the latency of a quiet connection's first frame
// is a goroutine start longer.
const inlineWrites = false

// tryWrite is never called when inlineWrites is false; it writes nothing.
func tryWrite(syscall.RawConn, []byte) int { return 0 }
