package core

import (
	"sync"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
)

// roomSlot is one of Chat's room locks (see doc.go) with the queue of the
// announcements its rooms' transitions decided. A transition is decided
// under the lock and its announcement queued there, in transition order;
// the announcements are made after the lock is released (drain), one at a
// time per slot, in that order. Emitting can wait (on the socket.io
// namespace's own locks), and nothing else that needs the room lock waits
// for it.
type roomSlot struct {
	sync.Mutex // the room lock

	// qmu guards queue and draining. It is taken under the room lock to
	// queue, and alone to drain; nothing is taken under it.
	qmu      sync.Mutex
	queue    []func()
	draining bool
}

// add queues an announcement; the room lock is held.
func (s *roomSlot) add(f func()) {
	s.qmu.Lock()
	s.queue = append(s.queue, f)
	s.qmu.Unlock()
}

// drain makes the queued announcements, in order, unless another
// goroutine is making them already (it makes these too, after its own):
// one drainer at a time keeps the order. Called without the room lock
// (and without any other of the package's locks) after add.
func (s *roomSlot) drain() {
	s.qmu.Lock()
	if s.draining {
		s.qmu.Unlock()
		return
	}
	s.draining = true
	for len(s.queue) > 0 {
		batch := s.queue
		s.queue = nil
		s.qmu.Unlock()
		for i, f := range batch {
			f()
			batch[i] = nil
		}
		s.qmu.Lock()
	}
	s.draining = false
	s.qmu.Unlock()
}

// queueJoined queues announceJoined; the room lock is held.
func (ch *Chat) queueJoined(slot *roomSlot, to namespaces.Broadcaster, room string, u events.UserRef) {
	slot.add(func() { ch.announceJoined(to, room, u) })
}

// queueLeft queues announceLeft; the room lock is held.
func (ch *Chat) queueLeft(slot *roomSlot, room, key string, u events.UserRef) {
	slot.add(func() { ch.announceLeft(room, key, u) })
}
