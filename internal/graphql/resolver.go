package graphql

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/graphql/schema"
)

// resolver implements the generated ResolverRoot.
type resolver struct{ h *Handler }

func (r *resolver) Query() schema.QueryResolver               { return (*queryResolver)(r) }
func (r *resolver) Mutation() schema.MutationResolver         { return (*mutationResolver)(r) }
func (r *resolver) Subscription() schema.SubscriptionResolver { return (*subscriptionResolver)(r) }

type (
	queryResolver        resolver
	mutationResolver     resolver
	subscriptionResolver resolver
)

// caller is the identity of the request or connection; ServeHTTP and
// init always set one, so its absence is a bug, answered as internal.
func caller(ctx context.Context) (auth.Identity, error) {
	id, ok := identityOf(ctx)
	if !ok {
		return auth.Identity{}, events.NewError(events.CodeInternal, "internal error")
	}
	return id, nil
}

// readRoom checks that room is a valid name that id may join.
func (r *resolver) readRoom(id auth.Identity, room string) error {
	if err := core.CheckRoom(room); err != nil {
		return err
	}
	return r.h.cfg.Chat.Authorize(id, room)
}

func (r *queryResolver) Messages(ctx context.Context, room string, before, after *string, limit *int) (*schema.FetchHistoryResult, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	req := events.FetchHistoryRequest{Room: room, Before: before, After: after, Limit: limit}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := (*resolver)(r).readRoom(id, room); err != nil {
		return nil, err
	}
	msgs, more, err := r.h.cfg.Chat.Page(ctx, room, deref(before), deref(after), req.PageLimit())
	if err != nil {
		return nil, err
	}
	out := &schema.FetchHistoryResult{Messages: make([]*schema.ChatMessage, len(msgs)), HasMore: more}
	for i, m := range msgs {
		out.Messages[i] = chatMessage(m)
	}
	return out, nil
}

func (r *queryResolver) Presence(ctx context.Context, userIDs, rooms []string) ([]*schema.PresenceState, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	req := events.WatchRequest{UserIDs: userIDs, Rooms: rooms}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	// A watch that lives for one snapshot: the same checks (room policy,
	// watch limits) and the same consistent snapshot as subscribe.
	w, err := r.h.cfg.Presence.Watch("", func(events.PresenceState) {})
	if err != nil {
		return nil, events.WrapError(events.CodeUnavailable, "presence is unavailable", err)
	}
	defer w.Close()
	snap, err := w.Subscribe(ctx, id, req)
	if err != nil {
		return nil, err
	}
	out := make([]*schema.PresenceState, len(snap.Users))
	for i, st := range snap.Users {
		out[i] = presenceState(st)
	}
	return out, nil
}

func (r *mutationResolver) SendMessage(ctx context.Context, room, content string, clientMsgID *string) (*schema.ChatMessage, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if id.Anonymous {
		return nil, events.NewError(events.CodeUnauthorized, "sendMessage needs a token (in dev mode: GET /api/dev/token)")
	}
	if err := (*resolver)(r).readRoom(id, room); err != nil {
		return nil, err
	}
	msg, _, err := r.h.cfg.Chat.Publish(ctx, id.User, events.ChatMessageRequest{Room: room, Content: content, ClientMsgID: clientMsgID})
	if err != nil {
		return nil, err
	}
	return chatMessage(msg), nil
}

func (r *mutationResolver) SetStatus(ctx context.Context, status schema.UserStatus) (*schema.PresenceState, error) {
	l := linkOf(ctx)
	if l == nil {
		// Over HTTP there is no connection of this request's own: the
		// status is that of the user's connections elsewhere (a socket.io
		// tab, another WebSocket), as a setStatus on any of them would set.
		return (*resolver)(r).setStatusHTTP(ctx, events.UserStatus(status))
	}
	data, err := l.call(ctx, events.Presence, events.SetStatus.Name(), events.SetStatusRequest{Status: events.UserStatus(status)})
	if err != nil {
		return nil, err
	}
	var st events.PresenceState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	return presenceState(st), nil
}

func (r *subscriptionResolver) NewChatMessage(ctx context.Context, room string) (<-chan *schema.ChatMessage, error) {
	return roomSubscription(ctx, r.h, room, events.NewChatMessage.Name(), func(m events.ChatMessage) *schema.ChatMessage { return chatMessage(m) })
}

func (r *subscriptionResolver) UserJoined(ctx context.Context, room string) (<-chan *schema.RoomUser, error) {
	return roomSubscription(ctx, r.h, room, events.UserJoined.Name(), roomUser)
}

func (r *subscriptionResolver) UserLeft(ctx context.Context, room string) (<-chan *schema.RoomUser, error) {
	return roomSubscription(ctx, r.h, room, events.UserLeft.Name(), roomUser)
}

