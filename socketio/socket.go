package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parley-rt/parley/engineio"
)

// Handler handles one incoming event. ack is nil when the client did not
// ask for an acknowledgement.
type Handler func(s *Socket, args *Args, ack AckFunc)

// AckFunc acknowledges an event with args; only the first call sends.
type AckFunc func(args ...any) error

// PacketMiddleware runs before the handler of every incoming event; a
// non-nil error drops the event and goes to the socket's error handler.
type PacketMiddleware func(s *Socket, event string, args *Args) error

// Socket is one client's connection to one namespace.
type Socket struct {
	id        string
	pid       string
	nsp       *Namespace
	client    *client
	auth      json.RawMessage
	recovered bool
	ctx       context.Context
	cancel    context.CancelFunc

	// gone is set when the socket disconnects; broadcasts skip it while
	// its disconnect handlers still run with it in its rooms.
	gone atomic.Bool

	mu           sync.Mutex
	connected    bool
	handlers     []namedHandler // few per socket: a slice is smaller than a map
	catchAll     Handler
	pktMW        []PacketMiddleware
	onError      []func(error)
	onDisconnect []func(reason string)
	data         map[string]any
	acks         map[int64]func(*Args)
	inbox        []inboxItem
	dispatching  bool
	space        chan struct{}
	closedReason string
}

type namedHandler struct {
	event string
	h     Handler
}

type inboxItem struct {
	p          *Packet
	disconnect string // set for the final item
}

func newSocket(n *Namespace, c *client, auth json.RawMessage) *Socket {
	ctx, cancel := context.WithCancel(context.Background())
	return &Socket{id: newSocketID(), nsp: n, client: c, auth: auth, ctx: ctx, cancel: cancel}
}

func newSocketID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ID returns the socket id, also the name of the socket's own room.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Auth returns the CONNECT auth object ("{}" when none was sent).
func (s *Socket) Auth() json.RawMessage { return s.auth }

// Handshake returns the HTTP request that opened the connection.
func (s *Socket) Handshake() engineio.Handshake { return s.client.sess.Handshake() }

// Transport returns "polling" or "websocket".
func (s *Socket) Transport() string { return s.client.sess.Transport() }

// Recovered reports whether the socket's state was restored by connection
// state recovery.
func (s *Socket) Recovered() bool { return s.recovered }

// Context is cancelled when the socket disconnects.
func (s *Socket) Context() context.Context { return s.ctx }

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// On sets the handler of event.
func (s *Socket) On(event string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.handlers {
		if s.handlers[i].event == event {
			s.handlers[i].h = h
			return
		}
	}
	s.handlers = append(s.handlers, namedHandler{event, h})
}

// OnAny sets the handler for events without their own handler; it gets the
// event name as the first argument of args.
func (s *Socket) OnAny(h Handler) {
	s.mu.Lock()
	s.catchAll = h
	s.mu.Unlock()
}

// Use appends a per-packet middleware.
func (s *Socket) Use(mw PacketMiddleware) {
	s.mu.Lock()
	s.pktMW = append(s.pktMW, mw)
	s.mu.Unlock()
}

// OnError registers fn for errors of per-packet middlewares.
func (s *Socket) OnError(fn func(error)) {
	s.mu.Lock()
	s.onError = append(s.onError, fn)
	s.mu.Unlock()
}

// OnDisconnect registers fn, called once with the reason, after the
// socket's queued events and while the socket is still in its rooms
// (Rooms tells which); it leaves them when the handlers have returned.
// Broadcasts no longer reach it.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

// Get returns a per-socket value.
func (s *Socket) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	return v, ok
}

// Set stores a per-socket value; it survives connection state recovery.
func (s *Socket) Set(key string, v any) {
	s.mu.Lock()
	if s.data == nil {
		s.data = make(map[string]any)
	}
	s.data[key] = v
	s.mu.Unlock()
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) {
	if !s.Connected() {
		return
	}
	s.nsp.join(s, rooms)
}

// Leave removes the socket from room.
func (s *Socket) Leave(room string) { s.nsp.leave(s, room) }

// Rooms returns the rooms the socket is in, its own room included.
func (s *Socket) Rooms() []string {
	r := s.nsp.adapter.RoomsOf(s.id)
	slices.Sort(r)
	return r
}

// To returns a broadcast to rooms that excludes this socket.
func (s *Socket) To(rooms ...string) BroadcastOperator {
	return s.nsp.operator().Except(s.id).To(rooms...)
}

