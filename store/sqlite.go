package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Defaults of SQLiteConfig.
const (
	// DefaultMaxBatch is the default SQLiteConfig.MaxBatch.
	DefaultMaxBatch = 256
	// DefaultBusyTimeout is the default SQLiteConfig.BusyTimeout.
	DefaultBusyTimeout = 5 * time.Second
)

// readConns is the size of the read connection pool. Reads never wait for
// the writer in WAL mode, so a few connections keep History and LastSeen
// parallel on the two cores we size for without holding many file handles.
const readConns = 4

// SQLiteConfig configures OpenSQLite. The zero value of every field but Path
// selects its default.
type SQLiteConfig struct {
	// Path is the database file. Its directory is created (mode 0750) when
	// missing. Required; it may not contain '?'.
	Path string
	// Logger receives batch failures and schema migrations. Nil discards.
	Logger *slog.Logger
	// MaxBatch is the most writes (Append and SetLastSeen calls) committed
	// in one transaction. It also sizes the writer's queue. Default
	// DefaultMaxBatch (256); negative is an error.
	MaxBatch int
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection (another process, or a checkpoint) before failing with
	// ErrUnavailable. Default DefaultBusyTimeout (5s); negative is an error.
	BusyTimeout time.Duration
	// SyncFull fsyncs the WAL at every commit (PRAGMA synchronous=FULL), so
	// an acked write survives power loss, not only a process crash. The
	// default, NORMAL, survives kill -9 (the WAL is in the OS page cache)
	// and costs no fsync per commit; see the package doc for numbers.
	SyncFull bool
	// OnCommit, when set, is called after each write batch is committed with
	// its size and the time the transaction took (metrics). It runs on the
	// writer goroutine and must return at once.
	OnCommit func(size int, took time.Duration)
}

// syncMode is the PRAGMA synchronous value of the write connection.
type syncMode string

const (
	// syncFull fsyncs the WAL at every commit: an acked write survives power
	// loss (SQLiteConfig.SyncFull).
	syncFull syncMode = "FULL"
	// syncNormal fsyncs only at checkpoints: an acked write survives a
	// process crash but not power loss. It is OpenSQLite's default.
	syncNormal syncMode = "NORMAL"
)

// SQLite is the Messages and Presence store on one SQLite database file.
// It is safe for concurrent use; see the package documentation for the
// goroutine it owns.
type SQLite struct {
	log      *slog.Logger
	onCommit func(size int, took time.Duration)
	w        *sql.DB // one connection, used only by the writer goroutine
	r        *sql.DB // read-only pool

	queue // the writer's queue; its goroutine owns lastID

	// Statements of w, prepared once, used only by the writer goroutine.
	stmtFindKey *sql.Stmt
	stmtInsert  *sql.Stmt
	stmtSeen    *sql.Stmt

	// Statements of r.
	stmtCursor  *sql.Stmt
	stmtLatest  *sql.Stmt
	stmtBefore  *sql.Stmt
	stmtAfter   *sql.Stmt
	stmtBetween *sql.Stmt
	stmtLast    *sql.Stmt

	// lastID is the largest message id handed out; owned by the writer
	// goroutine once it runs.
	lastID uuid.UUID

	closeOnce sync.Once
	closeErr  error
}

var (
	_ Messages = (*SQLite)(nil)
	_ Presence = (*SQLite)(nil)
)

