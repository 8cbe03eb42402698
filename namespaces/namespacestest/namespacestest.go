// Package namespacestest provides in-memory fakes of namespaces.Namespace and
// namespaces.Conn, so that handlers are unit-tested without the engine or a
// network.
//
// The fakes follow the engine's contract where handlers can observe it:
// middlewares run before a socket is visible, a socket is in its own id
// room, c.To excludes c, one socket's events are dispatched one at a time,
// OnDisconnect functions run once after the socket left every room, and an
// AckFunc sends only its first call. Delivery is synchronous: when Emit
// returns, the packet is in every recipient's inbox, so a test can assert
// right after a call what was, and was not, sent. Volatile packets are
// always delivered and marked Volatile.
//
// Concurrency: every method is safe for concurrent use. Lock order:
// Namespace.mu before Conn.mu; nothing is delivered while Namespace.mu is
// held.
package namespacestest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
)

// DisconnectReason is the reason Conn.Disconnect passes to OnDisconnect
// functions, as Socket.IO names a server-side namespace disconnect.
const DisconnectReason = "server namespace disconnect"

// ErrClosed reports a call on a disconnected Conn.
var ErrClosed = errors.New("namespacestest: connection closed")

// Packet is one event delivered to a socket.
type Packet struct {
	Event    string
	Args     []json.RawMessage
	Volatile bool
}

// Namespace is a fake namespaces.Namespace.
type Namespace struct {
	name string

	mu          sync.Mutex
	middlewares []namespaces.Middleware
	onConn      func(namespaces.Conn)
	conns       map[string]*Conn            // connected sockets by id
	rooms       map[string]map[string]*Conn // room -> socket id -> socket
}

var _ namespaces.Namespace = (*Namespace)(nil)

// NewNamespace returns an empty namespace called name, for example "/chat".
func NewNamespace(name string) *Namespace {
	return &Namespace{name: name, conns: map[string]*Conn{}, rooms: map[string]map[string]*Conn{}}
}

// Name implements namespaces.Namespace.
func (n *Namespace) Name() string { return n.name }

// Use implements namespaces.Namespace.
func (n *Namespace) Use(mw namespaces.Middleware) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.middlewares = append(n.middlewares, mw)
}

// OnConnection implements namespaces.Namespace; a later call replaces the
// handler.
func (n *Namespace) OnConnection(fn func(c namespaces.Conn)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onConn = fn
}

// Connect plays a client connecting with the handshake auth (marshalled to
// JSON; nil means {}). It runs the middlewares in order and returns the
// first error unchanged, leaving no socket behind. Otherwise the socket
// joins its id room, becomes visible to Sockets, and the connection handler
// runs before Connect returns.
func (n *Namespace) Connect(id string, auth any) (*Conn, error) {
	rawAuth := json.RawMessage("{}")
	if auth != nil {
		b, err := json.Marshal(auth)
		if err != nil {
			return nil, fmt.Errorf("marshal auth: %w", err)
		}
		rawAuth = b
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		ns: n, id: id, auth: rawAuth, ctx: ctx, cancel: cancel,
		handlers: map[string]events.RawHandler{}, values: map[string]any{},
		notify: make(chan struct{}),
	}
	n.mu.Lock()
	if _, dup := n.conns[id]; dup {
		n.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("namespacestest: socket id %q is taken", id)
	}
	mws := slices.Clone(n.middlewares)
	n.mu.Unlock()
	for _, mw := range mws {
		if err := mw(c); err != nil {
			cancel()
			return nil, err
		}
	}
	n.mu.Lock()
	n.conns[id] = c
	n.joinLocked(c, id)
	onConn := n.onConn
	n.mu.Unlock()
	if onConn != nil {
		onConn(c)
	}
	return c, nil
}

// Conn returns the connected socket with the id, or nil.
func (n *Namespace) Conn(id string) *Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conns[id]
}

// Sockets implements namespaces.Namespace. The result is sorted by id.
func (n *Namespace) Sockets(rooms ...string) []namespaces.Conn {
	n.mu.Lock()
	selected := n.selectLocked(rooms, nil, "")
	n.mu.Unlock()
	out := make([]namespaces.Conn, len(selected))
	for i, c := range selected {
		out[i] = c
	}
	return out
}

// Emit implements events.Emitter: it broadcasts to every socket.
func (n *Namespace) Emit(event string, args ...any) error {
	return broadcast{ns: n}.Emit(event, args...)
}

// To implements namespaces.Broadcaster.
func (n *Namespace) To(rooms ...string) namespaces.Broadcaster {
	return broadcast{ns: n}.To(rooms...)
}

// Except implements namespaces.Broadcaster.
func (n *Namespace) Except(rooms ...string) namespaces.Broadcaster {
	return broadcast{ns: n}.Except(rooms...)
}

// Volatile implements namespaces.Broadcaster.
func (n *Namespace) Volatile() namespaces.Broadcaster {
	return broadcast{ns: n}.Volatile()
}

