package main

import (
	"github.com/parley-rt/parley/namespaces/ratelimit"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"PARLEY_ADDR":          ":4000",
		"PARLEY_PING_INTERVAL": "5s",
		"PARLEY_CORS_ORIGINS":  "https://a.example, https://b.example",
		"PARLEY_LOG_LEVEL":     "debug",
	}
	getenv := func(k string) string { return env[k] }

	cfg, lg, err := parseFlags(nil, getenv)
	level := lg.level
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":4000" || cfg.PingInterval != 5*time.Second || level != slog.LevelDebug ||
		!slices.Equal(cfg.CORSOrigins, []string{"https://a.example", "https://b.example"}) {
		t.Errorf("env defaults not applied: %+v level %v", cfg, level)
	}
	if cfg.DataDir != "./data" || cfg.PingTimeout != 20*time.Second || cfg.MaxHTTPBufferSize != 1_000_000 {
		t.Errorf("built-in defaults wrong: %+v", cfg)
	}
	if cfg.PresenceGrace != 5*time.Second || cfg.SSEHeartbeat != 15*time.Second || cfg.SSERetry != 2*time.Second || cfg.SSEBuffer != 256 {
		t.Errorf("presence and SSE defaults wrong: %+v", cfg)
	}
	cfg, _, err = parseFlags([]string{"--presence-grace", "-1s", "--sse-heartbeat", "50ms", "--sse-buffer", "8"},
		func(k string) string { return map[string]string{"PARLEY_SSE_RETRY": "100ms"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PresenceGrace != -time.Second || cfg.SSEHeartbeat != 50*time.Millisecond || cfg.SSERetry != 100*time.Millisecond || cfg.SSEBuffer != 8 {
		t.Errorf("presence and SSE flags not applied: %+v", cfg)
	}

	cfg, _, err = parseFlags([]string{"--addr", "127.0.0.1:5000", "--ping-interval", "1s", "--max-http-buffer-size", "2048"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:5000" || cfg.PingInterval != time.Second || cfg.MaxHTTPBufferSize != 2048 {
		t.Errorf("flags must override env: %+v", cfg)
	}

	if cfg.SQLiteSyncFull {
		t.Error("--sqlite-sync defaults to normal")
	}
	if cfg, _, err := parseFlags([]string{"--sqlite-sync", "full"}, getenv); err != nil || !cfg.SQLiteSyncFull {
		t.Errorf("--sqlite-sync full: %v, %+v", err, cfg.SQLiteSyncFull)
	}
	if cfg.DatabaseURL != "" || cfg.DatabasePool != 10 {
		t.Errorf("database defaults wrong: %q, pool %d", cfg.DatabaseURL, cfg.DatabasePool)
	}
	if cfg, _, err := parseFlags([]string{"--database-pool", "3"}, func(k string) string {
		return map[string]string{"PARLEY_DATABASE_URL": "postgres://db.example/parley"}[k]
	}); err != nil || cfg.DatabaseURL != "postgres://db.example/parley" || cfg.DatabasePool != 3 {
		t.Errorf("--database-url from env, --database-pool 3: %v, %q, %d", err, cfg.DatabaseURL, cfg.DatabasePool)
	}
	for _, bad := range [][]string{
		{"--database-pool", "0"},
		{"--sqlite-sync", "always"},
		{"--max-http-buffer-size", "0"},
		{"--log-level", "loud"},
		{"--ping-interval", "soon"},
		{"extra"},
		{"--sse-buffer", "0"},
		{"--sse-heartbeat", "0s"},
		{"--rate-limits", "chatMessage=fast"},
		{"--rate-limits", "chatMessage=10:0"},
		{"--max-connections-per-user", "0"},
		{"--max-sessions", "-1"},
		{"--max-sessions", "many"},
		{"--handshake-rate", "10"},
		{"--handshake-rate", "0:5"},
		{"--handshake-rate", "10:0"},
		{"--handshake-rate", "fast:20"},
		{"--jwt-public-key", "/nonexistent/key.pem"},
		{"--log-format", "xml"},
		{"--pprof"},
	} {
		if _, _, err := parseFlags(bad, getenv); err == nil {
			t.Errorf("parseFlags(%v) succeeded; want an error", bad)
		}
	}
	if _, _, err := parseFlags(nil, func(k string) string {
		if k == "PARLEY_PING_TIMEOUT" {
			return "later"
		}
		return ""
	}); err == nil {
		t.Error("a bad duration in the environment must be an error")
	}
}

func TestParseAuthFlags(t *testing.T) {
	t.Parallel()
	cfg, _, err := parseFlags(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Production || cfg.JWTSecret != "" || cfg.JWTPublicKey != nil ||
		cfg.MaxRoomsPerSocket != 100 || cfg.MaxConnectionsPerUser != 20 || cfg.AbuseWindow != 10*time.Second {
		t.Errorf("auth defaults wrong: %+v", cfg)
	}
	key := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(key, []byte("-----BEGIN PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARLEY_ENV": "production", "PARLEY_JWT_AUDIENCE": "parley", "PARLEY_PRIVATE_ROOMS": "staff-*, ops"}
	cfg, _, err = parseFlags([]string{
		"--jwt-public-key", key, "--jwt-issuer", "https://id.example", "--rate-limits", "chatMessage=2:4,typing=0:0",
		"--max-rooms-per-socket", "5", "--max-connections-per-user", "3", "--abuse-window", "1s",
	}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Production || string(cfg.JWTPublicKey) != "-----BEGIN PUBLIC KEY-----\n" || cfg.JWTAudience != "parley" || cfg.JWTIssuer != "https://id.example" ||
		!slices.Equal(cfg.PrivateRooms, []string{"staff-*", "ops"}) || cfg.MaxRoomsPerSocket != 5 || cfg.MaxConnectionsPerUser != 3 || cfg.AbuseWindow != time.Second {
		t.Errorf("auth flags not applied: %+v", cfg)
	}
	if got := cfg.RateLimits; len(got) != 2 || got["chatMessage"].Rate != 2 || got["chatMessage"].Burst != 4 || got["typing"].Rate != 0 {
		t.Errorf("rate limits %+v", got)
	}
	if cfg, _, err = parseFlags([]string{"--production=false"}, func(k string) string { return env[k] }); err != nil || cfg.Production {
		t.Errorf("--production=false must override PARLEY_ENV: %v %v", cfg.Production, err)
	}
}

func TestOperationsFlags(t *testing.T) {
	t.Parallel()
	cfg, lg, err := parseFlags([]string{"--log-format", "json", "--metrics-addr", "127.0.0.1:0", "--pprof"}, func(string) string { return "" })
	if err != nil || !lg.json || cfg.MetricsAddr != "127.0.0.1:0" || !cfg.Pprof {
		t.Fatalf("parseFlags = %+v %+v %v", cfg, lg, err)
	}
	cfg, lg, err = parseFlags(nil, func(k string) string {
		return map[string]string{"PARLEY_LOG_FORMAT": "json", "PARLEY_METRICS_ADDR": ":9100", "PARLEY_PPROF": "true"}[k]
	})
	if err != nil || !lg.json || cfg.MetricsAddr != ":9100" || !cfg.Pprof {
		t.Fatalf("env: %+v %+v %v", cfg, lg, err)
	}
	cfg, _, err = parseFlags([]string{"--admin-ui", "--admin-user", "ops"}, func(k string) string {
		return map[string]string{"PARLEY_ADMIN_PASSWORD_HASH": "$2a$10$x"}[k]
	})
	if err != nil || !cfg.AdminUI || cfg.AdminUser != "ops" || cfg.AdminPasswordHash != "$2a$10$x" {
		t.Fatalf("admin flags: %+v %v", cfg, err)
	}
	cfg, _, err = parseFlags(nil, func(k string) string { return map[string]string{"PARLEY_ADMIN_UI": "true"}[k] })
	if err != nil || !cfg.AdminUI || cfg.AdminUser != "" {
		t.Fatalf("PARLEY_ADMIN_UI: %+v %v", cfg, err)
	}
}

func TestParseFlagsRedis(t *testing.T) {
	t.Parallel()
	cfg, _, err := parseFlags(nil, func(string) string { return "" })
	if err != nil || cfg.RedisURL != "" || cfg.RedisPrefix != "socket.io" {
		t.Fatalf("defaults: %q %q %v", cfg.RedisURL, cfg.RedisPrefix, err)
	}
	env := map[string]string{"PARLEY_REDIS_URL": "redis://127.0.0.1:6379/0", "PARLEY_REDIS_PREFIX": "app"}
	cfg, _, err = parseFlags(nil, func(k string) string { return env[k] })
	if err != nil || cfg.RedisURL != env["PARLEY_REDIS_URL"] || cfg.RedisPrefix != "app" {
		t.Fatalf("env: %q %q %v", cfg.RedisURL, cfg.RedisPrefix, err)
	}
	cfg, _, err = parseFlags([]string{"--redis-url", "redis://h:1/2", "--redis-prefix", "x"}, func(k string) string { return env[k] })
	if err != nil || cfg.RedisURL != "redis://h:1/2" || cfg.RedisPrefix != "x" {
		t.Fatalf("flags: %q %q %v", cfg.RedisURL, cfg.RedisPrefix, err)
	}
}

func TestParseFlagsClusterAddr(t *testing.T) {
	t.Parallel()
	cfg, _, err := parseFlags(nil, func(k string) string { return map[string]string{"PARLEY_CLUSTER_ADDR": "10.0.0.5:3000"}[k] })
	if err != nil || cfg.ClusterAddr != "10.0.0.5:3000" {
		t.Fatalf("env: %q %v", cfg.ClusterAddr, err)
	}
	cfg, _, err = parseFlags([]string{"--cluster-addr", "off"}, func(string) string { return "" })
	if err != nil || cfg.ClusterAddr != "off" {
		t.Fatalf("flag: %q %v", cfg.ClusterAddr, err)
	}
}

func TestParseHardeningFlags(t *testing.T) {
	t.Parallel()
	cfg, _, err := parseFlags(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxSessions != 100_000 || cfg.HandshakeRate != (ratelimit.RateLimit{}) {
		t.Errorf("defaults: MaxSessions %d, HandshakeRate %+v; want 100000 and off", cfg.MaxSessions, cfg.HandshakeRate)
	}
	cfg, _, err = parseFlags([]string{"--max-sessions", "0", "--handshake-rate", "2.5:20"}, func(string) string { return "" })
	if err != nil || cfg.MaxSessions != 0 || cfg.HandshakeRate != (ratelimit.RateLimit{Rate: 2.5, Burst: 20}) {
		t.Errorf("flags: %v, MaxSessions %d, HandshakeRate %+v", err, cfg.MaxSessions, cfg.HandshakeRate)
	}
	env := map[string]string{"PARLEY_MAX_SESSIONS": "5000", "PARLEY_HANDSHAKE_RATE": "10:20"}
	cfg, _, err = parseFlags(nil, func(k string) string { return env[k] })
	if err != nil || cfg.MaxSessions != 5000 || cfg.HandshakeRate != (ratelimit.RateLimit{Rate: 10, Burst: 20}) {
		t.Errorf("environment: %v, MaxSessions %d, HandshakeRate %+v", err, cfg.MaxSessions, cfg.HandshakeRate)
	}
}

func TestParseFlagsAllowEIO3(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	for _, tt := range []struct {
		args []string
		env  func(string) string
		want bool
	}{
		{nil, none, false},
		{[]string{"--allow-eio3"}, none, true},
		{nil, func(k string) string { return map[string]string{"PARLEY_ALLOW_EIO3": "true"}[k] }, true},
		{[]string{"--allow-eio3=false"}, func(k string) string { return map[string]string{"PARLEY_ALLOW_EIO3": "true"}[k] }, false},
	} {
		cfg, _, err := parseFlags(tt.args, tt.env)
		if err != nil || cfg.AllowEIO3 != tt.want {
			t.Errorf("parseFlags(%q): AllowEIO3 %v, %v; want %v", tt.args, cfg.AllowEIO3, err, tt.want)
		}
	}
}
