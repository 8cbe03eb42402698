package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-rt/parley/internal/testutil"
)

func TestAppendHistoryRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t, SQLiteConfig{})
	ctx := t.Context()

	before := time.Now().UnixMilli()
	in := []Message{
		{Room: "lobby", SenderID: "u1", SenderName: "Ann", Content: "hello", ClientMsgID: "c1"},
		{Room: "other", SenderID: "u2", SenderName: "Bob", Content: "elsewhere"},
		{Room: "lobby", SenderID: "u2", SenderName: "Bob", Content: "hi Ann"},
		// ID and Timestamp given by the caller are ignored.
		{ID: "caller-id", Timestamp: 42, Room: "lobby", SenderID: "u1", SenderName: "Ann", Content: "ünïcödé ✓"},
	}
	var stored []Message
	for _, m := range in {
		got, created, err := s.Append(ctx, m)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if !created {
			t.Fatalf("Append %q: created = false", m.Content)
		}
		if got.ID == "" || got.ID == m.ID || got.Timestamp < before || got.Timestamp > time.Now().UnixMilli() {
			t.Fatalf("Append %q: id %q, ts %d not assigned by the store", m.Content, got.ID, got.Timestamp)
		}
		want := m
		want.ID, want.Timestamp = got.ID, got.Timestamp
		if got != want {
			t.Fatalf("Append returned %+v, want %+v", got, want)
		}
		stored = append(stored, got)
	}

	p, err := s.History(ctx, "lobby", Query{})
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	want := []Message{stored[0], stored[2], stored[3]}
	if p.HasMore || len(p.Messages) != len(want) {
		t.Fatalf("History = %+v, want %d messages and no more", p, len(want))
	}
	for i := range want {
		if p.Messages[i] != want[i] {
			t.Errorf("message %d = %+v, want %+v", i, p.Messages[i], want[i])
		}
	}
}

// TestConcurrentAppendOrder checks that ids are strictly increasing in
// commit order when many goroutines append at once, and that paging walks
// the room without a gap or a duplicate in both directions.
func TestConcurrentAppendOrder(t *testing.T) {
	t.Parallel()
	const (
		writers = 50
		each    = 40
		room    = "busy"
	)
	s := openTest(t, SQLiteConfig{})
	ctx := t.Context()

	acked := make([][]Message, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m, _, err := s.Append(ctx, Message{
					Room: room, SenderID: fmt.Sprintf("u%d", w), SenderName: "n", Content: fmt.Sprintf("%d/%d", w, i),
				})
				if err != nil {
					errs <- err
					return
				}
				acked[w] = append(acked[w], m)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}

	// Each writer appended sequentially, so each commit happened after the
	// previous one's ack: its ids must increase.
	all := map[string]bool{}
	for w := range acked {
		checkStrictlyIncreasing(t, acked[w])
		for _, m := range acked[w] {
			all[m.ID] = true
		}
	}
	if len(all) != writers*each {
		t.Fatalf("%d distinct ids, want %d", len(all), writers*each)
	}

	for _, limit := range []int{1, 7, 50, MaxLimit} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			t.Parallel()
			back := walkBefore(t, s, room, limit)
			checkWalk(t, back, all)

			fwd := append([]Message{back[0]}, walkAfter(t, s, room, back[0].ID, limit)...)
			checkWalk(t, fwd, all)
		})
	}
}

// checkWalk fails unless msgs are exactly the ids of want, strictly
// increasing.
func checkWalk(t *testing.T, msgs []Message, want map[string]bool) {
	t.Helper()
	checkStrictlyIncreasing(t, msgs)
	if len(msgs) != len(want) {
		t.Fatalf("walked %d messages, want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		if !want[m.ID] {
			t.Fatalf("walked unknown id %s", m.ID)
		}
	}
}

