package graphql

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/socketio"
)

// transportName is what Socket.Transport reports for a GraphQL
// connection's sockets.
const transportName = "graphql-ws"

// errLinkClosed is returned by a call on a closed link.
var errLinkClosed = errors.New("graphql: connection closed")

// link is one graphql-transport-ws connection's Socket.IO client: a
// socketio.Session with no network under it. It connects to every
// namespace of Config.Namespaces with the connection_init payload as its
// auth, joins and leaves chat rooms for the room subscriptions and carries
// setStatus; what the namespaces send it is routed to the subscriptions.
type link struct {
	h      *Handler
	id     string
	hs     engineio.Handshake
	client engineio.Handler
	cancel context.CancelFunc // closes the graphql-ws connection

	done chan struct{} // closed by closeWith
	once sync.Once

	// inMu serializes the packets fed to the client, as one reader would.
	inMu sync.Mutex
	// roomMu serializes joins and leaves with the refcounts in rooms.
	roomMu sync.Mutex
	rooms  map[string]int // chat room -> subscriptions that joined it

	mu        sync.Mutex
	connected int                // namespaces whose socket is connected
	ready     chan struct{}      // closed when every namespace is in, or one refused
	refusal   *events.Error      // why a namespace refused the connection
	identity  auth.Identity      // from the first namespace's connection
	nextID    int64              // ack ids
	acks      map[int64]chan ack // waiting calls, by ack id
	nextSub   int64
	subs      map[int64]*listener
	active    int // subscriptions, within Config.MaxSubscriptions
	// subs' goroutines: spawn adds one only while !sealed, so that
	// finish's Wait never races an Add.
	subWG     sync.WaitGroup
	sealed    bool
	closeWhy  string
	closedFin bool
}

// ack is the data of an ACK packet.
type ack struct{ data json.RawMessage }

// listener is one subscription's interest in a server event of one room.
type listener struct {
	event string
	room  string
	// deliver takes the event's payload; it must not block. It returns
	// false when the subscription's queue is full.
	deliver func(data json.RawMessage) bool
}

func newLink(h *Handler, r *http.Request, cancel context.CancelFunc) *link {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return &link{
		h:  h,
		id: "gql-" + base64.RawURLEncoding.EncodeToString(b[:]),
		hs: engineio.Handshake{
			Header: r.Header.Clone(), RawQuery: r.URL.RawQuery, RemoteAddr: r.RemoteAddr,
			Secure: r.TLS != nil, Time: time.Now(),
		},
		cancel: cancel,
		done:   make(chan struct{}),
		rooms:  map[string]int{},
		ready:  make(chan struct{}),
		acks:   map[int64]chan ack{},
		subs:   map[int64]*listener{},
	}
}

// connect attaches the client and connects it to every namespace with
// auth, and waits until all are in. A refusal is the namespace's
// CONNECT_ERROR as an *events.Error.
func (l *link) connect(ctx context.Context, authData []byte) error {
	client, err := l.h.cfg.IO.Attach(l)
	if err != nil {
		return events.NewError(events.CodeUnavailable, "server shutting down")
	}
	l.client = client
	for _, ns := range l.h.cfg.Namespaces {
		pkt := make([]byte, 0, len(ns)+len(authData)+2)
		pkt = append(pkt, '0')
		pkt = append(pkt, ns...)
		pkt = append(pkt, ',')
		pkt = append(pkt, authData...)
		l.feed(pkt)
	}
	select {
	case <-l.ready:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return events.NewError(events.CodeUnavailable, "the connection closed while it was being set up")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refusal != nil {
		return l.refusal
	}
	return nil
}

// feed hands one Socket.IO packet to the client.
func (l *link) feed(pkt []byte) {
	l.inMu.Lock()
	defer l.inMu.Unlock()
	select {
	case <-l.done:
		return // OnClose ran or is about to: the client takes nothing more
	default:
	}
	l.client.OnMessage(pkt, false)
}

// joined records that the socket of a namespace is connected, as id.
func (l *link) joined(id auth.Identity) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.connected == 0 {
		l.identity = id
	}
	l.connected++
	if l.connected == len(l.h.cfg.Namespaces) && l.refusal == nil {
		close(l.ready)
	}
}

