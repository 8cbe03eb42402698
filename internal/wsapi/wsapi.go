package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/socketio"
)

// Config configures the /ws endpoint.
type Config struct {
	// IO is the Socket.IO server the connections are attached to.
	IO *socketio.Server
	// Namespaces are the namespaces every connection joins, in order: an
	// incoming event goes to the first of them that registers it. Default
	// events.Chat and events.Presence.
	Namespaces []events.Namespace
	// MaxMessage is the largest frame a client may send, in bytes; a larger
	// one closes the connection with 1009. Default 1,000,000 (the Engine.IO
	// maxPayload).
	MaxMessage int64
	// PingInterval is the time between the server's WebSocket pings, and
	// PingTimeout how long after a ping the client has to show it is alive
	// (any frame, a pong included). Defaults 25s and 20s, as Engine.IO's.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxQueue is how many frames may wait to be written to one connection
	// before it is closed as a slow consumer. Default 1024.
	MaxQueue int
	// WriteTimeout bounds one write. Default 10s.
	WriteTimeout time.Duration
	// AllowOrigin vets the Origin header of an upgrade (as the Socket.IO
	// endpoint's CORS policy does): a request whose Origin is neither
	// allowed nor the server's own host is refused with 403. Nil allows
	// only the server's own host; requests without Origin pass.
	AllowOrigin func(origin string) bool
	// Logger receives connection errors; nil discards them.
	Logger *slog.Logger
}

// Handler serves /ws. Create it with New; it is an http.Handler.
type Handler struct {
	cfg    Config
	routes map[string][]events.Namespace // client event -> its namespaces, in cfg order

	// last is the last event frame translated: a broadcast hands one frame
	// to every member in turn, so it saves all but the first decode.
	last atomic.Pointer[translation]

	mu      sync.Mutex
	conns   map[string]*conn // by connection id
	closing bool
	wg      sync.WaitGroup
}

// New validates cfg, fills its defaults and returns the handler. It
// registers a connection hook on each namespace (to learn the identity a
// connection's sockets were given), so call it once per server.
func New(cfg Config) (*Handler, error) {
	if cfg.IO == nil {
		return nil, errors.New("wsapi: Config.IO is required")
	}
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = []events.Namespace{events.Chat, events.Presence}
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 1_000_000
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 20 * time.Second
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 1024
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, routes: make(map[string][]events.Namespace), conns: make(map[string]*conn)}
	for _, info := range events.Registered() {
		if info.Direction == events.ClientToServer && containsNS(cfg.Namespaces, info.Namespace) {
			h.routes[info.Name] = append(h.routes[info.Name], info.Namespace)
		}
	}
	for name := range h.routes {
		slicesSortByOrder(h.routes[name], cfg.Namespaces)
	}
	for _, ns := range cfg.Namespaces {
		name := string(ns)
		cfg.IO.Of(name).OnConnection(func(s *socketio.Socket) {
			h.mu.Lock()
			c := h.conns[s.SessionID()]
			h.mu.Unlock()
			if c == nil {
				return // a Socket.IO client's socket
			}
			user, _ := namespaces.User(s.AsConn())
			c.joined(name, user)
		})
	}
	return h, nil
}

func containsNS(list []events.Namespace, ns events.Namespace) bool {
	for _, n := range list {
		if n == ns {
			return true
		}
	}
	return false
}

// slicesSortByOrder orders nss as they appear in order.
func slicesSortByOrder(nss, order []events.Namespace) {
	pos := func(n events.Namespace) int {
		for i, o := range order {
			if o == n {
				return i
			}
		}
		return len(order)
	}
	for i := 1; i < len(nss); i++ {
		for j := i; j > 0 && pos(nss[j]) < pos(nss[j-1]); j-- {
			nss[j], nss[j-1] = nss[j-1], nss[j]
		}
	}
}

// ServeHTTP upgrades the request and serves the connection until it
// closes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !h.originAllowed(origin, r.Host) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return // UpgradeHTTP answered the client (400 and why)
	}
	c := newConn(h, nc, rw.Reader, r)
	h.mu.Lock()
	h.conns[c.id] = c
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c.id)
		h.mu.Unlock()
	}()
	c.serve(connectAuth(r.URL.Query()))
}

func (h *Handler) originAllowed(origin, host string) bool {
	if u, err := url.Parse(origin); err == nil && u.Host == host {
		return true
	}
	return h.cfg.AllowOrigin != nil && h.cfg.AllowOrigin(origin)
}

// connectAuth is the CONNECT auth object a /ws connection presents to
// every namespace, from its query: {token} when ?token= is given, else
// the dev identity {userId, name} (refused unless the server runs in dev
// mode, as for a socket.io client), else {} (refused).
func connectAuth(q url.Values) []byte {
	var v any
	switch {
	case q.Has("token"):
		v = map[string]string{"token": q.Get("token")}
	case q.Has("userId") || q.Has("name"):
		v = map[string]string{"userId": q.Get("userId"), "name": q.Get("name")}
	default:
		return []byte("{}")
	}
	b, _ := json.Marshal(v) // strings always marshal
	return b
}

// Close closes every connection ("server shutting down") and waits until
// each one's ServeHTTP has returned, or ctx ends. New upgrades are refused
// with 503 from the first call on.
func (h *Handler) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	list := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		list = append(list, c)
	}
	h.mu.Unlock()
	for _, c := range list {
		c.closeWith(ws.StatusGoingAway, socketio.ReasonServerShuttingDown)
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Conns returns the number of open /ws connections.
func (h *Handler) Conns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// errorFrame is {"type":"error","data":{"code","message"},"id"?}.
func errorFrame(code events.Code, message string, id *int64) []byte {
	f := struct {
		Type string `json:"type"`
		Data struct {
			Code    events.Code `json:"code"`
			Message string      `json:"message"`
		} `json:"data"`
		ID *int64 `json:"id,omitempty"`
	}{Type: "error", ID: id}
	f.Data.Code, f.Data.Message = code, message
	b, _ := json.Marshal(f) // plain strings and numbers
	return b
}

// eventFrame is {"type":name,"data":data}; data is valid JSON or empty.
func eventFrame(name string, data []byte) []byte {
	b := make([]byte, 0, len(name)+len(data)+24)
	b = append(b, `{"type":`...)
	b = strconv.AppendQuote(b, name)
	b = append(b, `,"data":`...)
	if len(data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, data...)
	}
	return append(b, '}')
}

// ackFrame is {"type":"ack","id":id,"data":data}.
func ackFrame(id int64, data []byte) []byte {
	b := make([]byte, 0, len(data)+40)
	b = append(b, `{"type":"ack","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"data":`...)
	if len(data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, data...)
	}
	return append(b, '}')
}
