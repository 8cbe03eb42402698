package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parley-rt/parley/engineio"
)

// client is one connection (an Engine.IO session, or one given to Attach)
// and the namespace sockets multiplexed on it. It is the connection's
// engineio.Handler.
type client struct {
	srv  *Server
	sess Session
	// v3 marks a socket.io-client 2.x connection (Engine.IO v3, Socket.IO
	// protocol v4; see v3.go).
	v3 bool

	mu           sync.Mutex
	sockets      map[string]*Socket // by namespace name
	closed       bool
	connectTimer *time.Timer // nil once stopped or fired
	connectDone  func()      // ends the engine's count of the timer
	everJoined   bool

	pending *Packet // a binary packet waiting for its attachments; reader-owned

	// kickedFrom holds the namespaces the server disconnected this client
	// from; packets still in flight for them are dropped. Guarded by mu.
	kickedFrom map[string]struct{}
}

// OnMessage decodes one engine message and routes it.
func (c *client) OnMessage(data []byte, binary bool) {
	if binary {
		p := c.pending
		if p == nil {
			c.fail("unexpected binary attachment")
			return
		}
		p.Buffers = append(p.Buffers, data)
		if len(p.Buffers) < p.Attachments {
			return
		}
		c.pending = nil
		if err := checkPlaceholders(p.Data, p.Attachments); err != nil {
			c.fail(err.Error())
			return
		}
		c.route(p)
		return
	}
	if c.pending != nil {
		c.fail("text packet while attachments are pending")
		return
	}
	p, err := Decode(data)
	if err != nil {
		c.fail(err.Error())
		return
	}
	if p.Attachments > 0 {
		c.pending = p
		return
	}
	c.route(p)
}

// fail closes the connection after a packet that cannot be decoded. As in
// Node, the sockets' error handlers hear of it and the close reason is
// "forced close".
func (c *client) fail(why string) {
	c.srv.cfg.Logger.Debug("socketio: protocol violation", "sid", c.sess.ID(), "why", why)
	err := fmt.Errorf("%s: %w", why, ErrParse)
	for _, s := range c.list() {
		s.reportError(err)
	}
	c.sess.Close(engineio.ReasonForcedClose)
}

// invalidState closes the connection after a packet that is well formed but
// makes no sense now (a second CONNECT for a namespace, an event for a
// namespace not joined). Node closes the connection from the Socket.IO
// layer: over polling its sockets see "forced server close" before the
// engine closes; over WebSocket the engine's "forced close" comes first.
func (c *client) invalidState(why string) {
	c.srv.cfg.Logger.Debug("socketio: packet in an invalid state", "sid", c.sess.ID(), "why", why)
	if c.sess.Transport() == "polling" {
		for _, s := range c.list() {
			s.onclose(ReasonForcedServerClose)
		}
	}
	c.sess.Close(engineio.ReasonForcedClose)
}

func (c *client) route(p *Packet) {
	var auth json.RawMessage
	if c.v3 {
		auth = v3Namespace(p)
	} else if p.Type == PacketConnect {
		auth = json.RawMessage(p.Data)
	}
	if p.Type == PacketConnect {
		c.connect(p, auth)
		return
	}
	c.mu.Lock()
	s := c.sockets[p.Nsp]
	_, wasKicked := c.kickedFrom[p.Nsp]
	c.mu.Unlock()
	if s == nil {
		if wasKicked {
			// Sent before the client heard of the server's DISCONNECT: a
			// race, not a protocol violation. Node closes the connection
			// here, which can overtake the DISCONNECT on the client and
			// turn a final "io server disconnect" into a reconnecting
			// "transport close".
			return
		}
		c.invalidState("packet for a namespace not joined")
		return
	}
	switch p.Type {
	case PacketDisconnect:
		s.onclose(ReasonClientNamespaceDisconnect)
	case PacketEvent, PacketBinaryEvent:
		s.push(inboxItem{p: p}, true)
	case PacketAck, PacketBinaryAck:
		s.onAck(p)
	default: // CONNECT_ERROR is server-to-client only
		c.fail("connect_error from client")
	}
}

