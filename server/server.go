package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/forward"
	"github.com/parley-rt/parley/internal/graphql"
	"github.com/parley-rt/parley/internal/httpapi"
	"github.com/parley-rt/parley/internal/sse"
	"github.com/parley-rt/parley/internal/telemetry"
	"github.com/parley-rt/parley/internal/wsapi"
	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/socketio"
)

// Server is Parley: the gin router with the Socket.IO endpoint, the /chat
// and /presence namespaces, the HTTP API and the store behind them.
type Server struct {
	cfg      Config
	io       *socketio.Server
	ws       *wsapi.Handler
	graphql  *graphql.Handler
	asyncapi []byte // the contract's AsyncAPI document, served at /asyncapi.json
	router   *gin.Engine
	verifier *auth.Verifier
	sse      *sse.Server
	api      *httpapi.API
	metrics  *telemetry.Metrics
	// ready are the checks of /readyz, in order.
	ready []readiness
	// allowOrigin is the CORS origin check shared by every endpoint.
	allowOrigin func(string) bool
	closer      []func(context.Context) error // run by Shutdown, in order
	cluster     *redisadapter.Cluster         // nil on a single node (cluster.go)
	forward     *forward.Forwarder            // nil on a single node (cluster.go)

	mu          sync.Mutex
	http        *http.Server
	metricsHTTP *http.Server
	shutdown    bool
	done        chan struct{}
	err         error
}

// New validates cfg, fills its defaults, opens the store and builds the
// server. It starts no goroutine of its own and listens on nothing: Run or
// Serve do. Shutdown releases what New opened.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, done: make(chan struct{}), allowOrigin: cfg.allowOrigin()}
	scfg := socketio.Config{
		Engine: engineio.Config{
			PingInterval: cfg.PingInterval,
			PingTimeout:  cfg.PingTimeout,
			AllowEIO3:    cfg.AllowEIO3,
			MaxPayload:   cfg.MaxHTTPBufferSize,
			CORS:         engineio.CORS{AllowOrigin: s.allowOrigin, Credentials: true},
			Logger:       cfg.Logger,

			MaxSessions: cfg.MaxSessions, HandshakeRate: engineio.RateLimit(cfg.HandshakeRate),
		},
		ConnectTimeout: cfg.ConnectTimeout,
		Logger:         cfg.Logger,
	}
	if cfg.RecoveryDuration > 0 {
		scfg.Recovery = &socketio.RecoveryConfig{MaxDisconnectionDuration: cfg.RecoveryDuration}
	}
	if err := s.setupCluster(&scfg); err != nil {
		return nil, err
	}
	io, err := socketio.New(scfg)
	if err != nil {
		_ = s.runClosers(context.Background()) // the engine error is the one to report
		return nil, fmt.Errorf("socket.io: %w", err)
	}
	s.io = io
	s.closer = append(s.closer, io.Close)
	if err := s.mount(); err != nil {
		_ = s.runClosers(context.Background()) // the mount error is the one to report
		return nil, err
	}
	s.router = s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler (the gin router).
func (s *Server) Handler() http.Handler { return s.router }

// Run listens on Config.Addr and serves until ctx is done, then shuts down
// gracefully within Config.ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.cfg.Logger.Info("parley listening", "addr", ln.Addr().String())
	if s.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			_ = ln.Close() // the metrics listen error is the one to report
			return fmt.Errorf("metrics listener: %w", err)
		}
		s.cfg.Logger.Info("metrics listening", "addr", mln.Addr().String(), "pprof", s.cfg.Pprof)
		go func() { _ = s.ServeMetrics(mln) }() // ends with Shutdown
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err = s.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Serve serves HTTP on ln until Shutdown; it then returns
// http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.router,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = ln.Close() // nothing was served on it
		return http.ErrServerClosed
	}
	s.http = hs
	s.mu.Unlock()
	// SSE streams never end by themselves: end them when Shutdown starts,
	// or it would wait for them until its deadline.
	hs.RegisterOnShutdown(s.sse.Shutdown)
	s.serveCluster(hs, ln.Addr())
	// Through the engine's Listener, an idle long-polling GET is parked
	// without a goroutine and its connection handed back (engineio park.go).
	return hs.Serve(s.io.Engine().Listener(hs, ln))
}

// ServeMetrics serves /metrics (and /debug/pprof/ with Config.Pprof) on ln
// until Shutdown; it then returns http.ErrServerClosed. Run calls it for
// Config.MetricsAddr.
func (s *Server) ServeMetrics(ln net.Listener) error {
	hs := &http.Server{Handler: s.metrics.Mux(s.cfg.Pprof), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = ln.Close() // nothing was served on it
		return http.ErrServerClosed
	}
	s.metricsHTTP = hs
	s.mu.Unlock()
	return hs.Serve(ln)
}

// Shutdown stops accepting connections, disconnects every socket ("server
// shutting down"; clients reconnect to the next server), waits for queued
// packets to drain and closes the store. It returns ctx.Err() when the
// deadline passes first. It is safe to call more than once; later calls
// wait for the first and return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		select {
		case <-s.done:
			return s.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.shutdown = true
	hs, mhs := s.http, s.metricsHTTP
	s.mu.Unlock()

	var errs []error
	if mhs != nil {
		errs = append(errs, mhs.Shutdown(ctx))
	}
	if hs != nil {
		errs = append(errs, s.closeHTTP(ctx, hs))
	}
	errs = append(errs, s.runClosers(ctx))
	s.err = errors.Join(errs...)
	close(s.done)
	return s.err
}

// closeHTTP drains the engine first, with the listener still open so that
// polling clients can fetch their close packet (new handshakes are refused
// meanwhile), then shuts the HTTP server down.
func (s *Server) closeHTTP(ctx context.Context, hs *http.Server) error {
	engineErr := s.io.Close(ctx)
	return errors.Join(engineErr, hs.Shutdown(ctx))
}

func (s *Server) runClosers(ctx context.Context) error {
	var errs []error
	for i := len(s.closer) - 1; i >= 0; i-- {
		if err := s.closer[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
