package server

import (
	"context"
	"fmt"

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