func (n *Namespace) joinLocked(c *Conn, room string) {
	members := n.rooms[room]
	if members == nil {
		members = map[string]*Conn{}
		n.rooms[room] = members
	}
	members[c.id] = c
}

func (n *Namespace) leaveLocked(c *Conn, room string) {
	members := n.rooms[room]
	delete(members, c.id)
	if len(members) == 0 {
		delete(n.rooms, room)
	}
}

// selectLocked returns, sorted by id, the connected sockets in any of to
// (all when to is empty), in none of except, and not exceptID.
func (n *Namespace) selectLocked(to, except []string, exceptID string) []*Conn {
	picked := map[string]*Conn{}
	if len(to) == 0 {
		maps.Copy(picked, n.conns)
	} else {
		for _, room := range to {
			maps.Copy(picked, n.rooms[room])
		}
	}
	for _, room := range except {
		for id := range n.rooms[room] {
			delete(picked, id)
		}
	}
	delete(picked, exceptID)
	out := slices.Collect(maps.Values(picked))
	slices.SortFunc(out, func(a, b *Conn) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return out
}

// broadcast is an immutable namespaces.Broadcaster.
type broadcast struct {
	ns       *Namespace
	to       []string
	except   []string
	exceptID string
	volatile bool
}

func (b broadcast) To(rooms ...string) namespaces.Broadcaster {
	b.to = append(slices.Clip(b.to), rooms...)
	return b
}

func (b broadcast) Except(rooms ...string) namespaces.Broadcaster {
	b.except = append(slices.Clip(b.except), rooms...)
	return b
}

func (b broadcast) Volatile() namespaces.Broadcaster {
	b.volatile = true
	return b
}

// Emit encodes the packet once and delivers it to every selected socket.
func (b broadcast) Emit(event string, args ...any) error {
	pkt, err := encode(event, args, b.volatile)
	if err != nil {
		return err
	}
	b.ns.mu.Lock()
	recipients := b.ns.selectLocked(b.to, b.except, b.exceptID)
	b.ns.mu.Unlock()
	for _, c := range recipients {
		c.deliver(pkt)
	}
	return nil
}

func encode(event string, args []any, volatile bool) (Packet, error) {
	pkt := Packet{Event: event, Volatile: volatile, Args: make([]json.RawMessage, len(args))}
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return Packet{}, fmt.Errorf("namespacestest: encode %s argument %d: %w", event, i, err)
		}
		pkt.Args[i] = b
	}
	return pkt, nil
}

// Conn is a fake namespaces.Conn, and the client's side of it: Call and Send
// play client events, Next and Received read what the server sent.
type Conn struct {
	ns     *Namespace
	id     string
	auth   json.RawMessage
	ctx    context.Context
	cancel context.CancelFunc

	// dispatch makes one socket's events run one at a time.
	dispatch sync.Mutex

	mu           sync.Mutex
	handlers     map[string]events.RawHandler
	values       map[string]any
	onDisconnect []func(reason string)
	closed       bool
	inbox        []inboxEntry
	notify       chan struct{} // closed and replaced on each delivery
}

type inboxEntry struct {
	Packet
	taken bool
}

var _ namespaces.Conn = (*Conn)(nil)

// ID implements namespaces.Conn.
func (c *Conn) ID() string { return c.id }

// Namespace implements namespaces.Conn.
func (c *Conn) Namespace() string { return c.ns.name }

// Auth implements namespaces.Conn.
func (c *Conn) Auth() json.RawMessage { return c.auth }

// Context implements namespaces.Conn.
func (c *Conn) Context() context.Context { return c.ctx }

// On implements events.Receiver.
func (c *Conn) On(event string, h events.RawHandler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[event] = h
}

// Get implements namespaces.Conn.
func (c *Conn) Get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.values[key]
	return v, ok
}

// Set implements namespaces.Conn.
func (c *Conn) Set(key string, value any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.values[key] = value
}

// Join implements namespaces.Conn; it does nothing once disconnected.
func (c *Conn) Join(rooms ...string) {
	c.ns.mu.Lock()
	defer c.ns.mu.Unlock()
	if c.ns.conns[c.id] != c {
		return
	}
	for _, r := range rooms {
		c.ns.joinLocked(c, r)
	}
}

// Leave implements namespaces.Conn.
func (c *Conn) Leave(room string) {
	c.ns.mu.Lock()
	defer c.ns.mu.Unlock()
	c.ns.leaveLocked(c, room)
}

// Rooms implements namespaces.Conn; the result is sorted.
func (c *Conn) Rooms() []string {
	c.ns.mu.Lock()
	defer c.ns.mu.Unlock()
	var out []string
	for room, members := range c.ns.rooms {
		if members[c.id] == c {
			out = append(out, room)
		}
	}
	slices.Sort(out)
	return out
}

// To implements namespaces.Conn: a broadcast that excludes c.
func (c *Conn) To(rooms ...string) namespaces.Broadcaster {
	return broadcast{ns: c.ns, exceptID: c.id}.To(rooms...)
}

// Emit implements events.Emitter: it sends to this socket.
func (c *Conn) Emit(event string, args ...any) error {
	return c.emit(event, args, false)
}

