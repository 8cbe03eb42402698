//go:build linux

package engineio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// netpoller watches idle WebSocket connections with one epoll instance, so
// that an idle connection holds no reader goroutine (its stack, about 4
// KiB, and its 256-byte bufio.Reader were a third of an idle connection's
// memory). When a connection becomes readable, a goroutine is started for
// it that reads it like the reader goroutine did, handing every complete
// message to the session, until it has been quiet for pollLinger; it then
// re-arms the connection and ends.
// EPOLLONESHOT makes that goroutine the connection's only reader: the
// next readiness is reported only after the re-arm. Writes are untouched
// (the session's writer and inline writes). Other platforms, TLS and
// connections with early bytes keep the reader goroutine (websocket.go).
//
// The poller starts with the first connection it watches and stops in
// Server.Close; its goroutine and the readers it starts are counted in
// Server.goroutines.
type netpoller struct {
	once sync.Once
	err  error // why the poller could not start; connections keep their goroutine
	epfd int
	wake [2]int // a pipe: stop writes a byte, the poll loop ends

	// mu guards the fields below; arm holds it shared while it uses epfd,
	// so that the poll loop's exit never closes epfd under an epoll_ctl.
	mu      sync.RWMutex
	conns   map[uint32]*pollConn // by epoll key
	next    uint32
	running bool
	stopped bool
}

// pollConn is a TCP WebSocket connection that the netpoller may read. It
// embeds *net.TCPConn, so that net.Buffers keeps writev on it and
// SyscallConn and CloseWrite are the TCP connection's; Close forgets the
// connection in the poller first.
type pollConn struct {
	*net.TCPConn
	np   *netpoller
	raw  syscall.RawConn
	key  uint32 // 0: not watched; guarded by np.mu
	sess *Session

	// The reader's state, touched only by the goroutine that owns the
	// current readiness (one at a time, see netpoller).
	pending []byte // the start of a frame not complete yet
	frag    []byte // the frames so far of a fragmented message
	fragOp  byte
	inFrag  bool
}

// epollOneShot is EPOLLONESHOT (the same on every Linux architecture),
// which package syscall does not define.
const epollOneShot = 1 << 30

// errPollerStopped reports a watch after Server.Close stopped the poller.
var errPollerStopped = errors.New("engineio: netpoller stopped")

// pollable wraps conn for the netpoller when it is a TCP connection;
// otherwise it returns nil.
func (srv *Server) pollable(conn net.Conn) *pollConn {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return &pollConn{TCPConn: tc, np: &srv.np, raw: raw}
}

// Close forgets the connection in the poller, then closes it.
func (c *pollConn) Close() error {
	c.np.forget(c)
	return c.TCPConn.Close()
}

// netpollRead leaves sess's reads from conn to the poller when conn is a
// pollConn and br holds nothing yet; it reports false when the caller must
// read with a goroutine of its own.
func (srv *Server) netpollRead(sess *Session, conn net.Conn, br *bufio.Reader) bool {
	c, ok := conn.(*pollConn)
	if !ok || br.Buffered() > 0 {
		return false
	}
	np := &srv.np
	np.once.Do(func() { np.err = np.start(srv) })
	if np.err != nil {
		return false
	}
	np.mu.Lock()
	if np.stopped || !np.running {
		np.mu.Unlock()
		return false
	}
	for {
		np.next++
		if np.next != 0 && np.conns[np.next] == nil { // 0 is the wake pipe
			break
		}
	}
	c.key, c.sess = np.next, sess
	np.conns[c.key] = c
	np.mu.Unlock()
	if err := c.arm(syscall.EPOLL_CTL_ADD); err != nil {
		np.forget(c)
		return false
	}
	return true
}

