package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of PostgresConfig.
const (
	// DefaultPoolSize is the default PostgresConfig.PoolSize.
	DefaultPoolSize = 10
	// DefaultWriteTimeout is the default PostgresConfig.WriteTimeout.
	DefaultWriteTimeout = 10 * time.Second
)

// PostgresConfig configures OpenPostgres. The zero value of every field but
// URL selects its default.
type PostgresConfig struct {
	// URL is the connection string: postgres://user:pass@host:port/db?... or
	// the key=value form, as libpq and pgx read them. Parameters the driver
	// does not know are sent as run-time settings (search_path=...).
	// Required.
	URL string
	// Logger receives batch failures and schema migrations. Nil discards.
	Logger *slog.Logger
	// PoolSize is the most connections the store opens. The writer uses one
	// at a time; the others serve History and LastSeen. Default
	// DefaultPoolSize (10); negative is an error.
	PoolSize int
	// MaxBatch is the most writes (Append and SetLastSeen calls) committed
	// in one transaction. It also sizes the writer's queue. Default
	// DefaultMaxBatch (256); negative is an error.
	MaxBatch int
	// WriteTimeout bounds one batch's round trip and commit. A batch that
	// takes longer fails with ErrUnavailable. Default DefaultWriteTimeout
	// (10s); negative is an error.
	WriteTimeout time.Duration
	// OnCommit, when set, is called after each write batch is committed with
	// its size and the time it took (metrics), as SQLiteConfig.OnCommit. It
	// runs on the writer goroutine and must return at once.
	OnCommit func(size int, took time.Duration)
}

// Postgres is the Messages and Presence store on a PostgreSQL database,
// which any number of Parley nodes may share. It is safe for concurrent use;
// see the package documentation for the goroutine it owns and for how ids
// stay in commit order across nodes.
type Postgres struct {
	log          *slog.Logger
	onCommit     func(size int, took time.Duration)
	pool         *pgxpool.Pool
	writeTimeout time.Duration

	queue // the writer's queue

	closeOnce sync.Once
	closeErr  error
}

var (
	_ Messages = (*Postgres)(nil)
	_ Presence = (*Postgres)(nil)
)

// OpenPostgres connects to the database at cfg.URL, applies pending schema
// migrations and starts the store's writer goroutine. The caller owns the
// returned store and must Close it.
func OpenPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	p, err := openPostgres(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.start()
	return p, nil
}

// openPostgres does all of OpenPostgres but starting the writer, so that
// tests can queue requests that the writer then takes as one batch.
func openPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	if cfg.URL == "" {
		return nil, errors.New("open postgres: empty URL")
	}
	if cfg.PoolSize < 0 || cfg.MaxBatch < 0 || cfg.WriteTimeout < 0 {
		return nil, fmt.Errorf("open postgres: negative PoolSize %d, MaxBatch %d or WriteTimeout %v", cfg.PoolSize, cfg.MaxBatch, cfg.WriteTimeout)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error quotes the URL, password included: say less.
		return nil, errors.New("open postgres: cannot parse the database URL")
	}
	pc.MaxConns = int32(cfg.PoolSize)
	// Every statement of the store is short. JIT compilation, which the
	// planner's guesses for the batch insert triggered before
	// message_clock had statistics, took 30 to 1,500 ms per batch in
	// BenchmarkAppendParallel (500 appends/s against 5,000 without). The
	// URL may still turn it on.
	if _, ok := pc.ConnConfig.RuntimeParams["jit"]; !ok {
		pc.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = DefaultWriteTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	p := &Postgres{log: cfg.Logger, onCommit: cfg.OnCommit, pool: pool, writeTimeout: cfg.WriteTimeout}
	p.queue.init(cfg.MaxBatch)
	if err := migratePostgres(ctx, pool, p.log); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return p, nil
}

// start starts the writer goroutine. Called once, before the store is
// shared.
func (p *Postgres) start() { p.startWriter(p.commit) }

// Close stops taking writes, waits for the writer goroutine to commit every
// write already queued, and closes the connections once the reads in
// progress return them. Calls after the first wait for it and return its
// result. After Close every call returns an error wrapping ErrUnavailable.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		p.stop()
		p.pool.Close()
	})
	return p.closeErr
}

