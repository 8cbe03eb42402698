package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley-rt/parley/socketio"
)

// Request types of the adapter protocol, as Node's RequestType numbers them.
const (
	reqSockets              = 0
	reqAllRooms             = 1
	reqRemoteJoin           = 2
	reqRemoteLeave          = 3
	reqRemoteDisconnect     = 4
	reqRemoteFetch          = 5
	reqServerSideEmit       = 6
	reqBroadcast            = 7
	reqBroadcastClientCount = 8
	reqBroadcastAck         = 9
)

// adapter is one namespace's Redis adapter: the in-memory adapter for the
// local sockets, plus the channels of the namespace.
type adapter struct {
	socketio.Adapter // local sockets and rooms
	c                *Cluster
	nsp              *socketio.Namespace
	hasRoom          func(string) bool

	channel         string // <prefix>#<nsp>#
	requestChannel  string // <prefix>-request#<nsp>#
	responseChannel string // <prefix>-response#<nsp>#
	specificChannel string // <prefix>-response#<nsp>#<uid>#

	mu       sync.Mutex
	requests map[string]*pending
	acks     map[string]*ackRequest
}

// pending is a request of this node waiting for other nodes' answers.
type pending struct {
	typ     int
	want    int // answers expected
	got     int
	sockets []socketio.RemoteSocket
	rooms   []string
	answers []*socketio.Args
	done    chan struct{}
}

type ackRequest struct {
	onCount func(int)
	onAck   func(*socketio.Args)
}

func newAdapter(c *Cluster, n *socketio.Namespace) *adapter {
	local := socketio.NewMemoryAdapter(n)
	a := &adapter{
		Adapter:         local,
		c:               c,
		nsp:             n,
		channel:         c.cfg.Prefix + "#" + n.Name() + "#",
		requestChannel:  c.cfg.Prefix + "-request#" + n.Name() + "#",
		responseChannel: c.cfg.Prefix + "-response#" + n.Name() + "#",
		requests:        make(map[string]*pending),
		acks:            make(map[string]*ackRequest),
	}
	a.specificChannel = a.responseChannel + c.uid + "#"
	if h, ok := local.(interface{ HasRoom(string) bool }); ok {
		a.hasRoom = h.HasRoom
	} else {
		a.hasRoom = func(room string) bool { return len(local.Select(nil, []string{room}, nil)) > 0 }
	}
	return a
}

var _ socketio.ClusterAdapter = (*adapter)(nil)

// --- outgoing ---