func (np *netpoller) start(srv *Server) error {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := syscall.Pipe2(np.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(fd) // nothing was registered on it
		return err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: 0}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, np.wake[0], &ev); err != nil {
		np.closeFDs(fd)
		return err
	}
	np.mu.Lock()
	defer np.mu.Unlock()
	if np.stopped {
		np.closeFDs(fd)
		return errPollerStopped
	}
	np.epfd = fd
	np.conns = make(map[uint32]*pollConn)
	np.running = true
	srv.goroutines.add()
	go np.run(srv)
	return nil
}

func (np *netpoller) closeFDs(epfd int) {
	_ = syscall.Close(epfd)       // ours alone
	_ = syscall.Close(np.wake[0]) // as above
	_ = syscall.Close(np.wake[1]) // as above
}

// stop ends the poll loop; connections still open are not read any more.
func (np *netpoller) stop() {
	np.mu.Lock()
	defer np.mu.Unlock()
	if np.stopped {
		return
	}
	np.stopped = true
	if np.running {
		_, _ = syscall.Write(np.wake[1], []byte{1}) // a full pipe has woken the loop already
	}
}

func (np *netpoller) forget(c *pollConn) {
	np.mu.Lock()
	if c.key != 0 && np.conns[c.key] == c {
		delete(np.conns, c.key)
	}
	c.key = 0
	np.mu.Unlock()
}

// run waits for readiness and starts a reader for each ready connection.
func (np *netpoller) run(srv *Server) {
	defer srv.goroutines.done()
	defer func() {
		np.mu.Lock()
		np.closeFDs(np.epfd)
		np.epfd, np.running = -1, false
		np.mu.Unlock()
	}()
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(np.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			srv.cfg.Logger.Error("engineio: epoll_wait failed; WebSocket reads stop", "err", err)
			return
		}
		for _, ev := range events[:n] {
			key := uint32(ev.Fd)
			if key == 0 {
				return // stop
			}
			np.mu.RLock()
			c := np.conns[key]
			np.mu.RUnlock()
			if c == nil {
				continue // closed since
			}
			srv.goroutines.add()
			go c.readable(srv)
		}
	}
}

// arm (re-)registers the connection for one readiness report.
func (c *pollConn) arm(op int) error {
	np := c.np
	np.mu.RLock()
	defer np.mu.RUnlock()
	if c.key == 0 || !np.running {
		return net.ErrClosed
	}
	var err error
	cerr := c.raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollOneShot, Fd: int32(c.key)}
		err = syscall.EpollCtl(np.epfd, op, int(fd), &ev)
	})
	if cerr != nil {
		return cerr
	}
	return err
}

// pollReadSize is the size of the buffers readiness goroutines read into;
// they are pooled, so an idle connection holds none.
const pollReadSize = 4096

var pollBufs = sync.Pool{New: func() any { b := make([]byte, pollReadSize); return &b }}

// pollLinger is how long a readiness goroutine keeps reading a
// connection that has gone quiet before it hands it back to epoll: a busy
// connection (an echo loop, a sender) is read as by a reader goroutine,
// without an epoll round trip per message, and an idle one holds nothing.
const pollLinger = 250 * time.Millisecond

// readable reads the connection through Go's own poller until it has been
// quiet for pollLinger, delivering the complete messages, then re-arms it;
// or closes the session when the connection failed.
func (c *pollConn) readable(srv *Server) {
	defer srv.goroutines.done()
	bp := pollBufs.Get().(*[]byte)
	err := c.linger(*bp)
	pollBufs.Put(bp)
	if err == nil {
		err = c.arm(syscall.EPOLL_CTL_MOD)
	}
	if err != nil {
		c.sess.readFailed(c, bufio.NewReaderSize(c, 256), err)
	}
}

