//go:build integration

package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parley-rt/parley/internal/pgtest"
	"github.com/parley-rt/parley/internal/testutil"
)

// The PostgreSQL backend: the database named by PARLEY_TEST_DATABASE_URL, or
// a server pgtest starts on first use and TestMain stops. Every store gets a
// schema of its own.
var pgServer struct {
	once sync.Once
	url  string
	err  error
}

// pgBaseURL returns the URL of the tests' database, starting a server the
// first time unless pgtest.EnvURL names one.
func pgBaseURL(t testing.TB) string {
	t.Helper()
	pgServer.once.Do(func() {
		if u := os.Getenv(pgtest.EnvURL); u != "" {
			pgServer.url = u
			return
		}
		srv, err := pgtest.Start(context.Background())
		if err != nil {
			pgServer.err = err
			return
		}
		pgServer.url = srv.URL
		afterTests = append(afterTests, srv.Stop)
	})
	if pgServer.err != nil {
		t.Fatalf("PostgreSQL for the tests: %v", pgServer.err)
	}
	return pgServer.url
}

// newPgDB returns the URL of a fresh schema, dropped at the end of the test.
func newPgDB(t testing.TB) string {
	t.Helper()
	db, drop, err := pgtest.Schema(t.Context(), pgBaseURL(t))
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(context.Background()); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return db
}

func init() {
	backends = append(backends, backend{
		name:   "postgres",
		shared: true,
		newDB:  newPgDB,
		open: func(db string, o storeOpts) (testStore, error) {
			if o.Timeout > 0 {
				// A lock wait past the timeout fails the batch
				// (lock_not_available), as busy_timeout does in SQLite.
				u, err := url.Parse(db)
				if err != nil {
					return nil, err
				}
				q := u.Query()
				q.Set("lock_timeout", fmt.Sprint(o.Timeout.Milliseconds()))
				u.RawQuery = q.Encode()
				db = u.String()
			}
			return openPostgres(context.Background(), PostgresConfig{URL: db, PoolSize: 4, MaxBatch: o.MaxBatch})
		},
		blockWrites: func(t testing.TB, db string) func() {
			conn := pgConn(t, db)
			tx, err := conn.Begin(t.Context())
			if err != nil {
				t.Fatalf("begin: %v", err)
			}
			if _, err := tx.Exec(t.Context(), `LOCK TABLE message_clock, last_seen IN ACCESS EXCLUSIVE MODE`); err != nil {
				t.Fatalf("lock: %v", err)
			}
			return func() {
				if err := tx.Rollback(context.Background()); err != nil {
					t.Fatalf("rollback: %v", err)
				}
			}
		},
	})
	benchStores = append(benchStores,
		benchStore{"postgres", func(b *testing.B) Messages { return openPgBench(b, newPgDB(b)) }},
		benchStore{"postgres/2 nodes", func(b *testing.B) Messages {
			db := newPgDB(b)
			return &roundRobin{nodes: []Messages{openPgBench(b, db), openPgBench(b, db)}}
		}},
	)
}

