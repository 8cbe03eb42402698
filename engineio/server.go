package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors.
var (
	// ErrClosed reports a send on a closed or closing session.
	ErrClosed = errors.New("engineio: session closed")
	// ErrSlowConsumer reports a send that overflowed the session's queue;
	// the session is closed.
	ErrSlowConsumer = errors.New("engineio: slow consumer")
	// ErrNoHandler reports a Config without OnSession.
	ErrNoHandler = errors.New("engineio: OnSession is required")
	// ErrNoTransport reports a Config that disables both transports.
	ErrNoTransport = errors.New("engineio: no transport enabled")
	// ErrBadLimit reports a negative MaxSessions or an invalid
	// HandshakeRate.
	ErrBadLimit = errors.New("engineio: MaxSessions must not be negative; HandshakeRate needs Rate >= 0 and, with a Rate, Burst >= 1")
	// ErrBadSIDPrefix reports a SIDPrefix longer than 6 characters or not
	// URL-safe base64.
	ErrBadSIDPrefix = errors.New("engineio: SIDPrefix must be at most 6 characters of URL-safe base64")
	// errTooManySessions refuses a handshake over MaxSessions.
	errTooManySessions = errors.New("engineio: too many sessions")
	// errShuttingDown refuses a handshake during Close.
	errShuttingDown = errors.New("engineio: server shutting down")
)

// Server is an Engine.IO v4 server. It is an http.Handler for the engine's
// path (for example /socket.io/).
type Server struct {
	cfg       Config
	handshake []byte // JSON of the open packet minus sid, precomputed

	mu       sync.RWMutex
	sessions map[string]*Session
	closing  bool
	drained  chan struct{} // closed when closing and sessions is empty

	// peerClosed holds, for one late GET each, the polling sessions their
	// clients closed by POST, for peerClosedGrace (see remove);
	// peerClosedOrder lists them by due time.
	peerClosed      map[string]*Session
	peerClosedOrder []peerClosedEntry

	// limiter applies HandshakeRate; nil when it is off.
	limiter *addrLimiter
	// capWarned is when the MaxSessions warning was last logged
	// (UnixNano).
	capWarned atomic.Int64
	// slowConsumers counts sessions closed for overflowing their queue.
	slowConsumers atomic.Uint64

	// goroutines counts every goroutine the engine starts (readers,
	// writers, deliverers, upgrade probes, lingering closes) and those
	// registered with Track, so that Close returns only after all of them
	// have ended.
	goroutines inflight
	// np watches idle WebSocket connections on Linux (netpoll_linux.go);
	// it starts with the first one and stops in Close.
	np netpoller
	// pk watches parked polling GETs on Linux (park.go, park_linux.go);
	// it starts with the first one and stops in Close. handbacks are the
	// Listeners by the http.Server they serve, guarded by mu.
	pk        parkWatcher
	handbacks map[*http.Server]*handbackListener
}

// New validates cfg, fills its defaults and returns a Server. It starts no
// goroutine.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.OnSession == nil {
		return nil, ErrNoHandler
	}
	if cfg.DisablePolling && cfg.DisableWebSocket {
		return nil, ErrNoTransport
	}
	if l := cfg.HandshakeRate; cfg.MaxSessions < 0 || l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate > 0 && l.Burst < 1 {
		return nil, ErrBadLimit
	}
	if !validSIDPrefix(cfg.SIDPrefix) {
		return nil, ErrBadSIDPrefix
	}
	s := &Server{cfg: cfg, sessions: make(map[string]*Session)}
	if cfg.HandshakeRate.Rate > 0 {
		s.limiter = newAddrLimiter(cfg.HandshakeRate)
	}
	return s, nil
}

// Config returns the server's configuration with defaults filled in.
func (srv *Server) Config() Config { return srv.cfg }

// Track counts a goroutine that works on behalf of sessions (the Socket.IO
// layer's per-socket dispatchers) until the returned function is called:
// Close waits for it like for the engine's own deliverers.
func (srv *Server) Track() (done func()) {
	srv.goroutines.add()
	return srv.goroutines.done
}

// Count returns the number of open sessions.
func (srv *Server) Count() int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return len(srv.sessions)
}

