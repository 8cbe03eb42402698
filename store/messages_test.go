package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-rt/parley/internal/testutil"
)

func TestAppendHistoryRoundTrip(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := b.openTest(t, storeOpts{})
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
			u, err := uuid.Parse(got.ID)
			if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 || u.String() != got.ID {
				t.Fatalf("id %s is not a UUIDv7 in canonical form: %v", got.ID, err)
			}
			if sec, nsec := u.Time().UnixTime(); abs(sec*1000+nsec/1e6-got.Timestamp) > 1000 {
				t.Fatalf("id %s says %d ms, timestamp %d", got.ID, sec*1000+nsec/1e6, got.Timestamp)
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
	})
}

// TestConcurrentAppendOrder checks that ids are strictly increasing in
// commit order when many goroutines append at once, and that paging walks
// the room without a gap or a duplicate in both directions.
func TestConcurrentAppendOrder(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		const (
			writers = 50
			each    = 40
			room    = "busy"
		)
		s := b.openTest(t, storeOpts{})
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
	})
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
	forEachBackend(t, func(t *testing.T, b backend) {
		s := b.openTest(t, storeOpts{})
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
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
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

func TestAppendIdempotent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
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
				s := b.openTest(t, storeOpts{})
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
	})
}

// TestAppendIdempotentConcurrent sends the same key from many goroutines:
// exactly one creates the message, all get it.
func TestAppendIdempotentConcurrent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		const callers = 40
		s := b.openTest(t, storeOpts{})
		results := make([]<-chan appendResult, callers)
		for i := range results {
			results[i] = appendAsync(t.Context(), s, Message{
				Room: "r", SenderID: "u", SenderName: "n", Content: fmt.Sprint(i), ClientMsgID: "same",
			})
		}
		checkOneCreated(t, s, results)
	})
}

// TestAppendIdempotentInOneBatch queues requests with the same key before
// the writer runs, so they share one transaction: the batch must dedupe them
// among themselves, not only against committed rows.
func TestAppendIdempotentInOneBatch(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		const callers = 10
		s := b.openUnstarted(t, storeOpts{})
		results := make([]<-chan appendResult, callers)
		for i := range results {
			results[i] = appendAsync(t.Context(), s, Message{
				Room: "r", SenderID: "u", SenderName: "n", Content: fmt.Sprint(i), ClientMsgID: "same",
			})
		}
		other := appendAsync(t.Context(), s, Message{Room: "r", SenderID: "u", SenderName: "n", ClientMsgID: "other"})
		testutil.WaitFor(t, "requests queued", func() bool { return s.queued() == callers+1 })
		s.start()
		checkOneCreated(t, s, results)
		if r := recv(t, other); r.err != nil || !r.created {
			t.Fatalf("other key: created %v, err %v", r.created, r.err)
		}
	})
}

func checkOneCreated(t *testing.T, s testStore, results []<-chan appendResult) {
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
	n, err := s.count(`SELECT count(*) FROM messages WHERE client_msg_id = 'same'`)
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 1 {
		t.Fatalf("%d rows with the key, want 1", n)
	}
}

// TestBatchFailure makes a batch's transaction fail (another connection holds
// the locks it needs past its timeout): every request of the batch fails
// with ErrUnavailable, nothing is visible, and the store recovers
// afterwards.
func TestBatchFailure(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.newDB(t)
		s := b.openUnstartedOn(t, db, storeOpts{Timeout: 50 * time.Millisecond})
		ctx := t.Context()
		release := b.blockWrites(t, db)

		const n = 5
		results := make([]<-chan appendResult, n)
		for i := range results {
			results[i] = appendAsync(ctx, s, Message{Room: "r", SenderID: "u", SenderName: "n", Content: fmt.Sprint(i)})
		}
		seen := make(chan error, 1)
		go func() { seen <- s.SetLastSeen(ctx, "u", "n", 1) }()
		testutil.WaitFor(t, "requests queued", func() bool { return s.queued() == n+1 })
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

		release()
		if n := countRows(t, s, "messages"); n != 0 {
			t.Fatalf("%d messages visible after a failed batch, want 0", n)
		}
		mustAppend(t, s, "r", "u", "after")
	})
}

