package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// This file holds what a multi-node adapter (package redisadapter) needs
// from a namespace, and the cluster-wide halves of the broadcast operator:
// acknowledgements from every node, fetching, joining and disconnecting
// sockets on every node, and server-side emits.

// EncodedEvent is an event as a multi-node adapter forwards it: Data is the
// JSON array [event, args...] with each binary attachment replaced by a
// placeholder {"_placeholder":true,"num":i} naming Buffers[i]. It carries
// neither a recovery offset (every node records the packet under its own)
// nor an ack id.
type EncodedEvent struct {
	Data    []byte
	Buffers [][]byte
}

// RemoteSocket describes a socket of any node of the cluster, as Node's
// fetchSockets returns it. Its methods act through the adapter, wherever
// the socket is.
type RemoteSocket struct {
	ID string
	// Handshake is the handshake object as Node's socket.handshake has it
	// (headers, time, address, xdomain, secure, issued, url, query, auth).
	Handshake json.RawMessage
	// Rooms are the socket's rooms, its own included.
	Rooms []string
	// Data is socket.data: the values Set stored, {} when none.
	Data json.RawMessage

	nsp *Namespace
}

// Emit sends an event to the socket, on whichever node it is.
func (r RemoteSocket) Emit(event string, args ...any) error {
	return r.nsp.To(r.ID).Emit(event, args...)
}

// Join makes the socket join rooms.
func (r RemoteSocket) Join(rooms ...string) { r.nsp.In(r.ID).SocketsJoin(rooms...) }

// Leave makes the socket leave rooms.
func (r RemoteSocket) Leave(rooms ...string) { r.nsp.In(r.ID).SocketsLeave(rooms...) }

// Disconnect disconnects the socket; with close, its whole connection.
func (r RemoteSocket) Disconnect(close bool) { r.nsp.In(r.ID).DisconnectSockets(close) }

// ClusterAdapter is an Adapter that spans several nodes. Its Broadcast
// delivers to local sockets only; the operator forwards the same
// broadcast with Publish. Every method with a context returns when the
// other nodes have answered or the context ends, whichever comes first.
type ClusterAdapter interface {
	Adapter
	// Publish forwards an event to the other nodes. It does not block: an
	// event that cannot be sent is dropped and counted by the adapter.
	Publish(ev EncodedEvent, opts BroadcastOptions)
	// PublishWithAck forwards an event that asks for acknowledgements:
	// onCount is called once per other node with the number of its
	// sockets that got it, onAck with each acknowledgement. It returns the
	// number of other nodes that will answer.
	PublishWithAck(ctx context.Context, ev EncodedEvent, opts BroadcastOptions, onCount func(int), onAck func(*Args)) (int, error)
	// FetchSockets returns the selected sockets of the other nodes.
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]RemoteSocket, error)
	// AddSockets, DelSockets and DisconnectSockets apply to the selected
	// sockets of the other nodes.
	AddSockets(opts BroadcastOptions, rooms []string)
	DelSockets(opts BroadcastOptions, rooms []string)
	DisconnectSockets(opts BroadcastOptions, close bool)
	// ServerSideEmitWithAck sends an event to the namespace on the other
	// nodes and returns their answers, one per node.
	ServerSideEmitWithAck(ctx context.Context, event string, args []any) ([]*Args, error)
	// AllRooms returns the rooms of the other nodes, their sockets' own
	// rooms included.
	AllRooms(ctx context.Context) ([]string, error)
	// ServerCount returns the number of nodes, this one included.
	ServerCount(ctx context.Context) (int, error)
}

// NewRemoteSocket returns the description of a socket of another node; the
// adapter of n builds them for FetchSockets.
func (n *Namespace) NewRemoteSocket(id string, handshake json.RawMessage, rooms []string, data json.RawMessage) RemoteSocket {
	return RemoteSocket{ID: id, Handshake: handshake, Rooms: rooms, Data: data, nsp: n}
}

// NewArgs returns Args holding the JSON array data, whose placeholders name
// buffers; adapters use it for answers that came from other nodes.
func NewArgs(data []byte, buffers [][]byte) (*Args, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("args: %w", ErrParse)
	}
	raw, err := SplitArray(data)
	if err != nil {
		return nil, err
	}
	if len(buffers) > 0 {
		if err := checkPlaceholders(data, len(buffers)); err != nil {
			return nil, err
		}
	}
	return &Args{raw: raw, buffers: buffers}, nil
}

