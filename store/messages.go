package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

const msgColumns = `id, room, sender_id, sender_name, content, ts, client_msg_id`

// Statements of the message paths. Every History shape is a range scan of the
// messages_room_id index; each fetches one row more than the page to learn
// HasMore without a second query.
const (
	sqlFindKey = `SELECT ` + msgColumns + ` FROM messages
		WHERE sender_id = ? AND client_msg_id = ?`
	// sqlInsert inserts nothing when the idempotency key is taken.
	sqlInsert = `INSERT INTO messages (` + msgColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING`
	sqlCursor = `SELECT EXISTS (SELECT 1 FROM messages WHERE id = ? AND room = ?)`

	// sqlLatest and sqlBefore read newest first; History reverses the page.
	sqlLatest = `SELECT ` + msgColumns + ` FROM messages
		WHERE room = ? ORDER BY id DESC LIMIT ?`
	sqlBefore = `SELECT ` + msgColumns + ` FROM messages
		WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`
	sqlAfter = `SELECT ` + msgColumns + ` FROM messages
		WHERE room = ? AND id > ? ORDER BY id ASC LIMIT ?`
	sqlBetween = `SELECT ` + msgColumns + ` FROM messages
		WHERE room = ? AND id > ? AND id < ? ORDER BY id ASC LIMIT ?`
)

// Append implements Messages. The message is committed by the store's writer
// goroutine, possibly in one transaction with other concurrent writes, and
// Append returns once that transaction is durable. ID and Timestamp of m are
// ignored and assigned by the writer, in commit order. If ctx is done before
// the writer takes the message, Append returns ctx.Err() and nothing is
// written; after that it waits for the outcome. Append does not validate the
// fields: callers do.
func (s *SQLite) Append(ctx context.Context, m Message) (Message, bool, error) {
	r, err := s.submit(ctx, opAppend.String(), &request{op: opAppend, msg: m})
	if err != nil {
		return Message{}, false, err
	}
	return r.msg, r.created, nil
}

// History implements Messages. Pages are cut by message id, which is commit
// order, never by timestamp. See Query and Page for the cursor semantics.
func (s *SQLite) History(ctx context.Context, room string, q Query) (Page, error) {
	const op = "history"
	limit, err := q.pageLimit(op)
	if err != nil {
		return Page{}, err
	}
	if s.closed.Load() {
		return Page{}, errClosed(op)
	}
	for _, cursor := range []string{q.Before, q.After} {
		if cursor == "" {
			continue
		}
		var exists bool
		if err := s.stmtCursor.QueryRowContext(ctx, cursor, room).Scan(&exists); err != nil {
			return Page{}, s.readErr(ctx, op, err)
		}
		if !exists {
			return Page{}, fmt.Errorf("%s: cursor %q in room %q: %w", op, cursor, room, ErrNotFound)
		}
	}

	var (
		rows       *sql.Rows
		newestLast = true // rows come oldest first
	)
	switch {
	case q.Before != "" && q.After != "":
		rows, err = s.stmtBetween.QueryContext(ctx, room, q.After, q.Before, limit+1)
	case q.After != "":
		rows, err = s.stmtAfter.QueryContext(ctx, room, q.After, limit+1)
	case q.Before != "":
		rows, err = s.stmtBefore.QueryContext(ctx, room, q.Before, limit+1)
		newestLast = false
	default:
		rows, err = s.stmtLatest.QueryContext(ctx, room, limit+1)
		newestLast = false
	}
	if err != nil {
		return Page{}, s.readErr(ctx, op, err)
	}
	msgs, err := scanMessages(rows, limit+1)
	if err != nil {
		return Page{}, s.readErr(ctx, op, err)
	}
	return cutPage(msgs, limit, newestLast), nil
}

// pageLimit validates q.Limit and returns the page size it asks for.
func (q Query) pageLimit(op string) (int, error) {
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return 0, fmt.Errorf("%s: limit %d not in 1..%d: %w", op, q.Limit, MaxLimit, ErrBadQuery)
	}
	return limit, nil
}

// cutPage makes a page of msgs, up to limit+1 rows read in one direction:
// oldest first when newestLast, else newest first. The row past limit only
// says that there is more.
func cutPage(msgs []Message, limit int, newestLast bool) Page {
	page := Page{HasMore: len(msgs) > limit}
	if page.HasMore {
		// The extra row is the one furthest in the paging direction: the
		// newest for After queries, the oldest for the others.
		msgs = msgs[:limit]
	}
	if !newestLast {
		slices.Reverse(msgs)
	}
	page.Messages = msgs
	return page
}

// readErr wraps a read failure; a done ctx wins over whatever the driver
// made of the interruption.
func (s *SQLite) readErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return s.wrap(op, err)
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanMessage(row scanner) (Message, error) {
	var (
		m           Message
		clientMsgID sql.NullString
	)
	if err := row.Scan(&m.ID, &m.Room, &m.SenderID, &m.SenderName, &m.Content, &m.Timestamp, &clientMsgID); err != nil {
		return Message{}, err
	}
	m.ClientMsgID = clientMsgID.String
	return m, nil
}

func scanMessages(rows *sql.Rows, capacity int) (msgs []Message, err error) {
	defer func() {
		if cerr := rows.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	msgs = make([]Message, 0, capacity)
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}
