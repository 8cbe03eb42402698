package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// commit runs batch in one transaction and returns one reply per request. A
// request that fails on its own (a statement error that leaves the
// transaction usable; SQLite undoes just that statement) gets its error and
// the rest still commit. If the transaction cannot be begun or committed, or
// a statement fails in a way that dooms it, nothing of the batch is written
// and every request gets an error wrapping ErrUnavailable.
func (s *SQLite) commit(batch []*request, replies []reply) []reply {
	began := time.Now()
	err := s.commitTx(batch, &replies)
	if err == nil {
		if s.onCommit != nil {
			s.onCommit(len(batch), time.Since(began))
		}
		return replies
	}
	s.log.Warn("store: write batch failed", "size", len(batch), "err", err)
	replies = replies[:0]
	for _, req := range batch {
		replies = append(replies, reply{err: fmt.Errorf("%s: %w: %w", req.op, ErrUnavailable, err)})
	}
	return replies
}

func (s *SQLite) commitTx(batch []*request, replies *[]reply) (err error) {
	// The writer's work is not any one caller's: a committed batch must be
	// answered, so no caller's context governs it.
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback() // the batch error is the one to report
		}
	}()
	findKey := tx.StmtContext(ctx, s.stmtFindKey)
	insert := tx.StmtContext(ctx, s.stmtInsert)
	seen := tx.StmtContext(ctx, s.stmtSeen)

	var keys map[idemKey]Message // keys written or found in this batch
	for _, req := range batch {
		var r reply
		switch req.op {
		case opAppend:
			r = s.appendTx(ctx, findKey, insert, &keys, req.msg)
		case opSeen:
			if _, err := seen.ExecContext(ctx, req.userID, req.name, req.ms); err != nil {
				r.err = err
			}
		}
		if r.err != nil {
			if unavailable(r.err) {
				return r.err
			}
			r.err = fmt.Errorf("%s: %w", req.op, r.err)
		}
		*replies = append(*replies, r)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	done = true
	return nil
}

// appendTx stores m inside the batch transaction, or finds the message that
// already holds its idempotency key, in the database or earlier in this
// batch.
func (s *SQLite) appendTx(ctx context.Context, findKey, insert *sql.Stmt, keys *map[idemKey]Message, m Message) reply {
	var (
		key         idemKey
		clientMsgID sql.NullString
	)
	if m.ClientMsgID != "" {
		key = idemKey{m.SenderID, m.ClientMsgID}
		if prev, ok := (*keys)[key]; ok {
			return reply{msg: prev}
		}
		clientMsgID = sql.NullString{String: m.ClientMsgID, Valid: true}
	}
	id := s.nextID()
	m.ID = id.String()
	m.Timestamp = time.Now().UnixMilli()
	// The insert does nothing when the key is taken; only then is the
	// stored message looked up, so a new message costs one statement.
	res, err := insert.ExecContext(ctx, m.ID, m.Room, m.SenderID, m.SenderName, m.Content, m.Timestamp, clientMsgID)
	if err != nil {
		return reply{err: err}
	}
	n, err := res.RowsAffected()
	if err != nil {
		return reply{err: err}
	}
	if n == 0 {
		prev, err := scanMessage(findKey.QueryRowContext(ctx, m.SenderID, m.ClientMsgID))
		if err != nil {
			return reply{err: err}
		}
		s.remember(keys, key, prev)
		return reply{msg: prev}
	}
	if m.ClientMsgID != "" {
		s.remember(keys, key, m)
	}
	return reply{msg: m, created: true}
}

func (s *SQLite) remember(keys *map[idemKey]Message, key idemKey, m Message) {
	if *keys == nil {
		*keys = make(map[idemKey]Message)
	}
	(*keys)[key] = m
}

// nextID returns a UUIDv7 greater than every id handed out before, by this
// process or (through lastID loaded at open) a previous one. uuid.NewV7 is
// monotonic within a process; if the wall clock went back across a restart,
// nextID continues from the stored maximum instead, so id order stays commit
// order. Called only by the writer goroutine.
func (s *SQLite) nextID() uuid.UUID {
	id := uuid.Must(uuid.NewV7())
	if bytes.Compare(id[:], s.lastID[:]) <= 0 {
		id = successor(s.lastID)
	}
	s.lastID = id
	return id
}

// successor returns the UUIDv7 right after u, keeping the version and variant
// bits: it adds one to the 62-bit rand_b field, carrying into the 60-bit
// (unix_ts_ms, rand_a) counter when rand_b is all ones.
func successor(u uuid.UUID) uuid.UUID {
	const randBMask = 1<<62 - 1
	lo := binary.BigEndian.Uint64(u[8:])
	if lo&randBMask != randBMask {
		binary.BigEndian.PutUint64(u[8:], lo+1)
		return u
	}
	binary.BigEndian.PutUint64(u[8:], lo&^randBMask) // rand_b = 0, variant kept
	hi := binary.BigEndian.Uint64(u[:8])
	counter := hi>>16<<12 | hi&0xfff // unix_ts_ms (48 bits) and rand_a (12 bits)
	counter++
	hi = counter>>12<<16 | 0x7000 | counter&0xfff
	binary.BigEndian.PutUint64(u[:8], hi)
	return u
}
