package rooms

import "sync"

// Index is the two-way record of room membership: which members each room
// has and which rooms each member is in. The value stored for a member (its
// socket, say) is returned by lookups, so a broadcast needs no second map.
// Index is safe for concurrent use.
type Index[T any] struct {
	mu      sync.RWMutex
	rooms   map[string]map[string]T
	members map[string]map[string]struct{}
}

// NewIndex returns an empty index.
func NewIndex[T any]() *Index[T] {
	return &Index[T]{rooms: make(map[string]map[string]T), members: make(map[string]map[string]struct{})}
}

// Add puts member id (with value v) in each of rooms and returns the rooms
// it was not in before.
func (x *Index[T]) Add(id string, v T, rooms ...string) (joined []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	mine := x.members[id]
	if mine == nil {
		mine = make(map[string]struct{}, len(rooms))
		x.members[id] = mine
	}
	for _, r := range rooms {
		if _, ok := mine[r]; ok {
			continue
		}
		mine[r] = struct{}{}
		set := x.rooms[r]
		if set == nil {
			set = make(map[string]T, 1)
			x.rooms[r] = set
		}
		set[id] = v
		joined = append(joined, r)
	}
	return joined
}

// Remove takes member id out of room and reports whether it was in it.
func (x *Index[T]) Remove(id, room string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	mine := x.members[id]
	if _, ok := mine[room]; !ok {
		return false
	}
	delete(mine, room)
	if len(mine) == 0 {
		delete(x.members, id)
	}
	x.dropLocked(id, room)
	return true
}

// RemoveAll takes member id out of every room and returns them.
func (x *Index[T]) RemoveAll(id string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	mine := x.members[id]
	delete(x.members, id)
	left := make([]string, 0, len(mine))
	for r := range mine {
		x.dropLocked(id, r)
		left = append(left, r)
	}
	return left
}

func (x *Index[T]) dropLocked(id, room string) {
	set := x.rooms[room]
	delete(set, id)
	if len(set) == 0 {
		delete(x.rooms, room)
	}
}

// RoomsOf returns the rooms member id is in.
func (x *Index[T]) RoomsOf(id string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]string, 0, len(x.members[id]))
	for r := range x.members[id] {
		out = append(out, r)
	}
	return out
}

// Has reports whether member id is in room.
func (x *Index[T]) Has(id, room string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.rooms[room][id]
	return ok
}

// Size returns the number of members in room.
func (x *Index[T]) Size(room string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.rooms[room])
}

// Select appends to dst the values of the members that are in any of in
// (every member when in is empty) and in none of except, each once.
func (x *Index[T]) Select(dst []T, in, except []string) []T {
	x.mu.RLock()
	defer x.mu.RUnlock()
	excluded := func(id string) bool {
		for _, r := range except {
			if _, ok := x.rooms[r][id]; ok {
				return true
			}
		}
		return false
	}
	switch len(in) {
	case 0:
		for id := range x.members {
			if excluded(id) {
				continue
			}
			// Every member is in its own room, named by its id.
			if v, ok := x.rooms[id][id]; ok {
				dst = append(dst, v)
			}
		}
	case 1:
		for id, v := range x.rooms[in[0]] {
			if !excluded(id) {
				dst = append(dst, v)
			}
		}
	default:
		seen := make(map[string]struct{})
		for _, r := range in {
			for id, v := range x.rooms[r] {
				if _, dup := seen[id]; dup || excluded(id) {
					continue
				}
				seen[id] = struct{}{}
				dst = append(dst, v)
			}
		}
	}
	return dst
}
