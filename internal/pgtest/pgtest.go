// Package pgtest gives tests a PostgreSQL database: the one named by
// PARLEY_TEST_DATABASE_URL, or a throwaway server that Start runs from the
// installed binaries (Debian's postgresql package: /usr/lib/postgresql/N/bin)
// in a temporary directory, listening only on a unix socket there, so that
// it needs no free port and never meets another server. It never touches a
// system-wide cluster or service. Imported by tests only.
//
// Tests share one server and isolate themselves by schema: Schema creates
// an empty one and returns a URL whose search_path selects it.
//
// When the tests run as root, as in CI, the server's commands run as the
// postgres user (runuser), since PostgreSQL refuses to run as root.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable with the URL of a running database
// to use instead of starting a server. The tests create and drop schemas in
// it, nothing else.
const EnvURL = "PARLEY_TEST_DATABASE_URL"

// Server is a PostgreSQL server run by Start.
type Server struct {
	// URL connects to its postgres database as the superuser postgres.
	URL string

	dir   string // temporary directory: data/, server.log, the socket
	bin   string // directory of the PostgreSQL binaries
	runAs bool   // commands run as the postgres user
}

// Start initializes a cluster in a new temporary directory and starts its
// server, listening on a unix socket in that directory only. The caller
// must Stop it.
func Start(ctx context.Context) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parley-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, bin: bin, runAs: os.Geteuid() == 0}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir) // the start error is the one to report
		}
	}()
	if s.runAs {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid) // numeric on Unix
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := s.run(ctx, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`
listen_addresses = ''
unix_socket_directories = '%s'
max_connections = 300
shared_buffers = 64MB
`, dir)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	_, werr := f.WriteString(conf)
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		return nil, fmt.Errorf("%w\nserver.log:\n%s", err, log)
	}
	q := url.Values{"host": {dir}, "sslmode": {"disable"}}
	s.URL = "postgres://postgres@/postgres?" + q.Encode()
	ok = true
	return s, nil
}

// Stop stops the server (fast shutdown: sessions are ended) and removes its
// directory.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "stop")
	return errors.Join(err, os.RemoveAll(s.dir))
}

// Halt stops the server at once, as a crash would (immediate shutdown: no
// checkpoint; the next start recovers from the WAL). The directory stays
// for Resume.
func (s *Server) Halt(ctx context.Context) error {
	return s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
}

// Resume starts a halted server again on the same data and socket.
func (s *Server) Resume(ctx context.Context) error {
	return s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60", "start")
}

// run runs one of the server's binaries, as the postgres user when needed.
func (s *Server) run(ctx context.Context, name string, args ...string) error {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.runAs {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the server running with its own output (the log
	// file): waiting for the pipes' other ends would never end.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s: %w\n%s", name, err, out.Bytes())
	}
	return nil
}

// binDir finds the PostgreSQL binaries: the directory of initdb on PATH,
// else the newest /usr/lib/postgresql/N/bin.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb") // the pattern is valid
	if len(dirs) == 0 {
		return "", errors.New("pgtest: no PostgreSQL binaries (install the postgresql package, or set " + EnvURL + ")")
	}
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

// Schema creates an empty schema with a random name in the database at
// base and returns base with a search_path that selects it, and a function
// that drops it with all it holds.
func Schema(ctx context.Context, base string) (dbURL string, drop func(context.Context) error, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: parse URL: %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails
	name := "test_" + hex.EncodeToString(b[:])
	if err := exec1(ctx, base, "CREATE SCHEMA "+name); err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	drop = func(ctx context.Context) error { return exec1(ctx, base, "DROP SCHEMA "+name+" CASCADE") }
	return u.String(), drop, nil
}

// exec1 runs one statement on a connection of its own.
func exec1(ctx context.Context, dbURL, sql string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	_, err = conn.Exec(ctx, sql)
	return errors.Join(err, conn.Close(ctx))
}
