package rooms

import (
	"slices"
	"sync"
)

// Index is the two-way record of room membership: which members each room
// has and which rooms each member is in. Every member is in its own room,
// named by its id, as in Socket.IO. The value stored for a member (its
// socket, say) is returned by lookups, so a broadcast needs no second map.
//
// Memory is what most members cost at rest, so the own room is one entry
// of a flat map, and a member's other rooms are a short slice rather than a
// map of its own. Index is safe for concurrent use.
type Index[T comparable] struct {
	mu     sync.RWMutex
	self   map[string]T            // every member, by id: its own room
	rooms  map[string]map[string]T // named rooms: room -> member id -> value
	joined map[string][]string     // member id -> its named rooms
}

// NewIndex returns an empty index.
func NewIndex[T comparable]() *Index[T] {
	return &Index[T]{
		self:   make(map[string]T),
		rooms:  make(map[string]map[string]T),
		joined: make(map[string][]string),
	}
}

// Add puts member id (with value v) in its own room and in each of rooms,
// and returns the named rooms it was not in before. A new value for an id
// (a recovered socket taking over from one still leaving) replaces the old
// one in every room the id is in.
func (x *Index[T]) Add(id string, v T, rooms ...string) (joined []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	mine := x.joined[id]
	if cur, ok := x.self[id]; ok && cur != v {
		for _, r := range mine {
			x.rooms[r][id] = v
		}
	}
	x.self[id] = v
	for _, r := range rooms {
		if r == id || slices.Contains(mine, r) {
			continue
		}
		mine = append(mine, r)
		set := x.rooms[r]
		if set == nil {
			set = make(map[string]T, 1)
			x.rooms[r] = set
		}
		set[id] = v
		joined = append(joined, r)
	}
	if len(mine) > 0 {
		x.joined[id] = mine
	}
	return joined
}

// Remove takes member id out of named room and reports whether it was in
// it. A member cannot leave its own room; RemoveAll removes the member.
func (x *Index[T]) Remove(id, room string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.removeLocked(id, room)
}

func (x *Index[T]) removeLocked(id, room string) bool {
	mine := x.joined[id]
	i := slices.Index(mine, room)
	if i < 0 {
		return false
	}
	mine = slices.Delete(mine, i, i+1)
	if len(mine) == 0 {
		delete(x.joined, id)
	} else {
		x.joined[id] = mine
	}
	x.dropLocked(id, room)
	return true
}

// RemoveIf is Remove when id's value is still v: a member that rejoined
// under the same id (a recovered socket) keeps its rooms.
func (x *Index[T]) RemoveIf(id string, v T, room string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if cur, ok := x.self[id]; !ok || cur != v {
		return false
	}
	return x.removeLocked(id, room)
}

// RemoveAll takes member id out of the index and returns the rooms it was
// in, its own included.
func (x *Index[T]) RemoveAll(id string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.removeAllLocked(id)
}

// RemoveAllIf is RemoveAll when id's value is still v: a member that
// rejoined under the same id (a recovered socket) is left alone.
func (x *Index[T]) RemoveAllIf(id string, v T) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if cur, ok := x.self[id]; !ok || cur != v {
		return nil
	}
	return x.removeAllLocked(id)
}

func (x *Index[T]) removeAllLocked(id string) []string {
	_, member := x.self[id]
	mine := x.joined[id]
	delete(x.self, id)
	delete(x.joined, id)
	for _, r := range mine {
		x.dropLocked(id, r)
	}
	if !member {
		return mine
	}
	return append(mine, id)
}

func (x *Index[T]) dropLocked(id, room string) {
	set := x.rooms[room]
	delete(set, id)
	if len(set) == 0 {
		delete(x.rooms, room)
	}
}

// RoomsOf returns the rooms member id is in, its own first; nil when it is
// not a member.
func (x *Index[T]) RoomsOf(id string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if _, ok := x.self[id]; !ok {
		return nil
	}
	out := make([]string, 0, 1+len(x.joined[id]))
	out = append(out, id)
	return append(out, x.joined[id]...)
}

// Has reports whether member id is in room.
func (x *Index[T]) Has(id, room string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if room == id {
		_, ok := x.self[id]
		return ok
	}
	_, ok := x.rooms[room][id]
	return ok
}

// Size returns the number of members in room.
func (x *Index[T]) Size(room string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := len(x.rooms[room])
	if _, ok := x.self[room]; ok {
		if _, dup := x.rooms[room][room]; !dup {
			n++
		}
	}
	return n
}

// inLocked reports whether member id is in room.
func (x *Index[T]) inLocked(id, room string) bool {
	if id == room {
		return true // self holds only members
	}
	_, ok := x.rooms[room][id]
	return ok
}

// Select appends to dst the values of the members that are in any of in
// (every member when in is empty) and in none of except, each once.
func (x *Index[T]) Select(dst []T, in, except []string) []T {
	x.mu.RLock()
	defer x.mu.RUnlock()
	excluded := func(id string) bool {
		for _, r := range except {
			if x.inLocked(id, r) {
				return true
			}
		}
		return false
	}
	if len(in) == 0 {
		for id, v := range x.self {
			if !excluded(id) {
				dst = append(dst, v)
			}
		}
		return dst
	}
	var seen map[string]struct{}
	if len(in) > 1 {
		seen = make(map[string]struct{})
	}
	add := func(id string, v T) {
		if excluded(id) {
			return
		}
		if seen != nil {
			if _, dup := seen[id]; dup {
				return
			}
			seen[id] = struct{}{}
		}
		dst = append(dst, v)
	}
	for _, r := range in {
		if v, ok := x.self[r]; ok {
			if _, dup := x.rooms[r][r]; !dup {
				add(r, v)
			}
		}
		for id, v := range x.rooms[r] {
			add(id, v)
		}
	}
	return dst
}