// call sends a client event with an ack id on namespace ns and waits for
// the ack: its data, or the *events.Error of an ok:false result.
func (l *link) call(ctx context.Context, ns events.Namespace, event string, payload any) (json.RawMessage, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("graphql: encode %s: %w", event, err)
	}
	ch := make(chan ack, 1)
	l.mu.Lock()
	l.nextID++
	id := l.nextID
	l.acks[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.acks, id)
		l.mu.Unlock()
	}()
	l.feed(socketio.EventPacket(string(ns), id, event, data))
	select {
	case a := <-ch:
		var res struct {
			OK    bool            `json:"ok"`
			Data  json.RawMessage `json:"data"`
			Error *events.Error   `json:"error"`
		}
		if err := json.Unmarshal(a.data, &res); err != nil {
			return nil, fmt.Errorf("graphql: %s ack: %w", event, err)
		}
		if !res.OK {
			if res.Error == nil {
				return nil, fmt.Errorf("graphql: %s failed without an error", event)
			}
			return nil, res.Error
		}
		return res.Data, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, errLinkClosed
	}
}

// acquire counts one more subscription, or fails with forbidden when the
// connection has Config.MaxSubscriptions; release uncounts it.
func (l *link) acquire() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active >= l.h.cfg.MaxSubscriptions {
		return events.Errorf(events.CodeForbidden, "a connection may have at most %d subscriptions", l.h.cfg.MaxSubscriptions)
	}
	l.active++
	return nil
}

func (l *link) release() {
	l.mu.Lock()
	l.active--
	l.mu.Unlock()
}

// spawn runs f on a goroutine owned by the link (a subscription's end),
// unless the link has finished; it reports whether it did.
func (l *link) spawn(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sealed {
		return false
	}
	l.subWG.Add(1)
	go func() {
		defer l.subWG.Done()
		f()
	}()
	return true
}

// finish closes the link and waits for its subscriptions' goroutines
// (their contexts end with the connection's).
func (l *link) finish(reason string) {
	l.closeWith(reason)
	l.mu.Lock()
	l.sealed = true
	l.mu.Unlock()
	l.subWG.Wait()
}

// listen registers a listener and returns the function that removes it.
func (l *link) listen(ls *listener) (remove func()) {
	l.mu.Lock()
	l.nextSub++
	id := l.nextSub
	l.subs[id] = ls
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.subs, id)
		l.mu.Unlock()
	}
}

// join joins the chat room for one more subscription (joinRoom the first
// time): the room policy and the limits of /chat apply.
func (l *link) join(ctx context.Context, room string) error {
	l.roomMu.Lock()
	defer l.roomMu.Unlock()
	if l.rooms[room] == 0 {
		if _, err := l.call(ctx, events.Chat, events.JoinRoom.Name(), events.JoinRoomRequest{Room: room}); err != nil {
			return err
		}
	}
	l.rooms[room]++
	return nil
}

// leave drops one subscription of the room, leaving it (leaveRoom) with
// the last one.
func (l *link) leave(room string) {
	l.roomMu.Lock()
	defer l.roomMu.Unlock()
	l.rooms[room]--
	if l.rooms[room] > 0 {
		return
	}
	delete(l.rooms, room)
	ctx, cancel := context.WithTimeout(context.Background(), events.DefaultTimeout)
	defer cancel()
	if _, err := l.call(ctx, events.Chat, events.LeaveRoom.Name(), events.LeaveRoomRequest{Room: room}); err != nil && !errors.Is(err, errLinkClosed) {
		l.h.cfg.Logger.Warn("graphql: leave room", "conn", l.id, "room", room, "err", err)
	}
}

