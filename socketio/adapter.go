package socketio

import (
	"sync"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/rooms"
)

// Adapter is a namespace's record of room membership and its broadcast
// path, as in Node's socket.io-adapter. The in-memory adapter serves one
// node; a multi-node adapter (Redis pub/sub, say) implements the same
// methods and also forwards broadcasts and server-side emits to the other
// nodes, delivering what they publish through the local sockets.
//
// Membership methods speak of local sockets. Implementations must be safe
// for concurrent use and must not call back into the namespace while
// holding a lock. With connection state recovery on, Broadcast of a
// recorded packet and the Add of a connecting socket run under the
// namespace's emit lock (see the package documentation): they must not
// emit into the same namespace.
type Adapter interface {
	// Add puts socket s in its own room (named by its id) and in rooms.
	Add(s *Socket, rooms ...string)
	// Remove takes socket s out of a named room; it reports whether the
	// socket was in it. It does nothing when another socket has taken the
	// id since (a recovered socket), and Add of a socket under an id
	// another still holds gives it that socket's rooms.
	Remove(s *Socket, room string) bool
	// RemoveAll takes socket s out of every room. It does nothing when
	// another socket has taken the id since (a recovered socket).
	RemoveAll(s *Socket)
	// RoomsOf returns the rooms of socket id, its own first.
	RoomsOf(id string) []string
	// Select appends to dst the local sockets in any of in (all when in is
	// empty) and in none of except.
	Select(dst []*Socket, in, except []string) []*Socket
	// Broadcast delivers the encoded packet to the sockets opts selects
	// and returns how many local sockets it reached. register, when not
	// nil, is called for each local recipient before the frames are queued
	// (broadcasts with acks use it).
	Broadcast(frames []*engineio.Frame, opts BroadcastOptions, register func(*Socket)) int
	// ServerSideEmit sends an event to the same namespace on the other
	// nodes; the in-memory adapter has none and returns nil.
	ServerSideEmit(event string, args []any) error
}

// BroadcastOptions selects a broadcast's recipients.
type BroadcastOptions struct {
	Rooms  []string
	Except []string
	// Volatile skips sockets whose transport has a backlog.
	Volatile bool
	// Local keeps the broadcast on this node.
	Local bool
}

// AdapterFactory builds the adapter of a namespace.
type AdapterFactory func(n *Namespace) Adapter

// NewMemoryAdapter is the single-node adapter.
func NewMemoryAdapter(*Namespace) Adapter {
	return &memoryAdapter{index: rooms.NewIndex[*Socket]()}
}

type memoryAdapter struct {
	index *rooms.Index[*Socket]
}

func (a *memoryAdapter) Add(s *Socket, rooms ...string)     { a.index.Add(s.id, s, rooms...) }
func (a *memoryAdapter) Remove(s *Socket, room string) bool { return a.index.RemoveIf(s.id, s, room) }
func (a *memoryAdapter) RemoveAll(s *Socket)                { a.index.RemoveAllIf(s.id, s) }
func (a *memoryAdapter) RoomsOf(id string) []string         { return a.index.RoomsOf(id) }

// HasRoom reports whether a local socket is in room (or is named room); a
// multi-node adapter skips other nodes' broadcasts to rooms it lacks.
func (a *memoryAdapter) HasRoom(room string) bool { return a.index.Size(room) > 0 }

func (a *memoryAdapter) ServerSideEmit(string, []any) error {
	return nil
}

func (a *memoryAdapter) Select(dst []*Socket, in, except []string) []*Socket {
	return a.index.Select(dst, in, except)
}

// Broadcast queues the same frames on every selected socket: the packet
// was encoded once, and each frame's wire bytes are built once.
func (a *memoryAdapter) Broadcast(frames []*engineio.Frame, opts BroadcastOptions, register func(*Socket)) int {
	bufp := targetPool.Get().(*[]*Socket)
	targets := a.index.Select((*bufp)[:0], opts.Rooms, opts.Except)
	sent := 0
	for _, s := range targets {
		if s.gone.Load() || opts.Volatile && !s.client.sess.Writable() {
			continue
		}
		if register != nil {
			register(s)
		}
		if s.sendFrames(frames) == nil {
			sent++
		}
	}
	clear(targets)
	*bufp = targets[:0]
	targetPool.Put(bufp)
	return sent
}

var targetPool = sync.Pool{New: func() any { s := make([]*Socket, 0, 64); return &s }}
