package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// migrations is the ordered schema history. Migration i (0-based) brings the
// database from PRAGMA user_version i to i+1. Entries are append-only: never
// edit or reorder one that has shipped; add a new one instead.
var migrations = [][]string{
	// 1: messages and last_seen.
	{
		`CREATE TABLE messages (
			id            TEXT    NOT NULL PRIMARY KEY, -- UUIDv7, assigned at commit
			room          TEXT    NOT NULL,
			sender_id     TEXT    NOT NULL,
			sender_name   TEXT    NOT NULL,
			content       TEXT    NOT NULL,
			ts            INTEGER NOT NULL,             -- Unix ms
			client_msg_id TEXT                          -- NULL when none was given
		) STRICT`,
		// Idempotency key. Partial, so messages without a key never collide.
		`CREATE UNIQUE INDEX messages_sender_client_msg
			ON messages (sender_id, client_msg_id)
			WHERE client_msg_id IS NOT NULL`,
		// History paging: every page is a range scan of one room by id.
		`CREATE INDEX messages_room_id ON messages (room, id)`,
		`CREATE TABLE last_seen (
			user_id TEXT    NOT NULL PRIMARY KEY,
			name    TEXT    NOT NULL,
			ts      INTEGER NOT NULL -- Unix ms
		) STRICT`,
	},
}

// schemaVersion is the user_version a fully migrated database has.
var schemaVersion = len(migrations)

// migrate applies the migrations db lacks, each in its own write
// transaction that also bumps user_version, so a crash leaves the database
// at some version, never between two. The version is read inside the
// transaction (BEGIN IMMEDIATE, see the DSN), so two processes opening the
// same new file cannot both apply a migration.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	for next := range migrations {
		applied, err := migrateOne(ctx, db, next)
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", next+1, err)
		}
		if applied {
			log.Info("store: schema migrated", "version", next+1)
		}
	}
	return nil
}

// migrateOne applies migrations[next] unless the database already has it.
func migrateOne(ctx context.Context, db *sql.DB, next int) (applied bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if !applied {
			_ = tx.Rollback() // nothing written, or err already says why
		}
	}()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return false, err
	}
	if version > schemaVersion {
		return false, fmt.Errorf("database schema version %d is newer than this build's %d", version, schemaVersion)
	}
	if version > next {
		return false, nil
	}
	for _, stmt := range migrations[next] {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, err
		}
	}
	// PRAGMA takes no bound parameters; next+1 is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, next+1)); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}
