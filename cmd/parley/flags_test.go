package main

import (
	"log/slog"
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

	cfg, level, err := parseFlags(nil, getenv)
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

	cfg, _, err = parseFlags([]string{"--addr", "127.0.0.1:5000", "--ping-interval", "1s", "--max-http-buffer-size", "2048"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:5000" || cfg.PingInterval != time.Second || cfg.MaxHTTPBufferSize != 2048 {
		t.Errorf("flags must override env: %+v", cfg)
	}

	for _, bad := range [][]string{
		{"--max-http-buffer-size", "0"},
		{"--log-level", "loud"},
		{"--ping-interval", "soon"},
		{"extra"},
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
