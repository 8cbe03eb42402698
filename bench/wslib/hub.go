package main

import "sync"

// hub indexes sessions by room. Its lock is held only to read or change the
// index and for the non-blocking sends of a broadcast.
type hub struct {
	mu     sync.RWMutex
	closed bool
	all    map[*session]struct{}
	rooms  map[string]map[*session]struct{}
}

func newHub() *hub {
	return &hub{all: map[*session]struct{}{}, rooms: map[string]map[*session]struct{}{}}
}

// add registers s; it reports false once closeAll has run.
func (h *hub) add(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.all[s] = struct{}{}
	return true
}

// remove forgets s and its room. Called by s's reader goroutine, which owns
// s.room.
func (h *hub) remove(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.all, s)
	h.leaveLocked(s)
}

// join puts s in room, leaving its previous room. Called by s's reader
// goroutine.
func (h *hub) join(s *session, room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leaveLocked(s)
	m := h.rooms[room]
	if m == nil {
		m = map[*session]struct{}{}
		h.rooms[room] = m
	}
	m[s] = struct{}{}
	s.room = room
}

// leave takes s out of its room. Called by s's reader goroutine.
func (h *hub) leave(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leaveLocked(s)
}

func (h *hub) leaveLocked(s *session) {
	if s.room == "" {
		return
	}
	if m := h.rooms[s.room]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.rooms, s.room)
		}
	}
	s.room = ""
}

// broadcast queues m on every session of room except one. It never blocks:
// a session whose queue is full is closed as a slow consumer.
func (h *hub) broadcast(room string, except *session, m *message) {
	var slow []*session
	h.mu.RLock()
	for s := range h.rooms[room] {
		if s == except {
			continue
		}
		select {
		case s.send <- m:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		s.close(reasonSlow)
	}
}

// closeAll closes every session and refuses new ones.
func (h *hub) closeAll() {
	h.mu.Lock()
	h.closed = true
	all := make([]*session, 0, len(h.all))
	for s := range h.all {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.close(reasonShutdown)
	}
}
