package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parley-rt/parley/internal/graphql"
	"github.com/parley-rt/parley/internal/httpapi"
)

// routes builds the gin router: the Socket.IO endpoint, health, the HTTP
// API, the SSE streams, the dev token endpoint and the demo page.
func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/readyz", func(c *gin.Context) { s.readyz(c.Writer, c.Request) })
	if s.cfg.MetricsAddr == "" && !s.cfg.Production {
		r.GET("/metrics", gin.WrapH(s.metrics.Handler()))
	}
	r.Any("/socket.io/*path", gin.WrapH(s.io))
	r.GET("/ws", gin.WrapH(s.ws))                   // plain WebSocket, JSON frames (internal/wsapi)
	r.Any("/graphql", s.cors, gin.WrapH(s.graphql)) // GraphQL over HTTP and graphql-transport-ws (internal/graphql)
	if s.verifier.Dev() {
		r.GET("/graphiql", gin.WrapH(graphql.GraphiQL("/graphql")))
	}
	r.GET("/asyncapi.json", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "application/json", s.asyncapi)
	})

	r.OPTIONS("/api/*path", s.cors) // preflights carry no credentials
	api := r.Group("/api", s.cors)
	keyed := api.Group("", s.apiKey)
	keyed.POST("/rooms/:room/messages", func(c *gin.Context) { s.api.Publish(c.Writer, c.Request, c.Param("room")) })
	keyed.GET("/rooms/:room/messages", func(c *gin.Context) { s.api.History(c.Writer, c.Request, c.Param("room")) })
	if s.verifier.Dev() {
		api.GET("/dev/token", func(c *gin.Context) { s.api.DevToken(c.Writer, c.Request) })
	}

	r.OPTIONS("/sse/*path", s.cors)
	feeds := r.Group("/sse", s.cors)
	feeds.GET("/rooms/:room", func(c *gin.Context) { s.sse.Room(c.Writer, c.Request, c.Param("room")) })
	feeds.GET("/presence", func(c *gin.Context) { s.sse.Presence(c.Writer, c.Request) })

	webRoutes(r) // the demo chat page at /
	return r
}

// cors applies the configured origins and answers preflights.
func (s *Server) cors(c *gin.Context) {
	if httpapi.CORS(c.Writer, c.Request, s.allowOrigin) {
		c.Abort()
	}
}

// apiKey lets only callers with the API key through.
func (s *Server) apiKey(c *gin.Context) {
	if !s.api.Authorized(c.Writer, c.Request) {
		c.Abort()
	}
}

// readiness is one check of /readyz.
type readiness struct {
	name  string
	check func(context.Context) error
}

// readyz answers 200 "ready" when every check passes within a second, else
// 503 naming the checks that failed (never their errors' details, which
// may hold addresses).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	var failed []string
	for _, c := range s.ready {
		if err := c.check(ctx); err != nil {
			s.cfg.Logger.Warn("not ready", "check", c.name, "err", err)
			failed = append(failed, c.name)
		}
	}
	s.mu.Lock()
	down := s.shutdown
	s.mu.Unlock()
	if down {
		failed = append(failed, "shutting down")
	}
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		http.Error(w, "not ready: "+strings.Join(failed, ", "), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready") // the client may be gone
}