// OpenSQLite opens (creating if needed) the database at cfg.Path, puts it in
// WAL mode (synchronous=NORMAL, or FULL with cfg.SyncFull), applies pending
// schema migrations and starts the store's writer goroutine. The caller owns
// the returned store and must Close it.
func OpenSQLite(cfg SQLiteConfig) (*SQLite, error) {
	mode := syncNormal
	if cfg.SyncFull {
		mode = syncFull
	}
	s, err := openSQLite(cfg, mode)
	if err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

// openSQLite does all of OpenSQLite but starting the writer, so that tests
// can queue requests that the writer then takes as one batch.
func openSQLite(cfg SQLiteConfig, sync syncMode) (*SQLite, error) {
	if cfg.Path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if strings.ContainsRune(cfg.Path, '?') {
		return nil, fmt.Errorf("open sqlite: path %q contains '?'", cfg.Path)
	}
	if cfg.MaxBatch < 0 {
		return nil, fmt.Errorf("open sqlite: negative MaxBatch %d", cfg.MaxBatch)
	}
	if cfg.BusyTimeout < 0 {
		return nil, fmt.Errorf("open sqlite: negative BusyTimeout %v", cfg.BusyTimeout)
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = DefaultBusyTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}

	s := &SQLite{log: cfg.Logger, onCommit: cfg.OnCommit}
	s.queue.init(cfg.MaxBatch)
	ok := false
	defer func() {
		if !ok {
			_ = s.closeDB() // the open error is the one worth reporting
		}
	}()

	busy := strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10)
	// Pragmas go in the DSN so that a connection database/sql reopens gets
	// them too. _txlock=immediate takes the write lock at BEGIN, so a write
	// transaction never fails to upgrade a read lock halfway.
	wq := url.Values{}
	wq.Add("_pragma", "busy_timeout("+busy+")")
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous("+string(sync)+")")
	wq.Set("_txlock", "immediate")
	if s.w, err = sql.Open("sqlite", path+"?"+wq.Encode()); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// One write connection: the writer goroutine is the only writer, so no
	// two connections of this process ever contend for the write lock.
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	ctx := context.Background()
	if err := migrate(ctx, s.w, s.log); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	if err := s.loadLastID(ctx); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}

	// The read pool opens only once the file is in WAL mode (persistent,
	// set by the write connection above).
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "query_only(1)")
	if s.r, err = sql.Open("sqlite", path+"?"+rq.Encode()); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)

	if err := s.prepare(ctx); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	ok = true
	return s, nil
}

func (s *SQLite) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db  *sql.DB
		dst **sql.Stmt
		sql string
	}{
		{s.w, &s.stmtFindKey, sqlFindKey},
		{s.w, &s.stmtInsert, sqlInsert},
		{s.w, &s.stmtSeen, sqlUpsertSeen},
		{s.r, &s.stmtCursor, sqlCursor},
		{s.r, &s.stmtLatest, sqlLatest},
		{s.r, &s.stmtBefore, sqlBefore},
		{s.r, &s.stmtAfter, sqlAfter},
		{s.r, &s.stmtBetween, sqlBetween},
		{s.r, &s.stmtLast, sqlLastSeen},
	} {
		st, err := p.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return nil
}

// loadLastID seeds lastID with the largest stored id, so that ids stay
// increasing across a restart even if the clock stepped back meanwhile.
func (s *SQLite) loadLastID(ctx context.Context) error {
	var last string
	err := s.w.QueryRowContext(ctx, `SELECT id FROM messages ORDER BY id DESC LIMIT 1`).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load last id: %w", err)
	}
	if s.lastID, err = uuid.Parse(last); err != nil {
		return fmt.Errorf("load last id: %w", err)
	}
	return nil
}

// start starts the writer goroutine. Called once, before the store is
// shared.
func (s *SQLite) start() { s.startWriter(s.commit) }

// Close stops taking writes, waits for the writer goroutine to commit every
// write already queued, and closes the database. Calls after the first wait
// for it and return its result. After Close every call that needs the
// database returns an error wrapping ErrUnavailable.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.closeErr = s.closeDB()
	})
	return s.closeErr
}

// closeDB closes the statements and both pools. Closing the last connection
// checkpoints the WAL into the database file.
func (s *SQLite) closeDB() error {
	var errs []error
	for _, st := range []*sql.Stmt{
		s.stmtFindKey, s.stmtInsert, s.stmtSeen,
		s.stmtCursor, s.stmtLatest, s.stmtBefore, s.stmtAfter, s.stmtBetween, s.stmtLast,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// wrap describes err as the failure of op, adding ErrUnavailable to the
// chain when it means the database cannot serve now: the store is closed,
// the connection is gone, or SQLite reports a lock, I/O, space or
// corruption error. Context errors pass through unchanged.
func (s *SQLite) wrap(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if s.closed.Load() || unavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err says the database cannot serve now, as
// opposed to a problem with one statement or its arguments.
func unavailable(err error) bool {
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // primary code of an extended one
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_CORRUPT,
		sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_PERM, sqlite3.SQLITE_ABORT:
		return true
	}
	return false
}

// Ping reports whether the database answers a read (readiness).
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}
