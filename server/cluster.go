package server

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

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
	scfg.Adapter = c.Adapter
	return nil
}

// readyz answers 200 when the server takes part in its cluster (always, on
// a single node) and 503 while Redis is unreachable; /healthz stays 200
// meanwhile, since the node still serves its own clients.
func (s *Server) readyz(c *gin.Context) {
	if s.cluster != nil && !s.cluster.Ready() {
		c.String(http.StatusServiceUnavailable, "redis unavailable")
		return
	}
	c.String(http.StatusOK, "ok")
}