// Ping reports whether the database answers (readiness).
func (p *Postgres) Ping(ctx context.Context) error {
	if p.closed.Load() {
		return errClosed("ping")
	}
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// Statements of the read paths. Every History shape is a range scan of the
// messages_room_id index; each fetches one row more than the page to learn
// HasMore without a second query. ORDER BY names messages.id: a bare id
// would be the output column id::text, sorted as text, after the scan.
const (
	pgMsgColumns = `id::text, room, sender_id, sender_name, content, ts, coalesce(client_msg_id, '')`
	pgCursor     = `SELECT EXISTS (SELECT 1 FROM messages WHERE room = $1 AND id = $2::uuid)`
	pgLatest     = `SELECT ` + pgMsgColumns + ` FROM messages
		WHERE room = $1 ORDER BY messages.id DESC LIMIT $2`
	pgBefore = `SELECT ` + pgMsgColumns + ` FROM messages
		WHERE room = $1 AND id < $2::uuid ORDER BY messages.id DESC LIMIT $3`
	pgAfter = `SELECT ` + pgMsgColumns + ` FROM messages
		WHERE room = $1 AND id > $2::uuid ORDER BY messages.id ASC LIMIT $3`
	pgBetween = `SELECT ` + pgMsgColumns + ` FROM messages
		WHERE room = $1 AND id > $2::uuid AND id < $3::uuid ORDER BY messages.id ASC LIMIT $4`
	pgFindKeys = `SELECT ` + pgMsgColumns + ` FROM messages
		WHERE (sender_id, client_msg_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`
	pgLastSeen = `SELECT user_id, name, ts FROM last_seen WHERE user_id = ANY($1::text[])`
)

// Append implements Messages like SQLite.Append: the message is committed
// by the store's writer goroutine, possibly in one transaction with other
// concurrent writes of this node, and Append returns once that transaction
// is committed. ID and Timestamp are assigned inside the transaction, from
// the database's clock, in commit order across every node sharing the
// database. ctx is handled as by SQLite.Append.
//
// A string field that PostgreSQL cannot store as text (one holding a NUL
// byte or invalid UTF-8) fails that Append alone, with an error wrapping
// ErrInvalid. If the connection breaks while the commit is in flight, Append
// reports ErrUnavailable although the message may have been committed: a
// resend with the same ClientMsgID returns it.
func (p *Postgres) Append(ctx context.Context, m Message) (Message, bool, error) {
	r, err := p.submit(ctx, opAppend.String(), &request{op: opAppend, msg: m})
	if err != nil {
		return Message{}, false, err
	}
	return r.msg, r.created, nil
}

// History implements Messages. A cursor that is not a UUID in canonical
// form (lowercase, with dashes) names no message and fails with ErrNotFound,
// as with SQLite, which compares ids as strings. The cursor checks and the
// page query travel in one round trip.
func (p *Postgres) History(ctx context.Context, room string, q Query) (Page, error) {
	const op = "history"
	limit, err := q.pageLimit(op)
	if err != nil {
		return Page{}, err
	}
	if p.closed.Load() {
		return Page{}, errClosed(op)
	}
	b := &pgx.Batch{}
	var cursors []string
	for _, c := range []string{q.Before, q.After} {
		if c == "" {
			continue
		}
		if !canonicalUUID(c) {
			return Page{}, fmt.Errorf("%s: cursor %q in room %q: %w", op, c, room, ErrNotFound)
		}
		cursors = append(cursors, c)
		b.Queue(pgCursor, room, c)
	}
	newestLast := true // rows come oldest first
	switch {
	case q.Before != "" && q.After != "":
		b.Queue(pgBetween, room, q.After, q.Before, limit+1)
	case q.After != "":
		b.Queue(pgAfter, room, q.After, limit+1)
	case q.Before != "":
		b.Queue(pgBefore, room, q.Before, limit+1)
		newestLast = false
	default:
		b.Queue(pgLatest, room, limit+1)
		newestLast = false
	}
	br := p.pool.SendBatch(ctx, b)
	msgs, err := readPage(br, cursors, limit+1)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if errors.Is(err, ErrNotFound) {
		return Page{}, fmt.Errorf("%s: %w in room %q", op, err, room)
	}
	if err != nil {
		return Page{}, p.readErr(ctx, op, err)
	}
	return cutPage(msgs, limit, newestLast), nil
}

// readPage reads the cursor checks and then the page from br.
func readPage(br pgx.BatchResults, cursors []string, capacity int) ([]Message, error) {
	for _, c := range cursors {
		var exists bool
		if err := br.QueryRow().Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			return nil, fmt.Errorf("cursor %q: %w", c, ErrNotFound)
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	return scanPgMessages(rows, capacity)
}

func scanPgMessages(rows pgx.Rows, capacity int) ([]Message, error) {
	defer rows.Close()
	msgs := make([]Message, 0, capacity)
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.ID, &m.Room, &m.SenderID, &m.SenderName, &m.Content, &m.Timestamp, &m.ClientMsgID); err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}

// canonicalUUID reports whether s is a UUID as PostgreSQL prints one, the
// only form of a stored id.
func canonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// SetLastSeen implements Presence. The write goes through the store's
// writer goroutine like Append, so that a burst of disconnects shares
// commits. An older ms than the stored one is ignored; the name is updated
// with the time. ctx is handled as by Append.
func (p *Postgres) SetLastSeen(ctx context.Context, userID, name string, ms int64) error {
	_, err := p.submit(ctx, opSeen.String(), &request{op: opSeen, userID: userID, name: name, ms: ms})
	return err
}

// LastSeen implements Presence. Users without a record are absent from the
// map; the map is never nil.
func (p *Postgres) LastSeen(ctx context.Context, userIDs []string) (map[string]Seen, error) {
	const op = "last seen"
	seen := make(map[string]Seen, len(userIDs))
	if len(userIDs) == 0 {
		return seen, nil
	}
	if p.closed.Load() {
		return nil, errClosed(op)
	}
	rows, err := p.pool.Query(ctx, pgLastSeen, userIDs)
	if err != nil {
		return nil, p.readErr(ctx, op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			r  Seen
		)
		if err := rows.Scan(&id, &r.Name, &r.At); err != nil {
			return nil, p.readErr(ctx, op, err)
		}
		seen[id] = r
	}
	if err := rows.Err(); err != nil {
		return nil, p.readErr(ctx, op, err)
	}
	return seen, nil
}

// readErr wraps a read failure; a done ctx wins over whatever the driver
// made of the interruption.
func (p *Postgres) readErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if p.closed.Load() || pgUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// pgUnavailable reports whether err says the database cannot serve now (no
// connection, a server shutting down or out of resources, a timeout, a
// read-only standby), as opposed to a problem with one statement or its
// arguments. Errors that did not come from the server, the connection's and
// the pool's, all mean the former.
func pgUnavailable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true
	}
	switch pe.Code[:2] {
	case "08", // connection exception
		"40", // transaction rollback: serialization failure, deadlock
		"53", // insufficient resources: disk full, out of memory, too many connections
		"55", // object not in prerequisite state: lock not available
		"57", // operator intervention: shutdown, query canceled by a timeout
		"58", // system error: I/O
		"XX": // internal error, data corrupted
		return true
	}
	return pe.Code == "25006" // read-only transaction: a standby
}

