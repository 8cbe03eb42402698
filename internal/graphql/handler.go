package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	coderws "github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/graphql/schema"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/socketio"
)

// Config configures the /graphql endpoint.
type Config struct {
	// Chat and Presence are the application core. Required.
	Chat     *core.Chat
	Presence *core.Presence
	// Verifier checks bearer tokens over HTTP. Required.
	Verifier *auth.Verifier
	// IO is the Socket.IO server each WebSocket connection is attached to.
	// Required.
	IO *socketio.Server
	// Namespaces are the namespaces every WebSocket connection joins.
	// Default events.Chat and events.Presence.
	Namespaces []events.Namespace
	// AllowOrigin vets the Origin header of a WebSocket upgrade: a request
	// whose Origin is neither allowed nor the server's own host is refused.
	// Nil allows only the server's own host; requests without Origin pass.
	AllowOrigin func(origin string) bool
	// MaxBody is the largest HTTP request body, in bytes. Default 1,000,000.
	MaxBody int64
	// MaxQueue is how many events may wait for one subscription before its
	// connection is closed as a slow consumer. Default 1024.
	MaxQueue int
	// PingInterval is the time between the server's graphql-transport-ws
	// pings; a client that has not answered within two intervals is
	// closed. Default 25s.
	PingInterval time.Duration
	// InitTimeout bounds the wait for connection_init and for the
	// connection's namespaces to accept it. Default 10s.
	InitTimeout time.Duration
	// MaxSubscriptions is how many subscriptions one WebSocket connection
	// may have at once; one more fails with forbidden. Default 100.
	MaxSubscriptions int
	// MaxComplexity bounds an operation's complexity (gqlgen's count of
	// the fields it selects, aliases included); a larger one fails with
	// bad_request. Default 1000.
	MaxComplexity int
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// Handler serves /graphql: queries and mutations over HTTP (GET, POST)
// and everything, subscriptions included, over graphql-transport-ws.
// Create it with New.
type Handler struct {
	cfg Config
	srv *handler.Server

	mu      sync.Mutex
	links   map[string]*link // by link id
	closing bool
	wg      sync.WaitGroup // one per link: its watcher, which waits for the link's subscriptions
}

// New validates cfg, fills its defaults and returns the handler. It
// registers a connection hook on each namespace (to learn the identity a
// connection's sockets were given), so call it once per server.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Chat == nil, cfg.Presence == nil:
		return nil, errors.New("graphql: Config.Chat and Config.Presence are required")
	case cfg.Verifier == nil:
		return nil, errors.New("graphql: Config.Verifier is required")
	case cfg.IO == nil:
		return nil, errors.New("graphql: Config.IO is required")
	}
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = []events.Namespace{events.Chat, events.Presence}
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1_000_000
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 1024
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = 100
	}
	if cfg.MaxComplexity <= 0 {
		cfg.MaxComplexity = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, links: map[string]*link{}}

	srv := handler.New(schema.NewExecutableSchema(schema.Config{Resolvers: &resolver{h: h}}))
	srv.AddTransport(&transport.Websocket{
		// ServeHTTP vets the Origin itself (AllowOrigin is a function, not
		// host patterns).
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: coderws.AcceptOptions{InsecureSkipVerify: true},
		},
		InitFunc:         h.init,
		InitTimeout:      cfg.InitTimeout,
		PingPongInterval: cfg.PingInterval,
		CloseFunc: func(ctx context.Context, _ int) {
			if l := linkOf(ctx); l != nil {
				l.closeWith(socketio.ReasonClientNamespaceDisconnect)
			}
		},
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{}) // the schema is the published contract
	srv.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	srv.SetErrorPresenter(h.present)
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		h.cfg.Logger.Error("graphql: panic in a resolver", "panic", p)
		return events.NewError(events.CodeInternal, "internal error")
	})
	srv.AroundResponses(contractCodes)
	h.srv = srv

	for _, ns := range cfg.Namespaces {
		cfg.IO.Of(string(ns)).OnConnection(func(s *socketio.Socket) {
			h.mu.Lock()
			l := h.links[s.SessionID()]
			h.mu.Unlock()
			if l == nil {
				return // another client's socket
			}
			id, _ := namespaces.IdentityOf(s.AsConn())
			l.joined(id)
		})
	}
	return h, nil
}

