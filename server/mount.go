package server

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/admin"
	"github.com/parley-rt/parley/internal/asyncapi"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/graphql"
	"github.com/parley-rt/parley/internal/httpapi"
	"github.com/parley-rt/parley/internal/sse"
	"github.com/parley-rt/parley/internal/telemetry"
	"github.com/parley-rt/parley/internal/wsapi"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/chat"
	"github.com/parley-rt/parley/namespaces/presence"
	"github.com/parley-rt/parley/namespaces/ratelimit"
	"github.com/parley-rt/parley/rooms"
	"github.com/parley-rt/parley/socketio"
	"github.com/parley-rt/parley/store"
)

// mount builds the application: the token verifier, the store, the chat
// and presence core over the /chat namespace, the Socket.IO namespaces,
// the SSE streams and the HTTP API. Every closer it registers runs in
// Shutdown, in reverse order.
func (s *Server) mount() error {
	cfg := &s.cfg
	var sources telemetry.Sources
	m := telemetry.New(&sources) // filled below, read at scrape time
	s.metrics = m
	// First: a production server without a key must not even open a store.
	v, err := auth.New(auth.Config{
		Secret: cfg.JWTSecret, PublicKey: cfg.JWTPublicKey, Audience: cfg.JWTAudience,
		Issuer: cfg.JWTIssuer, Production: cfg.Production, OnRefused: m.AuthFailure,
		DevSecret: s.devSecret(),
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
		Ping(context.Context) error
		Close() error
	}
	if cfg.DatabaseURL != "" {
		db, err = store.OpenPostgres(context.Background(), store.PostgresConfig{
			URL: cfg.DatabaseURL, PoolSize: cfg.DatabasePool, Logger: cfg.Logger, OnCommit: m.StoreCommit,
		})
	} else {
		db, err = store.OpenSQLite(store.SQLiteConfig{
			Path: filepath.Join(filepath.Clean(cfg.DataDir), "parley.db"), Logger: cfg.Logger,
			SyncFull: cfg.SQLiteSyncFull, OnCommit: m.StoreCommit,
		})
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	s.ready = append(s.ready, readiness{"store", db.Ping})
	s.closer = append(s.closer, func(context.Context) error { return db.Close() })

	chatIO := s.io.Of(string(events.Chat)).AsNamespace()
	feed, replica, startCluster := s.clusterApp() // nils on a single node
	ch, err := core.NewChat(core.ChatConfig{
		History: core.StoreHistory(db), Rooms: chatIO, Policy: rooms.NewPolicy(cfg.PrivateRooms...),
		MaxRooms: cfg.MaxRoomsPerSocket, Logger: cfg.Logger, Feed: feed,
	})
	if err != nil {
		return err
	}
	ch.Observe(core.Observer{Message: m.MessagePersisted})
	p, err := core.NewPresence(core.PresenceConfig{
		Store: core.StorePresence(db), Chat: ch, Grace: cfg.PresenceGrace,
		MaxConnectionsPerUser: cfg.MaxConnectionsPerUser, Logger: cfg.Logger, Replica: replica,
	})
	if err != nil {
		return err
	}
	startCluster(ch, p)
	s.closer = append(s.closer, p.Close) // before the store closes: last-seen writes

	lim := ratelimit.New(ratelimit.Config{
		Limits: cfg.RateLimits, AbuseFactor: cfg.AbuseFactor, AbuseWindow: cfg.AbuseWindow,
		Logger: cfg.Logger, OnLimited: m.RateLimited,
	})
	authn := namespaces.Identify(v, cfg.MaxConnectionsPerUser, p.Connections)
	if err := chat.Register(lim.Namespace(chatIO), chat.Deps{Chat: ch, Authenticate: authn, Verifier: v, Logger: cfg.Logger}); err != nil {
		return err
	}
	presenceSIO := s.io.Of(string(events.Presence))
	presenceIO := lim.Namespace(presenceSIO.AsNamespace())
	if err := presence.Register(presenceIO, presence.Deps{Presence: p, Authenticate: authn, Verifier: v, Logger: cfg.Logger}); err != nil {
		return err
	}

	s.sse = sse.New(sse.Config{
		Chat: ch, Presence: p, Verifier: v, Heartbeat: cfg.SSEHeartbeat, Retry: cfg.SSERetry,
		Buffer: cfg.SSEBuffer, Logger: cfg.Logger,
	})
	s.closer = append(s.closer, s.sse.Close)
	s.api = httpapi.New(httpapi.Config{Chat: ch, Verifier: v, APIKey: cfg.APIKey, Logger: cfg.Logger})
	ws, err := wsapi.New(wsapi.Config{
		IO: s.io, MaxMessage: cfg.MaxHTTPBufferSize, PingInterval: cfg.PingInterval, PingTimeout: cfg.PingTimeout,
		AllowOrigin: s.allowOrigin, Logger: cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.ws = ws
	if s.asyncapi, err = asyncapi.Document(); err != nil {
		return err
	}
	s.closer = append(s.closer, ws.Close)
	gql, err := graphql.New(graphql.Config{
		Chat: ch, Presence: p, Verifier: v, IO: s.io, AllowOrigin: s.allowOrigin,
		MaxBody: cfg.MaxHTTPBufferSize, PingInterval: cfg.PingInterval, Logger: cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.graphql = gql
	s.closer = append(s.closer, gql.Close)

	chatSIO := s.io.Of(string(events.Chat))
	telemetry.LogConnections(chatSIO, cfg.Logger)
	telemetry.LogConnections(presenceSIO, cfg.Logger)
	sources.Transports = s.io.Engine().CountByTransport
	sources.SlowConsumers = s.io.Engine().SlowConsumerDisconnects
	sources.Namespaces = []*socketio.Namespace{chatSIO, presenceSIO}
	sources.SSEStreams = s.sse.Streams
	sources.OnlineUsers = p.Online
	s.clusterMetrics(m)
	if c := s.cluster; c != nil {
		m.Redis(func() telemetry.RedisCounts {
			st := c.Stats()
			return telemetry.RedisCounts{Published: st.Published, Received: st.Received, Dropped: st.Dropped, Errors: st.Errors, Reconnects: st.Reconnects}
		})
	}
	if cfg.AdminUI { // last: it instruments every namespace registered above
		a, err := admin.New(admin.Config{
			IO: s.io, User: cfg.AdminUser, PasswordHash: cfg.AdminPasswordHash,
			Production: cfg.Production, Logger: cfg.Logger,
		})
		if err != nil {
			return err
		}
		s.closer = append(s.closer, a.Close)
	}
	return nil
}