// Volatile implements namespaces.Conn.
func (c *Conn) Volatile() events.Emitter { return volatileConn{c} }

type volatileConn struct{ c *Conn }

func (v volatileConn) Emit(event string, args ...any) error { return v.c.emit(event, args, true) }

func (c *Conn) emit(event string, args []any, volatile bool) error {
	pkt, err := encode(event, args, volatile)
	if err != nil {
		return err
	}
	c.deliver(pkt)
	return nil
}

func (c *Conn) deliver(pkt Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.inbox = append(c.inbox, inboxEntry{Packet: pkt})
	close(c.notify)
	c.notify = make(chan struct{})
}

// OnDisconnect implements namespaces.Conn.
func (c *Conn) OnDisconnect(fn func(reason string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onDisconnect = append(c.onDisconnect, fn)
}

// Disconnect implements namespaces.Conn: Close with DisconnectReason.
func (c *Conn) Disconnect() { c.Close(DisconnectReason) }

// Close plays the socket going away with reason (for example
// "client namespace disconnect" or "transport close"): its context is
// cancelled, it leaves every room, then the OnDisconnect functions run, in
// registration order. Only the first call does anything.
func (c *Conn) Close(reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	fns := c.onDisconnect
	c.mu.Unlock()

	c.cancel()
	// As the engine does, the handlers run while the socket is still in
	// its rooms (it receives nothing any more); then it leaves them.
	for _, fn := range fns {
		fn(reason)
	}
	c.ns.mu.Lock()
	if c.ns.conns[c.id] == c {
		delete(c.ns.conns, c.id)
	}
	for room, members := range c.ns.rooms {
		if members[c.id] == c {
			c.ns.leaveLocked(c, room)
		}
	}
	c.ns.mu.Unlock()
}

// Closed reports whether the socket was disconnected.
func (c *Conn) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Handles reports whether a handler is registered for event.
func (c *Conn) Handles(event string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.handlers[event]
	return ok
}

// Ack is what a handler acknowledged.
type Ack struct {
	// Args are the first call's arguments, as JSON.
	Args []json.RawMessage
	// Calls counts AckFunc calls; the engine sends only the first.
	Calls int
}

// CallRaw plays the client emitting event with raw JSON arguments and,
// when withAck, an ack callback. The handler runs before CallRaw returns.
// It fails when the socket is closed or has no handler for event.
func (c *Conn) CallRaw(event string, args []json.RawMessage, withAck bool) (Ack, error) {
	c.dispatch.Lock()
	defer c.dispatch.Unlock()
	c.mu.Lock()
	h, ok := c.handlers[event]
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return Ack{}, ErrClosed
	}
	if !ok {
		return Ack{}, fmt.Errorf("namespacestest: no handler for %q", event)
	}
	var (
		ackMu  sync.Mutex
		ack    Ack
		ackErr error
	)
	var fn events.AckFunc
	if withAck {
		fn = func(args ...any) error {
			ackMu.Lock()
			defer ackMu.Unlock()
			ack.Calls++
			if ack.Calls > 1 {
				return nil
			}
			pkt, err := encode(event+" ack", args, false)
			if err != nil {
				ackErr = err
				return err
			}
			ack.Args = pkt.Args
			return nil
		}
	}
	h(c.ctx, args, fn)
	ackMu.Lock()
	defer ackMu.Unlock()
	return ack, ackErr
}

// Call is CallRaw with each argument marshalled to JSON and an ack callback.
func (c *Conn) Call(event string, args ...any) (Ack, error) {
	raw, err := encode(event, args, false)
	if err != nil {
		return Ack{}, err
	}
	return c.CallRaw(event, raw.Args, true)
}

// Send is CallRaw with each argument marshalled to JSON and no ack callback.
func (c *Conn) Send(event string, args ...any) error {
	raw, err := encode(event, args, false)
	if err != nil {
		return err
	}
	_, err = c.CallRaw(event, raw.Args, false)
	return err
}

// Received returns every packet delivered so far, in order, whether or not
// Next has taken it.
func (c *Conn) Received() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Packet, len(c.inbox))
	for i, e := range c.inbox {
		out[i] = e.Packet
	}
	return out
}

// ReceivedEvent returns the packets delivered so far named event.
func (c *Conn) ReceivedEvent(event string) []Packet {
	var out []Packet
	for _, p := range c.Received() {
		if p.Event == event {
			out = append(out, p)
		}
	}
	return out
}

// Next waits until a packet named event that Next has not yet returned
// arrives (or already has), and returns the earliest such packet. It fails
// with ctx's error when ctx ends first.
func (c *Conn) Next(ctx context.Context, event string) (Packet, error) {
	for {
		c.mu.Lock()
		for i := range c.inbox {
			if e := &c.inbox[i]; !e.taken && e.Event == event {
				e.taken = true
				c.mu.Unlock()
				return e.Packet, nil
			}
		}
		wait := c.notify
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Packet{}, fmt.Errorf("namespacestest: waiting for %q on %s: %w", event, c.id, ctx.Err())
		}
	}
}
