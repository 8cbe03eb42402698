// Package core is Parley's application: chat (rooms, messages with durable
// history, typing) and presence (who is online, status, last seen, who
// watches whom). It knows no transport. The Socket.IO namespaces, the HTTP
// API and the SSE streams (and later /ws, GraphQL and other cluster nodes)
// are adapters that decode a request, call the core and encode its answer;
// errors the client may see are *events.Error values.
//
// # Ports
//
//   - History (store: SQLite now, PostgreSQL later) keeps messages;
//     StoreHistory adapts package store. PresenceStore keeps last-seen
//     times; StorePresence adapts package store.
//   - ChatConfig.Rooms is the fan-out: the /chat namespace, whose adapter
//     (in memory, or on Redis in a cluster) is the only record of room
//     membership and carries every broadcast. A connection is a
//     namespaces.Conn; its identity is the one the connection middleware
//     recorded (namespaces.IdentityOf).
//
// A chat room is the adapter room of its plain name (roomKey), so Node
// nodes of a mixed cluster and @socket.io/redis-emitter publishers address
// it as io.of("/chat").to(name); a name that could be taken for a socket id
// (20 characters of URL-safe base64: a socket's private room) is refused
// as bad_request wherever a room is named. No other package needs more.
//
// # Chat
//
// One function posts a message (Chat.post): validate, deduplicate by the
// sender's clientMsgId, append durably, broadcast newChatMessage to the
// room, tell the observers. A connection's Session.Post and the HTTP API's
// Chat.Publish both call it. A clientMsgId already used by the sender in
// another room fails with conflict. userJoined is sent when a user's first
// connection joins a room, userLeft when its last one leaves it (Leave or
// disconnect). Observers (Chat.Observe: SSE feeds, metrics) and Presence
// learn of messages, joins and leaves from the core, never from a
// transport.
//
// # Presence
//
// A user is online while any of its tracked connections, in any namespace
// and tab, is connected: Chat.Open tracks every chat connection, and the
// /presence adapter calls Presence.Track for its own. When the last one
// ends, the user stays online for a grace period (PresenceConfig.Grace) so
// that a reload or a brief network drop does not flap; a connection within
// the grace period cancels it. Afterwards the user is offline and its
// last-seen time is written to the PresenceStore. setStatus (online, away,
// busy) applies to the user, not the connection, and lasts until the user
// goes offline.
//
// A Watch is one subscriber: a /presence socket or an SSE stream. It
// watches users by id, and chat rooms: a room watch covers the users
// present in the room at the time of each change, so a user joining a
// watched room becomes watched (its state is delivered when it joins) and
// a user leaving stops being watched. A change of a user's public state is
// delivered to the watchers indexed under its id and under the rooms its
// chat connections are in: O(those watchers), never a broadcast to
// everyone. Snapshots and deliveries are consistent: a Watch is registered
// and its snapshot computed under the presence lock, and every delivery
// happens under it too, so each state a watcher receives after its
// snapshot reflects a later change.
//
// # Cluster
//
// With ChatConfig.Feed and PresenceConfig.Replica set (server wires them
// to redisadapter with --redis-url) the application is cluster-wide; nil,
// the core is a single node and nothing of this section runs.
//
//   - Room events need nothing more: newChatMessage, typing, userJoined
//     and userLeft are adapter broadcasts, which the Redis adapter carries
//     to every node.
//   - Presence: each node replicates one record per user with a
//     connection there (its connection count, status and the time it was
//     chosen, its chat rooms there, the start of its grace period); every
//     node keeps the others' records (Presence.PutRecord, DeleteRecord,
//     LoadNode) and derives a user's state from its own connections and
//     those records: online while any node has a connection or a running
//     grace period, connections summed, the latest status wins. Each node
//     delivers to its own watchers. The grace period runs on the node
//     where the last connection ended; its record goes when it ends.
//     Connections, and so MaxConnectionsPerUser, count every node's (two
//     handshakes on two nodes within the replication delay, about a
//     millisecond, may both pass). Members lists the users of every node.
//   - A node's records come back to it through the replication as well
//     (Presence.PutRecord with its own id), and every node receives
//     every node's records in one order, the order in which Redis took
//     them. userLeft is decided in that order, so on every node alike: a
//     record that takes a room out of the last node that had the user in
//     it is announced by that record's node, once, however the user's
//     last sockets on two nodes interleave and whatever each node knew of
//     the other's joins at the time. userJoined is announced at once by
//     the node of the user's first socket there unless another node has
//     the user in the room already (two first joins on two nodes within
//     the replication delay may both announce it: a member list is a
//     set), or another node announced the user's userLeft there lately:
//     that node announces the join, after its userLeft, when it sees the
//     record (nodeRecord.JoinBy), and so does the node whose record took
//     the room out when the joining node skipped because it still saw the
//     user there. joinRoom and leaveRoom are acknowledged only once the
//     record is written (Replica.Wait), so that what a client does next,
//     on any node, comes after them in that order; a disconnect is not
//     waited for (nobody is told). Records read whole (a node's first
//     read, or after lost messages) update the state but announce
//     nothing.
//   - The grace period is the cluster's: a user is online while any node
//     has a connection or a running grace period for it, so a socket
//     dropping on one node and the user reconnecting on another within
//     the grace period shows nothing to watchers; a node where the user
//     connects takes the status chosen on the others (the newest wins),
//     so it outlives the grace period of the node where it was chosen.
//     (A reconnect that reaches another node before the drop is known
//     there shows two connections for that moment, as it is.)
//   - A dead node (NodeGone, from the node heartbeats): its users leave
//     their rooms at once (the leader, one live node, announces userLeft),
//     and stay online on the other nodes for the grace period, in case
//     they are reconnecting elsewhere, then go offline; the leader writes
//     their last-seen time. Until it is declared dead, its connections
//     still count (in connections and against MaxConnectionsPerUser).
//   - A message is broadcast at most once cluster-wide, and a message
//     whose node died between its commit and its broadcast is broadcast
//     by its resend: the original's broadcast is gated by the message id
//     (OnceBroadcaster.Once: this node's sockets at once, the other nodes
//     only if the gate was not set); a resend (the sender's clientMsgId
//     stored before) asks the gate again (EmitOnce), and only the first
//     broadcast under the id, on whichever node, goes out, to every
//     node's sockets. The resending node's Cluster observers and the feed
//     then hear of it, as they would have of the original. A resend later
//     than the gate's horizon, or while Redis is unreachable, is not
//     broadcast: the message is in the history (redisadapter/doc.go).
//   - SSE and other Cluster observers see the other nodes' messages, joins
//     and leaves through the feed (Chat.Relay); metrics count this node's
//     own only. A room's SSE stream reads new messages from the store, so
//     streams of messages posted on other nodes need the shared store
//     (PostgreSQL).
//
// PutRecord, DeleteRecord, LoadNode, NodeGone and Relay run on the
// replication's goroutine; they take Presence.mu, release it, and only
// then take a room lock to announce (lock order below holds), in the
// order of the records.
//
// # Concurrency
//
// The engine runs one connection's handlers one at a time, in arrival
// order; different connections run in parallel. Typing and grace timers
// fire, and disconnect handlers run, on other goroutines. Chat, Presence
// and Watch methods are safe for concurrent use; a Session's handler
// methods are called by its connection's handler goroutine (they and its
// timers share Session.mu).
//
// Locks, in the one order they may be taken (never the reverse, never two
// of one kind):
//
//  1. a chat room lock (one of a fixed set, picked by hashing the room
//     key): serializes a room's membership transitions, the check "is this
//     the user's first or last connection here", the Join or Leave and
//     the queueing of the announcement that follow (roomSlot);
//  2. Session.mu: one connection's typing timers, joined rooms, closed;
//  3. Presence.mu: users, watchers (Presence.joined is called under a room
//     lock);
//  4. the adapter's and the socket's own locks, inside namespaces.Conn and
//     Namespace calls (the adapter is read under Presence.mu for a room's
//     members and a connection's rooms);
//  5. Chat.obsMu (read-locked while observers run);
//  6. a room lock's queue lock (roomSlot.qmu): taken under lock 1 to
//     queue an announcement, and alone to take them off the queue;
//     nothing is taken under it.
//
// post takes none of these locks: the store, and a resend's wait for the
// gate (OnceBroadcaster.EmitOnce, bounded by the request's context), run
// without a lock; the gate delivers a resend to this node's sockets on the
// adapter's publisher goroutine, which takes only locks of level 4.
//
// # Announcements after the room lock
//
// userJoined and userLeft (and the isTyping:false of a closing socket)
// are decided under the room lock but made after it is released: the
// transition queues its announcement on its lock's slot, releases the
// lock, then drains the slot (roomSlot.drain). Emitting can wait (the
// socket.io namespace takes locks of its own, and a soak showed joins,
// leaves and disconnects of a slot's rooms queueing behind one slow emit
// while the room lock was held: ack p99 of 8 to 14 s), and nothing that
// needs the room lock waits for it now. The order a room's members see is
// still the order of the transitions:
//
//   - Every transition of a room is decided under the room's lock, and
//     its announcement is queued before the lock is released, so a slot's
//     queue holds its rooms' announcements in transition order: a
//     userJoined that follows a userLeft of the same user and room (the
//     later transition, under the same lock) is queued after it.
//   - One goroutine at a time drains a slot (the draining flag, under
//     qmu): it takes announcements from the front and makes each, its
//     Emit returning, before the next; a goroutine that finds the slot
//     being drained leaves its announcement to the drainer. So they are
//     emitted in queue order.
//   - An Emit hands the packet to the adapter, which queues it for each
//     member socket in call order (the Redis adapter publishes in call
//     order), so each member receives them in emission order.
//
// In a cluster the announcements the records decide are queued the same
// way, from the replication's goroutine. The cost: an announcement may
// reach the room after the transition's caller returned (the joinRoom ack
// can arrive before the others hear userJoined), and a drainer's own
// socket waits while it makes the others' announcements. Observer
// functions (Joined, Left) run from the queue, in transition order,
// without the room lock; Observer.Message and Watch delivery functions
// run under locks: none may block or call back into the core. Other
// events are emitted with locks held: Emit never blocks for long (a
// socket queues; a slow consumer is dropped, never waited for). Store I/O
// never runs under a lock.
//
// # Goroutines
//
// The package starts none itself. Each typing timer (at most one per
// connection and room) is owned by its Session: it is stopped by the next
// typing event, Leave or disconnect, and a timer that fires late finds
// itself replaced and does nothing. Each user in its grace period owns one
// presence timer; a fired one writes the last-seen time on its own
// goroutine, and Presence.Close stops the pending timers, writes the
// last-seen time of every user still tracked and waits for those writes.
package core
