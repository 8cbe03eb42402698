package socketio

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-rt/parley/engineio"
)

// recoveryStore keeps, per namespace, the sessions of recently disconnected
// sockets and the packets broadcast since, so a socket that reconnects in
// time gets its id, rooms and data back and the packets it missed.
type recoveryStore struct {
	max    time.Duration
	prefix string

	mu       sync.Mutex
	seq      uint64
	sessions map[string]*savedSession // by pid
	packets  []savedPacket            // oldest first
}

type savedSession struct {
	sid, pid string
	rooms    []string
	data     map[string]any
	at       time.Time
	missed   []*engineio.Frame // filled by restore
}

type savedPacket struct {
	offset string
	at     time.Time
	rooms  []string
	except []string
	frames []*engineio.Frame
}

func newRecoveryStore(max time.Duration) *recoveryStore {
	return &recoveryStore{max: max, prefix: newSocketID()[:8] + "-", sessions: make(map[string]*savedSession)}
}

func (r *recoveryStore) nextOffset() string {
	r.mu.Lock()
	r.seq++
	n := r.seq
	r.mu.Unlock()
	return r.prefix + strconv.FormatUint(n, 36)
}

// record keeps a broadcast packet for replay and drops expired ones.
func (r *recoveryStore) record(offset string, frames []*engineio.Frame, rooms, except []string) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	r.packets = append(r.packets, savedPacket{offset: offset, at: now, rooms: slices.Clone(rooms), except: slices.Clone(except), frames: frames})
}

func (r *recoveryStore) pruneLocked(now time.Time) {
	cut := 0
	for cut < len(r.packets) && now.Sub(r.packets[cut].at) > r.max {
		cut++
	}
	if cut > 0 {
		clear(r.packets[:cut])
		r.packets = r.packets[cut:]
	}
	for pid, s := range r.sessions {
		if now.Sub(s.at) > r.max {
			delete(r.sessions, pid)
		}
	}
}

// save keeps a disconnecting socket's session.
func (r *recoveryStore) save(s *Socket) {
	rooms := s.nsp.adapter.RoomsOf(s.id)
	rooms = slices.DeleteFunc(rooms, func(x string) bool { return x == s.id })
	s.mu.Lock()
	data := maps.Clone(s.data)
	s.mu.Unlock()
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	r.sessions[s.pid] = &savedSession{sid: s.id, pid: s.pid, rooms: rooms, data: data, at: now}
}

// restore returns the session named by auth's pid with the packets sent
// after auth's offset, or nil when it cannot be recovered.
func (r *recoveryStore) restore(auth json.RawMessage) *savedSession {
	var a struct {
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	if json.Unmarshal(auth, &a) != nil || a.PID == "" || a.Offset == "" {
		return nil
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	s := r.sessions[a.PID]
	if s == nil {
		return nil
	}
	idx := slices.IndexFunc(r.packets, func(p savedPacket) bool { return p.offset == a.Offset })
	if idx < 0 {
		return nil
	}
	delete(r.sessions, a.PID)
	member := map[string]bool{s.sid: true}
	for _, room := range s.rooms {
		member[room] = true
	}
	for _, p := range r.packets[idx+1:] {
		if p.matches(member) {
			s.missed = append(s.missed, p.frames...)
		}
	}
	return s
}

func (p savedPacket) matches(member map[string]bool) bool {
	for _, x := range p.except {
		if member[x] {
			return false
		}
	}
	if len(p.rooms) == 0 {
		return true
	}
	for _, x := range p.rooms {
		if member[x] {
			return true
		}
	}
	return false
}