// GraphiQL serves the GraphiQL page for endpoint (a dev-mode tool: it
// loads its scripts from a CDN).
func GraphiQL(endpoint string) http.Handler {
	return playground.Handler("Parley GraphQL", endpoint)
}

// identityKey is the context key of the caller's identity.
type identityKey struct{}

// linkKey is the context key of a WebSocket connection's link.
type linkKey struct{}

func identityOf(ctx context.Context) (auth.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(auth.Identity)
	return id, ok
}

func linkOf(ctx context.Context) *link {
	l, _ := ctx.Value(linkKey{}).(*link)
	return l
}

// ServeHTTP serves one request: a WebSocket upgrade (authenticated by its
// connection_init) or a query over HTTP, authenticated by its bearer
// token.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		h.srv.ServeHTTP(w, r)
		return
	}
	if isUpgrade(r) {
		if !h.checkOrigin(r) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		h.mu.Lock()
		closing := h.closing
		h.mu.Unlock()
		if closing {
			http.Error(w, "server shutting down", http.StatusServiceUnavailable)
			return
		}
		h.srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, r)))
		return
	}
	id, err := h.bearer(r)
	if err != nil {
		writeErrors(w, http.StatusUnauthorized, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	h.srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
}

// bearer is the identity of an HTTP request: its Authorization bearer
// token; in dev mode a request without one reads as the anonymous user,
// who may query but not post.
func (h *Handler) bearer(r *http.Request) (auth.Identity, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && h.cfg.Verifier.Dev() {
		return auth.Identity{User: events.UserRef{ID: "anonymous", Name: "anonymous"}, Anonymous: true}, nil
	}
	id, err := h.cfg.Verifier.Verify(tok)
	if err != nil {
		return auth.Identity{}, events.NewError(events.CodeUnauthorized, auth.Reason(err))
	}
	return id, nil
}

// writeErrors answers a GraphQL response with only errors.
func writeErrors(w http.ResponseWriter, status int, err error) {
	var e *events.Error
	if !errors.As(err, &e) {
		e = events.NewError(events.CodeInternal, "internal error")
	}
	body, _ := json.Marshal(map[string]any{"errors": []*gqlerror.Error{codeError(e)}}) // strings only
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client may be gone
}

func codeError(e *events.Error) *gqlerror.Error {
	return &gqlerror.Error{Message: e.Message, Extensions: map[string]any{"code": e.Code}}
}

// init accepts a graphql-transport-ws connection: it attaches a Socket.IO
// client for it and connects it to the namespaces with the
// connection_init payload ({token}, or in dev mode {userId, name}) as the
// auth. A refusal closes the WebSocket with 4403 and the reason
// "<code>: <message>".
func (h *Handler) init(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	authData := connectAuth(payload)
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	if r == nil {
		r = &http.Request{URL: &url.URL{}, Header: http.Header{}}
	}
	lctx, cancel := context.WithCancel(ctx)
	l := newLink(h, r, cancel)
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		cancel()
		return refuse(ctx, events.NewError(events.CodeUnavailable, "server shutting down"))
	}
	h.links[l.id] = l
	h.wg.Add(1)
	h.mu.Unlock()
	ended := lctx.Done()
	go func() { // owned by the Handler: ends with the connection
		defer h.wg.Done()
		<-ended
		l.finish(socketio.ReasonClientNamespaceDisconnect)
		h.mu.Lock()
		delete(h.links, l.id)
		h.mu.Unlock()
	}()

	wctx, stop := context.WithTimeout(ctx, h.cfg.InitTimeout)
	err := l.connect(wctx, authData)
	stop()
	if err != nil {
		cancel()
		var e *events.Error
		if !errors.As(err, &e) {
			e = events.NewError(events.CodeUnavailable, "the connection could not be set up in time")
		}
		return refuse(ctx, e)
	}
	l.mu.Lock()
	id := l.identity
	l.mu.Unlock()
	lctx = context.WithValue(lctx, linkKey{}, l)
	lctx = context.WithValue(lctx, identityKey{}, id)
	ack := transport.InitPayload{"userId": id.User.ID, "name": id.User.Name, "protocol": events.ContractVersion}
	return lctx, &ack, nil
}