// closeWith closes the link once: the Socket.IO client ends (leaving its
// rooms, ending its presence) and the graphql-ws connection closes.
func (l *link) closeWith(reason string) {
	l.once.Do(func() {
		l.mu.Lock()
		l.closeWhy = reason
		l.mu.Unlock()
		close(l.done)
		l.cancel()
		if l.client != nil {
			// After done: feed takes nothing more, and inMu waits for a
			// packet being fed.
			l.inMu.Lock()
			l.client.OnClose(reason)
			l.inMu.Unlock()
		}
	})
}

// The socketio.Session methods.

func (l *link) ID() string                    { return l.id }
func (l *link) Handshake() engineio.Handshake { return l.hs }
func (l *link) Transport() string             { return transportName }
func (l *link) Writable() bool                { return true }
func (l *link) Done() <-chan struct{}         { return l.done }

// Close is the server closing the connection (a kick, the connect
// timeout, shutdown). OnClose must not run in the caller's stack, which
// may hold the client's locks.
func (l *link) Close(reason string) { go l.closeWith(reason) }

func (l *link) Send(f *engineio.Frame) error {
	select {
	case <-l.done:
		return errLinkClosed
	default:
	}
	if f.Binary() {
		return nil // the contract has no binary payloads
	}
	p, err := socketio.Decode(f.Data())
	if err != nil {
		return fmt.Errorf("graphql: the server sent an undecodable packet: %w", err)
	}
	switch p.Type {
	case socketio.PacketEvent:
		args, err := socketio.SplitArray(p.Data)
		if err != nil || len(args) == 0 {
			return fmt.Errorf("graphql: event without a name: %w", err)
		}
		var name string
		if err := json.Unmarshal(args[0], &name); err != nil {
			return fmt.Errorf("graphql: event name: %w", err)
		}
		var data json.RawMessage
		if len(args) > 1 {
			data = args[1]
		}
		l.dispatch(name, data)
	case socketio.PacketAck:
		args, err := socketio.SplitArray(p.Data)
		if err != nil || len(args) == 0 {
			return fmt.Errorf("graphql: ack: %w", err)
		}
		l.mu.Lock()
		ch := l.acks[p.ID]
		l.mu.Unlock()
		if ch != nil {
			select {
			case ch <- ack{args[0]}: // buffered for the one ack of the id
			default: // a second ack for one id: the first stands
			}
		}
	case socketio.PacketConnectError:
		l.refused(p.Data)
	case socketio.PacketDisconnect:
		// The server disconnected a namespace (a kick, an expired token):
		// the connection is all its namespaces or nothing.
		go l.closeWith(socketio.ReasonServerNamespaceDisconnect)
	}
	return nil
}

func (l *link) SendBatch(fs []*engineio.Frame) error {
	for _, f := range fs {
		if err := l.Send(f); err != nil {
			return err
		}
	}
	return nil
}

// dispatch hands an event to the listeners of its name and room; a
// listener whose queue is full closes the connection as a slow consumer.
func (l *link) dispatch(name string, data json.RawMessage) {
	var r struct {
		Room string `json:"room"`
	}
	if json.Unmarshal(data, &r) != nil {
		return
	}
	slow := false
	l.mu.Lock()
	for _, ls := range l.subs {
		if ls.event == name && ls.room == r.Room && !ls.deliver(data) {
			slow = true
		}
	}
	l.mu.Unlock()
	if slow {
		l.h.cfg.Logger.Debug("graphql: slow consumer closed", "conn", l.id)
		go l.closeWith(engineio.ReasonTransportError)
	}
}

// refused records a namespace's CONNECT_ERROR as the connection's refusal.
func (l *link) refused(data []byte) {
	refusal := socketio.Refusal(data)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refusal != nil {
		return
	}
	l.refusal = refusal
	select {
	case <-l.ready:
	default:
		close(l.ready)
	}
}
