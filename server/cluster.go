package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/forward"
	"github.com/parley-rt/parley/internal/telemetry"
	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/socketio"
)

// clusterAddrOff is the ClusterAddr that turns taking forwarded requests
// off.
const clusterAddrOff = "off"

// setupCluster joins the Redis cluster when Config.RedisURL is set: every
// namespace gets the Redis adapter, wire-compatible with Node's
// @socket.io/redis-adapter, and requests for other nodes' sessions are
// forwarded to them (internal/forward). Unset, the server is a single node
// and needs no Redis. The cluster's goroutines start here and stop after
// the engine has closed (Shutdown runs closers in reverse).
func (s *Server) setupCluster(scfg *socketio.Config) error {
	if s.cfg.RedisURL == "" {
		return nil
	}
	c, err := redisadapter.New(redisadapter.Config{URL: s.cfg.RedisURL, Prefix: s.cfg.RedisPrefix, NodeTTL: s.cfg.NodeTTL, OnceTTL: s.cfg.OnceTTL, Logger: s.cfg.Logger})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	// A long-polling GET is answered within the ping interval: the relay
	// waits for the owner's answer up to a whole heartbeat.
	pi, pt := s.cfg.PingInterval, s.cfg.PingTimeout
	if pi <= 0 {
		pi = 25 * time.Second
	}
	if pt <= 0 {
		pt = 20 * time.Second
	}
	fwd, err := forward.New(forward.Config{
		Self: c.UID(), Resolve: c.NodeAddr, ResponseTimeout: pi + pt, Logger: s.cfg.Logger,
		// While Redis is down the nodes keep serving: relays go on to the
		// owners' last known addresses.
		Unavailable: func(err error) bool { return errors.Is(err, redisadapter.ErrUnavailable) },
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.Start()
	s.cluster, s.forward = c, fwd
	s.closer = append(s.closer, c.Close, fwd.Close) // the relays end first, then the cluster
	// /readyz is 503 while Redis is unreachable; /healthz stays 200, since
	// the node still serves its own clients.
	s.ready = append(s.ready, readiness{"redis", func(context.Context) error {
		if !c.Ready() {
			return redisadapter.ErrUnavailable
		}
		return nil
	}})
	scfg.Adapter = c.Adapter
	// The sid names its owner, so that any node can forward to it.
	scfg.Engine.SIDPrefix = c.UID()
	scfg.Engine.UnknownSession = fwd.UnknownSession
	return nil
}

// serveCluster advertises the address other nodes forward this node's
// sessions' requests to (ClusterAddr, or else the listener's address when
// it names a host), and ends the relays of this node when hs shuts down:
// a relayed long poll would otherwise hold the shutdown for up to a ping
// interval.
func (s *Server) serveCluster(hs *http.Server, bound net.Addr) {
	if s.cluster == nil {
		return
	}
	hs.RegisterOnShutdown(func() { _ = s.forward.Close(context.Background()) }) // returns once the relays end; Shutdown waits for them too
	addr := s.cfg.ClusterAddr
	switch {
	case addr == clusterAddrOff:
		return
	case addr == "":
		tcp, ok := bound.(*net.TCPAddr)
		if !ok || tcp.IP.IsUnspecified() {
			s.cfg.Logger.Warn("cluster: this node takes no forwarded requests: set --cluster-addr to the host:port the other nodes reach it at; until then a load balancer must keep each client on the node of its session (sticky sessions)",
				"listen", bound.String())
			return
		}
		addr = tcp.String()
	}
	s.cluster.Advertise(addr)
	s.cfg.Logger.Info("cluster: taking forwarded requests", "cluster_addr", addr, "node", s.cluster.UID())
}

// clusterMetrics exports the forwarding counters.
func (s *Server) clusterMetrics(m *telemetry.Metrics) {
	if f := s.forward; f != nil {
		m.Forwarding(func() telemetry.ForwardCounts {
			st := f.Stats()
			return telemetry.ForwardCounts{Polling: st.Polling, WebSocket: st.WebSocket, Unknown: st.Unknown, Failed: st.Failed}
		})
	}
}

// checkClusterAddr validates Config.ClusterAddr: empty, "off", or a
// host:port another node can dial (not an unspecified address, not port 0).
func checkClusterAddr(addr, redisURL string) error {
	if addr == "" {
		return nil
	}
	if redisURL == "" {
		return fmt.Errorf("server: ClusterAddr %q needs RedisURL (--cluster-addr needs --redis-url)", addr)
	}
	if addr == clusterAddrOff {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if err != nil || host == "" || perr != nil || n <= 0 || n > 65535 || ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("server: ClusterAddr %q: want host:port that the other nodes can reach (not 0.0.0.0, not port 0), or off", addr)
	}
	return nil
}

// clusterApp makes the application cluster-wide when the server is in a
// cluster: the chat feed (messages, joins and leaves for the other nodes'
// SSE streams) and the presence records, replicated through Redis with
// node heartbeats. It returns nils on a single node, and start, which
// subscribes once the core exists.
func (s *Server) clusterApp() (feed core.Feed, replica core.Replica, start func(*core.Chat, *core.Presence)) {
	c := s.cluster
	if c == nil {
		return nil, nil, func(*core.Chat, *core.Presence) {}
	}
	f := c.Feed("parley-chat")
	recs := c.Records("parley-presence", redisadapter.Liveness{}) // the registry's timing (NodeTTL)
	return f, recs, func(ch *core.Chat, p *core.Presence) {
		f.Start(ch.Relay)
		recs.Start(redisadapter.RecordsEvents{Load: p.LoadNode, Put: p.PutRecord, Delete: p.DeleteRecord, Gone: p.NodeGone})
	}
}

// devSecret is the dev-mode token secret the nodes of a cluster share
// (kept in Redis), so that a dev token from /api/dev/token on one node is
// good on every node behind a round-robin balancer. Nil on a single node,
// with a configured key, or when Redis cannot be reached at start (then
// each node signs with its own, and a warning says so).
func (s *Server) devSecret() []byte {
	if s.cluster == nil || s.cfg.JWTSecret != "" || len(s.cfg.JWTPublicKey) > 0 || s.cfg.Production {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	secret, err := s.cluster.SharedSecret(ctx, "parley-dev-secret", auth.MinSecretBytes)
	if err != nil {
		s.cfg.Logger.Warn("cluster: no shared dev-token secret; a dev token is good only on the node that issued it", "err", err)
		return nil
	}
	return secret
}
