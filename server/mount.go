package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces/chat"
	"github.com/parley-rt/parley/store"
)

// mount opens the store and registers the namespaces.
func (s *Server) mount(dataDir string) error {
	// First: a production server without a key must not even open a store.
	auth, err := newAuthenticator(&s.cfg)
	if err != nil {
		return err
	}
	s.auth = auth
	if auth.dev {
		warnDevMode(s.cfg.Logger)
	}
	db, err := store.OpenSQLite(store.SQLiteConfig{Path: filepath.Join(dataDir, "parley.db"), Logger: s.cfg.Logger, SyncFull: s.cfg.SQLiteSyncFull})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	s.closer = append(s.closer, func(context.Context) error { return db.Close() })
	s.hist = history{db}
	s.chat = s.io.Of("/chat")
	s.chat.Use(s.authMiddleware) // before chat's own middleware
	if err := s.newPresence(db); err != nil {
		return err
	}
	s.feeds = newRoomFeeds(s.hist, s.cfg.SSEBuffer, s.cfg.Logger)
	s.closer = append(s.closer, s.feeds.close)
	lim := newLimiter(&s.cfg)
	chatNS := lim.namespace(s.chat.AsNamespace())
	deps := chat.Deps{
		History: s.hist, Logger: s.cfg.Logger, Observer: s.chatObserver(),
		Authenticate: s.identify, Authorize: s.authorizeRoom, MaxRooms: s.cfg.MaxRoomsPerSocket,
	}
	if err := chat.Register(chatNS, deps); err != nil {
		return err
	}
	return s.mountPresence(lim, chatNS)
}

// history adapts store.Messages to chat.History.
type history struct{ db store.Messages }

func (h history) Append(ctx context.Context, m events.ChatMessage) (events.ChatMessage, bool, error) {
	in := store.Message{Room: m.Room, SenderID: m.Sender.ID, SenderName: m.Sender.Name, Content: m.Content}
	in.ClientMsgID = m.ClientMsgID
	out, created, err := h.db.Append(ctx, in)
	if err != nil {
		return events.ChatMessage{}, false, err
	}
	return toEvent(out), created, nil
}

func (h history) Page(ctx context.Context, room, before, after string, limit int) ([]events.ChatMessage, bool, error) {
	p, err := h.db.History(ctx, room, store.Query{Before: before, After: after, Limit: limit})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, fmt.Errorf("%w: %w", chat.ErrNotFound, err)
		}
		return nil, false, err
	}
	out := make([]events.ChatMessage, len(p.Messages))
	for i, m := range p.Messages {
		out[i] = toEvent(m)
	}
	return out, p.HasMore, nil
}

func toEvent(m store.Message) events.ChatMessage {
	return events.ChatMessage{
		ID:          m.ID,
		Room:        m.Room,
		Sender:      events.UserRef{ID: m.SenderID, Name: m.SenderName},
		Content:     m.Content,
		Timestamp:   m.Timestamp,
		ClientMsgID: m.ClientMsgID,
	}
}