// ServeHTTP serves the Engine.IO endpoint: handshakes, polling requests and
// WebSocket upgrades.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if srv.writeCORS(w, r) {
		return
	}
	q := r.URL.Query()
	transport := q.Get("transport")
	if !srv.transportAllowed(transport) {
		writeError(w, CodeUnknownTransport, "")
		return
	}
	v3 := false
	switch q.Get("EIO") {
	case "4":
	case "3":
		if srv.cfg.AllowEIO3 {
			v3 = true
			break
		}
		fallthrough
	default:
		writeError(w, CodeUnsupportedVersion, "")
		return
	}
	upgrade := isWebSocketUpgrade(r)
	sid := q.Get("sid")
	if sid == "" {
		srv.handshakeRequest(w, r, transport, upgrade)
		return
	}
	srv.mu.RLock()
	sess := srv.sessions[sid]
	srv.mu.RUnlock()
	if sess == nil && transport == "polling" && r.Method == http.MethodGet && !upgrade {
		sess = srv.takePeerClosed(sid)
	}
	if sess == nil {
		if h := srv.cfg.UnknownSession; h != nil && h(w, r, sid) {
			return
		}
		writeError(w, CodeUnknownSID, "")
		return
	}
	if sess.v3 != v3 {
		// Node: "unexpected protocol version during upgrade".
		writeError(w, CodeBadRequest, "")
		return
	}
	switch {
	case transport == "websocket" && upgrade:
		if srv.cfg.DisableUpgrades {
			writeError(w, CodeBadRequest, "")
			return
		}
		if !srv.originAllowed(r) {
			writeError(w, CodeForbidden, originForbidden)
			return
		}
		srv.serveUpgrade(w, r, sess)
	case transport == "polling" && !upgrade:
		sess.servePolling(w, r)
	default:
		writeError(w, CodeBadRequest, "")
	}
}

func (srv *Server) transportAllowed(t string) bool {
	switch t {
	case "polling":
		return !srv.cfg.DisablePolling
	case "websocket":
		return !srv.cfg.DisableWebSocket
	}
	return false
}

func (srv *Server) handshakeRequest(w http.ResponseWriter, r *http.Request, transport string, upgrade bool) {
	if r.Method != http.MethodGet {
		writeError(w, CodeBadHandshakeMethod, "")
		return
	}
	if transport == "websocket" && !upgrade {
		writeError(w, CodeBadRequest, "")
		return
	}
	if srv.limiter != nil {
		if ok, wait := srv.limiter.allow(addrKey(r.RemoteAddr), time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, CodeTooManyHandshakes, "")
			return
		}
	}
	if !srv.originAllowed(r) {
		writeError(w, CodeForbidden, originForbidden)
		return
	}
	if allow := srv.cfg.AllowRequest; allow != nil {
		if err := allow(r); err != nil {
			writeError(w, CodeForbidden, err.Error())
			return
		}
	}
	if transport == "websocket" {
		srv.serveWebSocket(w, r)
		return
	}
	sess, err := srv.newSession(r, transportPolling)
	if err != nil {
		srv.refuseSession(w, err)
		return
	}
	sess.mu.Lock()
	sess.queue = append(sess.queue, srv.openFrame(sess.id, transportPolling))
	sess.mu.Unlock()
	srv.start(sess)
	sess.servePolling(w, r)
}

// newSession registers a session. It fails with errShuttingDown when the
// server is closing and with errTooManySessions at MaxSessions.
func (srv *Server) newSession(r *http.Request, transport int) (*Session, error) {
	sess := &Session{
		srv:       srv,
		id:        newID(srv.cfg.SIDPrefix),
		transport: transport,
		hs: Handshake{
			Header:     r.Header.Clone(),
			RawQuery:   r.URL.RawQuery,
			RemoteAddr: r.RemoteAddr,
			Secure:     r.TLS != nil,
			Time:       time.Now(),
		},
	}
	if srv.cfg.AllowEIO3 {
		q := r.URL.Query()
		sess.v3 = q.Get("EIO") == "3"
		sess.b64 = sess.v3 && q.Get("b64") != ""
		sess.wsB64 = sess.b64
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closing {
		return nil, errShuttingDown
	}
	if max := srv.cfg.MaxSessions; max > 0 && len(srv.sessions) >= max {
		return nil, errTooManySessions
	}
	srv.sessions[sess.id] = sess
	return sess, nil
}

// refuseSession answers a handshake newSession refused.
func (srv *Server) refuseSession(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooManySessions) {
		// One warning per minute at most: the refusals may come by the
		// thousand.
		now := time.Now().UnixNano()
		if last := srv.capWarned.Load(); now-last >= int64(time.Minute) && srv.capWarned.CompareAndSwap(last, now) {
			srv.cfg.Logger.Warn("engineio: refusing handshakes: MaxSessions reached", "max", srv.cfg.MaxSessions)
		}
		writeError(w, CodeTooManySessions, "")
		return
	}
	writeError(w, CodeBadRequest, "server shutting down")
}

// start hands the session to OnSession and starts its heartbeat.
func (srv *Server) start(sess *Session) {
	srv.cfg.OnSession(sess)
	sess.mu.Lock()
	if sess.v3 {
		// The client pings; the timer closes a session whose pings stop.
		sess.awaitPong = true
		sess.resetTimerLocked(srv.v3Heartbeat())
	} else {
		sess.resetTimerLocked(srv.cfg.PingInterval)
	}
	sess.mu.Unlock()
}

// v3Heartbeat is how long a v3 session may go without a ping from its
// client, as in Node: PingInterval+PingTimeout.
func (srv *Server) v3Heartbeat() time.Duration {
	return srv.cfg.PingInterval + srv.cfg.PingTimeout
}

