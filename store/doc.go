// Package store keeps Parley's durable state: chat history (Messages) and
// presence last-seen times (Presence). SQLite, on one database file through
// the pure-Go driver modernc.org/sqlite, is the implementation for now;
// PostgreSQL is to follow behind the same interfaces.
//
// # Concurrency contract
//
// A *SQLite is safe for concurrent use by any number of goroutines.
//
// OpenSQLite starts one goroutine, the writer, which the store owns. This
// departs from the house rule that constructors start nothing: a store
// without its writer cannot take a single write, so there is no useful state
// between construction and running. Close stops the writer and waits for it:
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
// waiting for the writer).
//
// The package has one lock, SQLite.mu, which orders sends on the queue
// against Close closing it; it is never held while waiting for the writer,
// and no other lock is taken under it.
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
// # Schema
//
// OpenSQLite applies the ordered migration list, each step in its own
// transaction together with the PRAGMA user_version it reaches, and refuses
// a database whose version is newer than the build's.
//
// # Errors
//
// Lock timeouts (SQLITE_BUSY past BusyTimeout), I/O, disk-full, permission
// and corruption errors, and any use after Close, wrap ErrUnavailable along
// with the driver's error. A context that ends is reported as ctx.Err().
// Bad queries wrap ErrBadQuery and unknown cursors ErrNotFound.
package store
