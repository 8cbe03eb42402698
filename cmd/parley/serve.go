package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/internal/commalist"
	"github.com/parley-rt/parley/namespaces/ratelimit"
	"github.com/parley-rt/parley/server"
)

// runServer parses flags (each with a PARLEY_* environment default) into a
// server.Config and runs the server until SIGINT or SIGTERM.
func runServer(args []string, logger *slog.Logger) error {
	cfg, lg, err := parseFlags(args, os.Getenv)
	if err != nil {
		return err
	}
	opts := &slog.HandlerOptions{Level: lg.level}
	if lg.json {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, opts))
	} else {
		logger = slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	cfg.Logger = logger
	redis.SetLogger(redisLogger{logger}) // go-redis logs through a package-level logger
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}

// logging is how the process logs: its level and whether in JSON.
type logging struct {
	level slog.Level
	json  bool
}

func parseFlags(args []string, getenv func(string) string) (server.Config, logging, error) {
	var cfg server.Config
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	str := func(p *string, name, envName, def, usage string) {
		fs.StringVar(p, name, env(envName, def), usage+" (env "+envName+")")
	}
	var errs []error
	dur := func(p *time.Duration, name, envName string, def time.Duration, usage string) {
		d := def
		if v := getenv(envName); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName, err))
			}
			d = parsed
		}
		fs.DurationVar(p, name, d, usage+" (env "+envName+")")
	}
	var logFormat string
	str(&logFormat, "log-format", "PARLEY_LOG_FORMAT", "text", "text or json (one object per line)")
	str(&cfg.MetricsAddr, "metrics-addr", "PARLEY_METRICS_ADDR", "", "listen address of /metrics (and /debug/pprof/ with --pprof); empty: /metrics on --addr, not at all with --production")
	fs.BoolVar(&cfg.AllowEIO3, "allow-eio3", getenv("PARLEY_ALLOW_EIO3") == "true", "also serve socket.io-client 2.x (Engine.IO v3) (env PARLEY_ALLOW_EIO3=true)")
	fs.BoolVar(&cfg.Pprof, "pprof", getenv("PARLEY_PPROF") == "true", "serve net/http/pprof on --metrics-addr (env PARLEY_PPROF=true)")
	fs.BoolVar(&cfg.AdminUI, "admin-ui", getenv("PARLEY_ADMIN_UI") == "true", "serve the Socket.IO Admin UI's /admin namespace (env PARLEY_ADMIN_UI=true)")
	str(&cfg.AdminUser, "admin-user", "PARLEY_ADMIN_USER", "", "admin UI login; empty: open (refused with --production)")
	str(&cfg.AdminPasswordHash, "admin-password-hash", "PARLEY_ADMIN_PASSWORD_HASH", "", "bcrypt hash of the admin UI password")
	var cors, level, maxBuf, sseBuf, keyFile, private, limits, maxRooms, maxConns, dbPool, maxSessions, hsRate string
	str(&cfg.Addr, "addr", "PARLEY_ADDR", ":3000", "listen address")
	str(&cfg.DataDir, "data-dir", "PARLEY_DATA_DIR", "./data", "directory of the embedded SQLite database")
	var sqliteSync string
	str(&sqliteSync, "sqlite-sync", "PARLEY_SQLITE_SYNC", "normal", "normal (crash-safe, no fsync per commit) or full (fsync every commit: survives power loss)")
	str(&cfg.DatabaseURL, "database-url", "PARLEY_DATABASE_URL", "", "PostgreSQL URL postgres://user:pass@host:port/db for history and last-seen records, shared by a cluster's nodes; empty: SQLite in --data-dir")
	str(&dbPool, "database-pool", "PARLEY_DATABASE_POOL", "10", "most connections to the PostgreSQL database")
	str(&cfg.APIKey, "api-key", "PARLEY_API_KEY", "", "bearer key of the HTTP publish API; empty disables it")
	str(&cors, "cors-origins", "PARLEY_CORS_ORIGINS", "", "comma-separated allowed origins, * for any; empty: localhost origins, none with --production")
	str(&level, "log-level", "PARLEY_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&maxBuf, "max-http-buffer-size", "PARLEY_MAX_HTTP_BUFFER_SIZE", "1000000", "largest client message or polling body in bytes")
	dur(&cfg.PingInterval, "ping-interval", "PARLEY_PING_INTERVAL", 25*time.Second, "Engine.IO ping interval")
	dur(&cfg.PingTimeout, "ping-timeout", "PARLEY_PING_TIMEOUT", 20*time.Second, "Engine.IO ping timeout")
	dur(&cfg.ConnectTimeout, "connect-timeout", "PARLEY_CONNECT_TIMEOUT", 45*time.Second, "time allowed from connection to namespace join")
	dur(&cfg.RecoveryDuration, "recovery-duration", "PARLEY_RECOVERY_DURATION", 2*time.Minute, "connection state recovery window; negative disables")
	dur(&cfg.ShutdownTimeout, "shutdown-timeout", "PARLEY_SHUTDOWN_TIMEOUT", 10*time.Second, "graceful shutdown bound")
	dur(&cfg.PresenceGrace, "presence-grace", "PARLEY_PRESENCE_GRACE", 5*time.Second, "how long a user stays online after its last connection ends; negative: none")
	dur(&cfg.SSEHeartbeat, "sse-heartbeat", "PARLEY_SSE_HEARTBEAT", 15*time.Second, "interval of SSE heartbeat comments")
	dur(&cfg.SSERetry, "sse-retry", "PARLEY_SSE_RETRY", 2*time.Second, "reconnection delay suggested to SSE clients (retry:)")
	str(&sseBuf, "sse-buffer", "PARLEY_SSE_BUFFER", "256", "events queued for a slow SSE reader before its stream is closed")
	str(&cfg.JWTSecret, "jwt-secret", "PARLEY_JWT_SECRET", "", "HS256 key of user tokens (32+ bytes); with no key: dev mode")
	str(&keyFile, "jwt-public-key", "PARLEY_JWT_PUBLIC_KEY", "", "PEM file of the RS256 (RSA) or ES256 (EC P-256) public key of user tokens")
	str(&cfg.JWTAudience, "jwt-audience", "PARLEY_JWT_AUDIENCE", "", "required aud claim; empty: not checked")
	str(&cfg.JWTIssuer, "jwt-issuer", "PARLEY_JWT_ISSUER", "", "required iss claim; empty: not checked")
	fs.BoolVar(&cfg.Production, "production", getenv("PARLEY_ENV") == "production",
		"refuse to start without a JWT key; no dev endpoint; no CORS origin unless listed (env PARLEY_ENV=production)")
	str(&private, "private-rooms", "PARLEY_PRIVATE_ROOMS", "", "comma-separated room patterns (* wildcard) that, like private:*, need a rooms claim")
	str(&limits, "rate-limits", "PARLEY_RATE_LIMITS", "", "per-socket overrides event=rate:burst,... (rate per second; 0 turns off), e.g. chatMessage=10:20")
	dur(&cfg.AbuseWindow, "abuse-window", "PARLEY_ABUSE_WINDOW", 10*time.Second, "a socket at 10x an event's rate limit for this long is disconnected")
	str(&maxRooms, "max-rooms-per-socket", "PARLEY_MAX_ROOMS_PER_SOCKET", "100", "chat rooms one socket may be in")
	str(&maxConns, "max-connections-per-user", "PARLEY_MAX_CONNECTIONS_PER_USER", "20", "sockets one user may have across namespaces and tabs")
	str(&cfg.RedisURL, "redis-url", "PARLEY_REDIS_URL", "", "Redis of a cluster of nodes, redis://host:port/db (wire-compatible with @socket.io/redis-adapter); empty: a single node")
	str(&cfg.RedisPrefix, "redis-prefix", "PARLEY_REDIS_PREFIX", "socket.io", "prefix of the cluster's Redis channels")
	str(&cfg.ClusterAddr, "cluster-addr", "PARLEY_CLUSTER_ADDR", "", "host:port the other nodes reach this node at, to forward it the requests of its sessions (no sticky sessions needed); empty: --addr when it names a host; off: none")
	dur(&cfg.OnceTTL, "once-ttl", "PARLEY_ONCE_TTL", time.Minute, "cluster: lifetime of a chat message's broadcast gate in Redis (about 180 B each); a resend through another node broadcasts a message its dead node never did until half of this after its commit")
	dur(&cfg.NodeTTL, "node-ttl", "PARLEY_NODE_TTL", 10*time.Second, "cluster: TTL of a node's heartbeat in Redis; a killed node's users go offline elsewhere within 1.9x this plus --presence-grace")
	str(&maxSessions, "max-sessions", "PARLEY_MAX_SESSIONS", "100000", "open Engine.IO sessions (connections) in all; over it a handshake gets 503; 0: no cap")
	str(&hsRate, "handshake-rate", "PARLEY_HANDSHAKE_RATE", "", "handshakes per client address as rate:burst (per second), e.g. 10:20; empty: off. Behind a proxy, limit at the proxy")
	if err := fs.Parse(args); err != nil {
		return cfg, logging{}, err
	}
	switch sqliteSync {
	case "normal":
	case "full":
		cfg.SQLiteSyncFull = true
	default:
		return cfg, logging{}, fmt.Errorf("sqlite-sync %q: want normal or full", sqliteSync)
	}
	if len(errs) > 0 {
		return cfg, logging{}, errs[0]
	}
	if fs.NArg() > 0 {
		return cfg, logging{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	n, err := strconv.ParseInt(maxBuf, 10, 64)
	if err != nil || n <= 0 {
		return cfg, logging{}, fmt.Errorf("max-http-buffer-size %q: want a positive number of bytes", maxBuf)
	}
	cfg.MaxHTTPBufferSize = n
	if cfg.SSEBuffer, err = strconv.Atoi(sseBuf); err != nil || cfg.SSEBuffer <= 0 {
		return cfg, logging{}, fmt.Errorf("sse-buffer %q: want a positive number of events", sseBuf)
	}
	if cfg.SSEHeartbeat <= 0 || cfg.SSERetry <= 0 || cfg.AbuseWindow <= 0 {
		return cfg, logging{}, errors.New("sse-heartbeat, sse-retry and abuse-window must be positive")
	}
	for _, f := range []struct {
		name string
		s    string
		p    *int
	}{{"max-rooms-per-socket", maxRooms, &cfg.MaxRoomsPerSocket}, {"max-connections-per-user", maxConns, &cfg.MaxConnectionsPerUser}, {"database-pool", dbPool, &cfg.DatabasePool}} {
		if *f.p, err = strconv.Atoi(f.s); err != nil || *f.p <= 0 {
			return cfg, logging{}, fmt.Errorf("%s %q: want a positive number", f.name, f.s)
		}
	}
	if cfg.MaxSessions, err = strconv.Atoi(maxSessions); err != nil || cfg.MaxSessions < 0 {
		return cfg, logging{}, fmt.Errorf("max-sessions %q: want a number, 0 for no cap", maxSessions)
	}
	if cfg.HandshakeRate, err = parseHandshakeRate(hsRate); err != nil {
		return cfg, logging{}, err
	}
	if cfg.RateLimits, err = ratelimit.ParseRateLimits(limits); err != nil {
		return cfg, logging{}, err
	}
	cfg.PrivateRooms = commalist.Split(private)
	if keyFile != "" {
		if cfg.JWTPublicKey, err = os.ReadFile(keyFile); err != nil {
			return cfg, logging{}, fmt.Errorf("jwt-public-key: %w", err)
		}
	}
	cfg.CORSOrigins = commalist.Split(cors)
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return cfg, logging{}, fmt.Errorf("log-level %q: %w", level, err)
	}
	if logFormat != "text" && logFormat != "json" {
		return cfg, logging{}, fmt.Errorf("log-format %q: want text or json", logFormat)
	}
	if cfg.Pprof && cfg.MetricsAddr == "" {
		return cfg, logging{}, errors.New("--pprof needs --metrics-addr: profiles are never served on the main listener")
	}
	return cfg, logging{level: lv, json: logFormat == "json"}, nil
}

// parseHandshakeRate parses --handshake-rate: "" is off, else rate:burst
// with a positive rate (per second) and a burst of at least 1.
func parseHandshakeRate(s string) (ratelimit.RateLimit, error) {
	if s == "" {
		return ratelimit.RateLimit{}, nil
	}
	rate, burst, ok := strings.Cut(s, ":")
	r, err1 := strconv.ParseFloat(rate, 64)
	b, err2 := strconv.Atoi(burst)
	if !ok || err1 != nil || err2 != nil || !(r > 0) || math.IsInf(r, 0) || b < 1 {
		return ratelimit.RateLimit{}, fmt.Errorf("handshake-rate %q: want rate:burst, e.g. 10:20, or empty for off", s)
	}
	return ratelimit.RateLimit{Rate: r, Burst: b}, nil
}
