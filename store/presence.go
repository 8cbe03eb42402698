package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// Statements of the presence paths.
const (
	// sqlUpsertSeen never moves a user's last-seen time backwards: a late
	// write carrying an older time (two servers, a retried call) loses.
	sqlUpsertSeen = `INSERT INTO last_seen (user_id, name, ts) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, ts = excluded.ts
		WHERE excluded.ts >= last_seen.ts`
	// sqlLastSeen takes the ids as one JSON array, so that a single prepared
	// statement serves any number of them, with no bound-parameter limit.
	sqlLastSeen = `SELECT user_id, name, ts FROM last_seen
		WHERE user_id IN (SELECT value FROM json_each(?))`
)

// SetLastSeen implements Presence. The write goes through the store's writer
// goroutine like Append, for two reasons: the process keeps a single writing
// connection, so its writes never contend for SQLite's write lock (no
// SQLITE_BUSY between our own connections), and a burst of disconnects, such
// as a server shutdown, shares fsyncs with concurrent messages instead of
// paying one each. An older ms than the stored one is ignored, so that the
// recorded time never goes back; the name is updated with it. ctx is handled
// as by Append.
func (s *SQLite) SetLastSeen(ctx context.Context, userID, name string, ms int64) error {
	_, err := s.submit(ctx, opSeen.String(), &request{op: opSeen, userID: userID, name: name, ms: ms})
	return err
}

// LastSeen implements Presence. Users without a record are absent from the
// map; the map is never nil.
func (s *SQLite) LastSeen(ctx context.Context, userIDs []string) (map[string]Seen, error) {
	const op = "last seen"
	seen := make(map[string]Seen, len(userIDs))
	if len(userIDs) == 0 {
		return seen, nil
	}
	if s.closed.Load() {
		return nil, errClosed(op)
	}
	ids, err := json.Marshal(userIDs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rows, err := s.stmtLast.QueryContext(ctx, string(ids))
	if err != nil {
		return nil, s.readErr(ctx, op, err)
	}
	defer func() {
		_ = rows.Close() // rows.Err below reports what matters
	}()
	for rows.Next() {
		var (
			id string
			r  Seen
		)
		if err := rows.Scan(&id, &r.Name, &r.At); err != nil {
			return nil, s.readErr(ctx, op, err)
		}
		seen[id] = r
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(ctx, op, err)
	}
	return seen, nil
}