// dedupe returns ss without repeats, in order, as a JavaScript Set keeps it.
func dedupe(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// eventValue turns an EncodedEvent into the packet's data array.
func eventValue(ev socketio.EncodedEvent) (value, error) {
	var buffers [][]byte
	if len(ev.Buffers) > 0 {
		buffers = ev.Buffers
	}
	return parseJSON(ev.Data, buffers)
}

func packetValue(nsp string, data value) value {
	return vObj(member{"type", vNum(2)}, member{"data", data}, member{"nsp", vStr(nsp)})
}

// Publish implements socketio.ClusterAdapter: [uid, packet, opts] in
// MessagePack on the namespace's channel, or on the room's channel when
// the broadcast names exactly one room.
func (a *adapter) Publish(ev socketio.EncodedEvent, opts socketio.BroadcastOptions) {
	channel, msg, err := broadcastMessage(a.c.cfg.Prefix, a.c.uid, a.nsp.Name(), ev, opts)
	if err != nil {
		a.c.errs.Add(1)
		a.c.log.Error("redisadapter: cannot forward event", "nsp", a.nsp.Name(), "err", err)
		return
	}
	a.c.enqueue(channel, msg)
}

// broadcastMessage returns the channel and the payload of a broadcast, as
// Node's adapter publishes them.
func broadcastMessage(prefix, uid, nsp string, ev socketio.EncodedEvent, opts socketio.BroadcastOptions) (string, []byte, error) {
	data, err := eventValue(ev)
	if err != nil {
		return "", nil, err
	}
	rooms := dedupe(opts.Rooms)
	var flags []member
	if opts.Volatile {
		flags = append(flags, member{"volatile", vBool(true)})
	}
	msg := vArr(vStr(uid), packetValue(nsp, data), vObj(
		member{"rooms", vStrs(rooms)},
		member{"except", vStrs(dedupe(opts.Except))},
		member{"flags", vObj(flags...)},
	))
	channel := prefix + "#" + nsp + "#"
	if len(rooms) == 1 {
		channel += rooms[0] + "#"
	}
	return channel, appendMsgpack(make([]byte, 0, 64+len(ev.Data)), msg), nil
}

// timeoutOf returns how long a request under ctx may wait.
func (a *adapter) timeoutOf(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return a.c.cfg.RequestTimeout
}

// PublishWithAck implements socketio.ClusterAdapter (a BROADCAST request).
func (a *adapter) PublishWithAck(ctx context.Context, ev socketio.EncodedEvent, opts socketio.BroadcastOptions, onCount func(int), onAck func(*socketio.Args)) (int, error) {
	data, err := eventValue(ev)
	if err != nil {
		return 0, err
	}
	n, err := a.c.serverCount(ctx, a.requestChannel)
	if err != nil {
		return 0, err
	}
	if n <= 1 {
		return 0, nil
	}
	id := newUID()
	a.mu.Lock()
	a.acks[id] = &ackRequest{onCount: onCount, onAck: onAck}
	a.mu.Unlock()
	forget := func() {
		a.mu.Lock()
		delete(a.acks, id)
		a.mu.Unlock()
	}
	timeout := a.timeoutOf(ctx)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	context.AfterFunc(ctx, func() { cancel(); forget() })
	msg := vObj(
		member{"uid", vStr(a.c.uid)},
		member{"requestId", vStr(id)},
		member{"type", vNum(reqBroadcast)},
		member{"packet", packetValue(a.nsp.Name(), data)},
		member{"opts", vObj(
			member{"rooms", vStrs(dedupe(opts.Rooms))},
			member{"except", vStrs(dedupe(opts.Except))},
			member{"flags", vObj(member{"timeout", vNum(float64(timeout.Milliseconds()))})},
		)},
	)
	if !a.c.enqueue(a.requestChannel, appendMsgpack(nil, msg)) {
		cancel()
		return 0, fmt.Errorf("%w: broadcast not published", ErrUnavailable)
	}
	return n - 1, nil
}

func (a *adapter) publishJSON(channel string, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		a.c.errs.Add(1)
		a.c.log.Error("redisadapter: encode", "err", err)
		return false
	}
	return a.c.enqueue(channel, b)
}

type selector struct {
	Rooms  []string `json:"rooms"`
	Except []string `json:"except"`
}

func selectorOf(opts socketio.BroadcastOptions) selector {
	return selector{Rooms: dedupe(opts.Rooms), Except: dedupe(opts.Except)}
}

// AddSockets implements socketio.ClusterAdapter (REMOTE_JOIN).
func (a *adapter) AddSockets(opts socketio.BroadcastOptions, rooms []string) {
	a.publishJSON(a.requestChannel, struct {
		UID   string   `json:"uid"`
		Type  int      `json:"type"`
		Opts  selector `json:"opts"`
		Rooms []string `json:"rooms"`
	}{a.c.uid, reqRemoteJoin, selectorOf(opts), rooms})
}

// DelSockets implements socketio.ClusterAdapter (REMOTE_LEAVE).
func (a *adapter) DelSockets(opts socketio.BroadcastOptions, rooms []string) {
	a.publishJSON(a.requestChannel, struct {
		UID   string   `json:"uid"`
		Type  int      `json:"type"`
		Opts  selector `json:"opts"`
		Rooms []string `json:"rooms"`
	}{a.c.uid, reqRemoteLeave, selectorOf(opts), rooms})
}

// DisconnectSockets implements socketio.ClusterAdapter (REMOTE_DISCONNECT).
func (a *adapter) DisconnectSockets(opts socketio.BroadcastOptions, close bool) {
	a.publishJSON(a.requestChannel, struct {
		UID   string   `json:"uid"`
		Type  int      `json:"type"`
		Opts  selector `json:"opts"`
		Close bool     `json:"close"`
	}{a.c.uid, reqRemoteDisconnect, selectorOf(opts), close})
}

