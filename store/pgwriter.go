package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgAppend inserts a batch of messages, given as parallel arrays ($1 rooms,
// $2 sender ids, $3 sender names, $4 contents, $5 client message ids, ""
// for none; $6 their number), and returns for each, in order, its id, its
// timestamp and whether it was inserted (false: its idempotency key was
// taken). Its first act is to update the message_clock row, whose lock the
// transaction then holds to its commit: the ids it hands out are greater
// than every id of every transaction that committed before, on any node,
// and every transaction that takes them after this one commits hands out
// greater ones. The counter part of an id restarts at 0 in every new
// millisecond of the database's clock; when the clock stands still or steps
// back, the last millisecond is kept and the counter goes on (carrying into
// the millisecond should it ever reach 2^42). A message's timestamp is the
// database's time read once the row lock is held, or its id's millisecond
// when that is earlier (a clock that stepped back): so timestamps never go
// back in id order, and are never in the future. (The time of "now" is
// read before the UPDATE waits for the lock; stamping with it made a
// transaction that waited give a later id an earlier time.)
const pgAppend = `WITH now AS (
	SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
), clock AS (
	UPDATE message_clock c SET
		ms = CASE WHEN now.ms > c.ms THEN now.ms
			WHEN c.seq + $6::bigint < 4398046511104 THEN c.ms
			ELSE c.ms + 1 END,
		seq = CASE WHEN now.ms > c.ms OR c.seq + $6::bigint >= 4398046511104 THEN $6::bigint - 1
			ELSE c.seq + $6::bigint END
	FROM now
	RETURNING c.ms, c.seq - $6::bigint + 1 AS first,
		-- read again now that the row lock is held (see the comment above)
		floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS locked_ms
), input AS MATERIALIZED (
	SELECT t.ord, parley_uuid7(clock.ms, clock.first + t.ord - 1) AS id, least(clock.ms, clock.locked_ms) AS ts,
		t.room, t.sender_id, t.sender_name, t.content, nullif(t.client_msg_id, '') AS client_msg_id
	FROM clock, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
		WITH ORDINALITY AS t(room, sender_id, sender_name, content, client_msg_id, ord)
), ins AS (
	INSERT INTO messages (id, room, sender_id, sender_name, content, ts, client_msg_id)
	SELECT id, room, sender_id, sender_name, content, ts, client_msg_id FROM input ORDER BY ord
	ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING
	RETURNING id
)
SELECT input.id::text, input.ts, ins.id IS NOT NULL FROM input LEFT JOIN ins USING (id) ORDER BY input.ord`

// pgUpsertSeen never moves a user's last-seen time backwards. The rows go
// in user id order, so that two transactions updating the same users lock
// their rows in the same order and never deadlock.
const pgUpsertSeen = `INSERT INTO last_seen (user_id, name, ts)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(user_id, name, ts) ORDER BY user_id
	ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, ts = excluded.ts
	WHERE excluded.ts >= last_seen.ts`

// pgAttempts is how often a batch is tried when PostgreSQL rolls it back
// for a serialization failure or a deadlock.
const pgAttempts = 3

// commit runs batch in one transaction and returns one reply per request.
// A request with a field PostgreSQL cannot store fails alone with
// ErrInvalid. If the database rejects the batch for its data (an error
// about one statement, after which it rolled everything back), the
// requests are retried one per transaction, so that only the culprit
// fails. If the database is unavailable, every request fails with an error
// wrapping ErrUnavailable.
func (p *Postgres) commit(batch []*request, replies []reply) []reply {
	for _, req := range batch {
		var r reply
		if !storable(req) {
			r.err = fmt.Errorf("%s: %w", req.op, ErrInvalid)
		}
		replies = append(replies, r)
	}
	began := time.Now()
	err := p.commitRetry(batch, replies)
	if err == nil {
		p.committed(len(batch), began)
		return replies
	}
	if !pgUnavailable(err) && len(batch) > 1 {
		p.log.Warn("store: write batch rejected, retrying its writes one by one", "size", len(batch), "err", err)
		for i, req := range batch {
			if errors.Is(replies[i].err, ErrInvalid) {
				continue
			}
			replies[i] = reply{}
			began := time.Now()
			if err := p.commitRetry(batch[i:i+1], replies[i:i+1]); err != nil {
				replies[i] = reply{err: p.writeErr(req.op, err)}
				continue
			}
			p.committed(1, began)
		}
		return replies
	}
	p.log.Warn("store: write batch failed", "size", len(batch), "err", err)
	for i, req := range batch {
		if !errors.Is(replies[i].err, ErrInvalid) {
			replies[i] = reply{err: p.writeErr(req.op, err)}
		}
	}
	return replies
}

// committed reports a committed batch to OnCommit.
func (p *Postgres) committed(size int, began time.Time) {
	if p.onCommit != nil {
		p.onCommit(size, time.Since(began))
	}
}

// commitRetry runs commitTx, again when PostgreSQL rolled the batch back for
// a serialization failure or a deadlock.
func (p *Postgres) commitRetry(batch []*request, replies []reply) error {
	var err error
	for range pgAttempts {
		if err = p.commitTx(batch, replies); !retryable(err) {
			return err
		}
	}
	return err
}

// retryable reports whether err is PostgreSQL rolling a transaction back
// for a conflict with another one.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// writeErr describes the failure of a write op: ErrUnavailable joins the
// chain when err means the database cannot serve now. The writer's own
// timeout is reported as such, never as a context error, which callers
// would take for their own context's.
func (p *Postgres) writeErr(op opKind, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = fmt.Errorf("no answer within %v: %s", p.writeTimeout, err.Error())
	}
	if p.closed.Load() || pgUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// pgRows are a batch's writes as the statements take them: appends with
// one row per idempotency key, last-seen writes with one row per user.
type pgRows struct {
	rooms, senders, names, contents, keys []string
	// owner is, per append row, the index of the request whose message it
	// is: the first of the batch with its key.
	owner []int
	// row is, per request, its append row, or -1.
	row []int

	users, userNames []string
	seenAt           []int64
}

// rowsOf builds the statements' rows from the requests of batch whose reply
// holds no error yet.
func rowsOf(batch []*request, replies []reply) *pgRows {
	r := &pgRows{row: make([]int, len(batch))}
	var (
		byKey  map[idemKey]int
		byUser map[string]int
	)
	for i, req := range batch {
		r.row[i] = -1
		if replies[i].err != nil {
			continue
		}
		switch req.op {
		case opAppend:
			m := req.msg
			if m.ClientMsgID != "" {
				k := idemKey{m.SenderID, m.ClientMsgID}
				if j, ok := byKey[k]; ok {
					r.row[i] = j
					continue
				}
				if byKey == nil {
					byKey = make(map[idemKey]int)
				}
				byKey[k] = len(r.rooms)
			}
			r.row[i] = len(r.rooms)
			r.owner = append(r.owner, i)
			r.rooms = append(r.rooms, m.Room)
			r.senders = append(r.senders, m.SenderID)
			r.names = append(r.names, m.SenderName)
			r.contents = append(r.contents, m.Content)
			r.keys = append(r.keys, m.ClientMsgID)
		case opSeen:
			// As if applied in order: the latest of the greatest times wins.
			if j, ok := byUser[req.userID]; ok {
				if req.ms >= r.seenAt[j] {
					r.userNames[j], r.seenAt[j] = req.name, req.ms
				}
				continue
			}
			if byUser == nil {
				byUser = make(map[string]int)
			}
			byUser[req.userID] = len(r.users)
			r.users = append(r.users, req.userID)
			r.userNames = append(r.userNames, req.name)
			r.seenAt = append(r.seenAt, req.ms)
		}
	}
	return r
}

// inserted is what pgAppend says of one row.
type inserted struct {
	id      string
	ts      int64
	created bool
}

// commitTx sends the batch's statements in one round trip, as one implicit
// transaction that commits when the last statement has run, and fills in
// the replies of the requests whose reply holds no error. An error means
// that nothing was committed, or (a connection lost during the commit) that
// the outcome is unknown. Once the commit succeeded it returns nil; the
// original messages of keys that were taken are then looked up, and a
// failure of that lookup fails just their requests.
func (p *Postgres) commitTx(batch []*request, replies []reply) error {
	rows := rowsOf(batch, replies)
	b := &pgx.Batch{}
	if len(rows.rooms) > 0 {
		b.Queue(pgAppend, rows.rooms, rows.senders, rows.names, rows.contents, rows.keys, int64(len(rows.rooms)))
	}
	if len(rows.users) > 0 {
		b.Queue(pgUpsertSeen, rows.users, rows.userNames, rows.seenAt)
	}
	if b.Len() == 0 {
		return nil
	}
	// The writer's work is not any one caller's: a committed batch must be
	// answered, so no caller's context governs it, only the write timeout.
	ctx, cancel := context.WithTimeout(context.Background(), p.writeTimeout)
	defer cancel()
	br := p.pool.SendBatch(ctx, b)
	res, err := readBatch(br, rows)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	// Committed. Look up the messages that hold the keys found taken.
	var taken map[idemKey]Message
	var lookupErr error
	for _, r := range res {
		if !r.created {
			taken, lookupErr = p.findKeys(ctx, rows, res)
			break
		}
	}
	for i, req := range batch {
		j := rows.row[i]
		switch {
		case replies[i].err != nil:
		case req.op == opSeen:
		case res[j].created:
			m := batch[rows.owner[j]].msg
			m.ID, m.Timestamp = res[j].id, res[j].ts
			replies[i] = reply{msg: m, created: rows.owner[j] == i}
		case lookupErr != nil:
			replies[i] = reply{err: p.writeErr(req.op, lookupErr)}
		default:
			prev, ok := taken[idemKey{req.msg.SenderID, req.msg.ClientMsgID}]
			if !ok {
				replies[i] = reply{err: fmt.Errorf("%s: key %q of %q taken but not found", req.op, req.msg.ClientMsgID, req.msg.SenderID)}
				continue
			}
			replies[i] = reply{msg: prev}
		}
	}
	return nil
}

// readBatch reads the results of the statements commitTx queued.
func readBatch(br pgx.BatchResults, rows *pgRows) ([]inserted, error) {
	var res []inserted
	if len(rows.rooms) > 0 {
		q, err := br.Query()
		if err != nil {
			return nil, err
		}
		res = make([]inserted, 0, len(rows.rooms))
		for q.Next() {
			var r inserted
			if err := q.Scan(&r.id, &r.ts, &r.created); err != nil {
				q.Close()
				return nil, err
			}
			res = append(res, r)
		}
		q.Close()
		if err := q.Err(); err != nil {
			return nil, err
		}
		if len(res) != len(rows.rooms) {
			return nil, fmt.Errorf("append: %d rows for %d messages: is the message_clock row missing?", len(res), len(rows.rooms))
		}
	}
	if len(rows.users) > 0 {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// findKeys returns the stored messages of the rows whose key was taken.
// The taking transaction committed before ours (an insert waits for a
// conflicting one in progress), so a new snapshot sees it.
func (p *Postgres) findKeys(ctx context.Context, rows *pgRows, res []inserted) (map[idemKey]Message, error) {
	var senders, keys []string
	for j, r := range res {
		if !r.created {
			senders = append(senders, rows.senders[j])
			keys = append(keys, rows.keys[j])
		}
	}
	q, err := p.pool.Query(ctx, pgFindKeys, senders, keys)
	if err != nil {
		return nil, err
	}
	msgs, err := scanPgMessages(q, len(keys))
	if err != nil {
		return nil, err
	}
	taken := make(map[idemKey]Message, len(msgs))
	for _, m := range msgs {
		taken[idemKey{m.SenderID, m.ClientMsgID}] = m
	}
	return taken, nil
}

// storable reports whether PostgreSQL can store every string of req as
// text.
func storable(req *request) bool {
	var fields []string
	switch req.op {
	case opAppend:
		m := &req.msg
		fields = []string{m.Room, m.SenderID, m.SenderName, m.Content, m.ClientMsgID}
	case opSeen:
		fields = []string{req.userID, req.name}
	}
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 || !utf8.ValidString(f) {
			return false
		}
	}
	return true
}