// EncodeArgs encodes values as Emit would, into the JSON array of an
// EncodedEvent.
func EncodeArgs(values ...any) (EncodedEvent, error) {
	data, buffers, err := encodeArgs(make([]byte, 0, 64), nil, values)
	return EncodedEvent{Data: data, Buffers: buffers}, err
}

// Data returns a copy of the values Set stored on the socket.
func (s *Socket) Data() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.data)
}

// rawElems is a run of pre-encoded array elements (JSON, comma-separated)
// whose placeholders name buffers; encodeArgs writes it as it is, so an
// event from another node goes through the same encode-once path as a
// local one. It must carry the packet's first attachments.
type rawElems struct {
	json    []byte
	buffers [][]byte
}

// splitEvent parses an EncodedEvent into its event name and the rest of
// its elements.
func splitEvent(ev EncodedEvent) (string, []any, error) {
	elems, err := SplitArray(ev.Data)
	if err != nil {
		return "", nil, err
	}
	if len(elems) == 0 {
		return "", nil, fmt.Errorf("event without a name: %w", ErrParse)
	}
	var name string
	if err := json.Unmarshal(elems[0], &name); err != nil {
		if !json.Valid(elems[0]) {
			return "", nil, fmt.Errorf("event name: %w", ErrParse)
		}
		name = string(elems[0]) // numeric event names
	}
	if len(elems) == 1 {
		return name, nil, nil
	}
	size := len(elems) - 2
	for _, e := range elems[1:] {
		size += len(e)
	}
	rest := make([]byte, 0, size)
	for i, e := range elems[1:] {
		if i > 0 {
			rest = append(rest, ',')
		}
		rest = append(rest, e...)
	}
	return name, []any{rawElems{json: rest, buffers: ev.Buffers}}, nil
}

// DeliverEvent delivers an event that came from another node to the local
// sockets opts selects, recording it for connection state recovery like a
// local broadcast.
func (n *Namespace) DeliverEvent(ev EncodedEvent, opts BroadcastOptions) error {
	name, args, err := splitEvent(ev)
	if err != nil {
		return err
	}
	b := BroadcastOperator{nsp: n, rooms: opts.Rooms, except: opts.Except, volatile: opts.Volatile, local: true}
	return b.Emit(name, args...)
}

// DeliverEventWithAck delivers an event that asks for acknowledgements to
// the local sockets opts selects; onAck gets each one. It returns how many
// sockets got the event, and release, which stops waiting for their acks.
func (n *Namespace) DeliverEventWithAck(ev EncodedEvent, opts BroadcastOptions, onAck func(*Args)) (int, func(), error) {
	name, args, err := splitEvent(ev)
	if err != nil {
		return 0, nil, err
	}
	id := n.ackID.Add(1) - 1
	frames, err := encodePacket(PacketEvent, n.name, id, []any{name}, args)
	if err != nil {
		return 0, nil, err
	}
	b := BroadcastOperator{nsp: n, rooms: opts.Rooms, except: opts.Except, local: true}
	var mine []*Socket
	sent := b.deliver(frames, func(s *Socket) {
		mine = append(mine, s)
		s.registerAck(id, onAck)
	})
	return sent, func() {
		for _, s := range mine {
			s.dropAck(id)
		}
	}, nil
}

// options returns the operator's selection as adapter options.
func (b BroadcastOperator) options() BroadcastOptions {
	return BroadcastOptions{Rooms: b.rooms, Except: b.except, Volatile: b.volatile, Local: b.local}
}

// cluster returns the namespace's multi-node adapter unless the operator
// is Local or the adapter serves one node.
func (b BroadcastOperator) cluster() (ClusterAdapter, bool) {
	if b.local {
		return nil, false
	}
	ca, ok := b.nsp.adapter.(ClusterAdapter)
	return ca, ok
}

// publish forwards an event to the other nodes of a multi-node adapter.
func (b BroadcastOperator) publish(event string, args []any) error {
	ca, ok := b.cluster()
	if !ok {
		return nil
	}
	data, buffers, err := encodeArgs(make([]byte, 0, 64), []any{event}, args)
	if err != nil {
		return err
	}
	ca.Publish(EncodedEvent{Data: data, Buffers: buffers}, b.options())
	return nil
}

