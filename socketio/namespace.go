package socketio

import (
	"sync"
	"sync/atomic"
	"time"
)

// Middleware runs for each socket before it connects. A non-nil error
// refuses the connection with a connect_error; a *ConnectError controls the
// message and data the client sees.
type Middleware func(s *Socket) error

// ConnectError is a middleware error with data for the client's
// connect_error: {message: Message, data: Data}.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

// Namespace is one Socket.IO namespace: its middlewares, connection
// handlers, and the adapter holding its sockets and rooms.
type Namespace struct {
	srv    *Server
	name   string
	parent *Namespace             // set on children of a dynamic namespace
	match  func(name string) bool // set on dynamic parents

	mu          sync.RWMutex
	middlewares []Middleware
	onConn      []func(*Socket)
	observers   atomic.Pointer[[]RoomObserver] // copy on write under mu
	// serverEvents are the handlers of other nodes' server-side emits.
	serverEvents map[string]ServerEventHandler

	adapter  Adapter
	ackID    atomic.Int64
	recovery *recoveryStore
	stats    nsStats
}

func newNamespace(srv *Server, name string, parent *Namespace) *Namespace {
	n := &Namespace{srv: srv, name: name, parent: parent}
	n.adapter = srv.cfg.Adapter(n)
	if r := srv.cfg.Recovery; r != nil {
		n.recovery = newRecoveryStore(r.MaxDisconnectionDuration)
	}
	return n
}

// Name returns the namespace name, for example "/chat". A dynamic parent
// has an empty name.
func (n *Namespace) Name() string { return n.name }

// Use appends a connection middleware.
func (n *Namespace) Use(mw Middleware) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, mw)
	n.mu.Unlock()
}

// OnConnection registers a handler run for each connected socket, before
// any of its events are dispatched.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	n.onConn = append(n.onConn, fn)
	n.mu.Unlock()
}

func (n *Namespace) chain() ([]Middleware, []func(*Socket)) {
	var mws []Middleware
	var fns []func(*Socket)
	if n.parent != nil {
		mws, fns = n.parent.chain()
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return append(mws, n.middlewares...), append(fns, n.onConn...)
}

// operator returns the namespace-wide broadcast operator.
func (n *Namespace) operator() BroadcastOperator { return BroadcastOperator{nsp: n} }

// To selects sockets in rooms.
func (n *Namespace) To(rooms ...string) BroadcastOperator { return n.operator().To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...string) BroadcastOperator { return n.To(rooms...) }

// Except excludes sockets in rooms.
func (n *Namespace) Except(rooms ...string) BroadcastOperator { return n.operator().Except(rooms...) }

// Volatile marks packets as droppable.
func (n *Namespace) Volatile() BroadcastOperator { return n.operator().Volatile() }

// Local is a no-op on a single node; it keeps a broadcast off other nodes.
func (n *Namespace) Local() BroadcastOperator { return n.operator().Local() }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.operator().Emit(event, args...) }

// Sockets returns the local sockets in any of rooms, or all of them.
func (n *Namespace) Sockets(rooms ...string) []*Socket { return n.localSockets(rooms, nil) }

func (n *Namespace) localSockets(in, except []string) []*Socket {
	return n.adapter.Select(nil, in, except)
}

// Timeout sets how long EmitWithAck waits for acknowledgements.
func (n *Namespace) Timeout(d time.Duration) BroadcastOperator { return n.operator().Timeout(d) }

// ServerSideEmit sends an event to this namespace on the other nodes of a
// multi-node adapter; with the in-memory adapter there are none.
func (n *Namespace) ServerSideEmit(event string, args ...any) error {
	return n.adapter.ServerSideEmit(event, args)
}