// serverSideData encodes [event, args...] as Node's JSON.stringify would:
// binary values in their Buffer JSON form.
func serverSideData(event string, args []any) (json.RawMessage, error) {
	ev, err := socketio.EncodeArgs(append([]any{event}, args...)...)
	if err != nil {
		return nil, err
	}
	if len(ev.Buffers) == 0 {
		return ev.Data, nil
	}
	v, err := eventValue(ev)
	if err != nil {
		return nil, err
	}
	return appendJSON(nil, v, nil), nil
}

// ServerSideEmit implements socketio.Adapter (SERVER_SIDE_EMIT).
func (a *adapter) ServerSideEmit(event string, args []any) error {
	data, err := serverSideData(event, args)
	if err != nil {
		return err
	}
	if !a.publishJSON(a.requestChannel, struct {
		UID  string          `json:"uid"`
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}{a.c.uid, reqServerSideEmit, data}) {
		return fmt.Errorf("%w: server-side emit not published", ErrUnavailable)
	}
	return nil
}

// request publishes a request to the other nodes and waits for their
// answers. It returns the request with what came in, and ErrTimeout when
// some are missing.
func (a *adapter) request(ctx context.Context, typ int, what string, build func(id string) any) (*pending, error) {
	n, err := a.c.serverCount(ctx, a.requestChannel)
	if err != nil {
		return nil, err
	}
	p := &pending{typ: typ, want: n - 1, done: make(chan struct{})}
	if p.want <= 0 {
		return p, nil
	}
	id := newUID()
	a.mu.Lock()
	a.requests[id] = p
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.requests, id)
		a.mu.Unlock()
	}()
	if !a.publishJSON(a.requestChannel, build(id)) {
		return p, fmt.Errorf("%w: %s not published", ErrUnavailable, what)
	}
	t := time.NewTimer(a.timeoutOf(ctx))
	defer t.Stop()
	select {
	case <-p.done:
		a.mu.Lock()
		defer a.mu.Unlock()
		return p, nil
	case <-t.C:
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return p, fmt.Errorf("%w: %s: %d of %d other nodes answered", ErrTimeout, what, p.got, p.want)
}

// FetchSockets implements socketio.ClusterAdapter (REMOTE_FETCH).
func (a *adapter) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.RemoteSocket, error) {
	p, err := a.request(ctx, reqRemoteFetch, "fetchSockets", func(id string) any {
		return struct {
			UID       string   `json:"uid"`
			RequestID string   `json:"requestId"`
			Type      int      `json:"type"`
			Opts      selector `json:"opts"`
		}{a.c.uid, id, reqRemoteFetch, selectorOf(opts)}
	})
	if p == nil {
		return nil, err
	}
	return p.sockets, err
}

// AllRooms implements socketio.ClusterAdapter (ALL_ROOMS).
func (a *adapter) AllRooms(ctx context.Context) ([]string, error) {
	p, err := a.request(ctx, reqAllRooms, "allRooms", func(id string) any {
		return struct {
			UID       string `json:"uid"`
			RequestID string `json:"requestId"`
			Type      int    `json:"type"`
		}{a.c.uid, id, reqAllRooms}
	})
	if p == nil {
		return nil, err
	}
	return p.rooms, err
}

// ServerSideEmitWithAck implements socketio.ClusterAdapter.
func (a *adapter) ServerSideEmitWithAck(ctx context.Context, event string, args []any) ([]*socketio.Args, error) {
	data, err := serverSideData(event, args)
	if err != nil {
		return nil, err
	}
	p, err := a.request(ctx, reqServerSideEmit, "serverSideEmit", func(id string) any {
		return struct {
			UID       string          `json:"uid"`
			RequestID string          `json:"requestId"`
			Type      int             `json:"type"`
			Data      json.RawMessage `json:"data"`
		}{a.c.uid, id, reqServerSideEmit, data}
	})
	if p == nil {
		return nil, err
	}
	return p.answers, err
}

// ServerCount implements socketio.ClusterAdapter.
func (a *adapter) ServerCount(ctx context.Context) (int, error) {
	return a.c.serverCount(ctx, a.requestChannel)
}

// --- incoming ---

// decodeMessage parses a request or response: JSON when it starts with
// "{", MessagePack otherwise, as Node's adapter does.
func decodeMessage(b []byte) (value, error) {
	if len(b) > 0 && b[0] == '{' {
		return parseJSON(b, nil)
	}
	return parseMsgpack(b)
}

