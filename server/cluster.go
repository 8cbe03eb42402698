package server

import (
	"context"
	"fmt"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/socketio"
)

// setupCluster joins the Redis cluster when Config.RedisURL is set: every
// namespace gets the Redis adapter, wire-compatible with Node's
// @socket.io/redis-adapter. Unset, the server is a single node and needs
// no Redis. The cluster's goroutines start here and stop after the engine
// has closed (Shutdown runs closers in reverse).
func (s *Server) setupCluster(scfg *socketio.Config) error {
	if s.cfg.RedisURL == "" {
		return nil
	}
	c, err := redisadapter.New(redisadapter.Config{URL: s.cfg.RedisURL, Prefix: s.cfg.RedisPrefix, Logger: s.cfg.Logger})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.Start()
	s.cluster = c
	s.closer = append(s.closer, c.Close)
	// /readyz is 503 while Redis is unreachable; /healthz stays 200, since
	// the node still serves its own clients.
	s.ready = append(s.ready, readiness{"redis", func(context.Context) error {
		if !c.Ready() {
			return redisadapter.ErrUnavailable
		}
		return nil
	}})
	scfg.Adapter = c.Adapter
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
	recs := c.Records("parley-presence", redisadapter.Liveness{TTL: s.cfg.NodeTTL})
	return f, recs, func(ch *core.Chat, p *core.Presence) {
		f.Start(ch.Relay)
		recs.Start(redisadapter.RecordsEvents{Load: p.LoadNode, Put: p.PutRecord, Delete: p.DeleteRecord, Gone: p.NodeGone})
	}
}