// connect handles a CONNECT packet: namespace lookup, recovery, middlewares.
// auth is the CONNECT's auth object (for a v3 client, its namespace's
// query), nil when it has none.
func (c *client) connect(p *Packet, auth json.RawMessage) {
	n := c.srv.lookup(p.Nsp)
	if n == nil {
		c.send(encodeControl(PacketConnectError, p.Nsp, map[string]string{"message": "Invalid namespace"}))
		return
	}
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	c.mu.Lock()
	_, dup := c.sockets[p.Nsp]
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return
	}
	if dup {
		c.invalidState("second CONNECT for " + p.Nsp)
		return
	}
	s := newSocket(n, c, auth)
	if c.v3 {
		s.id = v3SocketID(n.name, c.sess.ID())
	}
	var restored *savedSession
	if n.recovery != nil && !c.v3 { // a 2.x client cannot resume
		restored = n.recovery.claim(auth)
		if restored != nil {
			s.id, s.pid, s.recovered = restored.sid, restored.pid, true
			s.data = restored.data
		} else {
			s.pid = newSocketID()
		}
	}
	mws, onConn := n.chain()
	if !(s.recovered && c.srv.cfg.Recovery.SkipMiddlewares) {
		for _, mw := range mws {
			if err := c.runMiddleware(s, mw); err != nil {
				c.send(c.connectError(p.Nsp, err))
				return
			}
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.sockets[p.Nsp] = s
	delete(c.kickedFrom, p.Nsp)
	c.everJoined = true
	c.stopConnectTimerLocked()
	c.mu.Unlock()
	s.mu.Lock()
	s.connected = true
	s.mu.Unlock()
	rooms := []string{s.id}
	if restored != nil {
		rooms = append(rooms, restored.rooms...)
	}
	payload := map[string]string{"sid": s.id}
	if s.pid != "" {
		payload["pid"] = s.pid
	}
	connected := encodeControl(PacketConnect, n.name, payload)
	if c.v3 {
		connected = encodeControl(PacketConnect, n.name, nil) // v4 has no payload
	}
	join := func(missed []*engineio.Frame) {
		n.adapter.Add(s, rooms...)
		c.send(connected)
		if len(missed) > 0 {
			_ = c.sess.SendBatch(missed) // a closed session is handled by OnClose
		}
	}
	switch {
	case restored != nil:
		// Under the emit lock: the missed packets, then the live ones.
		if !n.recovery.resume(restored, join) {
			c.srv.cfg.Logger.Warn("socketio: recovered socket lost packets that expired while it connected", "nsp", n.name, "sid", s.id)
		}
	case n.recovery != nil:
		n.recovery.locked(func() { join(nil) }) // no recorded packet before the CONNECT
	default:
		join(nil)
	}
	for _, fn := range onConn {
		s.safely("connection", func() { fn(s) })
	}
}

func (c *client) runMiddleware(s *Socket, mw Middleware) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.cfg.Logger.Error("socketio: middleware panic", "nsp", s.nsp.name, "panic", r)
			err = errors.New("internal error")
		}
	}()
	return mw(s)
}

func connectErrorPayload(err error) map[string]any {
	var ce *ConnectError
	if errors.As(err, &ce) {
		m := map[string]any{"message": ce.Message}
		if ce.Data != nil {
			m["data"] = ce.Data
		}
		return m
	}
	return map[string]any{"message": err.Error()}
}

func (c *client) send(f *engineio.Frame) {
	_ = c.sess.Send(f) // a closed session is handled by OnClose
}

// kicked records that the server disconnected the client from nsp.
func (c *client) kicked(nsp string) {
	c.mu.Lock()
	if c.kickedFrom == nil {
		c.kickedFrom = make(map[string]struct{}, 1)
	}
	c.kickedFrom[nsp] = struct{}{}
	c.mu.Unlock()
}

// remove forgets a disconnected socket.
func (c *client) remove(s *Socket) {
	c.mu.Lock()
	if c.sockets[s.nsp.name] == s {
		delete(c.sockets, s.nsp.name)
	}
	c.mu.Unlock()
}

func (c *client) list() []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Socket, 0, len(c.sockets))
	for _, s := range c.sockets {
		out = append(out, s)
	}
	return out
}

// disconnectAll disconnects every socket, then closes the connection once
// the DISCONNECT packets are written.
func (c *client) disconnectAll() {
	for _, s := range c.list() {
		s.Disconnect(false)
	}
	c.sess.Close(engineio.ReasonForcedClose)
}

// stopConnectTimerLocked stops the connect timer; when it had not fired, the
// engine stops counting it here rather than in its callback. c.mu is held.
func (c *client) stopConnectTimerLocked() {
	if c.connectTimer == nil {
		return
	}
	if c.connectTimer.Stop() {
		c.connectDone()
	}
	c.connectTimer = nil // its memory is not worth keeping per connection
	c.connectDone = nil
}

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	c.connectTimer, c.connectDone = nil, nil // fired: the callback ends the count
	joined := c.everJoined || len(c.sockets) > 0
	c.mu.Unlock()
	if !joined {
		c.sess.Close(engineio.ReasonForcedClose)
	}
}

// OnClose disconnects every socket with the engine's reason.
func (c *client) OnClose(reason string) {
	c.mu.Lock()
	c.closed = true
	c.stopConnectTimerLocked()
	c.mu.Unlock()
	for _, s := range c.list() {
		s.onclose(reason)
	}
}