// eventOf turns a packet's data array into an EncodedEvent.
func eventOf(data value) (socketio.EncodedEvent, error) {
	if data.k != kArr || len(data.arr) == 0 {
		return socketio.EncodedEvent{}, fmt.Errorf("packet data is not an event: %w", ErrDecode)
	}
	var buffers [][]byte
	b := appendJSON(make([]byte, 0, 128), data, &buffers)
	return socketio.EncodedEvent{Data: b, Buffers: buffers}, nil
}

func optsOf(v value) socketio.BroadcastOptions {
	rooms, _ := v.get("rooms")
	except, _ := v.get("except")
	opts := socketio.BroadcastOptions{Rooms: rooms.strings(), Except: except.strings(), Local: true}
	if flags, ok := v.get("flags"); ok {
		if vol, ok := flags.get("volatile"); ok && vol.k == kBool && vol.b {
			opts.Volatile = true
		}
	}
	return opts
}

// onBroadcast handles [uid, packet, opts] from another node or an emitter.
func (a *adapter) onBroadcast(channel string, payload []byte) error {
	if !strings.HasPrefix(channel, a.channel) {
		return nil
	}
	if len(channel) > len(a.channel) {
		// <prefix>#<nsp>#<room>#: skip the decoding when no local socket
		// is in the room.
		if room := channel[len(a.channel) : len(channel)-1]; !a.hasRoom(room) {
			return nil
		}
	}
	msg, err := parseMsgpack(payload)
	if err != nil {
		return err
	}
	if msg.k != kArr || len(msg.arr) < 3 {
		return fmt.Errorf("broadcast is not [uid, packet, opts]: %w", ErrDecode)
	}
	if msg.arr[0].k == kStr && msg.arr[0].str == a.c.uid {
		return nil
	}
	packet := msg.arr[1]
	if nsp, ok := packet.get("nsp"); ok && nsp.k == kStr && nsp.str != a.nsp.Name() || !ok && a.nsp.Name() != "/" {
		return nil
	}
	data, _ := packet.get("data")
	ev, err := eventOf(data)
	if err != nil {
		return err
	}
	return a.nsp.DeliverEvent(ev, optsOf(msg.arr[2]))
}

// respond publishes an answer to a request.
func (a *adapter) respond(req value, v any) {
	ch := a.responseChannel
	if a.c.cfg.SpecificResponseChannel {
		if uid := req.getStr("uid"); uid != "" {
			ch = a.responseChannel + uid + "#"
		}
	}
	a.publishJSON(ch, v)
}

func (a *adapter) respondMsgpack(req value, v value) {
	ch := a.responseChannel
	if a.c.cfg.SpecificResponseChannel {
		if uid := req.getStr("uid"); uid != "" {
			ch = a.responseChannel + uid + "#"
		}
	}
	a.c.enqueue(ch, appendMsgpack(nil, v))
}

// localSockets returns the local sockets a request's opts select.
func (a *adapter) localSockets(req value) []*socketio.Socket {
	o, _ := req.get("opts")
	opts := optsOf(o)
	return a.Select(nil, opts.Rooms, opts.Except)
}

// socketByID returns the local socket id, or nil.
func (a *adapter) socketByID(id string) *socketio.Socket {
	for _, s := range a.Select(nil, []string{id}, nil) {
		if s.ID() == id {
			return s
		}
	}
	return nil
}

type remoteSocketJSON struct {
	ID        string          `json:"id"`
	Handshake json.RawMessage `json:"handshake"`
	Rooms     []string        `json:"rooms"`
	Data      json.RawMessage `json:"data"`
}