// # Migrations

//go:embed pgmigrations/*.sql
var pgMigrationFiles embed.FS

// pgMigration is one embedded migration: pgmigrations/NNNN.sql brings the
// schema to version NNNN. Files are append-only: never edit one that has
// shipped; add the next number instead.
type pgMigration struct {
	version int
	sql     string
}

// pgMigrations returns the embedded migrations in version order; versions
// start at 1 and have no gap.
func pgMigrations() ([]pgMigration, error) {
	names, err := fs.Glob(pgMigrationFiles, "pgmigrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []pgMigration
	for i, name := range names { // Glob sorts; names are zero-padded
		v, err := strconv.Atoi(strings.TrimSuffix(path.Base(name), ".sql"))
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("migration file %s: want %04d.sql", name, i+1)
		}
		b, err := pgMigrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, pgMigration{version: v, sql: string(b)})
	}
	return ms, nil
}

// pgMigrateLock is the key of the transaction-level advisory lock that
// serializes migrations: nodes starting at once take turns, and the later
// ones find the schema up to date.
const pgMigrateLock int64 = 0x7061726c6579 // "parley"

// migratePostgres applies the embedded migrations the database lacks, all in
// one transaction under pgMigrateLock, recording each in schema_migrations.
// A failure leaves the schema as it was. It refuses a database whose
// schema is newer than the build's. Tables are created in the first schema
// of the search_path.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (err error) {
	ms, err := pgMigrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx) // err says why
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrateLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("migrate: database schema version %d is newer than this build's %d", current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate to version %d: %w", m.version, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
			return fmt.Errorf("migrate to version %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	for _, m := range ms[current:] {
		log.Info("store: schema migrated", "version", m.version)
	}
	return nil
}
