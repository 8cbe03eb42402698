//go:build unix

package engineio

import "syscall"

// inlineWrites enables writeNow: a write(2) that never waits exists here.
const inlineWrites = true

// tryWrite makes one write(2) on the connection's descriptor without
// waiting for it to become writable, and returns how many bytes went out.
func tryWrite(raw syscall.RawConn, b []byte) int {
	n := 0
	_ = raw.Write(func(fd uintptr) bool { // an error leaves n at 0: the writer reports it
		for {
			m, err := syscall.Write(int(fd), b)
			if err == syscall.EINTR {
				continue
			}
			if m > 0 {
				n = m
			}
			return true // done, written or not: never wait here
		}
	})
	return n
}