func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	s := openTest(t, SQLiteConfig{})
	// Ten messages in "r", interleaved with messages of "x" so that the
	// room filter is exercised inside the id ranges.
	var m, x []Message
	for i := range 10 {
		m = append(m, mustAppend(t, s, "r", "u", fmt.Sprintf("r%d", i)))
		x = append(x, mustAppend(t, s, "x", "u", fmt.Sprintf("x%d", i)))
	}
	id := func(i int) string { return m[i].ID }

	tests := []struct {
		name    string
		room    string
		q       Query
		want    []int // indexes into m
		hasMore bool
		err     error
	}{
		{name: "latest", q: Query{Limit: 3}, want: []int{7, 8, 9}, hasMore: true},
		{name: "latest exactly all", q: Query{Limit: 10}, want: seq(0, 10)},
		{name: "latest more than all", q: Query{Limit: 11}, want: seq(0, 10)},
		{name: "latest default limit", q: Query{}, want: seq(0, 10)},
		{name: "latest one", q: Query{Limit: 1}, want: []int{9}, hasMore: true},
		{name: "latest of empty room", room: "empty", q: Query{Limit: 5}, want: nil},

		{name: "before", q: Query{Before: id(5), Limit: 3}, want: []int{2, 3, 4}, hasMore: true},
		{name: "before reaching oldest", q: Query{Before: id(3), Limit: 3}, want: []int{0, 1, 2}},
		{name: "before short page", q: Query{Before: id(2), Limit: 3}, want: []int{0, 1}},
		{name: "before oldest", q: Query{Before: id(0), Limit: 3}, want: nil},
		{name: "before latest", q: Query{Before: id(9), Limit: 9}, want: seq(0, 9)},

		{name: "after", q: Query{After: id(5), Limit: 3}, want: []int{6, 7, 8}, hasMore: true},
		{name: "after reaching newest", q: Query{After: id(6), Limit: 3}, want: []int{7, 8, 9}},
		{name: "after short page", q: Query{After: id(7), Limit: 3}, want: []int{8, 9}},
		{name: "after newest", q: Query{After: id(9), Limit: 3}, want: nil},
		{name: "after oldest default limit", q: Query{After: id(0)}, want: seq(1, 10)},

		{name: "between", q: Query{After: id(1), Before: id(8), Limit: 3}, want: []int{2, 3, 4}, hasMore: true},
		{name: "between exactly", q: Query{After: id(1), Before: id(5), Limit: 3}, want: []int{2, 3, 4}},
		{name: "between short", q: Query{After: id(1), Before: id(4), Limit: 3}, want: []int{2, 3}},
		{name: "between adjacent", q: Query{After: id(4), Before: id(5), Limit: 3}, want: nil},
		{name: "between same", q: Query{After: id(4), Before: id(4), Limit: 3}, want: nil},
		{name: "between reversed", q: Query{After: id(6), Before: id(2), Limit: 3}, want: nil},

		{name: "limit max", q: Query{Limit: MaxLimit}, want: seq(0, 10)},
		{name: "limit negative", q: Query{Limit: -1}, err: ErrBadQuery},
		{name: "limit above max", q: Query{Limit: MaxLimit + 1}, err: ErrBadQuery},

		{name: "unknown before", q: Query{Before: "0190c1d2-0000-7000-8000-000000000000"}, err: ErrNotFound},
		{name: "unknown after", q: Query{After: "nope"}, err: ErrNotFound},
		{name: "before of other room", q: Query{Before: x[5].ID}, err: ErrNotFound},
		{name: "after of other room", q: Query{After: x[0].ID, Before: id(5)}, err: ErrNotFound},
		{name: "cursor in empty room", room: "empty", q: Query{After: id(0)}, err: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			room := tt.room
			if room == "" {
				room = "r"
			}
			p, err := s.History(t.Context(), room, tt.q)
			wantErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			var got []int
			for _, msg := range p.Messages {
				i := indexOf(m, msg.ID)
				if i < 0 {
					t.Fatalf("page holds %q, not a message of the room", msg.Content)
				}
				if msg != m[i] {
					t.Fatalf("page holds %+v, want %+v", msg, m[i])
				}
				got = append(got, i)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || p.HasMore != tt.hasMore {
				t.Fatalf("History(%+v) = %v hasMore=%v, want %v hasMore=%v", tt.q, got, p.HasMore, tt.want, tt.hasMore)
			}
			if p.Messages == nil {
				t.Fatalf("History(%+v): nil Messages, want empty", tt.q)
			}
		})
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func indexOf(msgs []Message, id string) int {
	for i, m := range msgs {
		if m.ID == id {
			return i
		}
	}
	return -1
}

// TestHistoryUsesRoomIndex checks the query plans: every page is a search
// of messages_room_id, and the idempotency lookup uses the partial unique
// index.
func TestHistoryUsesRoomIndex(t *testing.T) {
	t.Parallel()
	s := openTest(t, SQLiteConfig{})
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

func TestAppendIdempotent(t *testing.T) {
	t.Parallel()
	msg := func(sender, clientMsgID, content string) Message {
		return Message{Room: "r", SenderID: sender, SenderName: "n", Content: content, ClientMsgID: clientMsgID}
	}
	tests := []struct {
		name        string
		first, then Message
		same        bool // then returns first's message
	}{
		{"same sender and key", msg("u1", "k", "a"), msg("u1", "k", "a"), true},
		{"retry with other content returns the original", msg("u1", "k", "a"), msg("u1", "k", "changed"), true},
		{"retry in another room returns the original", msg("u1", "k", "a"), Message{Room: "r2", SenderID: "u1", ClientMsgID: "k"}, true},
		{"other sender same key", msg("u1", "k", "a"), msg("u2", "k", "a"), false},
		{"same sender other key", msg("u1", "k", "a"), msg("u1", "k2", "a"), false},
		{"no key twice", msg("u1", "", "a"), msg("u1", "", "a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openTest(t, SQLiteConfig{})
			ctx := t.Context()
			first, created, err := s.Append(ctx, tt.first)
			if err != nil || !created {
				t.Fatalf("first Append = created %v, err %v", created, err)
			}
			then, created, err := s.Append(ctx, tt.then)
			if err != nil {
				t.Fatalf("second Append: %v", err)
			}
			if tt.same {
				if created || then != first {
					t.Fatalf("second Append = %+v created=%v, want %+v created=false", then, created, first)
				}
				if n := countRows(t, s, "messages"); n != 1 {
					t.Fatalf("%d rows, want 1", n)
				}
				return
			}
			if !created || then.ID == first.ID {
				t.Fatalf("second Append = %+v created=%v, want a new message", then, created)
			}
			if n := countRows(t, s, "messages"); n != 2 {
				t.Fatalf("%d rows, want 2", n)
			}
		})
	}
}

// TestAppendIdempotentConcurrent sends the same key from many goroutines:
// exactly one creates the message, all get it.
func TestAppendIdempotentConcurrent(t *testing.T) {
	t.Parallel()
	const callers = 40
	s := openTest(t, SQLiteConfig{})
	results := make([]<-chan appendResult, callers)
	for i := range results {
		results[i] = appendAsync(t.Context(), s, Message{
			Room: "r", SenderID: "u", SenderName: "n", Content: fmt.Sprint(i), ClientMsgID: "same",
		})
	}
	checkOneCreated(t, s, results)
}

// TestAppendIdempotentInOneBatch queues requests with the same key before
// the writer runs, so they share one transaction: the batch must dedupe them
// among themselves, not only against committed rows.
func TestAppendIdempotentInOneBatch(t *testing.T) {
	t.Parallel()
	const callers = 10
	s := openUnstarted(t, SQLiteConfig{})
	results := make([]<-chan appendResult, callers)
	for i := range results {
		results[i] = appendAsync(t.Context(), s, Message{
			Room: "r", SenderID: "u", SenderName: "n", Content: fmt.Sprint(i), ClientMsgID: "same",
		})
	}
	other := appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", SenderName: "n", ClientMsgID: "other"})
	testutil.WaitFor(t, "requests queued", func() bool { return len(s.reqs) == callers+1 })
	s.start()
	checkOneCreated(t, s, results)
	if r := recv(t, other); r.err != nil || !r.created {
		t.Fatalf("other key: created %v, err %v", r.created, r.err)
	}
}

func checkOneCreated(t *testing.T, s *SQLite, results []<-chan appendResult) {
	t.Helper()
	var first *Message
	created := 0
	for _, ch := range results {
		r := recv(t, ch)
		if r.err != nil {
			t.Fatalf("Append: %v", r.err)
		}
		if r.created {
			created++
		}
		if first == nil {
			first = &r.msg
		} else if r.msg != *first {
			t.Fatalf("got %+v and %+v for one key", *first, r.msg)
		}
	}
	if created != 1 {
		t.Fatalf("%d callers created the message, want 1", created)
	}
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM messages WHERE client_msg_id = 'same'`).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 1 {
		t.Fatalf("%d rows with the key, want 1", n)
	}
}

// TestBatchFailure makes a batch's transaction fail (another connection holds
// the write lock past BusyTimeout): every request of the batch fails with
// ErrUnavailable, nothing is visible, and the store recovers afterwards.
func TestBatchFailure(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "parley.db")
	s := openUnstarted(t, SQLiteConfig{Path: path, BusyTimeout: 50 * time.Millisecond})
	ctx := t.Context()

	// Another connection takes the write lock and keeps it.
	other := openRaw(t, path)
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO last_seen VALUES ('lock', 'lock', 0)`); err != nil {
		t.Fatalf("take write lock: %v", err)
	}

	const n = 5
	results := make([]<-chan appendResult, n)
	for i := range results {
		results[i] = appendAsync(ctx, s, Message{Room: "r", SenderID: "u", SenderName: "n", Content: fmt.Sprint(i)})
	}
	seen := make(chan error, 1)
	go func() { seen <- s.SetLastSeen(ctx, "u", "n", 1) }()
	testutil.WaitFor(t, "requests queued", func() bool { return len(s.reqs) == n+1 })
	s.start()
	for _, ch := range results {
		r := recv(t, ch)
		if !errors.Is(r.err, ErrUnavailable) {
			t.Fatalf("Append err = %v, want ErrUnavailable", r.err)
		}
		if !strings.HasPrefix(r.err.Error(), "append: store: unavailable") {
			t.Fatalf("Append err = %q, want it to start with the operation", r.err)
		}
	}
	if err := recv(t, seen); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SetLastSeen err = %v, want ErrUnavailable", err)
	}

	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if n := countRows(t, s, "messages"); n != 0 {
		t.Fatalf("%d messages visible after a failed batch, want 0", n)
	}
	mustAppend(t, s, "r", "u", "after")
}