// remove unregisters a closed session. With linger, a polling session the
// client closed by POST stays reachable for one GET, for peerClosedGrace:
// HTTP does not order requests across connections, so the client's GET,
// sent before the close, can arrive after it, and Node would have released
// it with a noop.
func (srv *Server) remove(sess *Session, linger bool) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.sessions[sess.id] == sess {
		delete(srv.sessions, sess.id)
		if linger && !srv.closing {
			now := time.Now()
			srv.prunePeerClosedLocked(now)
			if srv.peerClosed == nil {
				srv.peerClosed = make(map[string]*Session)
			}
			srv.peerClosed[sess.id] = sess
			srv.peerClosedOrder = append(srv.peerClosedOrder, peerClosedEntry{sess.id, now.Add(peerClosedGrace)})
		}
	}
	if srv.closing && len(srv.sessions) == 0 && srv.drained != nil {
		close(srv.drained)
		srv.drained = nil
	}
}

// peerClosedGrace is how long a session the client closed by POST answers
// one late GET (see remove).
const peerClosedGrace = pollCloseGrace

type peerClosedEntry struct {
	sid string
	due time.Time
}

// takePeerClosed returns the session sid if the client closed it by POST
// within peerClosedGrace and no GET has had its noop yet; it is then
// forgotten.
func (srv *Server) takePeerClosed(sid string) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.prunePeerClosedLocked(time.Now())
	sess := srv.peerClosed[sid]
	delete(srv.peerClosed, sid)
	return sess
}

// prunePeerClosedLocked forgets the sessions whose grace has passed. The
// order list is by due time, since the grace is constant. srv.mu is held.
func (srv *Server) prunePeerClosedLocked(now time.Time) {
	q := srv.peerClosedOrder
	i := 0
	for i < len(q) && !now.Before(q[i].due) {
		delete(srv.peerClosed, q[i].sid)
		i++
	}
	q = q[i:]
	if len(q) == 0 {
		q = nil // let the array go
	}
	srv.peerClosedOrder = q
}

// openFrame builds the handshake packet. A session that starts on
// WebSocket has nothing to upgrade to.
func (srv *Server) openFrame(sid string, transport int) *Frame {
	upgrades := []string{}
	if transport == transportPolling && !srv.cfg.DisableWebSocket && !srv.cfg.DisableUpgrades {
		upgrades = append(upgrades, "websocket")
	}
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}{sid, upgrades, srv.cfg.PingInterval.Milliseconds(), srv.cfg.PingTimeout.Milliseconds(), srv.cfg.MaxPayload}) // cannot fail: plain values
	return &Frame{typ: typeOpen, data: b}
}

// Close closes every session with ReasonServerShutdown, letting queued
// frames drain, and refuses new handshakes. It returns when all sessions are
// gone and their handlers' OnClose calls have returned, or when ctx is done,
// in which case the rest are dropped and ctx.Err() is returned. It is safe
// to call more than once.
func (srv *Server) Close(ctx context.Context) error {
	srv.mu.Lock()
	srv.peerClosed, srv.peerClosedOrder = nil, nil
	if !srv.closing {
		srv.closing = true
		if len(srv.sessions) > 0 {
			srv.drained = make(chan struct{})
		}
	}
	drained := srv.drained
	list := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.Unlock()
	for _, s := range list {
		s.Close(ReasonServerShutdown)
	}
	if drained != nil {
		select {
		case <-drained:
		case <-ctx.Done():
			for _, s := range list {
				s.closeNow(ReasonServerShutdown)
			}
			srv.np.stop()
			srv.pk.stop()
			return ctx.Err()
		}
	}
	srv.np.stop()
	srv.pk.stop()
	return srv.goroutines.wait(ctx)
}

// originForbidden is the message of the 403 that refuses an origin.
const originForbidden = "Origin not allowed"

// originAllowed reports whether a request may open a session or upgrade
// one, by its Origin header: a request without one (not from a browser
// page, such as socket.io-client in Node) may; a page may if it is served
// by this host (Origin's host:port is the request's Host, as coder's and
// gorilla's WebSocket libraries check by default) or if CORS.AllowOrigin
// allows its origin. Browsers send Origin with every WebSocket handshake
// and do not apply CORS to it, so without this check any page could open
// a session with the visitor's network position and cookies.
func (srv *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if allow := srv.cfg.CORS.AllowOrigin; allow != nil && allow(origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

// writeCORS sets CORS headers and answers a preflight. It reports whether
// the request was fully answered.
func (srv *Server) writeCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	c := srv.cfg.CORS
	allowed := origin != "" && c.AllowOrigin != nil && c.AllowOrigin(origin)
	if allowed {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if c.Credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	if r.Method != http.MethodOptions {
		return false
	}
	if allowed {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		if c.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
		}
	}
	h := w.Header()
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// newID returns a session id: 20 characters of URL-safe base64, the first
// ones being prefix; the rest are random (at least 84 bits).
func newID(prefix string) string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	id := base64.RawURLEncoding.EncodeToString(b[:])
	return prefix + id[len(prefix):]
}

// validSIDPrefix reports whether p may start session ids.
func validSIDPrefix(p string) bool {
	if len(p) > 6 {
		return false
	}
	for _, c := range []byte(p) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
