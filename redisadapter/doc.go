// Package redisadapter is the socketio.Adapter of a cluster of nodes
// sharing one Redis, wire-compatible with Node's @socket.io/redis-adapter
// 8.x (classic pub/sub) and @socket.io/redis-emitter 5.x: Parley nodes and
// Node socket.io nodes on the same Redis and prefix behave as one server.
//
// The wire contract, as Node's adapter writes it:
//
//   - A broadcast is published on <prefix>#<nsp># (or <prefix>#<nsp>#<room>#
//     when it names exactly one room) as the MessagePack encoding, as
//     notepack.io writes it, of [uid, packet, opts]: packet is {type: 2,
//     data: [event, ...args], nsp}, with binary attachments as bin values,
//     opts is {rooms, except, flags}. Every node pattern-subscribes to
//     <prefix>#<nsp>#* and skips its own uid and rooms it has no member of.
//   - Requests go to <prefix>-request#<nsp># as JSON (MessagePack for a
//     broadcast with acks): SOCKETS, ALL_ROOMS, REMOTE_JOIN, REMOTE_LEAVE,
//     REMOTE_DISCONNECT, REMOTE_FETCH, SERVER_SIDE_EMIT and BROADCAST.
//     Answers go to <prefix>-response#<nsp># (or the requester's own
//     <prefix>-response#<nsp>#<uid>#): JSON, or MessagePack for a
//     BROADCAST_ACK. A request waits for PUBSUB NUMSUB of the request
//     channel minus one answers.
//
// Faults: while Redis is unreachable every node keeps serving its own
// sockets; broadcasts to other nodes are dropped and counted (Stats), the
// subscriber reconnects with backoff and subscribes again, and requests to
// other nodes fail with ErrUnavailable or, when answers are missing,
// ErrTimeout. Ready and Ping tell a readiness probe.
//
// A subscription that goes silent without a reset (a host gone from the
// network) is noticed by a PING unanswered within HealthInterval, and
// replaced. Known limits: a message being written when Redis went silent
// may arrive late rather than be lost; integers
// beyond 2^53 cross as notepack writes them (wrapped above 2^64), as
// between Node nodes; a Parley socket's handshake, as other nodes'
// fetchSockets see it, has no host header (Go keeps it out of the header
// map) and its url assumes the /socket.io/ path.
//
// The node registry is the cluster's heartbeat. Each Parley node keeps the
// key <prefix>-node#<uid> (JSON {"addr": "host:port"}, the address other
// nodes forward its sessions' requests to, set by Advertise; empty when it
// takes none) with a TTL of NodeTTL (10s), renewed every NodeTTL/5, and
// its uid in the set <prefix>-nodes; Close deletes both. LiveNodes lists
// the nodes whose key is alive, NodeAddr reads one, and OnNodeDown is
// called when a node's key disappears (stopped, or silent for NodeTTL),
// on every node, once the registry has answered for a whole NodeTTL (a
// Redis restart loses every key and is not every node's death). Node
// socket.io nodes do not register. The registry is what lets the cluster
// run without sticky sessions: Parley's engine starts every session id
// with the owning node's uid, and internal/forward relays a request for
// another node's session to the address in its key (FORWARDING.md).
//
// Beyond the adapter, the Cluster carries Parley's own cluster-wide
// state, on names Node's adapter never uses: the registry above (nodes.go;
// Liveness gives its timing and the detection bound of a dead node),
// Records (records.go: a per-node table replicated to every node, for
// presence; it drops a node whose key stayed missing for
// Liveness.Confirm) and Feed (feed.go: a channel every node reads, for the
// chat's messages, joins and leaves).
//
// Broadcasts decided once per key (PublishOnce, socketio.OnceAdapter; the
// chat keys a message's newChatMessage by its id, see core.OnceBroadcaster)
// go out at most once across the cluster. Each is one EVALSHA of a script
// that sets the gate <prefix>-once#<nsp>#<key> (SET NX PX OnceTTL, holding
// the setting node's uid) and, only if it set it, PUBLISHes the very
// payload on the very channel Publish would: Node nodes and emitters see
// today's wire. The original's script goes through the publisher's queue
// in place of its PUBLISH (same round trips, pipelined); this node's
// sockets got the event before, as with Publish. A resend's script goes
// through the same queue (so it never overtakes this node's original),
// and this node's sockets get the event only when the script set the gate.
// A node killed between a message's commit and its script leaves the gate
// unset, so the first resend through any node broadcasts it; after an
// original that went out, every resend is a no-op. OnceTTL (default 1 min,
// DefaultOnceTTL) is the resend horizon: a resend later than half of it
// after the message's commit (the other half is the margin for clocks and
// the original's delay) sends nothing, since the gate may be gone. Memory:
// a gate costs about 180 bytes in Redis 7 (measured: 100,000 keys of a
// UUIDv7 id, 18 MB), so 4,400 persisted messages/s hold about 264,000
// gates, 48 MB, with the default TTL. CPU: a script costs Redis more than
// a PUBLISH (BenchmarkSendGated against BenchmarkSendPublish: about 4 to 5
// times the time per pipelined message, 8.5 to 17 µs against 1.7 to 3.2 µs
// on a loaded 2-core machine; 3 more allocations per message in the
// publisher). Faults: while Redis is unreachable
// an original reaches this node's sockets only and is dropped and counted,
// as a plain broadcast is; a resend sends nothing anywhere and says so
// (ErrUnavailable), and one whose answer was lost is not delivered to this
// node's sockets (the others may have it): nothing doubles, and the
// message is in the history. A NOSCRIPT (Redis restarted, SCRIPT
// FLUSH) sends the script again by EVAL; a Redis that refuses scripts
// gets an original by plain PUBLISH (ungated) and no resend. Known limits:
// a node that stays alive but whose original was dropped (Redis
// unreachable from it), or whose queued script runs after another node's
// resend set the gate (a publish queue stalled longer than the client's
// reconnection), has its own sockets get the message twice when it is
// then resent. Stats.Gated counts the broadcasts the gate held back.
//
// Concurrency: a Cluster owns three goroutines between Start and Close:
// the subscriber, which handles every incoming message in order
// (broadcasts are delivered on it; server-side emit handlers run on
// goroutines of their own, at most 64 at once), the publisher, which sends
// queued messages in order, pipelined (and answers PublishOnce's then
// callbacks, which deliver a resend to this node's sockets, on it), and
// the heartbeat, which renews the registry entry and calls the OnNodeDown
// callbacks. Publishing never
// blocks the caller. All methods are safe for concurrent use. Lock order:
// Cluster.mu, Cluster.psMu, Cluster.nodeMu and adapter.mu are never held
// together. A started Records owns one more goroutine (its beats, scans,
// writes and events), stopped by Close.
package redisadapter
