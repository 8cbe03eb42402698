//go:build linux

package engineio

import (
	"net"
	"sync"
	"syscall"
)

// parkSupported: Linux has the park watcher.
const parkSupported = true

// parkWatcher watches the connections of parked GETs (park.go) for hang-up
// with one epoll instance and one goroutine, started with the first park
// and stopped in Server.Close (counted in Server.goroutines). It is apart
// from the WebSocket netpoller (netpoll_linux.go), whose readiness starts a
// reader: here readiness is a verdict, handled in the poll loop.
type parkWatcher struct {
	once sync.Once
	err  error // why the watcher could not start; GETs are held instead
	epfd int
	wake [2]int // a pipe: stop writes a byte, the poll loop ends

	// mu guards the fields below; watch and unwatch hold it shared while
	// they use epfd, so that the loop's exit never closes epfd under an
	// epoll_ctl.
	mu      sync.RWMutex
	polls   map[uint32]parkEntry // by epoll key
	next    uint32
	running bool
	stopped bool
}

type parkEntry struct {
	sess *Session
	pp   *parkedPoll
}

// parkWatch is a parked GET's registration: its epoll key and fd;
// guarded by parkWatcher.mu.
type parkWatch struct {
	key uint32 // 0: not watched
	raw syscall.RawConn
}

// ready starts the watcher if needed and reports whether it runs.
func (pw *parkWatcher) ready(srv *Server) bool {
	pw.once.Do(func() { pw.err = pw.start(srv) })
	if pw.err != nil {
		return false
	}
	pw.mu.RLock()
	defer pw.mu.RUnlock()
	return pw.running && !pw.stopped
}

func (pw *parkWatcher) start(srv *Server) error {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := syscall.Pipe2(pw.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(fd) // nothing was registered on it
		return err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: 0}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, pw.wake[0], &ev); err != nil {
		pw.closeFDs(fd)
		return err
	}
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.stopped {
		pw.closeFDs(fd)
		return errPollerStopped
	}
	pw.epfd = fd
	pw.polls = make(map[uint32]parkEntry)
	pw.running = true
	srv.goroutines.add()
	go pw.run(srv)
	return nil
}

func (pw *parkWatcher) closeFDs(epfd int) {
	_ = syscall.Close(epfd)       // ours alone
	_ = syscall.Close(pw.wake[0]) // as above
	_ = syscall.Close(pw.wake[1]) // as above
}

// stop ends the poll loop; GETs parked after it are held instead.
func (pw *parkWatcher) stop() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.stopped {
		return
	}
	pw.stopped = true
	if pw.running {
		_, _ = syscall.Write(pw.wake[1], []byte{1}) // a full pipe has woken the loop already
	}
}

// watch registers pp's connection for one report of readability or
// hang-up, in pp.watch. A connection that cannot be watched (not TCP, or
// the watcher stopped) stays parked unwatched: a hang-up is then noticed
// by the answer's write or the heartbeat.
func (pw *parkWatcher) watch(s *Session, pp *parkedPoll) {
	tc, ok := pp.conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if !pw.running || pw.stopped {
		return
	}
	for {
		pw.next++
		if _, used := pw.polls[pw.next]; pw.next != 0 && !used { // 0 is the wake pipe
			break
		}
	}
	w := parkWatch{key: pw.next, raw: raw}
	var eerr error
	cerr := raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollOneShot, Fd: int32(w.key)}
		eerr = syscall.EpollCtl(pw.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if cerr != nil || eerr != nil {
		return
	}
	pw.polls[w.key] = parkEntry{s, pp}
	pp.watch = w
}

// unwatch removes pp's registration; it is done before the connection is
// answered and handed back, or closed.
func (pw *parkWatcher) unwatch(pp *parkedPoll) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	w := pp.watch
	if w.key == 0 {
		return
	}
	pp.watch = parkWatch{}
	delete(pw.polls, w.key)
	if !pw.running {
		return
	}
	_ = w.raw.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(pw.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) // ENOENT after a oneshot is fine: DEL still removes it
	})
}

// run waits for readiness of parked connections and judges it: a hang-up
// (or EOF) closes the transport; request bytes (pipelining) end the watch,
// as net/http stops watching once the next request is there.
func (pw *parkWatcher) run(srv *Server) {
	defer srv.goroutines.done()
	defer func() {
		pw.mu.Lock()
		pw.closeFDs(pw.epfd)
		pw.epfd, pw.running = -1, false
		pw.mu.Unlock()
	}()
	events := make([]syscall.EpollEvent, 256)
	var peek [1]byte
	for {
		n, err := syscall.EpollWait(pw.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			srv.cfg.Logger.Error("engineio: epoll_wait failed; parked polls are not watched for hang-up", "err", err)
			return
		}
		for _, ev := range events[:n] {
			key := uint32(ev.Fd)
			if key == 0 {
				return // stop
			}
			pw.mu.RLock()
			e, ok := pw.polls[key]
			w := e.pp.watchOf(key)
			pw.mu.RUnlock()
			if !ok || w.key == 0 {
				continue // answered since
			}
			gone := ev.Events&(syscall.EPOLLHUP|syscall.EPOLLERR|syscall.EPOLLRDHUP) != 0
			if !gone {
				var got int
				var rerr error
				_ = w.raw.Control(func(fd uintptr) {
					got, _, rerr = syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
				})
				switch {
				case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
					pw.rearm(w) // a spurious report
					continue
				case rerr != nil || got == 0:
					gone = true
				}
			}
			if gone {
				srv.goroutines.add()
				go func() {
					defer srv.goroutines.done()
					e.sess.hangUp(e.pp)
				}()
			}
		}
	}
}

// watchOf returns pp's watch if it still has key (nil pp: none).
func (pp *parkedPoll) watchOf(key uint32) parkWatch {
	if pp == nil || pp.watch.key != key {
		return parkWatch{}
	}
	return pp.watch
}

// rearm re-registers w for one more report.
func (pw *parkWatcher) rearm(w parkWatch) {
	pw.mu.RLock()
	defer pw.mu.RUnlock()
	if !pw.running {
		return
	}
	_ = w.raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollOneShot, Fd: int32(w.key)}
		_ = syscall.EpollCtl(pw.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev) // fails only for a connection unwatched since
	})
}