// linger reads until the connection has been quiet for pollLinger (nil) or
// fails. The read deadline moves at most every half pollLinger.
func (c *pollConn) linger(buf []byte) error {
	set := time.Now()
	if err := c.TCPConn.SetReadDeadline(set.Add(pollLinger)); err != nil {
		return err
	}
	for {
		n, err := c.TCPConn.Read(buf)
		if n > 0 {
			if err := c.take(buf[:n]); err != nil {
				return err
			}
			if now := time.Now(); now.Sub(set) > pollLinger/2 {
				set = now
				if err := c.TCPConn.SetReadDeadline(now.Add(pollLinger)); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return c.TCPConn.SetReadDeadline(time.Time{})
		}
		if err != nil {
			return err
		}
	}
}

// take consumes the frames completed by data (read into a pooled buffer)
// and keeps the start of an incomplete one in pending.
func (c *pollConn) take(data []byte) error {
	inPending := len(c.pending) > 0
	if inPending {
		c.pending = append(c.pending, data...)
		data = c.pending
	}
	used, err := c.consume(data)
	if err != nil {
		return err
	}
	rest := data[used:]
	switch {
	case len(rest) == 0:
		c.pending = nil
	case inPending:
		c.pending = c.pending[:copy(c.pending, rest)]
	default:
		c.pending = bytes.Clone(rest)
	}
	return nil
}

// consume handles every complete frame at the start of data, as
// Session.readMessage and readLoop do for a reader goroutine, and returns
// how many bytes it used. It unmasks payloads in place.
func (c *pollConn) consume(data []byte) (int, error) {
	s := c.sess
	used := 0
	for {
		h, hl, ok, err := parseHeader(data[used:])
		if err != nil || !ok {
			return used, err
		}
		if h.rsv != 0 || !h.masked {
			return used, errProtocol
		}
		if h.op >= 0x8 {
			if !h.fin || h.length > 125 {
				return used, errProtocol
			}
		} else {
			switch {
			case h.op == 0x0 && !c.inFrag, h.op != 0x0 && c.inFrag:
				return used, errProtocol
			case h.op != 0x0 && h.op != opText && h.op != opBinary:
				return used, errProtocol
			}
			if int64(len(c.frag))+h.length > s.srv.cfg.MaxPayload {
				return used, errTooLarge
			}
		}
		if int64(len(data)-used-hl) < h.length {
			return used, nil // the payload is still on its way
		}
		p := data[used+hl : used+hl+int(h.length)]
		used += hl + int(h.length)
		ws.Cipher(p, h.mask, 0)
		if h.op >= 0x8 {
			switch h.op {
			case opClose:
				s.replyClose(c, p)
				return used, errPeerClose
			case opPing:
				f := &Frame{}
				f.wsOnce.Do(func() { f.ws = appendWSFrame(nil, opPong, nil, p) })
				_ = s.Send(f) // a closing session needs no pong
			case opPong:
			default:
				return used, errProtocol
			}
			continue
		}
		if h.op != 0x0 {
			c.fragOp = h.op
		}
		var msg []byte
		switch {
		case h.fin && !c.inFrag:
			msg = append(make([]byte, 0, len(p)), p...)
		case h.fin:
			msg = append(c.frag, p...)
			c.frag, c.inFrag = nil, false
		default:
			c.frag, c.inFrag = append(c.frag, p...), true
			continue
		}
		pk, err := s.decodeWS(c.fragOp, msg)
		if err != nil {
			return used, err
		}
		s.receive(pk)
	}
}

// parseHeader parses the frame header at the start of b; ok is false when
// b does not hold all of it yet.
func parseHeader(b []byte) (h wsHeader, n int, ok bool, err error) {
	if len(b) < 2 {
		return h, 0, false, nil
	}
	h.fin = b[0]&0x80 != 0
	h.rsv = (b[0] >> 4) & 0x7
	h.op = b[0] & 0xf
	h.masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, false, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, false, nil
		}
		l := binary.BigEndian.Uint64(b[2:10])
		if l>>63 != 0 {
			return h, 0, false, errProtocol
		}
		h.length = int64(l)
		n = 10
	default:
		h.length = int64(l)
	}
	if h.masked {
		if len(b) < n+4 {
			return h, 0, false, nil
		}
		copy(h.mask[:], b[n:n+4])
		n += 4
	}
	return h, n, true, nil
}
