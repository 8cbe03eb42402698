package socketio

import (
	"slices"
	"sort"
)

// RoomObserver hears of a namespace's room membership changes, as the
// join-room and leave-room events of Node's adapter tell them: Joined after
// a socket joined a room it was not in, Left after it left one, by Leave or
// because it disconnected (then once for each room it was in, its own room
// included, after its disconnect handlers). A socket's own room at connect
// and the rooms a recovered socket gets back are not reported: the socket
// is in them before its connection handlers run.
//
// The functions run on the goroutine that changed the membership, with no
// lock held; they must return quickly and must not change the membership
// of the same socket.
type RoomObserver struct {
	Joined func(s *Socket, room string)
	Left   func(s *Socket, room string)
}

// ObserveRooms adds o to the namespace's room observers. A namespace
// without observers pays one atomic load per membership change.
func (n *Namespace) ObserveRooms(o RoomObserver) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var list []RoomObserver
	if cur := n.observers.Load(); cur != nil {
		list = slices.Clone(*cur)
	}
	list = append(list, o)
	n.observers.Store(&list)
}

// join adds s to rooms on the adapter and reports the rooms it was not in.
func (n *Namespace) join(s *Socket, rooms []string) {
	obs := n.observers.Load()
	if obs == nil {
		n.adapter.Add(s, rooms...)
		return
	}
	before := n.adapter.RoomsOf(s.id)
	n.adapter.Add(s, rooms...)
	var added []string
	for _, r := range rooms {
		if !slices.Contains(before, r) && !slices.Contains(added, r) {
			added = append(added, r)
		}
	}
	for _, o := range *obs {
		if o.Joined == nil {
			continue
		}
		for _, r := range added {
			o.Joined(s, r)
		}
	}
}

// leave takes s out of room on the adapter and reports it if s was in it.
func (n *Namespace) leave(s *Socket, room string) {
	if !n.adapter.Remove(s, room) {
		return
	}
	if obs := n.observers.Load(); obs != nil {
		for _, o := range *obs {
			if o.Left != nil {
				o.Left(s, room)
			}
		}
	}
}

// leaveAll takes a disconnected s out of every room on the adapter and
// reports each. A recovered socket that took s's id since keeps its rooms
// and nothing is reported.
func (n *Namespace) leaveAll(s *Socket) {
	obs := n.observers.Load()
	if obs == nil {
		n.adapter.RemoveAll(s)
		return
	}
	if !slices.Contains(n.adapter.Select(nil, []string{s.id}, nil), s) {
		n.adapter.RemoveAll(s)
		return
	}
	rooms := n.adapter.RoomsOf(s.id)
	n.adapter.RemoveAll(s)
	for _, o := range *obs {
		if o.Left == nil {
			continue
		}
		for _, r := range rooms {
			o.Left(s, r)
		}
	}
}

// Namespaces returns the namespaces that exist now (children of dynamic
// namespaces included, their parents not), sorted by name.
func (srv *Server) Namespaces() []*Namespace {
	list := srv.namespaces()
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	return list
}

// SocketCount returns the number of local sockets of the namespace.
func (n *Namespace) SocketCount() int { return len(n.localSockets(nil, nil)) }
