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
// Concurrency: a Cluster owns three goroutines between Start and Close:
// the subscriber, which handles every incoming message in order
// (broadcasts are delivered on it; server-side emit handlers run on
// goroutines of their own, at most 64 at once), the publisher, which sends
// queued messages in order, pipelined, and the heartbeat, which renews the
// registry entry and calls the OnNodeDown callbacks. Publishing never
// blocks the caller. All methods are safe for concurrent use. Lock order:
// Cluster.mu, Cluster.psMu, Cluster.nodeMu and adapter.mu are never held
// together. A started Records owns one more goroutine (its beats, scans,
// writes and events), stopped by Close.
package redisadapter
