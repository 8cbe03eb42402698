package forward

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Header marks a forwarded request; its value is the forwarding node's
// tag. A request that carries it is never forwarded again.
const Header = "Parley-Forwarded-By"

// sidLen is the length of an Engine.IO session id.
const sidLen = 20

// Config configures a Forwarder. The zero value of every field but Self
// and Resolve means its documented default.
type Config struct {
	// Self is this node's tag, the SIDPrefix of its own session ids.
	// Required.
	Self string
	// Resolve returns the host:port that node tag listens on for
	// forwarded requests, or an error when the node is unknown or dead.
	// Required.
	Resolve func(ctx context.Context, tag string) (string, error)
	// Unavailable reports whether a Resolve error means that the registry
	// could not be read (Redis down) rather than that the node is unknown:
	// the last address resolved for the node is then kept, so relays go on
	// through a registry outage. Nil: every error is taken for an unknown
	// node.
	Unavailable func(error) bool
	// CacheTTL is how long a resolved address is reused before Resolve is
	// asked again; a failed lookup is remembered for a tenth of it.
	// Default 3s.
	CacheTTL time.Duration
	// DialTimeout bounds connecting to the owner. Default 2s.
	DialTimeout time.Duration
	// ResponseTimeout bounds the wait for the owner's response headers: a
	// long-polling GET is answered within the ping interval, so it must
	// exceed it. Default 60s.
	ResponseTimeout time.Duration
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
}

// Stats are a Forwarder's counters since New.
type Stats struct {
	// Polling and WebSocket count the requests relayed to their owner:
	// polling GETs and POSTs, and WebSocket upgrades.
	Polling, WebSocket uint64
	// Unknown counts requests whose owner has no live registry entry
	// (answered "Session ID unknown").
	Unknown uint64
	// Failed counts relayed requests that failed: the owner refused the
	// connection or broke it before answering.
	Failed uint64
}

// Forwarder relays requests for other nodes' sessions; its UnknownSession
// method is the engineio.Config hook.
type Forwarder struct {
	cfg   Config
	proxy *httputil.ReverseProxy
	tr    *http.Transport
	log   *slog.Logger

	ctx    context.Context // cancelled by Close: ends every relayed request
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // guards cache and closed (and orders wg.Add before Close's Wait)
	cache  map[string]cached
	closed bool

	polling, websocket, unknown, failed atomic.Uint64
}

type cached struct {
	addr  string
	err   error
	until time.Time
}

// New checks cfg and returns a Forwarder.
func New(cfg Config) (*Forwarder, error) {
	if cfg.Self == "" || cfg.Resolve == nil {
		return nil, errors.New("forward: Self and Resolve are required")
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 3 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{cfg: cfg, log: cfg.Logger, cache: make(map[string]cached)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.tr = &http.Transport{
		Proxy:                 nil, // node to node, never through an environment proxy
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseTimeout,
		DisableCompression:    true,
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:       f.rewrite,
		Transport:     f.tr,
		FlushInterval: -1, // a polling answer is one write; pass it on at once
		ErrorHandler:  f.proxyError,
		ErrorLog:      slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return f, nil
}

// Stats returns the counters.
func (f *Forwarder) Stats() Stats {
	return Stats{Polling: f.polling.Load(), WebSocket: f.websocket.Load(), Unknown: f.unknown.Load(), Failed: f.failed.Load()}
}

// ownerKey is the context key of the owner's address in a relayed request.
type ownerKey struct{}

// UnknownSession is the engineio.Config.UnknownSession hook: it relays a
// request for a session of another live node and reports true, or
// reports false (the engine answers "Session ID unknown") when the sid is
// this node's, names no live node, or the request was forwarded already.
func (f *Forwarder) UnknownSession(w http.ResponseWriter, r *http.Request, sid string) bool {
	if r.Header.Get(Header) != "" || len(sid) != sidLen || len(f.cfg.Self) >= sidLen {
		return false
	}
	tag := sid[:len(f.cfg.Self)]
	if tag == f.cfg.Self {
		return false
	}
	addr, err := f.resolve(r.Context(), tag)
	if err != nil {
		f.unknown.Add(1)
		f.log.Debug("forward: owner unknown", "sid", sid, "err", err)
		return false
	}
	ctx, done, ok := f.begin(r.Context())
	if !ok {
		return false // closing
	}
	defer done()
	if r.URL.Query().Get("transport") == "websocket" {
		f.websocket.Add(1)
	} else {
		f.polling.Add(1)
	}
	// The engine set CORS headers for this answer; the owner sets the
	// same, and two Access-Control-Allow-Origin values are refused by
	// browsers.
	clear(w.Header())
	defer func() {
		// ReverseProxy aborts a response whose body broke midway with
		// http.ErrAbortHandler; the truncated answer already tells the
		// client, and there is nothing to log.
		if v := recover(); v != nil && v != http.ErrAbortHandler { // a sentinel value, never wrapped
			panic(v)
		}
	}()
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ownerKey{}, addr)))
	return true
}

// begin derives the context of a relayed request, cancelled by Close as
// well as by the client; done must be called when the request ends.
func (f *Forwarder) begin(parent context.Context) (ctx context.Context, done func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, nil, false
	}
	f.wg.Add(1)
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(f.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		f.wg.Done()
	}, true
}

func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	addr, _ := pr.In.Context().Value(ownerKey{}).(string) // set by UnknownSession
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = addr
	pr.Out.Host = pr.In.Host // the owner checks Origin against the client's Host
	pr.SetXForwarded()
	pr.Out.Header.Set(Header, f.cfg.Self)
}

// proxyError answers a request the owner did not: the client gets
// "Session ID unknown", as from a node that lost the session, and
// reconnects; the address is looked up again next time.
func (f *Forwarder) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	addr, _ := r.Context().Value(ownerKey{}).(string)
	f.mu.Lock()
	for tag, c := range f.cache {
		if c.addr == addr {
			delete(f.cache, tag)
		}
	}
	f.mu.Unlock()
	if r.Context().Err() == nil {
		f.failed.Add(1)
		f.log.Warn("forward: owner unreachable", "owner", addr, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"code":1,"message":"Session ID unknown"}`)) // the client may be gone
}

// resolve returns the owner's address, from the cache when fresh.
func (f *Forwarder) resolve(ctx context.Context, tag string) (string, error) {
	now := time.Now()
	f.mu.Lock()
	c, ok := f.cache[tag]
	f.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.addr, c.err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
	defer cancel()
	addr, err := f.cfg.Resolve(ctx, tag)
	if err == nil && strings.TrimSpace(addr) == "" {
		err = errors.New("forward: empty address")
	}
	ttl := f.cfg.CacheTTL
	if err != nil {
		ttl /= 10
		if ok && c.err == nil && f.cfg.Unavailable != nil && f.cfg.Unavailable(err) {
			// Keep the last known address until the registry answers
			// again or a relay to it fails (proxyError forgets it).
			f.log.Debug("forward: registry unavailable; keeping the owner's last address", "node", tag, "err", err)
			addr, err = c.addr, nil
		}
	}
	f.mu.Lock()
	if len(f.cache) > 4096 {
		clear(f.cache) // tags of dead nodes pile up only through forged sids
	}
	f.cache[tag] = cached{addr, err, now.Add(ttl)}
	f.mu.Unlock()
	return addr, err
}

// Close cancels every relayed request, relayed WebSocket connections
// included, and waits for them to end, or for ctx. Later requests are not
// forwarded. It is safe to call more than once.
func (f *Forwarder) Close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	defer f.tr.CloseIdleConnections()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
