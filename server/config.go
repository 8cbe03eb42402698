package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Config configures a Server. The zero value of every field means its
// documented default.
type Config struct {
	// Addr is the listen address used by Run. Default ":3000".
	Addr string
	// DataDir holds the embedded SQLite database. Default "./data".
	DataDir string
	// PingInterval and PingTimeout drive the Engine.IO heartbeat. Defaults
	// 25s and 20s, as Node's.
	PingInterval time.Duration
	PingTimeout  time.Duration
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
	// CORSOrigins lists the origins allowed to use the Socket.IO endpoint
	// and the HTTP API. "*" allows any. Empty allows any http(s) origin on
	// localhost, 127.0.0.1 or [::1] (the development default).
	CORSOrigins []string
	// APIKey enables the HTTP publish API for callers that present it as a
	// bearer token. Empty disables the API's writes.
	APIKey string
	// ShutdownTimeout bounds a graceful shutdown in Run. Default 10s.
	ShutdownTimeout time.Duration
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
	if c.MaxHTTPBufferSize == 0 {
		c.MaxHTTPBufferSize = 1_000_000
	}
	if c.RecoveryDuration == 0 {
		c.RecoveryDuration = 2 * time.Minute
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if c.PingInterval < 0 || c.PingTimeout < 0 || c.ConnectTimeout < 0 {
		errs = append(errs, errors.New("server: durations must not be negative"))
	}
	if c.MaxHTTPBufferSize < 0 {
		errs = append(errs, errors.New("server: MaxHTTPBufferSize must not be negative"))
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
