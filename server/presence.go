package server

import (
	"context"
	"slices"
	"strings"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/chat"
	"github.com/parley-rt/parley/namespaces/presence"
	"github.com/parley-rt/parley/store"
)

// presenceStore adapts store.Presence to presence.Store.
type presenceStore struct{ db store.Presence }

func (p presenceStore) SetLastSeen(ctx context.Context, userID, name string, ms int64) error {
	return p.db.SetLastSeen(ctx, userID, name, ms)
}

func (p presenceStore) LastSeen(ctx context.Context, userIDs []string) (map[string]presence.StoredSeen, error) {
	recs, err := p.db.LastSeen(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]presence.StoredSeen, len(recs))
	for id, r := range recs {
		out[id] = presence.StoredSeen{Name: r.Name, At: r.At}
	}
	return out, nil
}

// newPresence builds the presence tracker over the store and the /chat
// adapter.
func (s *Server) newPresence(db store.Presence) error {
	chatNS := s.chat.AsNamespace()
	t, err := presence.NewTracker(presence.TrackerConfig{
		Store:  presenceStore{db},
		Grace:  s.cfg.PresenceGrace,
		Logger: s.cfg.Logger,
		RoomsOf: func(c namespaces.Conn) []string {
			if c.Namespace() != chatNS.Name() {
				return nil
			}
			var out []string
			for _, key := range c.Rooms() {
				if name, ok := strings.CutPrefix(key, chat.RoomKey("")); ok {
					out = append(out, name)
				}
			}
			return out
		},
		RoomMembers: func(room string) []string {
			var ids []string
			for _, c := range chatNS.Sockets(chat.RoomKey(room)) {
				if u, ok := chat.User(c); ok && !slices.Contains(ids, u.ID) {
					ids = append(ids, u.ID)
				}
			}
			return ids
		},
	})
	if err != nil {
		return err
	}
	s.tracker = t
	s.closer = append(s.closer, t.Close)
	return nil
}

// mountPresence counts /chat sockets as presence connections, registers
// /presence, and watches the tokens of both namespaces' sockets. It runs
// after chat.Register, so chat has identified a socket before the tracker
// sees it.
func (s *Server) mountPresence(lim *limiter, chatNS namespaces.Namespace) error {
	chatNS.OnConnection(func(c namespaces.Conn) {
		u, ok := chat.User(c)
		if !ok {
			return // chat disconnected it
		}
		s.tracker.Connect(c, u)
		s.capConnections(c, u)
		s.watchToken(c, events.ChatRefreshToken)
	})
	sio := s.io.Of(string(events.Presence))
	sio.Use(s.authMiddleware) // before presence's own middleware
	ns := lim.namespace(sio.AsNamespace())
	err := presence.Register(ns, presence.Deps{
		Tracker:      s.tracker,
		Authenticate: s.identify,
		Authorize:    s.authorizeRoom,
		Logger:       s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	ns.OnConnection(func(c namespaces.Conn) {
		if u, ok := presence.User(c); ok {
			s.capConnections(c, u) // presence has counted the connection
			s.watchToken(c, events.PresenceRefreshToken)
		}
	})
	return nil
}

// capConnections disconnects c when, counted, its user has more than
// MaxConnectionsPerUser: identify refuses most extra connections at
// connect, this catches the ones that raced.
func (s *Server) capConnections(c namespaces.Conn, u events.UserRef) {
	if s.tracker.Connections(u.ID) > s.cfg.MaxConnectionsPerUser {
		s.cfg.Logger.Info("too many connections; disconnecting", "user", u.ID, "nsp", c.Namespace(), "socket", c.ID())
		c.Disconnect()
	}
}

// chatObserver relays what /chat broadcasts to the presence tracker (a user
// joining a room becomes watched by the room's watchers) and to the SSE
// room feeds.
func (s *Server) chatObserver() chat.Observer {
	return chat.Observer{
		Message: s.feeds.message,
		Joined: func(ru events.RoomUser) {
			s.tracker.Joined(ru.Room, ru.User.ID)
			s.feeds.event(ru.Room, events.UserJoined.Name(), "", ru)
		},
		Left: func(ru events.RoomUser) {
			s.feeds.event(ru.Room, events.UserLeft.Name(), "", ru)
		},
	}
}