// In is To.
func (s *Socket) In(rooms ...string) BroadcastOperator { return s.To(rooms...) }

// Broadcast returns a broadcast to every other socket of the namespace.
func (s *Socket) Broadcast() BroadcastOperator { return s.nsp.operator().Except(s.id) }

// Emit sends an event to this socket. With connection state recovery on,
// the packet carries an offset and is kept for replay.
func (s *Socket) Emit(event string, args ...any) error {
	if !s.Connected() {
		return ErrNotConnected
	}
	if s.nsp.recovery != nil {
		return s.nsp.emitRecorded(event, args, []string{s.id}, nil, s.sendFrames)
	}
	frames, err := encodePacket(PacketEvent, s.nsp.name, noID, []any{event}, args)
	if err != nil {
		return err
	}
	return s.sendFrames(frames)
}

// Volatile returns an emitter that drops the packet when the transport
// cannot take it at once.
func (s *Socket) Volatile() VolatileEmitter { return VolatileEmitter{s} }

// VolatileEmitter emits droppable packets to one socket.
type VolatileEmitter struct{ s *Socket }

// Emit sends the event if the socket's transport is writable now.
func (v VolatileEmitter) Emit(event string, args ...any) error {
	if !v.s.client.sess.Writable() {
		return nil
	}
	frames, err := encodePacket(PacketEvent, v.s.nsp.name, noID, []any{event}, args)
	if err != nil {
		return err
	}
	return v.s.sendFrames(frames)
}

// EmitWithAck sends an event and waits for the client's acknowledgement
// until ctx ends (ErrAckTimeout on a deadline, ctx.Err() otherwise).
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (*Args, error) {
	id := s.nsp.ackID.Add(1) - 1
	frames, err := encodePacket(PacketEvent, s.nsp.name, id, []any{event}, args)
	if err != nil {
		return nil, err
	}
	ch := make(chan *Args, 1)
	s.registerAck(id, func(a *Args) { ch <- a })
	defer s.dropAck(id)
	if err := s.sendFrames(frames); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return nil, ErrAckTimeout
		}
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, ErrNotConnected
	}
}

func (s *Socket) registerAck(id int64, fn func(*Args)) {
	s.mu.Lock()
	if s.acks == nil {
		s.acks = make(map[int64]func(*Args))
	}
	s.acks[id] = fn
	s.mu.Unlock()
}

func (s *Socket) dropAck(id int64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

func (s *Socket) sendFrames(frames []*engineio.Frame) error {
	s.nsp.stats.sent.Add(1)
	if len(frames) == 1 {
		return s.client.sess.Send(frames[0])
	}
	return s.client.sess.SendBatch(frames)
}

// Disconnect disconnects the socket from its namespace; the client sees
// "io server disconnect" and does not reconnect. With close, every socket
// of the connection is disconnected and the connection closed.
func (s *Socket) Disconnect(close bool) {
	if close {
		s.client.disconnectAll()
		return
	}
	if !s.Connected() {
		return
	}
	// Disconnected before the client can hear of it: a client that closes
	// its connection on the DISCONNECT would otherwise race this reason
	// with "transport close" (which is recoverable).
	s.onclose(ReasonServerNamespaceDisconnect)
	s.client.kicked(s.nsp.name)
	_ = s.client.sess.Send(encodeControl(PacketDisconnect, s.nsp.name, nil)) // a closed session needs no notice
}

// onclose marks the socket disconnected, takes it out of its rooms and the
// client, and queues its disconnect handlers after any pending events.
func (s *Socket) onclose(reason string) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	s.connected = false
	s.gone.Store(true)
	s.closedReason = reason
	if s.space != nil {
		close(s.space)
		s.space = nil
	}
	s.mu.Unlock()
	if s.nsp.recovery != nil && s.pid != "" && recoverable(reason) { // a 2.x client has no pid: it cannot resume
		s.nsp.recovery.save(s)
	}
	s.client.remove(s)
	s.cancel()
	s.push(inboxItem{disconnect: reason}, false)
}

func recoverable(reason string) bool {
	switch reason {
	case engineio.ReasonTransportError, engineio.ReasonTransportClose, engineio.ReasonForcedClose,
		engineio.ReasonPingTimeout, ReasonServerShuttingDown:
		return true
	}
	return false
}