func openPgBench(b *testing.B, db string) *Postgres {
	b.Helper()
	s, err := OpenPostgres(b.Context(), PostgresConfig{URL: db})
	if err != nil {
		b.Fatalf("OpenPostgres: %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return s
}

// roundRobin spreads Appends over several stores on one database, as a load
// balancer spreads clients over nodes: their batches contend for the
// message clock.
type roundRobin struct {
	nodes []Messages
	next  atomic.Uint64
}

func (r *roundRobin) Append(ctx context.Context, m Message) (Message, bool, error) {
	return r.nodes[r.next.Add(1)%uint64(len(r.nodes))].Append(ctx, m)
}

func (r *roundRobin) History(ctx context.Context, room string, q Query) (Page, error) {
	return r.nodes[0].History(ctx, room, q)
}

func (p *Postgres) count(query string) (n int, err error) {
	err = p.pool.QueryRow(context.Background(), query).Scan(&n)
	return n, err
}

// pgConn opens a connection of the test's own to db.
func pgConn(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return conn
}

func openPgTest(t testing.TB, db string) *Postgres {
	t.Helper()
	s, err := OpenPostgres(t.Context(), PostgresConfig{URL: db, PoolSize: 4})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestPostgresMigrateConcurrently opens stores on one fresh database at
// once, as nodes starting together do: all succeed, each migration is
// applied once, and reopening changes nothing.
func TestPostgresMigrateConcurrently(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	const nodes = 4
	errs := make(chan error, nodes)
	stores := make(chan *Postgres, nodes)
	for range nodes {
		go func() {
			s, err := OpenPostgres(t.Context(), PostgresConfig{URL: db, PoolSize: 2})
			errs <- err
			stores <- s
		}()
	}
	for range nodes {
		if err := recv(t, errs); err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		s := recv(t, stores)
		mustAppend(t, s, "r", "u", "x")
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	ms, err := pgMigrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	s := openPgTest(t, db)
	if n := countRows(t, s, "schema_migrations"); n != len(ms) {
		t.Fatalf("%d rows in schema_migrations, want %d", n, len(ms))
	}
	if n := countRows(t, s, "messages"); n != nodes {
		t.Fatalf("%d messages, want %d", n, nodes)
	}
}

// TestPostgresPingAndOnCommit checks the hooks the server's readiness and
// metrics use: Ping answers while the store is open, OnCommit hears of
// every committed batch with its size.
func TestPostgresPingAndOnCommit(t *testing.T) {
	t.Parallel()
	commits := make(chan int, 10)
	s, err := openPostgres(t.Context(), PostgresConfig{URL: newPgDB(t), OnCommit: func(size int, took time.Duration) {
		if took <= 0 {
			t.Errorf("OnCommit took %v", took)
		}
		commits <- size
	}})
	if err != nil {
		t.Fatalf("openPostgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() }) // idempotent; the test checks the first Close
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	results := []<-chan appendResult{
		appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", Content: "a"}),
		appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", Content: "b"}),
	}
	testutil.WaitFor(t, "requests queued", func() bool { return s.queued() == 2 })
	s.start()
	for _, ch := range results {
		if r := recv(t, ch); r.err != nil {
			t.Fatalf("Append: %v", r.err)
		}
	}
	if n := recv(t, commits); n != 2 {
		t.Fatalf("OnCommit size %d, want 2", n)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantErr(t, s.Ping(t.Context()), ErrUnavailable)
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	s := openPgTest(t, db)
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version) VALUES (99)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	s2, err := OpenPostgres(t.Context(), PostgresConfig{URL: db})
	if err == nil {
		_ = s2.Close() // the test already failed
		t.Fatal("OpenPostgres of a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("err = %v, want it to say the schema is newer", err)
	}
}

func TestPostgresOpenConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []PostgresConfig{
		{},
		{URL: "postgres://%zz"},
		{URL: "postgres://localhost/db", PoolSize: -1},
		{URL: "postgres://localhost/db", WriteTimeout: -time.Second},
	} {
		if s, err := OpenPostgres(t.Context(), cfg); err == nil {
			_ = s.Close() // the test already failed
			t.Errorf("OpenPostgres(%+v) succeeded", cfg)
		}
	}
	// A password in a URL that cannot be parsed stays out of the error.
	_, err := OpenPostgres(t.Context(), PostgresConfig{URL: "postgres://u:s3cret@host:notaport/db"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v, want an error without the password", err)
	}
}

// TestPostgresClockAhead puts the id clock a day ahead, as a database whose
// clock stepped back since would find it: new ids still follow the stored
// ones, stay UUIDv7, and the timestamps stay the real time.
func TestPostgresClockAhead(t *testing.T) {
	t.Parallel()
	s := openPgTest(t, newPgDB(t))
	before := mustAppend(t, s, "r", "u", "before")
	ahead := time.Now().Add(24 * time.Hour).UnixMilli()
	if _, err := s.pool.Exec(t.Context(), `UPDATE message_clock SET ms = $1, seq = 4398046511100`, ahead); err != nil {
		t.Fatalf("set clock: %v", err)
	}
	// The counter has three values left in this millisecond: the ten
	// appends, however batched, carry into the next one.
	var got []Message
	results := make([]<-chan appendResult, 10)
	for i := range results {
		results[i] = appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", Content: fmt.Sprint(i)})
	}
	for _, ch := range results {
		r := recv(t, ch)
		if r.err != nil {
			t.Fatalf("Append: %v", r.err)
		}
		got = append(got, r.msg)
	}
	all := walkBefore(t, s, "r", MaxLimit)
	if len(all) != 11 || all[0] != before {
		t.Fatalf("history = %+v", all)
	}
	checkStrictlyIncreasing(t, all)
	for _, m := range all[1:] {
		u, err := uuid.Parse(m.ID)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("id %s is not a UUIDv7: %v", m.ID, err)
		}
		if ms := u.Time(); ms == 0 {
			t.Fatalf("id %s has no time", m.ID)
		}
		if sec, _ := u.Time().UnixTime(); sec*1000 < ahead-1000 {
			t.Fatalf("id %s is older than the clock's %d", m.ID, ahead)
		}
		if m.Timestamp > time.Now().UnixMilli() {
			t.Fatalf("timestamp %d is in the future", m.Timestamp)
		}
	}
}

// TestPostgresInvalidText sends a NUL byte, which PostgreSQL text cannot
// hold, in a batch with good messages: it alone fails, with ErrInvalid.
func TestPostgresInvalidText(t *testing.T) {
	t.Parallel()
	b, _ := backendNamed("postgres")
	s := b.openUnstarted(t, storeOpts{})
	good1 := appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", Content: "one"})
	bad := appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", Content: "nul \x00 byte"})
	badUTF8 := appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u\xff", Content: "x"})
	seen := make(chan error, 1)
	go func() { seen <- s.SetLastSeen(t.Context(), "u\x00", "n", 1) }()
	good2 := appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", Content: "two"})
	testutil.WaitFor(t, "requests queued", func() bool { return s.queued() == 5 })
	s.start()
	for _, ch := range []<-chan appendResult{good1, good2} {
		if r := recv(t, ch); r.err != nil || !r.created {
			t.Fatalf("good Append: created %v, err %v", r.created, r.err)
		}
	}
	for _, ch := range []<-chan appendResult{bad, badUTF8} {
		wantErr(t, recv(t, ch).err, ErrInvalid)
	}
	wantErr(t, recv(t, seen), ErrInvalid)
	if n := countRows(t, s, "messages"); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// TestPostgresBatchRejected queues a message that PostgreSQL rejects (a
// sender id too large for the idempotency index) with good ones: the batch
// is retried one write per transaction, so that only the culprit fails, and
// not with ErrUnavailable.
func TestPostgresBatchRejected(t *testing.T) {
	t.Parallel()
	b, _ := backendNamed("postgres")
	s := b.openUnstarted(t, storeOpts{})
	var huge string // 10 kB of random hex: it does not compress below the index's limit
	for range 300 {
		huge += uuid.NewString()
	}
	good1 := appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", Content: "one", ClientMsgID: "a"})
	bad := appendAsync(t.Context(), s, Message{Room: "r", SenderID: huge, Content: "x", ClientMsgID: "k"})
	good2 := appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", Content: "two", ClientMsgID: "b"})
	testutil.WaitFor(t, "requests queued", func() bool { return s.queued() == 3 })
	s.start()
	for _, ch := range []<-chan appendResult{good1, good2} {
		if r := recv(t, ch); r.err != nil || !r.created {
			t.Fatalf("good Append: created %v, err %v", r.created, r.err)
		}
	}
	r := recv(t, bad)
	if r.err == nil || errors.Is(r.err, ErrUnavailable) {
		t.Fatalf("Append of a huge key: err = %v, want a request error", r.err)
	}
	if n := countRows(t, s, "messages"); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// TestPostgresPlans checks that every page is an index scan of
// messages_room_id in index order (no sort), and the key lookup uses the
// idempotency index.
func TestPostgresPlans(t *testing.T) {
	t.Parallel()
	s := openPgTest(t, newPgDB(t))
	ctx := t.Context()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer conn.Release()
	// 100 rooms of 200 messages, so that the planner has a table to plan for.
	if _, err := conn.Exec(ctx, `INSERT INTO messages (id, room, sender_id, sender_name, content, ts)
		SELECT parley_uuid7(1700000000000 + g, 0), 'room' || (g % 100), 'u', 'n', 'x', 0
		FROM generate_series(1, 20000) g`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE messages`); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	var id string // a cursor in the middle of room1
	if err := conn.QueryRow(ctx, `SELECT id::text FROM messages WHERE room = 'room1' ORDER BY id OFFSET 100 LIMIT 1`).Scan(&id); err != nil {
		t.Fatalf("cursor: %v", err)
	}
	for _, tt := range []struct {
		sql, index string
		args       []any
	}{
		{pgLatest, "messages_room_id", []any{"room1", 51}},
		{pgBefore, "messages_room_id", []any{"room1", id, 51}},
		{pgAfter, "messages_room_id", []any{"room1", id, 51}},
		{pgBetween, "messages_room_id", []any{"room1", id, id, 51}},
		{pgCursor, "messages_room_id", []any{"room1", id}},
		{pgFindKeys, "messages_sender_client_msg", []any{[]string{"u"}, []string{"k"}}},
	} {
		rows, err := conn.Query(ctx, "EXPLAIN "+tt.sql, tt.args...)
		if err != nil {
			t.Fatalf("explain: %v", err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		joined := strings.Join(plan, "\n")
		if !strings.Contains(joined, " using "+tt.index) {
			t.Errorf("plan of %q:\n%s\nwant a scan of %s", tt.sql, joined, tt.index)
		}
		if strings.Contains(joined, "Sort") {
			t.Errorf("plan of %q:\n%s\nsorts; the index order should serve", tt.sql, joined)
		}
	}
}

// TestPostgresOutage halts the database server under a store: writes and
// reads fail with ErrUnavailable instead of hanging, and once the server is
// back the store works again, with the messages acked before the outage
// and ids still in order.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	srv, err := pgtest.Start(t.Context())
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	s := openPgTest(t, srv.URL)
	before := mustAppend(t, s, "r", "u", "before")

	if err := srv.Halt(t.Context()); err != nil {
		t.Fatalf("halt: %v", err)
	}
	_, _, err = s.Append(t.Context(), Message{Room: "r", SenderID: "u", Content: "during"})
	wantErr(t, err, ErrUnavailable)
	wantErr(t, s.SetLastSeen(t.Context(), "u", "n", 1), ErrUnavailable)
	_, err = s.History(t.Context(), "r", Query{})
	wantErr(t, err, ErrUnavailable)

	if err := srv.Resume(t.Context()); err != nil {
		t.Fatalf("resume: %v", err)
	}
	// The pool finds its old connections dead on first use; a write may
	// fail once more while it replaces them.
	var after Message
	testutil.WaitFor(t, "an Append after the restart", func() bool {
		m, _, err := s.Append(t.Context(), Message{Room: "r", SenderID: "u", Content: "after"})
		if err != nil && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Append: %v", err)
		}
		after = m
		return err == nil
	})
	got := walkBefore(t, s, "r", MaxLimit)
	if len(got) != 2 || got[0] != before || got[1] != after {
		t.Fatalf("history = %+v, want %q then %q", got, before.Content, after.Content)
	}
}