// TestAppendContext checks Append's contract with ctx: done before the
// writer takes the request means ctx.Err() and nothing written.
func TestAppendContext(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {

		t.Run("already done", func(t *testing.T) {
			t.Parallel()
			s := b.openTest(t, storeOpts{})
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
			s := b.openUnstarted(t, storeOpts{})
			ctx, cancel := context.WithCancel(t.Context())
			abandoned := appendAsync(ctx, s, Message{Room: "r", SenderID: "u", Content: "abandoned"})
			testutil.WaitFor(t, "request queued", func() bool { return s.queued() == 1 })
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
			s := b.openTest(t, storeOpts{})
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
	})
}

// TestCloseWhileAppending races Close with appenders: each Append either
// succeeds, and its message is durable, or fails with ErrUnavailable;
// none hangs.
func TestCloseWhileAppending(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.newDB(t)
		s, err := b.open(db, storeOpts{MaxBatch: 8})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		s.start()
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

		s = b.openOn(t, db, storeOpts{})
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
	})
}

// nodesOf returns how many stores the test opens on one database: three,
// as nodes of a cluster, where the backend allows sharing, else one.
func nodesOf(b backend) int {
	if b.shared {
		return 3
	}
	return 1
}

// TestCommitOrderAcrossNodes appends from several goroutines on each of
// several stores sharing one database (several nodes) while a reader tails
// the room with After cursors, as an SSE stream resuming from its last id
// does. If a message committed after another could get a smaller id, the
// reader would step past it and miss it: every message must be read, once,
// in id order.
func TestCommitOrderAcrossNodes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		const (
			writers = 8 // per node
			each    = 60
			room    = "tail"
		)
		db := b.newDB(t)
		nodes := make([]testStore, nodesOf(b))
		for i := range nodes {
			nodes[i] = b.openOn(t, db, storeOpts{})
		}
		ctx := t.Context()
		first := mustAppend(t, nodes[0], room, "start", "start")

		done := make(chan struct{})
		tailed := make(chan []Message, 1)
		tailErr := make(chan error, 1)
		go func() {
			var got []Message
			after := first.ID
			for {
				// Once done, the next read is after every writer returned:
				// read on until it has nothing more.
				finished := isDone(done)
				p, err := nodes[len(nodes)-1].History(ctx, room, Query{After: after, Limit: MaxLimit})
				if err != nil {
					tailErr <- err
					return
				}
				got = append(got, p.Messages...)
				if len(p.Messages) > 0 {
					after = p.Messages[len(p.Messages)-1].ID
				}
				if finished && !p.HasMore {
					tailed <- got
					return
				}
			}
		}()

		acked := make(chan Message, len(nodes)*writers*each)
		var wg sync.WaitGroup
		for n, s := range nodes {
			for w := range writers {
				wg.Go(func() {
					var prev string
					for i := range each {
						m, _, err := s.Append(ctx, Message{Room: room, SenderID: fmt.Sprintf("n%d-w%d", n, w), Content: fmt.Sprint(i), ClientMsgID: fmt.Sprint(i)})
						if err != nil {
							t.Errorf("Append: %v", err)
							return
						}
						if m.ID <= prev {
							t.Errorf("acked id %s after %s", m.ID, prev)
						}
						prev = m.ID
						acked <- m
					}
				})
			}
		}
		wg.Wait()
		close(done)
		close(acked)
		var got []Message
		select {
		case got = <-tailed:
		case err := <-tailErr:
			t.Fatalf("tail: %v", err)
		}
		checkStrictlyIncreasing(t, got)
		want := map[string]bool{}
		for m := range acked {
			want[m.ID] = true
		}
		if len(got) != len(want) {
			t.Fatalf("tailed %d messages, %d were acked", len(got), len(want))
		}
		for _, m := range got {
			if !want[m.ID] {
				t.Fatalf("tailed unknown id %s", m.ID)
			}
		}
	})
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestAppendIdempotentAcrossNodes sends one key through every node at once,
// several times each: one message is created, every caller gets it.
func TestAppendIdempotentAcrossNodes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.newDB(t)
		var results []<-chan appendResult
		var s testStore
		for range nodesOf(b) {
			s = b.openOn(t, db, storeOpts{})
			for i := range 10 {
				results = append(results, appendAsync(t.Context(), s, Message{
					Room: "r", SenderID: "u", SenderName: "n", Content: fmt.Sprint(i), ClientMsgID: "same",
				}))
			}
		}
		checkOneCreated(t, s, results)
	})
}