// emitWithAckCluster is EmitWithAck over every node: it waits for one
// count from every node and for as many acknowledgements as the counts
// add up to, as Node's broadcast operator does.
func (b BroadcastOperator) emitWithAckCluster(ctx context.Context, ca ClusterAdapter, event string, args []any) ([]*Args, error) {
	n := b.nsp
	data, buffers, err := encodeArgs(make([]byte, 0, 64), []any{event}, args)
	if err != nil {
		return nil, err
	}
	id := n.ackID.Add(1) - 1
	frames, err := encodePacket(PacketEvent, n.name, id, []any{event}, args)
	if err != nil {
		return nil, err
	}
	w := &clusterWait{done: make(chan struct{}), servers: -1}
	remote, rerr := ca.PublishWithAck(ctx, EncodedEvent{Data: data, Buffers: buffers}, b.options(), w.count, w.ack)
	var mine []*Socket
	sent := b.deliver(frames, func(s *Socket) {
		mine = append(mine, s)
		s.registerAck(id, w.ack)
	})
	defer func() {
		for _, s := range mine {
			s.dropAck(id)
		}
	}()
	if rerr != nil {
		remote = 0
	}
	w.count(sent)
	w.expect(1 + remote)
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(w.got)
	switch {
	case w.complete():
		if rerr != nil {
			return out, fmt.Errorf("socketio: broadcast to other nodes: %w", rerr)
		}
		return out, nil
	case ctx.Err() == context.DeadlineExceeded:
		return out, fmt.Errorf("%w: %d of %d nodes answered, %d of %d acknowledgements", ErrAckTimeout, w.counted, w.servers, len(w.got), w.clients)
	default:
		return out, ctx.Err()
	}
}

type clusterWait struct {
	mu      sync.Mutex
	got     []*Args
	servers int // expected node counts, -1 until known
	counted int // node counts received
	clients int // acknowledgements expected so far
	closed  bool
	done    chan struct{}
}

func (w *clusterWait) complete() bool {
	return w.servers >= 0 && w.counted >= w.servers && len(w.got) >= w.clients
}

func (w *clusterWait) check() {
	if !w.closed && w.complete() {
		w.closed = true
		close(w.done)
	}
}

func (w *clusterWait) count(n int) {
	w.mu.Lock()
	w.counted++
	w.clients += n
	w.check()
	w.mu.Unlock()
}

func (w *clusterWait) ack(a *Args) {
	w.mu.Lock()
	w.got = append(w.got, a)
	w.check()
	w.mu.Unlock()
}

func (w *clusterWait) expect(servers int) {
	w.mu.Lock()
	w.servers = servers
	w.check()
	w.mu.Unlock()
}

// FetchAllSockets returns the selected sockets of every node, this one
// included, as Node's fetchSockets does. With a single-node adapter (or
// Local) it describes the local sockets.
func (b BroadcastOperator) FetchAllSockets(ctx context.Context) ([]RemoteSocket, error) {
	local := b.FetchSockets()
	out := make([]RemoteSocket, 0, len(local))
	for _, s := range local {
		out = append(out, describe(s))
	}
	ca, ok := b.cluster()
	if !ok {
		return out, nil
	}
	remote, err := ca.FetchSockets(ctx, b.options())
	return append(out, remote...), err
}

// describe returns a local socket as fetchSockets shows it.
func describe(s *Socket) RemoteSocket {
	return RemoteSocket{ID: s.id, Handshake: HandshakeJSON(s), Rooms: s.Rooms(), Data: DataJSON(s), nsp: s.nsp}
}

// DataJSON returns the socket's data as a JSON object; values that do not
// marshal are left out.
func DataJSON(s *Socket) json.RawMessage {
	data := s.Data()
	if b, err := json.Marshal(data); err == nil && data != nil {
		return b
	}
	ok := make(map[string]json.RawMessage, len(data))
	for k, v := range data {
		if b, err := json.Marshal(v); err == nil {
			ok[k] = b
		}
	}
	b, _ := json.Marshal(ok) // raw messages from Marshal always marshal
	return b
}