// onRequest handles a request from another node (or an emitter).
func (a *adapter) onRequest(payload []byte) error {
	req, err := decodeMessage(payload)
	if err != nil {
		return err
	}
	uid := req.getStr("uid")
	if uid == a.c.uid {
		return nil // this node's own request
	}
	id := req.getStr("requestId")
	typ := req.getNum("type")
	_, hasOpts := req.get("opts")
	switch typ {
	case reqSockets:
		var ids []string
		rooms, _ := req.get("rooms")
		for _, s := range a.Select(nil, rooms.strings(), nil) {
			ids = append(ids, s.ID())
		}
		a.respond(req, struct {
			RequestID string   `json:"requestId"`
			Sockets   []string `json:"sockets"`
		}{id, nonNil(ids)})
	case reqAllRooms:
		set := make(map[string]struct{})
		var rooms []string
		for _, s := range a.Select(nil, nil, nil) {
			for _, r := range a.RoomsOf(s.ID()) {
				if _, dup := set[r]; !dup {
					set[r] = struct{}{}
					rooms = append(rooms, r)
				}
			}
		}
		a.respond(req, struct {
			RequestID string   `json:"requestId"`
			Rooms     []string `json:"rooms"`
		}{id, nonNil(rooms)})
	case reqRemoteJoin, reqRemoteLeave:
		rooms, _ := req.get("rooms")
		names := rooms.strings()
		var targets []*socketio.Socket
		if hasOpts {
			targets = a.localSockets(req)
		} else if s := a.socketByID(req.getStr("sid")); s != nil {
			targets = []*socketio.Socket{s}
			names = []string{req.getStr("room")}
		} else {
			return nil
		}
		for _, s := range targets {
			if typ == reqRemoteJoin {
				s.Join(names...)
			} else {
				for _, r := range names {
					s.Leave(r)
				}
			}
		}
		if !hasOpts {
			a.respond(req, struct {
				RequestID string `json:"requestId"`
			}{id})
		}
	case reqRemoteDisconnect:
		cl, _ := req.get("close")
		close := cl.k == kBool && cl.b
		var targets []*socketio.Socket
		if hasOpts {
			targets = a.localSockets(req)
		} else if s := a.socketByID(req.getStr("sid")); s != nil {
			targets = []*socketio.Socket{s}
		} else {
			return nil
		}
		for _, s := range targets {
			s.Disconnect(close)
		}
		if !hasOpts {
			a.respond(req, struct {
				RequestID string `json:"requestId"`
			}{id})
		}
	case reqRemoteFetch:
		out := []remoteSocketJSON{}
		for _, s := range a.localSockets(req) {
			out = append(out, remoteSocketJSON{ID: s.ID(), Handshake: socketio.HandshakeJSON(s), Rooms: s.Rooms(), Data: socketio.DataJSON(s)})
		}
		a.respond(req, struct {
			RequestID string             `json:"requestId"`
			Sockets   []remoteSocketJSON `json:"sockets"`
		}{id, out})
	case reqServerSideEmit:
		return a.onServerSideEmit(req, id)
	case reqBroadcast:
		return a.onBroadcastWithAck(req, id)
	}
	return nil
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// onServerSideEmit runs the namespace's handler on a goroutine of the
// cluster, so that a handler may itself wait for Redis.
func (a *adapter) onServerSideEmit(req value, id string) error {
	data, _ := req.get("data")
	if data.k != kArr || len(data.arr) == 0 || data.arr[0].k != kStr {
		return fmt.Errorf("server-side emit without an event name: %w", ErrDecode)
	}
	event := data.arr[0].str
	var buffers [][]byte
	raw := appendJSON(nil, vArr(data.arr[1:]...), &buffers)
	args, err := socketio.NewArgs(raw, buffers)
	if err != nil {
		return err
	}
	var ack socketio.AckFunc
	if id != "" {
		var once sync.Once
		ack = func(vals ...any) error {
			var answer json.RawMessage = []byte("null")
			if len(vals) > 0 {
				d, err := serverSideData("", vals[:1])
				if err != nil {
					return err
				}
				elems, err := socketio.SplitArray(d)
				if err != nil || len(elems) < 2 {
					return fmt.Errorf("redisadapter: server-side ack: %w", ErrDecode)
				}
				answer = elems[1]
			}
			once.Do(func() {
				// Node answers on the shared response channel whatever its
				// options say.
				a.publishJSON(a.responseChannel, struct {
					Type      int             `json:"type"`
					RequestID string          `json:"requestId"`
					Data      json.RawMessage `json:"data"`
				}{reqServerSideEmit, id, answer})
			})
			return nil
		}
	}
	if !a.c.goHandler(func() { a.nsp.DispatchServerSideEmit(event, args, ack) }) {
		return fmt.Errorf("redisadapter: too many server-side emit handlers running; %q dropped", event)
	}
	return nil
}

// onBroadcastWithAck delivers another node's broadcast with acks to the
// local sockets, answers with their number, then with each ack.
func (a *adapter) onBroadcastWithAck(req value, id string) error {
	a.mu.Lock()
	_, mine := a.acks[id]
	a.mu.Unlock()
	if mine {
		return nil
	}
	packet, _ := req.get("packet")
	data, _ := packet.get("data")
	ev, err := eventOf(data)
	if err != nil {
		return err
	}
	o, _ := req.get("opts")
	opts := optsOf(o)
	timeout := a.c.cfg.RequestTimeout
	if flags, ok := o.get("flags"); ok {
		if ms := flags.getNum("timeout"); ms > 0 && ms < math.MaxInt32 {
			timeout = time.Duration(ms) * time.Millisecond
		}
	}
	n, release, err := a.nsp.DeliverEventWithAck(ev, opts, func(args *socketio.Args) {
		m := []member{{"type", vNum(reqBroadcastAck)}, {"requestId", vStr(id)}}
		if args.Len() > 0 {
			v, err := argValue(args, 0)
			if err != nil {
				a.c.errs.Add(1)
				return
			}
			m = append(m, member{"packet", v})
		}
		a.respondMsgpack(req, vObj(m...))
	})
	if err != nil {
		return err
	}
	time.AfterFunc(timeout, release)
	a.respond(req, struct {
		Type        int    `json:"type"`
		RequestID   string `json:"requestId"`
		ClientCount int    `json:"clientCount"`
	}{reqBroadcastClientCount, id, n})
	return nil
}

// argValue returns argument i of args as a value, attachments as binary.
func argValue(args *socketio.Args, i int) (value, error) {
	var buffers [][]byte
	if args.Binary() {
		v, err := args.Value(i)
		if err != nil {
			return value{}, err
		}
		ev, err := socketio.EncodeArgs(v)
		if err != nil {
			return value{}, err
		}
		arr, err := eventValue(ev)
		if err != nil || len(arr.arr) != 1 {
			return value{}, fmt.Errorf("ack argument: %w", ErrDecode)
		}
		return arr.arr[0], nil
	}
	return parseJSON(args.Raw(i), buffers)
}

// argsOf turns an answer into Args; a missing answer is no argument.
func argsOf(v value, present bool) (*socketio.Args, error) {
	var buffers [][]byte
	data := []byte("[]")
	if present {
		data = appendJSON([]byte{'['}, v, &buffers)
		data = append(data, ']')
	}
	return socketio.NewArgs(data, buffers)
}

// onResponse handles an answer to one of this node's requests.
func (a *adapter) onResponse(payload []byte) error {
	res, err := decodeMessage(payload)
	if err != nil {
		return err
	}
	id := res.getStr("requestId")
	a.mu.Lock()
	ar := a.acks[id]
	p := a.requests[id]
	a.mu.Unlock()
	if ar != nil {
		switch res.getNum("type") {
		case reqBroadcastClientCount:
			ar.onCount(int(max(res.getNum("clientCount"), 0)))
		case reqBroadcastAck:
			v, ok := res.get("packet")
			args, err := argsOf(v, ok)
			if err != nil {
				return err
			}
			ar.onAck(args)
		}
		return nil
	}
	if p == nil {
		return nil // someone else's, or too late
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-p.done:
		return nil
	default:
	}
	switch p.typ {
	case reqRemoteFetch:
		socks, ok := res.get("sockets")
		if !ok || socks.k != kArr {
			return nil
		}
		for _, s := range socks.arr {
			hs, _ := s.get("handshake")
			rooms, _ := s.get("rooms")
			data, ok := s.get("data")
			if !ok {
				data = vObj()
			}
			p.sockets = append(p.sockets, a.nsp.NewRemoteSocket(s.getStr("id"), appendJSON(nil, hs, nil), rooms.strings(), appendJSON(nil, data, nil)))
		}
	case reqAllRooms:
		rooms, ok := res.get("rooms")
		if !ok || rooms.k != kArr {
			return nil
		}
		p.rooms = append(p.rooms, rooms.strings()...)
	case reqServerSideEmit:
		v, ok := res.get("data")
		args, err := argsOf(v, ok)
		if err != nil {
			return err
		}
		p.answers = append(p.answers, args)
	default:
		return nil
	}
	p.got++
	if p.got >= p.want {
		close(p.done)
	}
	return nil
}
