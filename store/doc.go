// Package store keeps Parley's durable state: chat history (Messages) and
// presence last-seen times (Presence). Two implementations keep the same
// contract: SQLite, on one database file through the pure-Go driver
// modernc.org/sqlite, for one node (the default), and Postgres, on a
// PostgreSQL database through pgx, which every node of a cluster shares.
//
// # Concurrency contract
//
// A *SQLite and a *Postgres are safe for concurrent use by any number of
// goroutines. What this section says of SQLite holds for both.
//
// OpenSQLite (OpenPostgres) starts one goroutine, the writer, which the
// store owns (a Postgres's connection pool also runs a health-check
// goroutine of its own, which Close stops). This departs from the house
// rule that constructors start nothing: a store without its writer cannot
// take a single write, so there is no useful state between construction
// and running. Close stops the writer and waits for it:
// Close first stops taking writes, the writer then commits every write
// already queued and answers it, and only then are the connections closed.
// Close is idempotent; calls after the first wait for the first and return
// its result. After Close every call that needs the database returns an
// error wrapping ErrUnavailable.
//
// Every write, Append and SetLastSeen alike, is handed to the writer through
// a bounded queue (SQLiteConfig.MaxBatch requests). When the queue is full,
// callers block until there is room or their context is done: that is the
// backpressure on a disk that cannot keep up. Reads, History and LastSeen,
// run on a small pool of read-only connections, in parallel with each other
// and with the writer (WAL mode lets readers see the last commit without
// waiting for the writer). Postgres reads on the connections of its pool
// (PostgresConfig.PoolSize) that the writer is not using.
//
// The package has one lock per store, queue.mu, which orders sends on the
// queue against Close closing it; it is never held while waiting for the
// writer, and no other lock is taken under it.
//
// # Group commit
//
// The writer takes the first queued request, then whatever else is already
// queued up to MaxBatch, and runs them in one transaction: one fsync for the
// whole batch. Nothing is delayed to wait for company; under load the queue
// fills while the previous batch is committing, and batches grow by
// themselves. Within a batch each Append checks its idempotency key
// (SenderID, ClientMsgID) against the earlier requests of the same batch and
// against the database (the insert does nothing when the key is taken, and
// the stored message is returned instead); a new message gets its ID
// (UUIDv7) and Timestamp there, inside the writer, so that id order is
// commit order. If
// the transaction fails to begin or commit, every request of the batch fails
// with an error wrapping ErrUnavailable and nothing of it is visible. A
// request whose caller's context ended before the writer took it is skipped;
// once taken, the caller waits for the outcome, so no caller sees an error
// for a write that was committed.
//
// Ids are also monotonic across restarts: the writer starts from the largest
// stored id and continues after it should the wall clock have stepped back.
// Timestamps are the wall clock and are not forced monotonic; page by ID,
// never by Timestamp.
//
// # Durability
//
// The database runs in WAL mode with synchronous=NORMAL by default: a commit
// is in the WAL, in the OS page cache, when Append returns, so an acked
// message survives a process crash (kill -9; TestCrashSafety), though the
// latest commits could be lost on power loss. SQLiteConfig.SyncFull selects
// synchronous=FULL: a commit returns only after its WAL frames are fsynced,
// so an acked message also survives power loss (given a disk that honours
// flushes).
//
// In the store's own benchmarks FULL costs little once commits are grouped. Measured with BenchmarkAppend
// and BenchmarkAppendParallel (go test -run '^$' -bench Append -benchtime 2s
// -count 5 ./store/), 100-byte messages with a ClientMsgID, on the 2-core
// AMD EPYC VM (ext4 on a virtio disk) while other builds shared it (load
// average 3 to 8), hence the wide ranges:
//
//	appends/s                    synchronous=FULL   synchronous=NORMAL
//	sequential, 1 goroutine         760 -  4,300       7,400 - 15,700
//	parallel, 64 goroutines      14,000 - 28,000      16,000 - 37,000
//
// Sequentially every Append is its own commit, so FULL pays one fsync each
// (0.25 ms on a quiet disk, above 1 ms while other builds write). In
// parallel the batches share the fsync and both modes are bound by CPU,
// FULL within about 25% of NORMAL.
//
// Through the whole server it is another story: in bench/run.sh's persist
// scenario (1000 sockets, 100 rooms, one message in flight each, the server
// on one core) fsyncs on this VM's disk took tens of milliseconds under
// load, and acked messages per second were 2,820 with FULL against 5,479
// with NORMAL (Node with better-sqlite3 and synchronous=NORMAL: 3,723).
// NORMAL is what the Node reference runs and what a process crash needs;
// FULL stays one flag away (parley --sqlite-sync full).
//
// # PostgreSQL
//
// Postgres batches like SQLite: its writer takes what is queued, up to
// MaxBatch requests, and sends the whole batch in one round trip: one
// statement inserting every message (multi-row, from arrays), one upserting
// every last-seen record, and the Sync that commits them as one implicit
// transaction. Within a batch, requests with the same idempotency key share
// one row and last-seen writes for one user collapse into the one that
// sequential application would leave. A request PostgreSQL cannot store
// (a NUL byte or invalid UTF-8 in a text field) fails alone with
// ErrInvalid before the batch is sent. If PostgreSQL rejects the batch for
// its data (it then rolls everything back), the writer retries its
// requests one transaction each, so that only the culprit fails; a
// serialization failure or deadlock is retried whole, up to three times.
// Only once the commit succeeded are the callers answered. A connection
// lost during the commit leaves its outcome unknown: the callers get
// ErrUnavailable, and a resend with the same ClientMsgID returns the
// message if it was committed after all.
//
// Statements are prepared and cached per connection (pgx's default). Behind
// a pooler in transaction mode, such as PgBouncer, add
// default_query_exec_mode=exec to the URL.
//
// Idempotency holds across nodes through the unique index on (sender_id,
// client_msg_id): an insert whose key is taken does nothing (ON CONFLICT DO
// NOTHING, which waits for a concurrent inserter of the same key to end),
// and the writer then reads the stored message, committed by then, and
// returns it with created == false. Two nodes sending one key at once make
// one row; both callers get it.
//
// Durability is the server's: an Append returns after PostgreSQL reported
// the commit, which with the default synchronous_commit=on means its WAL is
// flushed. TestCrashSafety kills a client mid-batch: every acked message is
// there, and a transaction cut off leaves nothing.
//
// # Commit order across nodes
//
// Paging and SSE resume read "the messages after id X" and rely on this:
// a message committed later never gets a smaller id. With one process the
// SQLite writer gets it by assigning ids in the order it commits. With
// several nodes on one PostgreSQL database no process sees every commit,
// so the database assigns the ids, inside the inserting statement, from a
// single-row table, message_clock (ms, seq: the millisecond and the counter
// of the last id handed out):
//
//  1. The first thing every message-inserting transaction does is UPDATE
//     that row, taking its row lock; PostgreSQL holds a row lock until the
//     transaction ends. So two such transactions never hold it at once, and
//     they take it in some order A, B, ...
//  2. B's UPDATE, having waited for A to end, works on the newest version
//     of the row (READ COMMITTED re-reads a row it waited for), the one A
//     committed, or the one before it if A rolled back. It moves (ms, seq)
//     past it: ms becomes the later of the database's clock and the stored
//     ms, and seq restarts at 0 in a new millisecond or continues after
//     the stored seq in the same one (carrying into ms at 2^42). B's n
//     messages get the n (ms, seq) pairs after the stored one, which sort
//     after every id handed out before, since an id sorts by ms, then seq
//     (parley_uuid7: 48-bit ms, version 7, the 42-bit counter split over
//     rand_a and the top of rand_b, variant, 32 random bits).
//  3. So lock order is id order. And lock order is commit order: A commits
//     before its lock is released (PostgreSQL makes a transaction visible,
//     then releases its locks), B takes the lock only after that and
//     commits after taking it.
//
// Hence if message y has a smaller id than message x, y's transaction was
// visible before x's transaction even took the lock: every snapshot that
// shows x shows y. A reader that has seen x and then asks for the messages
// after x misses nothing. A rolled-back transaction leaves no trace (its
// UPDATE rolls back too). Timestamp is the database's clock when the
// statement ran, one clock for every node; it is not forced monotonic,
// though the id's millisecond is.
//
// The price is that message-inserting transactions are serialized
// cluster-wide for the span of one statement and one commit (a WAL flush),
// which is what group commit pays for: each node's batch takes the lock
// once. Last-seen upserts take no clock lock. Locks are always taken in one
// order, the clock row first, then last_seen rows in user id order, so
// writers never deadlock.
//
// Measured with the same benchmarks (go test -tags integration -run '^$'
// -bench Append -benchtime 2s -count 5 ./store/; PostgreSQL 15 started by
// the tests with its defaults, fsync and synchronous_commit on, over a unix
// socket, on the same 2-core VM, load average 8 to 10 from other builds),
// in one session with SQLite for comparison:
//
//	appends/s                  PostgreSQL      PostgreSQL, 2 nodes   SQLite FULL      SQLite NORMAL
//	sequential, 1 goroutine       233 -    375      265 -   423        550 -    784    2,966 -  5,162
//	parallel, 64 goroutines     5,410 - 10,085    3,974 - 6,238     12,365 - 16,857   13,409 - 16,751
//
// Group commit makes 64 callers 20 to 30 times faster than one: PostgreSQL
// pays a WAL flush per batch instead of per message. With synchronous_commit
// off (not crash-safe for PostgreSQL itself) 64 callers reached 13,000 to
// 16,300, as fast as SQLite NORMAL: the flush is the bound, not the
// statement. "2 nodes" is two stores on one database with the 64 callers
// spread over them: their batches take turns on the clock row, so each
// flush carries half as many messages, and the cluster pays for commit
// order with about 40% of its throughput at this load. (A design with
// no lock across the flush, ids from a sequence and readers capped at the
// oldest transaction still in flight, would lift that; it is not built.)
//
// # Schema
//
// OpenSQLite applies the ordered migration list, each step in its own
// transaction together with the PRAGMA user_version it reaches, and refuses
// a database whose version is newer than the build's.
//
// OpenPostgres applies the embedded pgmigrations/NNNN.sql files the
// database lacks, in one transaction holding a transaction-level advisory
// lock (pg_advisory_xact_lock), recording each version in
// schema_migrations: nodes starting at once take turns and the later ones
// find nothing to do. It refuses a schema newer than the build's. Tables
// live in the first schema of the connection's search_path.
//
// # Errors
//
// Lock timeouts (SQLITE_BUSY past BusyTimeout), I/O, disk-full, permission
// and corruption errors, and any use after Close, wrap ErrUnavailable along
// with the driver's error. For PostgreSQL the same goes for errors that do
// not come from the server (no connection, a timeout) and SQLSTATE classes
// 08, 40, 53, 55, 57, 58 and XX and read-only transactions (a standby). A
// context that ends is reported as ctx.Err(). Bad queries wrap ErrBadQuery
// and unknown cursors ErrNotFound.
package store
