package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-rt/parley/internal/testutil"
)

// testStore is what the contract tests need of a store: the interfaces,
// Close, and hooks into the writer and the database.
type testStore interface {
	Messages
	Presence
	Close() error
	// start starts the writer of a store opened unstarted.
	start()
	// queued is the number of requests waiting for the writer.
	queued() int
	// count runs a SELECT count(*) statement given in plain SQL.
	count(query string) (int, error)
}

// storeOpts are the settings a test may give either store.
type storeOpts struct {
	MaxBatch int
	// Timeout is SQLite's BusyTimeout or PostgreSQL's WriteTimeout: how long
	// a batch may wait for a lock.
	Timeout time.Duration
}

// backend is one implementation of Messages and Presence under test.
type backend struct {
	name string
	// shared says that several stores, as on several nodes, may use one
	// database at once.
	shared bool
	// newDB returns a fresh, empty database that lives until the test ends.
	newDB func(t testing.TB) string
	// open opens a store on db without starting its writer.
	open func(db string, o storeOpts) (testStore, error)
	// blockWrites makes db refuse writes, by holding the locks they need,
	// until release is called.
	blockWrites func(t testing.TB, db string) (release func())
}

// backends are the stores the contract tests run against: SQLite always,
// PostgreSQL too in an integration build (postgres_test.go).
var backends = []backend{{
	name:  "sqlite",
	newDB: func(t testing.TB) string { return filepath.Join(t.TempDir(), "parley.db") },
	open: func(db string, o storeOpts) (testStore, error) {
		return openSQLite(SQLiteConfig{Path: db, MaxBatch: o.MaxBatch, BusyTimeout: o.Timeout}, syncNormal)
	},
	blockWrites: func(t testing.TB, db string) func() {
		// Another connection takes the write lock and keeps it.
		tx, err := openRaw(t, db).BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		if _, err := tx.Exec(`INSERT INTO last_seen VALUES ('lock', 'lock', 0)`); err != nil {
			t.Fatalf("take write lock: %v", err)
		}
		return func() {
			if err := tx.Rollback(); err != nil {
				t.Fatalf("rollback: %v", err)
			}
		}
	},
}}

// backendNamed returns the backend called name.
func backendNamed(name string) (backend, bool) {
	for _, b := range backends {
		if b.name == name {
			return b, true
		}
	}
	return backend{}, false
}

// forEachBackend runs f as a parallel subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// openTest opens a started store on a fresh database and closes it at the
// end of the test.
func (b backend) openTest(t testing.TB, o storeOpts) testStore {
	t.Helper()
	return b.openOn(t, b.newDB(t), o)
}

// openOn opens a started store on db and closes it at the end of the test.
func (b backend) openOn(t testing.TB, db string, o storeOpts) testStore {
	t.Helper()
	s := b.openUnstartedOn(t, db, o)
	s.start()
	return s
}

// openUnstarted opens a store whose writer is not running yet, on a fresh
// database, so that a test can queue several requests and then start the
// writer, which takes them all as one batch. The test must call s.start.
func (b backend) openUnstarted(t testing.TB, o storeOpts) testStore {
	t.Helper()
	return b.openUnstartedOn(t, b.newDB(t), o)
}

func (b backend) openUnstartedOn(t testing.TB, db string, o storeOpts) testStore {
	t.Helper()
	s, err := b.open(db, o)
	if err != nil {
		t.Fatalf("open %s: %v", b.name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func (q *queue) queued() int { return len(q.reqs) }

func (s *SQLite) count(query string) (n int, err error) {
	err = s.r.QueryRow(query).Scan(&n)
	return n, err
}

// openSQLiteTest opens a started SQLite store in a fresh temporary
// directory unless cfg.Path is set, and closes it at the end of the test.
func openSQLiteTest(t testing.TB, cfg SQLiteConfig) *SQLite {
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
func appendAsync(ctx context.Context, s Messages, m Message) <-chan appendResult {
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
func mustAppend(t testing.TB, s Messages, room, sender, content string) Message {
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
func walkBefore(t testing.TB, s Messages, room string, limit int) []Message {
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
func walkAfter(t testing.TB, s Messages, room, first string, limit int) []Message {
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
		// Timestamps follow ids: a later message is never stamped earlier
		// (on PostgreSQL, a transaction that waited for the clock row once
		// kept the time it read before waiting).
		if msgs[i-1].Timestamp > msgs[i].Timestamp {
			t.Fatalf("timestamps go back at %d: %d then %d (ids %s, %s)", i, msgs[i-1].Timestamp, msgs[i].Timestamp, msgs[i-1].ID, msgs[i].ID)
		}
	}
}

// countRows returns the number of rows of table.
func countRows(t testing.TB, s testStore, table string) int {
	t.Helper()
	n, err := s.count(fmt.Sprintf("SELECT count(*) FROM %s", table))
	if err != nil {
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
