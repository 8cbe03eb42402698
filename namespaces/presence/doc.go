// Package presence serves the /presence namespace and keeps the presence
// tracker: who is online, with how many connections and which chosen status,
// and who watches whom.
//
// # Model
//
// A user is online while any of its sockets, in any namespace and tab, is
// connected: the composition root calls Tracker.Connect for every /chat and
// /presence socket. When the last one ends, the user stays online for a
// grace period (TrackerConfig.Grace) so that a reload or a brief network
// drop does not flap; a connection within the grace period cancels it.
// Afterwards the user is offline and its last-seen time (when the last
// connection ended) is written to the Store, which survives restarts.
// setStatus (online, away, busy) applies to the user, not the socket, and
// lasts until the user goes offline.
//
// A Watch is one subscriber: a /presence socket or a server-sent events
// stream. It watches users by id, and chat rooms: a room watch covers the
// users present in the room at the time of each change, so a user joining a
// watched room becomes watched (its state is delivered when it joins, via
// Tracker.Joined) and a user leaving stops being watched. A change of a
// user's public state (online, status, connection count) is delivered to
// the watchers indexed under its id and under the rooms its chat sockets
// are in: the cost is O(those watchers), never a broadcast to everyone.
// Within the grace period nothing is delivered, so a reconnect that restores
// the previous state is invisible.
//
// Snapshots and deliveries are consistent: a Watch is registered and its
// snapshot computed under the tracker lock, and every delivery happens under
// it too, so each state a watcher receives after its snapshot reflects a
// later change. A /presence client receives the snapshot in the subscribe
// ack, which may arrive after such a status event: status events received
// while a subscribe is pending are newer than its snapshot.
//
// # Concurrency
//
// The engine calls one socket's handlers one at a time; Tracker and Watch
// methods are safe for concurrent use. The tracker has one lock, Tracker.mu.
// Lock order: a chat room lock (Joined is called under it) before
// Tracker.mu before the adapter's lock (TrackerConfig.RoomsOf and
// RoomMembers read the adapter under Tracker.mu). Deliveries run under
// Tracker.mu and must not block: a socket's Emit queues, an SSE stream's
// buffer drops its reader when full. Store I/O never runs under the lock.
//
// # Goroutines
//
// The package starts none itself. Each user in its grace period owns one
// timer (TrackerConfig.AfterFunc); reconnecting stops it, and a timer that
// fires late finds itself replaced and does nothing. A fired timer writes the
// last-seen time on its own goroutine; Tracker.Close stops the pending
// timers, writes the last-seen time of every user still tracked and waits
// for those writes.
package presence