// push appends an item to the inbox and makes sure a dispatcher runs. With
// bounded, it waits while the inbox is full, or until the connection
// closes: it runs on the engine's deliverer, which must get on to deliver
// the close (the event is then dropped).
func (s *Socket) push(it inboxItem, bounded bool) {
	max := s.nsp.srv.cfg.MaxInbox
	s.mu.Lock()
	for bounded && len(s.inbox) >= max && s.connected {
		if s.space == nil {
			s.space = make(chan struct{})
		}
		ch := s.space
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.client.sess.Done():
			return
		}
		s.mu.Lock()
	}
	if bounded && !s.connected {
		s.mu.Unlock()
		return
	}
	s.inbox = append(s.inbox, it)
	if !s.dispatching {
		s.dispatching = true
		done := s.nsp.srv.engine.Track() // Close waits for the handlers
		go func() {
			defer done()
			s.dispatch()
		}()
	}
	s.mu.Unlock()
}

// dispatch runs queued items one at a time, then exits.
func (s *Socket) dispatch() {
	for {
		s.mu.Lock()
		if len(s.inbox) == 0 {
			s.inbox = nil
			s.dispatching = false
			s.mu.Unlock()
			return
		}
		it := s.inbox[0]
		s.inbox[0] = inboxItem{}
		s.inbox = s.inbox[1:]
		if s.space != nil {
			close(s.space)
			s.space = nil
		}
		s.mu.Unlock()
		if it.p != nil {
			s.runEvent(it.p)
		} else {
			s.runDisconnect(it.disconnect)
		}
	}
}

// runDisconnect runs the disconnect handlers while the socket is still in
// its rooms (like Node's "disconnecting"), then takes it out of them. A
// handler that announces departures leaves each room itself under its own
// lock, so that two sockets of one user going at once announce once.
func (s *Socket) runDisconnect(reason string) {
	s.mu.Lock()
	fns := s.onDisconnect
	s.onDisconnect = nil
	s.mu.Unlock()
	for _, fn := range fns {
		s.safely("disconnect", func() { fn(reason) })
	}
	s.nsp.leaveAll(s)
}

func (s *Socket) safely(what string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			s.nsp.srv.cfg.Logger.Error("socketio: handler panic", "nsp", s.nsp.name, "sid", s.id, "event", what, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// runEvent runs the middlewares and the handler of one event packet.
func (s *Socket) runEvent(p *Packet) {
	s.nsp.stats.received.Add(1)
	raw, err := SplitArray(p.Data)
	if err != nil || len(raw) == 0 {
		return // Decode validated the shape already
	}
	var event string
	if err := json.Unmarshal(raw[0], &event); err != nil {
		event = string(raw[0]) // numeric event names
	}
	args := &Args{raw: raw[1:], buffers: p.Buffers}
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	mws := s.pktMW
	var h Handler
	for _, nh := range s.handlers {
		if nh.event == event {
			h = nh.h
			break
		}
	}
	catchAll := s.catchAll
	s.mu.Unlock()
	for _, mw := range mws {
		if err := mw(s, event, args); err != nil {
			s.reportError(err)
			return
		}
	}
	if h == nil {
		if catchAll == nil {
			return
		}
		h = catchAll
		args = &Args{raw: raw, buffers: p.Buffers}
	}
	var ack AckFunc
	if p.ID != noID {
		ack = s.ackFunc(p.ID)
	}
	s.safely(event, func() { h(s, args, ack) })
}

// reportError calls the socket's error handlers.
func (s *Socket) reportError(err error) {
	s.mu.Lock()
	fns := s.onError
	s.mu.Unlock()
	for _, fn := range fns {
		s.safely("error", func() { fn(err) })
	}
}

func (s *Socket) ackFunc(id int64) AckFunc {
	var sent atomic.Bool
	return func(args ...any) error {
		if !sent.CompareAndSwap(false, true) {
			return nil
		}
		frames, err := encodePacket(PacketAck, s.nsp.name, id, nil, args)
		if err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		return s.sendFrames(frames)
	}
}

// onAck delivers a client's acknowledgement to its waiter.
func (s *Socket) onAck(p *Packet) {
	s.nsp.stats.received.Add(1)
	s.mu.Lock()
	fn := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if fn == nil {
		return
	}
	raw, err := SplitArray(p.Data)
	if err != nil {
		return
	}
	fn(&Args{raw: raw, buffers: p.Buffers})
}
