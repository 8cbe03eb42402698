package server

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/httpapi"
	"github.com/parley-rt/parley/internal/sse"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/chat"
	"github.com/parley-rt/parley/namespaces/presence"
	"github.com/parley-rt/parley/namespaces/ratelimit"
	"github.com/parley-rt/parley/rooms"
	"github.com/parley-rt/parley/store"
)

// mount builds the application: the token verifier, the store, the chat
// and presence core over the /chat namespace, the Socket.IO namespaces,
// the SSE streams and the HTTP API. Every closer it registers runs in
// Shutdown, in reverse order.
func (s *Server) mount() error {
	cfg := &s.cfg
	// First: a production server without a key must not even open a store.
	v, err := auth.New(auth.Config{
		Secret: cfg.JWTSecret, PublicKey: cfg.JWTPublicKey, Audience: cfg.JWTAudience,
		Issuer: cfg.JWTIssuer, Production: cfg.Production,
	})
	if err != nil {
		return err
	}
	if v.Dev() {
		auth.WarnDevMode(cfg.Logger)
	}
	s.verifier = v
	var db interface {
		store.Messages
		store.Presence
		Close() error
	}
	if cfg.DatabaseURL != "" {
		db, err = store.OpenPostgres(context.Background(), store.PostgresConfig{URL: cfg.DatabaseURL, PoolSize: cfg.DatabasePool, Logger: cfg.Logger})
	} else {
		db, err = store.OpenSQLite(store.SQLiteConfig{Path: filepath.Join(filepath.Clean(cfg.DataDir), "parley.db"), Logger: cfg.Logger, SyncFull: cfg.SQLiteSyncFull})
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	s.closer = append(s.closer, func(context.Context) error { return db.Close() })

	chatIO := s.io.Of(string(events.Chat)).AsNamespace()
	ch, err := core.NewChat(core.ChatConfig{
		History: core.StoreHistory(db), Rooms: chatIO, Policy: rooms.NewPolicy(cfg.PrivateRooms...),
		MaxRooms: cfg.MaxRoomsPerSocket, Logger: cfg.Logger,
	})
	if err != nil {
		return err
	}
	p, err := core.NewPresence(core.PresenceConfig{
		Store: core.StorePresence(db), Chat: ch, Grace: cfg.PresenceGrace,
		MaxConnectionsPerUser: cfg.MaxConnectionsPerUser, Logger: cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.closer = append(s.closer, p.Close) // before the store closes: last-seen writes

	lim := ratelimit.New(ratelimit.Config{Limits: cfg.RateLimits, AbuseFactor: cfg.AbuseFactor, AbuseWindow: cfg.AbuseWindow, Logger: cfg.Logger})
	authn := namespaces.Identify(v, cfg.MaxConnectionsPerUser, p.Connections)
	if err := chat.Register(lim.Namespace(chatIO), chat.Deps{Chat: ch, Authenticate: authn, Verifier: v, Logger: cfg.Logger}); err != nil {
		return err
	}
	presenceIO := lim.Namespace(s.io.Of(string(events.Presence)).AsNamespace())
	if err := presence.Register(presenceIO, presence.Deps{Presence: p, Authenticate: authn, Verifier: v, Logger: cfg.Logger}); err != nil {
		return err
	}

	s.sse = sse.New(sse.Config{
		Chat: ch, Presence: p, Verifier: v, Heartbeat: cfg.SSEHeartbeat, Retry: cfg.SSERetry,
		Buffer: cfg.SSEBuffer, Logger: cfg.Logger,
	})
	s.closer = append(s.closer, s.sse.Close)
	s.api = httpapi.New(httpapi.Config{Chat: ch, Verifier: v, APIKey: cfg.APIKey, Logger: cfg.Logger})
	return nil
}
