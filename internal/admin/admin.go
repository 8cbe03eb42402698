package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/parley-rt/parley/socketio"
)

// ErrOpenInProduction refuses an admin namespace without credentials on a
// production server.
var ErrOpenInProduction = errors.New("admin: the admin UI needs a user and a bcrypt password hash in production (--admin-user, --admin-password-hash)")

// Config configures an Admin. The zero value of every field but IO means
// its documented default.
type Config struct {
	// IO is the Socket.IO server to instrument. Required. Every namespace
	// it has when New runs is instrumented, the admin namespace included;
	// register the application's namespaces first.
	IO *socketio.Server
	// Namespace is the admin namespace's name. Default "/admin".
	Namespace string
	// User and PasswordHash are the UI's login: the username and a bcrypt
	// hash of the password (as Node's instrument takes them). Both or
	// neither; with neither the namespace is open, which Production
	// refuses.
	User         string
	PasswordHash string
	// Production refuses an open admin namespace.
	Production bool
	// ServerID names this node in the UI. Default "<hostname>#<pid>", so
	// that nodes on one host stay apart.
	ServerID string
	// Path is the Socket.IO endpoint's path, shown in handshake URLs.
	// Default "/socket.io/".
	Path string
	// StatsInterval is the time between server_stats. Default 2s, as Node's.
	StatsInterval time.Duration
	// SessionTTL is how long a login's session id lets the UI reconnect
	// without the password. Default 24h (Node's Redis store's default).
	SessionTTL time.Duration
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
}

// maxSessions bounds the session ids kept; the oldest goes first.
const maxSessions = 1024

// Admin is the admin namespace and the hooks that feed it.
type Admin struct {
	cfg      Config
	nsp      *socketio.Namespace
	sessions *sessions
	hostname string
	pid      int
	started  time.Time
	features []Feature
	now      func() time.Time
	checking chan struct{} // a slot per running password check

	mu         sync.Mutex
	clients    map[string]int // engine session id -> its sockets on instrumented namespaces
	transports map[*socketio.Socket]string
	events     eventBuffer
	ticking    bool
	closed     bool
	stop       chan struct{}
	done       chan struct{}
}

