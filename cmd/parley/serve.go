package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-rt/parley/server"
)

// runServer parses flags (each with a PARLEY_* environment default) into a
// server.Config and runs the server until SIGINT or SIGTERM.
func runServer(args []string, logger *slog.Logger) error {
	cfg, level, err := parseFlags(args, os.Getenv)
	if err != nil {
		return err
	}
	logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = logger
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}

func parseFlags(args []string, getenv func(string) string) (server.Config, slog.Level, error) {
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
	var cors, level, maxBuf string
	str(&cfg.Addr, "addr", "PARLEY_ADDR", ":3000", "listen address")
	str(&cfg.DataDir, "data-dir", "PARLEY_DATA_DIR", "./data", "directory of the embedded SQLite database")
	str(&cfg.APIKey, "api-key", "PARLEY_API_KEY", "", "bearer key of the HTTP publish API; empty disables it")
	str(&cors, "cors-origins", "PARLEY_CORS_ORIGINS", "", "comma-separated allowed origins, * for any; empty: localhost origins only")
	str(&level, "log-level", "PARLEY_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&maxBuf, "max-http-buffer-size", "PARLEY_MAX_HTTP_BUFFER_SIZE", "1000000", "largest client message or polling body in bytes")
	dur(&cfg.PingInterval, "ping-interval", "PARLEY_PING_INTERVAL", 25*time.Second, "Engine.IO ping interval")
	dur(&cfg.PingTimeout, "ping-timeout", "PARLEY_PING_TIMEOUT", 20*time.Second, "Engine.IO ping timeout")
	dur(&cfg.ConnectTimeout, "connect-timeout", "PARLEY_CONNECT_TIMEOUT", 45*time.Second, "time allowed from connection to namespace join")
	dur(&cfg.RecoveryDuration, "recovery-duration", "PARLEY_RECOVERY_DURATION", 2*time.Minute, "connection state recovery window; negative disables")
	dur(&cfg.ShutdownTimeout, "shutdown-timeout", "PARLEY_SHUTDOWN_TIMEOUT", 10*time.Second, "graceful shutdown bound")
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if len(errs) > 0 {
		return cfg, 0, errs[0]
	}
	if fs.NArg() > 0 {
		return cfg, 0, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	n, err := strconv.ParseInt(maxBuf, 10, 64)
	if err != nil || n <= 0 {
		return cfg, 0, fmt.Errorf("max-http-buffer-size %q: want a positive number of bytes", maxBuf)
	}
	cfg.MaxHTTPBufferSize = n
	for _, o := range strings.Split(cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.CORSOrigins = append(cfg.CORSOrigins, o)
		}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return cfg, 0, fmt.Errorf("log-level %q: %w", level, err)
	}
	return cfg, lv, nil
}
