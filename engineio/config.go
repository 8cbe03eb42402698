package engineio

import (
	"log/slog"
	"net/http"
	"time"
)

// Config configures a Server. The zero value of every field means its
// documented default.
type Config struct {
	// PingInterval is the time between server pings. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong. Default 20s.
	PingTimeout time.Duration
	// MaxPayload is the largest message or polling body, in bytes, a client
	// may send (Node's maxHttpBufferSize; advertised as maxPayload). A larger
	// one closes the session. Default 1,000,000.
	MaxPayload int64
	// UpgradeTimeout bounds the polling to WebSocket upgrade. Default 10s.
	UpgradeTimeout time.Duration
	// DisablePolling and DisableWebSocket turn a transport off. Both off is
	// an error.
	DisablePolling   bool
	DisableWebSocket bool
	// DisableUpgrades stops polling sessions from upgrading.
	DisableUpgrades bool
	// AllowEIO3 also serves Engine.IO protocol v3 (EIO=3, the protocol of
	// socket.io-client 2.x), as Node's allowEIO3 does. Off (the default), a
	// v3 request is refused with 400 "Unsupported protocol version".
	AllowEIO3 bool
	// MaxQueue is how many frames may wait to be written to one session
	// before it is closed as a slow consumer. Default 4096.
	MaxQueue int
	// MaxInbox is how many received messages may wait for the handler
	// before the session's reads pause. Default 256.
	MaxInbox int
	// WriteTimeout bounds one WebSocket write, and the write of a parked
	// polling GET's response. Default 10s.
	WriteTimeout time.Duration
	// ParkDelay is how long a long-polling GET with nothing to send is
	// held by its handler's goroutine before it is parked without one
	// (only on connections served through Server.Listener; see park.go):
	// a parked GET holds a few hundred bytes instead of a goroutine and
	// net/http's buffers, but parking and handing the connection back cost
	// CPU, so a GET answered sooner is never parked. Default 1s; negative:
	// GETs are never parked.
	ParkDelay time.Duration
	// CORS sets the cross-origin policy. The zero value sends no CORS
	// headers. Its AllowOrigin also vets handshakes and WebSocket
	// upgrades: one whose Origin header names neither an allowed origin
	// nor the server's own host is refused with 403 and opens no session;
	// one without Origin is not affected.
	CORS CORS
	// AllowRequest, when set, vets each handshake request; a non-nil error
	// refuses it with 403 and the error's text as message.
	AllowRequest func(r *http.Request) error
	// MaxSessions caps the open sessions: a handshake over it is refused
	// with 503 and {"code":100,"message":"Too many sessions"}, and the
	// sessions already open are not affected. Zero (the default) is no cap.
	MaxSessions int
	// HandshakeRate limits the handshakes of each client address (the TCP
	// peer's IPv4 address, or its IPv6 /64): one over the limit is refused
	// with 429, a Retry-After header and
	// {"code":101,"message":"Too many handshakes"}. Behind a reverse proxy
	// every client has the proxy's address, so limit there instead. The
	// zero value (the default) is no limit.
	HandshakeRate RateLimit
	// OnSession is called for each new session, before any of its messages
	// are delivered; it must call Session.SetHandler. Required.
	OnSession func(s *Session)
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
	// SIDPrefix starts every session id this server makes, so that a
	// cluster node can tell from a sid which node owns it (the cluster
	// forwards requests by it). The id keeps its 20 characters; the prefix
	// replaces the first ones, and at most 6 characters of URL-safe base64
	// are allowed (New refuses others). Default empty: fully random ids.
	SIDPrefix string
	// UnknownSession, when set, is offered every polling request and
	// WebSocket upgrade that names a sid this server does not have; it
	// reports whether it answered the request (a cluster forwards it to
	// the node that owns the sid). When it returns false, or is nil, the
	// request gets 400 {"code":1,"message":"Session ID unknown"}.
	// Handshakes (no sid) are never offered. Default nil.
	UnknownSession func(w http.ResponseWriter, r *http.Request, sid string) bool
	// ReadBufferSize is the per-WebSocket read buffer in bytes. Default 256:
	// it holds frame headers and small messages; larger payloads are read
	// straight into their own buffer.
	ReadBufferSize int
}

// CORS is the cross-origin policy of the Engine.IO endpoint.
type CORS struct {
	// AllowOrigin reports whether a request's Origin may read responses
	// and open sessions. Nil allows no cross origin (no CORS headers are
	// sent; only pages of the server's own host may open sessions).
	AllowOrigin func(origin string) bool
	// Credentials sets Access-Control-Allow-Credentials: true.
	Credentials bool
	// MaxAge is the preflight cache time; zero omits the header.
	MaxAge time.Duration
}

func (c *Config) setDefaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 1_000_000
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 4096
	}
	if c.MaxInbox <= 0 {
		c.MaxInbox = 256
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ParkDelay == 0 {
		c.ParkDelay = time.Second
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 256
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