// refuse ends a connection_init with 4403 and "<code>: <message>" (a
// close reason is at most 123 bytes).
func refuse(ctx context.Context, e *events.Error) (context.Context, *transport.InitPayload, error) {
	reason := string(e.Code) + ": " + e.Message
	if len(reason) > 123 {
		reason = reason[:123]
	}
	ctx = transport.WithWebsocketCloseCode(ctx, 4403)
	ctx = transport.AppendCloseReason(ctx, reason)
	return ctx, nil, e
}

// requestKey carries the upgrade request to init.
type requestKey struct{}

// connectAuth is the CONNECT auth a connection presents to every
// namespace: {token} when the payload has one, else the dev identity
// {userId, name} (refused unless the server runs in dev mode), else {}
// (refused).
func connectAuth(p transport.InitPayload) []byte {
	var v any
	switch {
	case p["token"] != nil:
		v = map[string]string{"token": p.GetString("token")}
	case p["userId"] != nil || p["name"] != nil:
		v = map[string]string{"userId": p.GetString("userId"), "name": p.GetString("name")}
	default:
		return []byte("{}")
	}
	b, _ := json.Marshal(v) // strings always marshal
	return b
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func (h *Handler) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host == r.Host {
		return true
	}
	return h.cfg.AllowOrigin != nil && h.cfg.AllowOrigin(origin)
}

// present turns a resolver error into a GraphQL error whose
// extensions.code is the contract's: an *events.Error as written, any
// other error logged and answered as internal.
func (h *Handler) present(ctx context.Context, err error) *gqlerror.Error {
	gerr := graphql.DefaultErrorPresenter(ctx, err)
	var e *events.Error
	switch {
	case errors.As(err, &e):
		gerr.Message = e.Message
		gerr.Extensions = map[string]any{"code": e.Code}
	case errors.Is(err, context.Canceled), errors.Is(err, errLinkClosed):
		gerr.Message = "the connection is closing"
		gerr.Extensions = map[string]any{"code": events.CodeUnavailable}
	case gerr.Extensions["code"] != nil || gerr.Rule != "":
		// gqlgen's own (parse, validation, input coercion): contractCodes
	default:
		var gq *gqlerror.Error
		if errors.As(err, &gq) && gq.Err == nil {
			break // an argument or coercion error gqlgen built
		}
		h.cfg.Logger.Error("graphql: resolver", "path", gerr.Path, "err", err)
		gerr.Message = "internal error"
		gerr.Extensions = map[string]any{"code": events.CodeInternal}
	}
	return gerr
}

// contractCodes gives every error of a response a contract code: gqlgen's
// own errors (parse and validation failures, bad arguments) are the
// client's mistake, bad_request; their gqlgen code stays as
// extensions.graphqlCode.
func contractCodes(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(events.Code)
		if code != "" {
			continue
		}
		if e.Extensions == nil {
			e.Extensions = map[string]any{}
		}
		if gc, ok := e.Extensions["code"]; ok {
			e.Extensions["graphqlCode"] = gc
		}
		e.Extensions["code"] = events.CodeBadRequest
	}
	return resp
}

// Close closes every WebSocket connection ("server shutting down") and
// waits until their goroutines have ended, or ctx ends. New upgrades are
// refused with 503 from the first call on.
func (h *Handler) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	list := make([]*link, 0, len(h.links))
	for _, l := range h.links {
		list = append(list, l)
	}
	h.mu.Unlock()
	for _, l := range list {
		l.closeWith(socketio.ReasonServerShuttingDown)
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

// Conns returns the number of open WebSocket connections.
func (h *Handler) Conns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.links)
}
