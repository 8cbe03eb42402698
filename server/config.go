package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/parley-rt/parley/namespaces/ratelimit"
	"github.com/parley-rt/parley/store"
)

// Config configures a Server. The zero value of every field means its
// documented default.
type Config struct {
	// Addr is the listen address used by Run. Default ":3000".
	Addr string
	// DataDir holds the embedded SQLite database. Default "./data".
	DataDir string
	// SQLiteSyncFull fsyncs every commit (synchronous=FULL), so acked
	// messages survive power loss as well as a process crash. Default off
	// (synchronous=NORMAL: crash-safe, no fsync per commit).
	SQLiteSyncFull bool
	// DatabaseURL, when set, keeps history, idempotency keys and last-seen
	// records in this PostgreSQL database (postgres://user:pass@host:port/db
	// or key=value form), which the nodes of a cluster share, instead of
	// SQLite in DataDir. Migrations are applied at start. Default empty:
	// SQLite.
	DatabaseURL string
	// DatabasePool is the most connections to DatabaseURL. Default
	// store.DefaultPoolSize (10).
	DatabasePool int
	// PingInterval and PingTimeout drive the Engine.IO heartbeat. Defaults
	// 25s and 20s, as Node's.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// AllowEIO3 also serves socket.io-client 2.x (Engine.IO v3), as
	// Node's allowEIO3 does. Default false: such a client's handshake is
	// refused with 400.
	AllowEIO3 bool
	// MaxHTTPBufferSize is the largest message or polling body in bytes a
	// client may send. Default 1,000,000.
	MaxHTTPBufferSize int64
	// ConnectTimeout bounds the time from connection to namespace join.
	// Default 45s.
	ConnectTimeout time.Duration
	// RecoveryDuration is how long connection state recovery keeps a
	// disconnected socket's state and missed packets. Default 2m; negative
	// turns recovery off.
	RecoveryDuration time.Duration
	// CORSOrigins lists the origins allowed to use the Socket.IO endpoint,
	// the HTTP API and the SSE streams. "*" allows any. Empty allows any
	// http(s) origin on localhost, 127.0.0.1 or [::1] (the development
	// default), or none with Production.
	CORSOrigins []string
	// APIKey enables the HTTP publish API for callers that present it as a
	// bearer token. Empty disables the API's writes.
	APIKey string
	// ShutdownTimeout bounds a graceful shutdown in Run. Default 10s.
	ShutdownTimeout time.Duration
	// PresenceGrace is how long a user whose last connection ended stays
	// online, so that reloads and brief drops do not flap. Default 5s;
	// negative means none.
	PresenceGrace time.Duration
	// SSEHeartbeat is the interval of the comment lines that keep an idle
	// server-sent events stream open through proxies. Default 15s.
	SSEHeartbeat time.Duration
	// SSERetry is the reconnection delay SSE streams suggest to clients
	// (the retry: field). Default 2s.
	SSERetry time.Duration
	// SSEBuffer is how many events an SSE stream queues for a slow reader;
	// beyond it the stream is closed, and the client resumes from
	// Last-Event-ID. Default 256.
	SSEBuffer int
	// JWTSecret is the HS256 key of user tokens, at least 32 bytes.
	// JWTPublicKey is instead a PEM public key: RSA (RS256) or EC P-256
	// (ES256). With neither, the server runs in dev mode: it signs tokens
	// with a per-process secret (GET /api/dev/token) and accepts handshakes
	// that claim {userId, name}.
	JWTSecret    string
	JWTPublicKey []byte
	// JWTAudience and JWTIssuer, when set, must match the tokens' aud and
	// iss claims. Default: not checked.
	JWTAudience string
	JWTIssuer   string
	// Production refuses to start without JWTSecret or JWTPublicKey (so
	// never in dev mode), and allows no CORS origin unless CORSOrigins
	// lists some.
	Production bool
	// PrivateRooms are room patterns (* matches any run of characters) that,
	// like every room named private:*, only users whose token's rooms claim
	// matches may join, watch or stream.
	PrivateRooms []string
	// RateLimits overrides DefaultRateLimits by client event name; a zero
	// Rate turns an event's limit off.
	RateLimits map[string]ratelimit.RateLimit
	// AbuseFactor and AbuseWindow define persistent abuse: a socket sending
	// an event at AbuseFactor times its limit for about AbuseWindow is
	// disconnected. Defaults 10 and 10s.
	AbuseFactor int
	AbuseWindow time.Duration
	// MaxRoomsPerSocket is the most chat rooms one socket may be in.
	// Default 100.
	MaxRoomsPerSocket int
	// MaxConnectionsPerUser caps one user's sockets across namespaces and
	// tabs; more are refused with rate_limited. Default 20.
	MaxConnectionsPerUser int
	// MetricsAddr, when set, is the listen address of a second HTTP server
	// that serves /metrics (and /debug/pprof/ with Pprof); /metrics then
	// leaves the main listener. Empty: /metrics is on the main listener,
	// except with Production, where it is not served at all.
	MetricsAddr string
	// Pprof serves net/http/pprof on the metrics listener; it needs
	// MetricsAddr.
	Pprof bool
	// AdminUI serves the Socket.IO Admin UI's /admin namespace (see
	// internal/admin). Default off.
	AdminUI bool
	// AdminUser and AdminPasswordHash (a bcrypt hash) are the admin UI's
	// login. Both or neither; with neither the namespace is open, which
	// Production refuses.
	AdminUser         string
	AdminPasswordHash string
	// RedisURL joins a cluster of nodes on one Redis
	// (redis://[user:password@]host:port/db): every namespace uses the Redis
	// adapter, wire-compatible with Node's @socket.io/redis-adapter. Empty:
	// a single node, no Redis needed.
	RedisURL string
	// RedisPrefix starts the cluster's channel names, as the key option of
	// Node's adapter. Default "socket.io".
	RedisPrefix string
	// ClusterAddr is the host:port the other nodes of the cluster reach
	// this node's listener at: they forward to it the polling requests and
	// WebSocket upgrades of this node's sessions that a load balancer sent
	// them, so no sticky sessions are needed. Default: the listener's
	// address when it names a host (--addr 10.0.0.5:3000); with none
	// (":3000", "0.0.0.0:3000") this node takes no forwarded requests and
	// a warning says so. "off" turns taking them off. Needs RedisURL.
	ClusterAddr string
	// NodeTTL is how long a node of a cluster that stopped without
	// shutting down (SIGKILL, a freeze, a network cut) is still taken for
	// alive: its heartbeat key's TTL in Redis. Its users go offline on the
	// other nodes at most 1.9 x NodeTTL (redisadapter.Liveness's detection
	// bound) plus PresenceGrace after its death. Default 10s (19 s +
	// grace).
	NodeTTL time.Duration
	// OnceTTL is how long Redis keeps a chat message's broadcast gate
	// (<prefix>-once#/chat#<id>, about 180 bytes): until half of it after
	// its commit, a resend through any node broadcasts a message whose
	// node died before broadcasting it. Default 1m
	// (redisadapter.DefaultOnceTTL).
	OnceTTL time.Duration
	// MaxSessions caps the open Engine.IO sessions: over it a handshake
	// gets 503 and the open ones are untouched. Zero is no cap; the parley
	// command's default is 100,000.
	MaxSessions int
	// HandshakeRate limits Engine.IO handshakes per client address (token
	// bucket, engineio.Config.HandshakeRate). The zero value, the default,
	// is off.
	HandshakeRate ratelimit.RateLimit
	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Addr == "" {
		c.Addr = ":3000"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.DatabasePool == 0 {
		c.DatabasePool = store.DefaultPoolSize
	}
	if c.MaxHTTPBufferSize == 0 {
		c.MaxHTTPBufferSize = 1_000_000
	}
	if c.RecoveryDuration == 0 {
		c.RecoveryDuration = 2 * time.Minute
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.PresenceGrace == 0 {
		c.PresenceGrace = 5 * time.Second
	}
	if c.SSEHeartbeat == 0 {
		c.SSEHeartbeat = 15 * time.Second
	}
	if c.SSERetry == 0 {
		c.SSERetry = 2 * time.Second
	}
	if c.SSEBuffer == 0 {
		c.SSEBuffer = 256
	}
	if c.AbuseFactor == 0 {
		c.AbuseFactor = 10
	}
	if c.AbuseWindow == 0 {
		c.AbuseWindow = 10 * time.Second
	}
	if c.MaxRoomsPerSocket == 0 {
		c.MaxRoomsPerSocket = 100
	}
	if c.MaxConnectionsPerUser == 0 {
		c.MaxConnectionsPerUser = 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if c.PingInterval < 0 || c.PingTimeout < 0 || c.ConnectTimeout < 0 || c.SSEHeartbeat < 0 || c.SSERetry < 0 || c.OnceTTL < 0 {
		errs = append(errs, errors.New("server: durations must not be negative"))
	}
	if c.DatabasePool < 0 {
		errs = append(errs, errors.New("server: DatabasePool must not be negative"))
	}
	if c.MaxHTTPBufferSize < 0 {
		errs = append(errs, errors.New("server: MaxHTTPBufferSize must not be negative"))
	}
	if c.SSEBuffer < 0 || c.AbuseFactor < 0 || c.AbuseWindow < 0 || c.MaxRoomsPerSocket < 0 || c.MaxConnectionsPerUser < 0 {
		errs = append(errs, errors.New("server: SSEBuffer, AbuseFactor, AbuseWindow, MaxRoomsPerSocket and MaxConnectionsPerUser must not be negative"))
	}
	if err := checkClusterAddr(c.ClusterAddr, c.RedisURL); err != nil {
		errs = append(errs, err)
	}
	if c.Pprof && c.MetricsAddr == "" {
		errs = append(errs, errors.New("server: Pprof needs MetricsAddr (--pprof is served on --metrics-addr only)"))
	}
	for name, l := range c.RateLimits {
		if l.Rate < 0 || l.Rate > 0 && l.Burst < 1 {
			errs = append(errs, fmt.Errorf("server: rate limit of %q: Rate must not be negative, Burst must be at least 1", name))
		}
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("server: CORS origin %q is not scheme://host[:port]", o))
		}
	}
	return errors.Join(errs...)
}

// allowOrigin returns the CORS origin check of the configuration.
func (c *Config) allowOrigin() func(string) bool {
	if len(c.CORSOrigins) == 0 && c.Production {
		return func(string) bool { return false }
	}
	if len(c.CORSOrigins) == 0 {
		return isLocalOrigin
	}
	set := make(map[string]bool, len(c.CORSOrigins))
	for _, o := range c.CORSOrigins {
		if o == "*" {
			return func(string) bool { return true }
		}
		set[strings.TrimSuffix(o, "/")] = true
	}
	return func(origin string) bool { return set[origin] }
}

func isLocalOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}
