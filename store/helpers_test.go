package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/parley-rt/parley/internal/testutil"
)

// openTest opens a started store in a fresh temporary directory unless
// cfg.Path is set, and closes it at the end of the test.
func openTest(t testing.TB, cfg SQLiteConfig) *SQLite {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "parley.db")
	}
	s, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openUnstarted opens a store whose writer is not running yet, so that a
// test can queue several requests and then start the writer, which takes
// them all as one batch. The test must call s.start.
func openUnstarted(t testing.TB, cfg SQLiteConfig) *SQLite {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "parley.db")
	}
	mode := syncNormal
	if cfg.SyncFull {
		mode = syncFull
	}
	s, err := openSQLite(cfg, mode)
	if err != nil {
		t.Fatalf("openSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openRaw opens a second, independent handle on the database at path, as
// another process would.
func openRaw(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("open raw: %v", err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close raw: %v", err)
		}
	})
	return db
}

// appendResult is the outcome of an Append run in a goroutine.
type appendResult struct {
	msg     Message
	created bool
	err     error
}

// appendAsync runs Append in a goroutine and delivers its outcome.
func appendAsync(ctx context.Context, s *SQLite, m Message) <-chan appendResult {
	ch := make(chan appendResult, 1)
	go func() {
		msg, created, err := s.Append(ctx, m)
		ch <- appendResult{msg, created, err}
	}()
	return ch
}

// recv waits for one result.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	return testutil.Recv(t, ch, "a result")
}

// mustAppend appends a message to room and returns the stored copy.
func mustAppend(t testing.TB, s *SQLite, room, sender, content string) Message {
	t.Helper()
	m, created, err := s.Append(context.Background(), Message{
		Room: room, SenderID: sender, SenderName: "name-" + sender, Content: content,
	})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if !created {
		t.Fatalf("Append %q: created = false", content)
	}
	return m
}

// walkBefore returns the whole room, oldest first, by paging backwards from
// the latest page with Before cursors.
func walkBefore(t testing.TB, s *SQLite, room string, limit int) []Message {
	t.Helper()
	ctx := context.Background()
	var pages [][]Message
	q := Query{Limit: limit}
	for {
		p, err := s.History(ctx, room, q)
		if err != nil {
			t.Fatalf("History(%+v): %v", q, err)
		}
		if len(p.Messages) == 0 {
			if p.HasMore {
				t.Fatalf("History(%+v): empty page with HasMore", q)
			}
			break
		}
		pages = append(pages, p.Messages)
		if !p.HasMore {
			break
		}
		q.Before = p.Messages[0].ID
	}
	var all []Message
	for i := len(pages) - 1; i >= 0; i-- {
		all = append(all, pages[i]...)
	}
	return all
}

// walkAfter returns the messages of room after first (exclusive), oldest
// first, by paging forwards with After cursors.
func walkAfter(t testing.TB, s *SQLite, room, first string, limit int) []Message {
	t.Helper()
	ctx := context.Background()
	var all []Message
	q := Query{After: first, Limit: limit}
	for {
		p, err := s.History(ctx, room, q)
		if err != nil {
			t.Fatalf("History(%+v): %v", q, err)
		}
		all = append(all, p.Messages...)
		if !p.HasMore {
			break
		}
		if len(p.Messages) == 0 {
			t.Fatalf("History(%+v): empty page with HasMore", q)
		}
		q.After = p.Messages[len(p.Messages)-1].ID
	}
	return all
}

// checkStrictlyIncreasing fails unless the ids of msgs strictly increase.
func checkStrictlyIncreasing(t testing.TB, msgs []Message) {
	t.Helper()
	for i := 1; i < len(msgs); i++ {
		if msgs[i-1].ID >= msgs[i].ID {
			t.Fatalf("ids not strictly increasing at %d: %s then %s", i, msgs[i-1].ID, msgs[i].ID)
		}
	}
}

// countRows returns the number of rows of table.
func countRows(t testing.TB, s *SQLite, table string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// wantErr fails unless errors.Is(err, want); want nil means no error.
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
