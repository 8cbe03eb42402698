package socketio

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-rt/parley/engineio"
)

// recoveryStore keeps, per namespace, the sessions of recently disconnected
// sockets and the packets recorded since, so a socket that reconnects in
// time gets its id, rooms and data back and the packets it missed.
//
// Its mutex is the namespace's emit lock. A recorded packet gets its
// offset, its place in packets and its place in every recipient's queue in
// one step under it, so all sockets receive recorded packets in offset
// order, the order of packets. A client's last offset therefore says
// exactly which recorded packets it has: the ones up to it. A recovered
// socket is given the matching packets after its offset and joins its
// rooms under the same lock, so it gets each missed packet once, before
// any newer one.
type recoveryStore struct {
	max    time.Duration
	prefix string           // offsets are prefix + sequence number in base 36
	now    func() time.Time // time.Now; tests set a clock of their own

	mu sync.Mutex
	// seq is the sequence number of the newest packet recorded.
	seq uint64
	// packets holds the recorded packets, oldest first, with consecutive
	// sequence numbers: packets[i] has seq-len(packets)+1+i, so an offset
	// is found by subtraction. An element is never written after it is
	// appended (pruning reslices), so a copy of the slice taken under mu
	// can be read after mu is released.
	packets  []savedPacket
	sessions map[string]*savedSession // by pid
	saved    []*savedSession          // in the order saved, for expiry without a scan
}

type savedSession struct {
	sid, pid string
	rooms    []string
	data     map[string]any
	at       time.Time
	after    uint64 // the client's last offset's sequence number; set by claim
}

type savedPacket struct {
	at     time.Time
	rooms  []string
	except []string
	frames []*engineio.Frame
}

func newRecoveryStore(max time.Duration) *recoveryStore {
	return &recoveryStore{max: max, prefix: newSocketID()[:8] + "-", now: time.Now, sessions: make(map[string]*savedSession)}
}

// offsetRoom is how many bytes emit appends to an encoded packet: a comma,
// the quoted offset and the closing bracket.
func (r *recoveryStore) offsetRoom() int { return len(r.prefix) + 13 + 4 } // 13: a uint64 in base 36

// emit records a packet and hands it to deliver, as one step. text is the
// encoded EVENT packet's text frame (with offsetRoom bytes of spare
// capacity), frames its attachments after an empty first slot; emit appends
// the next offset as the event's last argument.
func (r *recoveryStore) emit(text []byte, frames []*engineio.Frame, rooms, except []string, deliver func([]*engineio.Frame) error) error {
	rooms, except = slices.Clone(rooms), slices.Clone(except)
	text = text[:len(text)-1] // the event's arguments go on: the closing bracket comes back below
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	r.seq++
	text = append(text, ',', '"')
	text = append(text, r.prefix...)
	text = strconv.AppendUint(text, r.seq, 36)
	text = append(text, '"', ']')
	frames[0] = engineio.NewMessage(text, false)
	r.packets = append(r.packets, savedPacket{at: now, rooms: rooms, except: except, frames: frames})
	return deliver(frames)
}

// locked runs fn under the emit lock: no recorded packet is queued while it
// runs.
func (r *recoveryStore) locked(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn()
}

// offsetSeq returns the sequence number of one of this store's offsets.
func (r *recoveryStore) offsetSeq(offset string) (uint64, bool) {
	rest, ok := strings.CutPrefix(offset, r.prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 36, 64)
	return n, err == nil
}

// firstLocked returns the sequence number of packets[0] (seq+1 when there
// is none).
func (r *recoveryStore) firstLocked() uint64 {
	return r.seq - uint64(len(r.packets)) + 1
}

func (r *recoveryStore) pruneLocked(now time.Time) {
	cut := 0
	for cut < len(r.packets) && now.Sub(r.packets[cut].at) > r.max {
		cut++
	}
	if cut > 0 {
		// No clear: a copy of the slice taken by resume may still read
		// the dropped elements. The backing array goes once append has to
		// grow it, or here when it is mostly dead.
		r.packets = r.packets[cut:]
		if len(r.packets) == 0 {
			r.packets = nil
		} else if cap(r.packets) > 4*len(r.packets)+64 {
			r.packets = slices.Clone(r.packets)
		}
	}
	cut = 0
	for cut < len(r.saved) && now.Sub(r.saved[cut].at) > r.max {
		s := r.saved[cut]
		if r.sessions[s.pid] == s {
			delete(r.sessions, s.pid)
		}
		r.saved[cut] = nil
		cut++
	}
	if cut > 0 {
		r.saved = r.saved[cut:]
		if len(r.saved) == 0 {
			r.saved = nil
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
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	ss := &savedSession{sid: s.id, pid: s.pid, rooms: rooms, data: data, at: now}
	r.sessions[s.pid] = ss
	r.saved = append(r.saved, ss)
}

// claim takes the session named by auth's pid out of the store when auth's
// offset is one of the recorded packets, or returns nil when the socket
// cannot be recovered. The missed packets are handed over by resume.
func (r *recoveryStore) claim(auth json.RawMessage) *savedSession {
	var a struct {
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	if json.Unmarshal(auth, &a) != nil || a.PID == "" {
		return nil
	}
	after, ok := r.offsetSeq(a.Offset)
	if !ok {
		return nil
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	s := r.sessions[a.PID]
	if s == nil || after < r.firstLocked() || after > r.seq {
		return nil
	}
	delete(r.sessions, a.PID)
	s.after = after
	return s
}

// resume hands a claimed session's missed packets to join, which puts the
// socket back in its rooms and queues them. join runs under the emit lock,
// so the next recorded packet comes after the missed ones. Most of the
// missed packets are filtered before the lock is taken, from a copy of
// the packet slice; only those recorded meanwhile are filtered under it.
// It reports false when packets the client missed expired before it got
// them (the connection middlewares took longer than the recovery window).
func (r *recoveryStore) resume(s *savedSession, join func(missed []*engineio.Frame)) bool {
	member := make(map[string]bool, len(s.rooms)+1)
	member[s.sid] = true
	for _, room := range s.rooms {
		member[room] = true
	}
	var missed []*engineio.Frame
	r.mu.Lock()
	from := s.after + 1 // the next sequence number to look at
	complete := from >= r.firstLocked()
	from = max(from, r.firstLocked()) // those before it expired
	snapshot := r.packets[r.indexLocked(from):]
	r.mu.Unlock()
	for _, p := range snapshot {
		if p.matches(member) {
			missed = append(missed, p.frames...)
		}
	}
	from += uint64(len(snapshot))

	r.mu.Lock()
	defer r.mu.Unlock()
	complete = complete && from >= r.firstLocked()
	for _, p := range r.packets[r.indexLocked(from):] {
		if p.matches(member) {
			missed = append(missed, p.frames...)
		}
	}
	join(missed)
	return complete
}

// indexLocked returns the index in packets of sequence number seq, clamped
// to the packets kept.
func (r *recoveryStore) indexLocked(seq uint64) int {
	first := r.firstLocked()
	switch {
	case seq <= first:
		return 0
	case seq > r.seq:
		return len(r.packets)
	}
	return int(seq - first)
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
