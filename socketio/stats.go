package socketio

import "sync/atomic"

// NamespaceStats are a namespace's counters since it was created, for
// metrics.
type NamespaceStats struct {
	// PacketsReceived counts the events and acks its sockets received.
	PacketsReceived uint64
	// PacketsSent counts the packets queued to its sockets: one per socket
	// reached by a broadcast, one per direct emit or ack.
	PacketsSent uint64
	// BroadcastDeliveries counts the sockets reached by its broadcasts on
	// this node.
	BroadcastDeliveries uint64
}

// nsStats are a namespace's counters: one atomic add per packet received
// or emitted, one per broadcast (not per recipient).
type nsStats struct {
	received, sent, deliveries atomic.Uint64
}

func (st *nsStats) broadcast(n int) {
	if n > 0 {
		st.sent.Add(uint64(n))
		st.deliveries.Add(uint64(n))
	}
}

// Stats returns the namespace's counters.
func (n *Namespace) Stats() NamespaceStats {
	return NamespaceStats{
		PacketsReceived:     n.stats.received.Load(),
		PacketsSent:         n.stats.sent.Load(),
		BroadcastDeliveries: n.stats.deliveries.Load(),
	}
}

// SessionID returns the id of the Engine.IO session the socket rides on
// (the "sid" of the transport, not the socket id).
func (s *Socket) SessionID() string { return s.client.sess.ID() }
