package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestOpenConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     func(dir string) SQLiteConfig
		wantErr bool
	}{
		{"empty path", func(string) SQLiteConfig { return SQLiteConfig{} }, true},
		{"question mark in path", func(dir string) SQLiteConfig { return SQLiteConfig{Path: dir + "/a?b.db"} }, true},
		{"negative MaxBatch", func(dir string) SQLiteConfig { return SQLiteConfig{Path: dir + "/a.db", MaxBatch: -1} }, true},
		{"negative BusyTimeout", func(dir string) SQLiteConfig { return SQLiteConfig{Path: dir + "/a.db", BusyTimeout: -time.Second} }, true},
		{"not a database", func(dir string) SQLiteConfig {
			path := filepath.Join(dir, "garbage.db")
			if err := os.WriteFile(path, bytes.Repeat([]byte("garbage!"), 1024), 0o600); err != nil {
				panic(err)
			}
			return SQLiteConfig{Path: path}
		}, true},
		{"creates nested dir", func(dir string) SQLiteConfig { return SQLiteConfig{Path: filepath.Join(dir, "a", "b", "c.db")} }, false},
		{"batch of one", func(dir string) SQLiteConfig { return SQLiteConfig{Path: dir + "/a.db", MaxBatch: 1} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg(t.TempDir())
			s, err := OpenSQLite(cfg)
			if tt.wantErr {
				if err == nil {
					_ = s.Close() // the test already failed
					t.Fatalf("OpenSQLite(%+v) succeeded, want an error", cfg)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenSQLite(%+v): %v", cfg, err)
			}
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			mustAppend(t, s, "r", "u", "x")
			if _, err := os.Stat(cfg.Path); err != nil {
				t.Fatalf("database file: %v", err)
			}
		})
	}
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	for _, full := range []bool{false, true} {
		s := openSQLiteTest(t, SQLiteConfig{BusyTimeout: 1500 * time.Millisecond, SyncFull: full})
		sync := "1" // NORMAL
		if full {
			sync = "2" // FULL
		}
		checkPragmas(t, s, sync)
	}
}

func checkPragmas(t *testing.T, s *SQLite, sync string) {
	t.Helper()
	for _, tt := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", sync},
		{"busy_timeout", "1500"},
	} {
		var got string
		if err := s.w.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	// The read pool cannot write.
	if _, err := s.r.Exec(`INSERT INTO last_seen VALUES ('u', 'n', 1)`); err == nil {
		t.Fatal("write through the read pool succeeded")
	}
}

func TestReopenDurability(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "parley.db")
	ctx := t.Context()

	s, err := OpenSQLite(SQLiteConfig{Path: path})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	var want []Message
	for _, c := range []string{"one", "two", "three"} {
		want = append(want, mustAppend(t, s, "r", "u", c))
	}
	if err := s.SetLastSeen(ctx, "u", "Ann", 1234); err != nil {
		t.Fatalf("SetLastSeen: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for range 3 { // migrations are idempotent: reopening changes nothing
		s := openSQLiteTest(t, SQLiteConfig{Path: path})
		got := walkBefore(t, s, "r", 2)
		if len(got) != len(want) {
			t.Fatalf("reopened: %d messages, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("reopened: message %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		seen, err := s.LastSeen(ctx, []string{"u"})
		if err != nil || seen["u"] != (Seen{Name: "Ann", At: 1234}) {
			t.Fatalf("reopened: LastSeen = %v, %v; want u:1234", seen, err)
		}
		// The idempotency index survived too.
		_, created, err := s.Append(ctx, Message{Room: "r", SenderID: "u", ClientMsgID: "k"})
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if created != (len(want) == 3) {
			t.Fatalf("Append with a stored key: created = %v", created)
		}
		if created {
			want = append(want, walkBefore(t, s, "r", 2)[3])
		}
		var version int
		if err := s.w.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
			t.Fatalf("user_version: %v", err)
		}
		if version != schemaVersion {
			t.Fatalf("user_version = %d, want %d", version, schemaVersion)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "parley.db")
	db := openRaw(t, path)
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatalf("set user_version: %v", err)
	}
	s, err := OpenSQLite(SQLiteConfig{Path: path})
	if err == nil {
		_ = s.Close() // the test already failed
		t.Fatal("OpenSQLite of a newer schema succeeded")
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s, err := b.open(b.newDB(t), storeOpts{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		s.start()
		m := mustAppend(t, s, "r", "u", "x")
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		ctx := t.Context()
		_, _, err = s.Append(ctx, Message{Room: "r", SenderID: "u", Content: "late"})
		wantErr(t, err, ErrUnavailable)
		wantErr(t, s.SetLastSeen(ctx, "u", "n", 1), ErrUnavailable)
		_, err = s.History(ctx, "r", Query{})
		wantErr(t, err, ErrUnavailable)
		_, err = s.History(ctx, "r", Query{Before: m.ID})
		wantErr(t, err, ErrUnavailable)
		_, err = s.LastSeen(ctx, []string{"u"})
		wantErr(t, err, ErrUnavailable)
	})
}

// TestIDsSurviveClockSkew stores an id from the future, as a previous run
// with a clock ahead would have, and checks new ids still sort after it.
func TestIDsSurviveClockSkew(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "parley.db")
	s := openSQLiteTest(t, SQLiteConfig{Path: path})
	future, err := uuid.NewV7FromReader(bytes.NewReader(bytes.Repeat([]byte{0xff}, 16)))
	if err != nil {
		t.Fatalf("uuid: %v", err)
	}
	binaryTS := time.Now().Add(24 * time.Hour).UnixMilli()
	for i := range 6 {
		future[i] = byte(binaryTS >> (40 - 8*i))
	}
	if _, err := s.w.Exec(`INSERT INTO messages VALUES (?, 'r', 'u', 'n', 'from the future', 0, NULL)`, future.String()); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openSQLiteTest(t, SQLiteConfig{Path: path})
	a := mustAppend(t, s, "r", "u", "a")
	b := mustAppend(t, s, "r", "u", "b")
	if a.ID <= future.String() || b.ID <= a.ID {
		t.Fatalf("ids %s, %s do not follow %s", a.ID, b.ID, future)
	}
	for _, m := range []Message{a, b} {
		u, err := uuid.Parse(m.ID)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("id %s is not a UUIDv7: %v", m.ID, err)
		}
	}
	p, err := s.History(t.Context(), "r", Query{After: future.String()})
	if err != nil || len(p.Messages) != 2 {
		t.Fatalf("History after the future id = %+v, %v; want a and b", p, err)
	}
}