// New validates cfg, creates the admin namespace and instruments the
// server's namespaces. It starts no goroutine.
func New(cfg Config) (*Admin, error) {
	if cfg.IO == nil {
		return nil, errors.New("admin: Config.IO is required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "/admin"
	}
	if cfg.Path == "" {
		cfg.Path = "/socket.io/"
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = 2 * time.Second
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case (cfg.User == "") != (cfg.PasswordHash == ""):
		return nil, errors.New("admin: a user needs a password hash and a password hash a user (--admin-user, --admin-password-hash)")
	case cfg.User == "" && cfg.Production:
		return nil, ErrOpenInProduction
	case cfg.User != "":
		if _, err := bcrypt.Cost([]byte(cfg.PasswordHash)); err != nil {
			return nil, fmt.Errorf("admin: the password hash must be a bcrypt hash: %w", err)
		}
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	if cfg.ServerID == "" {
		cfg.ServerID = fmt.Sprintf("%s#%d", host, os.Getpid())
	}
	a := &Admin{
		cfg:        cfg,
		sessions:   newSessions(cfg.SessionTTL, maxSessions),
		hostname:   host,
		pid:        os.Getpid(),
		started:    time.Now(),
		now:        time.Now,
		checking:   make(chan struct{}, maxPasswordChecks),
		clients:    make(map[string]int),
		transports: make(map[*socketio.Socket]string),
		features: []Feature{
			FeatureEmit, FeatureJoin, FeatureLeave, FeatureDisconnect,
			FeatureMJoin, FeatureMLeave, FeatureMDisconnect,
			FeatureAggregatedEvents, FeatureAllEvents,
		},
	}
	if cfg.User == "" {
		cfg.Logger.Warn("admin: the admin UI namespace is open to anyone (no --admin-user); use credentials outside development", "nsp", cfg.Namespace)
	}
	a.nsp = cfg.IO.Of(cfg.Namespace)
	a.nsp.Use(a.authenticate)
	// The admin namespace is instrumented too, and first: as in Node, a new
	// UI's socket_connected goes out before its greeting.
	for _, n := range cfg.IO.Namespaces() {
		a.instrument(n)
	}
	a.nsp.OnConnection(a.onAdminConnection)
	return a, nil
}

// instrument hooks a namespace's connections and room changes.
func (a *Admin) instrument(n *socketio.Namespace) {
	n.OnConnection(a.onConnection)
	n.ObserveRooms(socketio.RoomObserver{
		Joined: func(s *socketio.Socket, room string) {
			a.emit(evRoomJoined, n.Name(), room, s.ID(), jsDate(a.now()))
		},
		Left: func(s *socketio.Socket, room string) {
			a.emit(evRoomLeft, n.Name(), room, s.ID(), jsDate(a.now()))
		},
	})
}

// onConnection reports a new socket of an instrumented namespace.
func (a *Admin) onConnection(s *socketio.Socket) {
	a.startTicker()
	sid := s.SessionID()
	a.mu.Lock()
	a.clients[sid]++
	first := a.clients[sid] == 1
	a.transports[s] = s.Transport()
	if first {
		a.events.push(a.now(), "rawConnection", "", 1)
	}
	a.mu.Unlock()
	a.emit(evSocketConnected, a.serialize(s), jsDate(a.now()))
	s.OnDisconnect(func(reason string) {
		a.mu.Lock()
		delete(a.transports, s)
		a.clients[sid]--
		last := a.clients[sid] <= 0
		if last {
			delete(a.clients, sid)
			a.events.push(a.now(), "rawDisconnection", reason, 1)
		}
		a.mu.Unlock()
		a.emit(evSocketDisconnected, s.Namespace().Name(), s.ID(), reason, jsDate(a.now()))
	})
}

// onAdminConnection greets a UI: its new session id after a login, the
// features, this node's stats at once and the sockets; then it listens
// for the UI's actions.
func (a *Admin) onAdminConnection(s *socketio.Socket) {
	if v, ok := s.Get(adminKey); ok {
		if id, _ := v.(string); id != "" {
			a.emitTo(s, evSession, id)
			s.Set(adminKey, "") // handed over: no copy of the secret stays in the socket's data
		}
	}
	a.emitTo(s, evConfig, configPayload{SupportedFeatures: a.features})
	a.emitTo(s, evServerStats, a.stats(false))
	a.emitTo(s, evAllSockets, a.allSockets())
	s.On(evEmit, func(_ *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) { a.act(evEmit, args) })
	s.On(evJoin, func(_ *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) { a.act(evJoin, args) })
	s.On(evLeave, func(_ *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) { a.act(evLeave, args) })
	s.On(evDisconnect, func(_ *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) { a.act(evDisconnect, args) })
}

// allSockets lists this node's sockets. With a cluster adapter it is to
// list every node's, through Namespace.FetchAllSockets.
func (a *Admin) allSockets() []Socket {
	out := []Socket{}
	for _, n := range a.cfg.IO.Namespaces() {
		for _, s := range n.Sockets() {
			out = append(out, a.serialize(s))
		}
	}
	sortSockets(out)
	return out
}

// emit sends an event to every UI; with a multi-node adapter, to the UIs
// connected to any node.
func (a *Admin) emit(event string, args ...any) {
	if err := a.nsp.Emit(event, args...); err != nil {
		a.cfg.Logger.Error("admin: emit", "event", event, "err", err)
	}
}

// emitTo sends an event to one UI.
func (a *Admin) emitTo(s *socketio.Socket, event string, args ...any) {
	if err := s.Emit(event, args...); err != nil && !errors.Is(err, socketio.ErrNotConnected) {
		a.cfg.Logger.Error("admin: emit", "event", event, "err", err)
	}
}

// Close stops the stats ticker and waits for it. It is safe to call more
// than once. The admin namespace's sockets close with the server.
func (a *Admin) Close(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	if a.ticking {
		a.ticking = false
		close(a.stop)
	}
	done := a.done
	a.mu.Unlock()
	if done == nil {
		return nil // the ticker never started
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