// roomSubscription delivers the server event of one room to a
// subscription: the connection's /chat socket joins the room (joinRoom:
// the room policy and limits apply, and a user joining is announced), and
// leaves it when its last subscription of the room ends.
func roomSubscription[P any, M any](ctx context.Context, h *Handler, room, event string, convert func(P) *M) (<-chan *M, error) {
	l := linkOf(ctx)
	if l == nil {
		return nil, events.NewError(events.CodeBadRequest, "subscriptions need the WebSocket transport")
	}
	if err := core.CheckRoom(room); err != nil {
		return nil, err
	}
	if err := l.acquire(); err != nil {
		return nil, err
	}
	ch := make(chan *M, h.cfg.MaxQueue)
	var mu sync.Mutex // guards closed against deliver
	closed := false
	remove := l.listen(&listener{event: event, room: room, deliver: func(data json.RawMessage) bool {
		var p P
		if json.Unmarshal(data, &p) != nil {
			return true // not the contract's payload: skipped
		}
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return true
		}
		select {
		case ch <- convert(p):
			return true
		default:
			return false
		}
	}})
	if err := l.join(ctx, room); err != nil {
		remove()
		l.release()
		return nil, err
	}
	end := func() {
		remove()
		mu.Lock()
		closed = true
		close(ch)
		mu.Unlock()
		l.release()
	}
	if !l.spawn(func() {
		<-ctx.Done()
		end()
		select {
		case <-l.done: // the client left every room as it closed
		default:
			l.leave(room)
		}
	}) {
		end()
		return nil, errLinkClosed
	}
	return ch, nil
}

func (r *subscriptionResolver) Status(ctx context.Context, userIDs, rooms []string) (<-chan *schema.PresenceState, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	l := linkOf(ctx)
	if l == nil {
		return nil, events.NewError(events.CodeBadRequest, "subscriptions need the WebSocket transport")
	}
	req := events.WatchRequest{UserIDs: userIDs, Rooms: rooms}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := l.acquire(); err != nil {
		return nil, err
	}
	acquired := true
	defer func() {
		if acquired {
			l.release()
		}
	}()
	// Deliveries that come before the snapshot is queued wait in pending:
	// each one is newer than the snapshot, so it must follow it.
	var (
		mu      sync.Mutex
		ch      chan *schema.PresenceState
		pending []events.PresenceState
		closed  bool
		slow    bool
	)
	h := r.h
	w, err := h.cfg.Presence.Watch("", func(st events.PresenceState) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case closed || slow:
		case ch == nil:
			pending = append(pending, st)
		default:
			select {
			case ch <- presenceState(st):
			default:
				slow = true
				go l.closeWith(engineio.ReasonTransportError) // a slow consumer
			}
		}
	})
	if err != nil {
		return nil, events.WrapError(events.CodeUnavailable, "presence is unavailable", err)
	}
	snap, err := w.Subscribe(ctx, id, req)
	if err != nil {
		w.Close()
		return nil, err
	}
	mu.Lock()
	ch = make(chan *schema.PresenceState, len(snap.Users)+len(pending)+h.cfg.MaxQueue)
	for _, st := range snap.Users {
		ch <- presenceState(st)
	}
	for _, st := range pending {
		ch <- presenceState(st)
	}
	pending = nil
	mu.Unlock()
	acquired = false // end releases it
	end := func() {
		w.Close()
		mu.Lock()
		closed = true
		close(ch)
		mu.Unlock()
		l.release()
	}
	if !l.spawn(func() { <-ctx.Done(); end() }) {
		end()
		return nil, errLinkClosed
	}
	return ch, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func chatMessage(m events.ChatMessage) *schema.ChatMessage {
	out := &schema.ChatMessage{
		ID: m.ID, Room: m.Room, Content: m.Content, Timestamp: m.Timestamp,
		Sender: &schema.UserRef{ID: m.Sender.ID, Name: m.Sender.Name},
	}
	if m.ClientMsgID != "" {
		id := m.ClientMsgID
		out.ClientMsgID = &id
	}
	return out
}

func roomUser(u events.RoomUser) *schema.RoomUser {
	return &schema.RoomUser{Room: u.Room, User: &schema.UserRef{ID: u.User.ID, Name: u.User.Name}}
}

func presenceState(st events.PresenceState) *schema.PresenceState {
	return &schema.PresenceState{
		UserID: st.UserID, Name: st.Name, IsOnline: st.IsOnline, Status: schema.PresenceStatus(st.Status),
		LastSeen: st.LastSeen, Connections: st.Connections,
	}
}

// setStatusHTTP sets the caller's status when the user has a connection
// (the status belongs to connected users: an offline user is "offline");
// not_found when it has none.
func (r *resolver) setStatusHTTP(ctx context.Context, status events.UserStatus) (*schema.PresenceState, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if id.Anonymous {
		return nil, events.NewError(events.CodeUnauthorized, "setStatus needs a token (in dev mode: GET /api/dev/token)")
	}
	req := events.SetStatusRequest{Status: status}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	st, err := r.h.cfg.Presence.SetStatus(id.User.ID, status)
	if err != nil {
		return nil, events.NewError(events.CodeNotFound,
			"setStatus sets the status of a connected user, and this user has no connection: connect first (a socket, or this endpoint's WebSocket)")
	}
	return presenceState(st), nil
}
