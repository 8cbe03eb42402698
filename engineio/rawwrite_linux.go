//go:build linux

package engineio

import (
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// inlineWrites enables writeNow: a write(2) that never waits exists here.
const inlineWrites = true

// On Linux both of the engine's WebSocket writes make their write(2) and
// writev(2) with syscall.RawSyscall, which does not tell the scheduler that
// the goroutine entered a system call. The descriptor is non-blocking, so
// the call never waits: it copies the bytes and, on loopback, runs the
// receiver's TCP input; a few microseconds. Through syscall.Syscall every
// such write handed the P to the scheduler and took it back, and a write
// that lasted over a sysmon tick (20 µs, common on a busy machine) had its P
// retaken and another thread started, which kept sysmon waking every 20 µs:
// on the fan-out bench at 10 msg/s × 1000 receivers that machinery (sysmon,
// its nanosleep, handoffp, futex wake-ups) was 13 % of the server's CPU.

// tryWrite makes one write(2) on the connection's descriptor without
// waiting for it to become writable, and returns how many bytes went out.
// It holds the descriptor through RawConn.Control (a reference, so a
// concurrent Close cannot free the number under the write) rather than
// RawConn.Write, whose write lock and poller reset cost as much again: the
// session's writing flag already makes this the connection's only writer.
func tryWrite(raw syscall.RawConn, b []byte) int {
	if len(b) == 0 {
		return 0
	}
	n := 0
	_ = raw.Control(func(fd uintptr) { // an error leaves n at 0: the writer reports it
		for {
			m, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			if errno == syscall.EINTR {
				continue
			}
			if errno == 0 {
				n = int(m)
			}
			return // done, written or not: never wait here
		}
	})
	return n
}

// maxIovecs is how many buffers one writev(2) takes (Linux's IOV_MAX).
const maxIovecs = 1024

var iovecPool = sync.Pool{New: func() any { return new([]syscall.Iovec) }}

// writeFrames writes all of bufs to conn: writev(2) through RawConn.Write,
// which waits in Go's poller while the socket is full and honours conn's
// write deadline. bufs's entries are resliced as they go out. Without raw
// (a TLS connection) it writes through conn.
func writeFrames(conn net.Conn, raw syscall.RawConn, bufs net.Buffers) error {
	if raw == nil {
		_, err := bufs.WriteTo(conn)
		return err
	}
	ip := iovecPool.Get().(*[]syscall.Iovec)
	iov := *ip
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for {
			for len(bufs) > 0 && len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
			if len(bufs) == 0 {
				return true
			}
			iov = iov[:0]
			for _, b := range bufs[:min(len(bufs), maxIovecs)] {
				if len(b) > 0 {
					v := syscall.Iovec{Base: &b[0]}
					v.SetLen(len(b))
					iov = append(iov, v)
				}
			}
			m, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
			switch errno {
			case 0:
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until writable (or the deadline)
			default:
				werr = errno
				return true
			}
			for n := int(m); n > 0; {
				k := min(n, len(bufs[0]))
				bufs[0] = bufs[0][k:]
				n -= k
				if len(bufs[0]) == 0 {
					bufs = bufs[1:]
				}
			}
		}
	})
	clear(iov[:cap(iov)]) // the frames' bytes are not the pool's to keep
	*ip = iov[:0]
	iovecPool.Put(ip)
	if err != nil {
		return err
	}
	return werr
}