func TestSuccessor(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"01900000-0000-7000-8000-000000000000", "01900000-0000-7000-8000-000000000001"},
		{"01900000-0000-7000-80ff-ffffffffffff", "01900000-0000-7000-8100-000000000000"},
		// rand_b full: carry into rand_a, variant and version kept.
		{"01900000-0000-7000-bfff-ffffffffffff", "01900000-0000-7001-8000-000000000000"},
		// rand_a full too: carry into unix_ts_ms.
		{"01900000-0000-7fff-bfff-ffffffffffff", "01900000-0001-7000-8000-000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			in := uuid.MustParse(tt.in)
			got := successor(in)
			if got.String() != tt.want {
				t.Fatalf("successor(%s) = %s, want %s", tt.in, got, tt.want)
			}
			if got.Version() != 7 || got.Variant() != uuid.RFC4122 {
				t.Fatalf("successor(%s) = %s lost version or variant", tt.in, got)
			}
			if got.String() <= tt.in {
				t.Fatalf("successor(%s) = %s does not sort after", tt.in, got)
			}
		})
	}
}

func TestReadErrorMapping(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := b.openTest(t, storeOpts{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.History(ctx, "r", Query{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("History with a done ctx: err = %v, want context.Canceled", err)
		}
		_, err = s.LastSeen(ctx, []string{"u"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("LastSeen with a done ctx: err = %v, want context.Canceled", err)
		}
	})
}

// TestHistoryUsesRoomIndex checks the query plans: every page is a search
// of messages_room_id, and the idempotency lookup uses the partial unique
// index.
func TestHistoryUsesRoomIndex(t *testing.T) {
	t.Parallel()
	s := openSQLiteTest(t, SQLiteConfig{})
	for _, tt := range []struct {
		sql, index string
		args       []any
	}{
		{sqlLatest, "messages_room_id", []any{"r", 51}},
		{sqlBefore, "messages_room_id", []any{"r", "a", 51}},
		{sqlAfter, "messages_room_id", []any{"r", "a", 51}},
		{sqlBetween, "messages_room_id", []any{"r", "a", "b", 51}},
		{sqlFindKey, "messages_sender_client_msg", []any{"u", "c"}},
	} {
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+tt.sql, tt.args...)
		if err != nil {
			t.Fatalf("explain: %v", err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatalf("scan plan: %v", err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("plan: %v", err)
		}
		_ = rows.Close() // fully read
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "USING INDEX "+tt.index) && !strings.Contains(joined, "USING COVERING INDEX "+tt.index) {
			t.Errorf("plan of %q = %q, want a search of %s", tt.sql, joined, tt.index)
		}
		if strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("plan of %q = %q sorts; the index order should serve", tt.sql, joined)
		}
	}
}
