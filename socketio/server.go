package socketio

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/parley-rt/parley/engineio"
)

// Disconnect reasons reported to OnDisconnect handlers, as Node reports
// them; engine close reasons (engineio.Reason*) pass through unchanged.
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerShuttingDown        = "server shutting down"
	ReasonParseError                = "parse error"
	ReasonForcedServerClose         = "forced server close"
)

// Sentinel errors.
var (
	// ErrAckTimeout reports an acknowledgement that did not come in time.
	ErrAckTimeout = errors.New("socketio: operation has timed out")
	// ErrNotConnected reports an emit on a disconnected socket.
	ErrNotConnected = errors.New("socketio: socket is not connected")
)

// Config configures a Server. The zero value of every field means its
// documented default.
type Config struct {
	// Engine configures the Engine.IO layer. Its OnSession is set by the
	// Server and must be nil.
	Engine engineio.Config
	// ConnectTimeout is how long a new connection may take to join a
	// namespace before it is closed. Default 45s.
	ConnectTimeout time.Duration
	// Recovery turns connection state recovery on when not nil.
	Recovery *RecoveryConfig
	// MaxInbox is how many incoming packets may wait for one socket's
	// handlers before the connection's reads pause. Default 256.
	MaxInbox int
	// Adapter builds each namespace's adapter. Default NewMemoryAdapter.
	Adapter AdapterFactory
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
}

// RecoveryConfig configures connection state recovery.
type RecoveryConfig struct {
	// MaxDisconnectionDuration is how long a disconnected socket's session
	// and missed packets are kept. Default 2m.
	MaxDisconnectionDuration time.Duration
	// SkipMiddlewares skips connection middlewares for recovered sockets.
	SkipMiddlewares bool
}

// Server is a Socket.IO v5 server. It is an http.Handler for the engine's
// path (for example /socket.io/).
type Server struct {
	cfg    Config
	engine *engineio.Server

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	dynamic []*Namespace // parents of dynamic namespaces, in registration order
	closing bool
}

// New returns a Server; it starts no goroutine. The main namespace "/"
// exists from the start.
func New(cfg Config) (*Server, error) {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 45 * time.Second
	}
	if cfg.MaxInbox <= 0 {
		cfg.MaxInbox = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Adapter == nil {
		cfg.Adapter = NewMemoryAdapter
	}
	if r := cfg.Recovery; r != nil {
		rc := *r
		if rc.MaxDisconnectionDuration <= 0 {
			rc.MaxDisconnectionDuration = 2 * time.Minute
		}
		cfg.Recovery = &rc
	}
	if cfg.Engine.OnSession != nil {
		return nil, errors.New("socketio: Engine.OnSession is set by the server")
	}
	srv := &Server{cfg: cfg, nsps: make(map[string]*Namespace)}
	ecfg := cfg.Engine
	ecfg.OnSession = srv.onSession
	if ecfg.Logger == nil {
		ecfg.Logger = cfg.Logger
	}
	eng, err := engineio.New(ecfg)
	if err != nil {
		return nil, err
	}
	srv.engine = eng
	srv.Of("/")
	return srv, nil
}

// Engine returns the underlying Engine.IO server.
func (srv *Server) Engine() *engineio.Server { return srv.engine }

// ServeHTTP serves the Engine.IO endpoint.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	srv.engine.ServeHTTP(w, r)
}

// Of returns the namespace name, creating it on first use.
func (srv *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if n := srv.nsps[name]; n != nil {
		return n
	}
	n := newNamespace(srv, name, nil)
	srv.nsps[name] = n
	return n
}

// OfFunc registers a dynamic namespace: a client connecting to a namespace
// that does not exist yet and for which match returns true gets a child
// namespace created for it. Middlewares and connection handlers installed on
// the returned parent apply to every child.
func (srv *Server) OfFunc(match func(name string) bool) *Namespace {
	p := newNamespace(srv, "", nil)
	p.match = match
	srv.mu.Lock()
	srv.dynamic = append(srv.dynamic, p)
	srv.mu.Unlock()
	return p
}

// OfRegexp is OfFunc matching names against re.
func (srv *Server) OfRegexp(re *regexp.Regexp) *Namespace {
	return srv.OfFunc(re.MatchString)
}

// lookup finds or creates the namespace a CONNECT names.
func (srv *Server) lookup(name string) *Namespace {
	srv.mu.RLock()
	n := srv.nsps[name]
	dyn := srv.dynamic
	closing := srv.closing
	srv.mu.RUnlock()
	if n != nil || closing {
		return n
	}
	for _, p := range dyn {
		if !p.match(name) {
			continue
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if n := srv.nsps[name]; n != nil {
			return n
		}
		n := newNamespace(srv, name, p)
		srv.nsps[name] = n
		return n
	}
	return nil
}

// Namespaces returns the existing namespaces.
func (srv *Server) namespaces() []*Namespace {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	out := make([]*Namespace, 0, len(srv.nsps))
	for _, n := range srv.nsps {
		out = append(out, n)
	}
	return out
}

func (srv *Server) onSession(s *engineio.Session) {
	c := srv.newClient(s, s.Protocol() == 3)
	s.SetHandler(c)
	if c.v3 {
		// A 2.x client is in "/" without asking (see v3.go). No message of
		// the session is delivered before OnSession returns, so this runs
		// before any of the client's packets, as a handler call would.
		c.connect(&Packet{Type: PacketConnect, Nsp: "/", ID: noID}, nil)
	}
}

// newClient returns the client of sess with its connect timer running; v3
// marks a socket.io-client 2.x session.
func (srv *Server) newClient(sess Session, v3 bool) *client {
	c := &client{srv: srv, sess: sess, sockets: make(map[string]*Socket, 1), v3: v3}
	// The engine's Close waits for the timer: its callback ends it, or
	// stopConnectTimerLocked when the timer is stopped before it fires.
	done := srv.engine.Track()
	c.mu.Lock()
	c.connectDone = done
	c.connectTimer = time.AfterFunc(srv.cfg.ConnectTimeout, func() {
		defer done()
		c.onConnectTimeout()
	})
	c.mu.Unlock()
	return c
}

// Close disconnects every socket ("server shutting down" on the server
// side; the clients see their transport close and reconnect to a new
// server), then closes the engine, letting queued packets drain, and
// returns once every socket's queued events and disconnect handlers have
// run. It returns ctx.Err() when ctx ends first. It is safe to call more
// than once.
func (srv *Server) Close(ctx context.Context) error {
	srv.mu.Lock()
	srv.closing = true
	srv.mu.Unlock()
	for _, n := range srv.namespaces() {
		for _, s := range n.localSockets(nil, nil) {
			s.onclose(ReasonServerShuttingDown)
		}
	}
	return srv.engine.Close(ctx)
}
