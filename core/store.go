package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/store"
)

// StoreHistory adapts package store's durable messages to History.
func StoreHistory(db store.Messages) History { return storeHistory{db} }

type storeHistory struct{ db store.Messages }

func (h storeHistory) Append(ctx context.Context, m events.ChatMessage) (events.ChatMessage, bool, error) {
	in := store.Message{Room: m.Room, SenderID: m.Sender.ID, SenderName: m.Sender.Name, Content: m.Content, ClientMsgID: m.ClientMsgID}
	out, created, err := h.db.Append(ctx, in)
	if err != nil {
		return events.ChatMessage{}, false, err
	}
	return toEvent(out), created, nil
}

func (h storeHistory) Page(ctx context.Context, room, before, after string, limit int) ([]events.ChatMessage, bool, error) {
	p, err := h.db.History(ctx, room, store.Query{Before: before, After: after, Limit: limit})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, fmt.Errorf("%w: %w", ErrNotFound, err)
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

// StorePresence adapts package store's last-seen records to PresenceStore.
func StorePresence(db store.Presence) PresenceStore { return storePresence{db} }

type storePresence struct{ db store.Presence }

func (p storePresence) SetLastSeen(ctx context.Context, userID, name string, ms int64) error {
	return p.db.SetLastSeen(ctx, userID, name, ms)
}

func (p storePresence) LastSeen(ctx context.Context, userIDs []string) (map[string]StoredSeen, error) {
	recs, err := p.db.LastSeen(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]StoredSeen, len(recs))
	for id, r := range recs {
		out[id] = StoredSeen{Name: r.Name, At: r.At}
	}
	return out, nil
}