// HandshakeJSON returns the socket's handshake as Node's socket.handshake
// object, which other nodes' fetchSockets return.
func HandshakeJSON(s *Socket) json.RawMessage {
	h := s.Handshake()
	headers := make(map[string]string, len(h.Header))
	for k, v := range h.Header {
		headers[lower(k)] = joinHeader(v)
	}
	query := make(map[string]any)
	for k, v := range h.Query() {
		if len(v) == 1 {
			query[k] = v[0]
		} else {
			query[k] = v
		}
	}
	auth := s.auth
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	b, _ := json.Marshal(struct {
		Headers map[string]string `json:"headers"`
		Time    string            `json:"time"`
		Address string            `json:"address"`
		XDomain bool              `json:"xdomain"`
		Secure  bool              `json:"secure"`
		Issued  int64             `json:"issued"`
		URL     string            `json:"url"`
		Query   map[string]any    `json:"query"`
		Auth    json.RawMessage   `json:"auth"`
	}{
		Headers: headers,
		Time:    h.Time.UTC().Format("Mon Jan 02 2006 15:04:05 GMT+0000 (Coordinated Universal Time)"),
		Address: hostOf(h.RemoteAddr),
		XDomain: h.Header.Get("Origin") != "",
		Secure:  h.Secure,
		Issued:  h.Time.UnixMilli(),
		URL:     "/socket.io/?" + h.RawQuery,
		Query:   query,
		Auth:    auth,
	}) // strings, numbers and a valid raw message always marshal
	return b
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func joinHeader(v []string) string {
	out := ""
	for i, s := range v {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

func hostOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
				h = h[1 : len(h)-1]
			}
			return h
		}
	}
	return addr
}

// ServerEventHandler handles an event another node sent with
// ServerSideEmit. ack is nil when the sender expects no answer; only the
// first argument of an ack reaches the sender, as in Node.
type ServerEventHandler func(args *Args, ack AckFunc)

// OnServerSideEmit sets the handler of event for server-side emits from
// other nodes.
func (n *Namespace) OnServerSideEmit(event string, h ServerEventHandler) {
	n.mu.Lock()
	if n.serverEvents == nil {
		n.serverEvents = make(map[string]ServerEventHandler)
	}
	n.serverEvents[event] = h
	n.mu.Unlock()
}

// DispatchServerSideEmit runs the handler of a server-side emit from
// another node; adapters call it. It reports whether there was one.
func (n *Namespace) DispatchServerSideEmit(event string, args *Args, ack AckFunc) bool {
	n.mu.RLock()
	h := n.serverEvents[event]
	n.mu.RUnlock()
	if h == nil {
		return false
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				n.srv.cfg.Logger.Error("socketio: server-side emit handler panic", "nsp", n.name, "event", event, "panic", r)
			}
		}()
		h(args, ack)
	}()
	return true
}

// ServerSideEmitWithAck sends an event to this namespace on the other
// nodes and returns their answers, one per node.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]*Args, error) {
	ca, ok := n.adapter.(ClusterAdapter)
	if !ok {
		return nil, nil
	}
	return ca.ServerSideEmitWithAck(ctx, event, args)
}

// AllRooms returns the rooms of every node (sockets' own rooms included).
func (n *Namespace) AllRooms(ctx context.Context) ([]string, error) {
	set := make(map[string]struct{})
	for _, s := range n.localSockets(nil, nil) {
		for _, r := range n.adapter.RoomsOf(s.id) {
			set[r] = struct{}{}
		}
	}
	var err error
	if ca, ok := n.adapter.(ClusterAdapter); ok {
		var remote []string
		remote, err = ca.AllRooms(ctx)
		for _, r := range remote {
			set[r] = struct{}{}
		}
	}
	out := slices.Collect(maps.Keys(set))
	slices.Sort(out)
	return out, err
}

// ServerCount returns the number of nodes serving the namespace: 1 with a
// single-node adapter.
func (n *Namespace) ServerCount(ctx context.Context) (int, error) {
	if ca, ok := n.adapter.(ClusterAdapter); ok {
		return ca.ServerCount(ctx)
	}
	return 1, nil
}

// FetchAllSockets returns the sockets of every node, as Node's
// io.fetchSockets does.
func (n *Namespace) FetchAllSockets(ctx context.Context) ([]RemoteSocket, error) {
	return n.operator().FetchAllSockets(ctx)
}
