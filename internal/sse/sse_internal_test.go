package sse

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/store"
)

func TestSSEReaderDropsWhenFull(t *testing.T) {
	t.Parallel()
	r := newSSEReader(2)
	for i := range 5 {
		r.offer(sseEvent{name: "e", id: fmt.Sprint(i)}) // never blocks
	}
	select {
	case <-r.gone:
	default:
		t.Fatal("a full reader was not dropped")
	}
	if len(r.ch) != 2 || (<-r.ch).id != "0" {
		t.Fatal("the queued events changed")
	}
}

// A reader that stops reading is dropped; chat's signal and the other
// readers never wait for it, and the other readers get every message in id
// order.
func TestRoomFeedSlowReader(t *testing.T) {
	t.Parallel()
	db, err := store.OpenSQLite(store.SQLiteConfig{Path: filepath.Join(t.TempDir(), "t.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hist := core.StoreHistory(db)
	f := newRoomFeeds(hist, 4, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slow, releaseSlow, err := f.join(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseSlow()
	fast, releaseFast, err := f.join(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseFast()
	f.mu.Lock()                        // offers read r.ch under f.mu
	fast.ch = make(chan sseEvent, 100) // a reader that keeps up
	f.mu.Unlock()

	var want []string
	for i := range 20 {
		m, _, err := hist.Append(ctx, events.ChatMessage{Room: "r", Sender: events.UserRef{ID: "u", Name: "U"}, Content: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m.ID)
		began := time.Now()
		f.message(m)
		if d := time.Since(began); d > 100*time.Millisecond {
			t.Fatalf("message() took %v", d)
		}
	}
	for i, id := range want {
		select {
		case ev := <-fast.ch:
			if ev.id != id || ev.name != "newChatMessage" {
				t.Fatalf("event %d: %+v, want %s", i, ev, id)
			}
		case <-ctx.Done():
			t.Fatalf("event %d never came", i)
		}
	}
	select {
	case <-slow.gone:
	case <-ctx.Done():
		t.Fatal("the slow reader was not dropped")
	}
	if err := f.close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.join(ctx, "r"); err != errFeedsClosed {
		t.Fatalf("join after close: %v", err)
	}
}