// TestAppendContext checks Append's contract with ctx: done before the
// writer takes the request means ctx.Err() and nothing written.
func TestAppendContext(t *testing.T) {
	t.Parallel()

	t.Run("already done", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, SQLiteConfig{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := s.Append(ctx, Message{Room: "r", SenderID: "u", Content: "x"})
		wantErr(t, err, context.Canceled)
		wantErr(t, s.SetLastSeen(ctx, "u", "n", 1), context.Canceled)
		if n := countRows(t, s, "messages"); n != 0 {
			t.Fatalf("%d rows, want 0", n)
		}
	})

	t.Run("done while queued", func(t *testing.T) {
		t.Parallel()
		s := openUnstarted(t, SQLiteConfig{})
		ctx, cancel := context.WithCancel(t.Context())
		abandoned := appendAsync(ctx, s, Message{Room: "r", SenderID: "u", Content: "abandoned"})
		testutil.WaitFor(t, "request queued", func() bool { return len(s.reqs) == 1 })
		cancel()
		wantErr(t, recv(t, abandoned).err, context.Canceled)

		s.start()
		kept := mustAppend(t, s, "r", "u", "kept")
		p, err := s.History(t.Context(), "r", Query{})
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if len(p.Messages) != 1 || p.Messages[0] != kept {
			t.Fatalf("History = %+v, want only %q", p.Messages, kept.Content)
		}
	})

	t.Run("deadline while waiting for the writer", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, SQLiteConfig{})
		// A request whose context ends at any point either fails with the
		// context error and is absent, or succeeds and is present.
		var ok []Message
		for i := range 100 {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%10)*100*time.Microsecond)
			m, _, err := s.Append(ctx, Message{Room: "r", SenderID: "u", Content: fmt.Sprint(i)})
			cancel()
			switch {
			case err == nil:
				ok = append(ok, m)
			case !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("Append: %v", err)
			}
		}
		got := walkBefore(t, s, "r", MaxLimit)
		if len(got) != len(ok) {
			t.Fatalf("%d stored, %d acked", len(got), len(ok))
		}
		for i := range ok {
			if got[i] != ok[i] {
				t.Fatalf("stored %+v, acked %+v", got[i], ok[i])
			}
		}
	})
}

// TestCloseWhileAppending races Close with appenders: each Append either
// succeeds, and its message is durable, or fails with ErrUnavailable;
// none hangs.
func TestCloseWhileAppending(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "close.db")
	s, err := OpenSQLite(SQLiteConfig{Path: path, MaxBatch: 8})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	const writers = 8
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	started := make(chan struct{}, writers)
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				m, _, err := s.Append(context.Background(), Message{Room: "r", SenderID: fmt.Sprint(w), Content: fmt.Sprint(i)})
				if errors.Is(err, ErrUnavailable) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, m.ID)
				mu.Unlock()
				if i == 0 {
					started <- struct{}{}
				}
			}
		})
	}
	for range writers {
		recv(t, started)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()

	s = openTest(t, SQLiteConfig{Path: path})
	stored := map[string]bool{}
	for _, m := range walkBefore(t, s, "r", MaxLimit) {
		stored[m.ID] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("acked %s is missing after Close", id)
		}
	}
	if len(stored) != len(acked) {
		t.Fatalf("%d stored, %d acked", len(stored), len(acked))
	}
}
