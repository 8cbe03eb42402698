// Package conformance serves the profile the public Socket.IO and
// Engine.IO protocol test suites expect (parley conformance, the protocol
// test server): Socket.IO on /socket.io/ with the "/" and "/custom"
// namespaces of the suites, and a bare Engine.IO echo server on
// /engine.io/. It is a test fixture, not part of the product: it keeps no
// state beyond the engines' and starts no goroutine of its own.
package conformance

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/socketio"
)

// EngineConfig is the Engine.IO configuration of the conformance
// profile, the one the public Socket.IO and Engine.IO protocol test suites
// expect: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, CORS
// open.
func EngineConfig(logger *slog.Logger) engineio.Config {
	return engineio.Config{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		MaxPayload:   1_000_000,
		CORS:         engineio.CORS{AllowOrigin: func(string) bool { return true }, Credentials: true},
		Logger:       logger,
	}
}

// Register installs the conformance behaviour on "/" and
// "/custom": every connect gets "auth" with its CONNECT auth object; on "/",
// "message" is echoed as "message-back" and "message-with-ack" is acked with
// its own arguments, binary included.
func Register(io *socketio.Server) {
	emitAuth := func(s *socketio.Socket) { _ = s.Emit("auth", s.Auth()) } // a gone socket needs nothing
	main := io.Of("/")
	main.OnConnection(func(s *socketio.Socket) {
		emitAuth(s)
		s.On("message", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
			if vals, err := args.Values(); err == nil {
				_ = s.Emit("message-back", vals...) // a gone socket needs nothing
			}
		})
		s.On("message-with-ack", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			if ack == nil {
				return
			}
			if vals, err := args.Values(); err == nil {
				_ = ack(vals...) // a gone socket needs nothing
			}
		})
	})
	io.Of("/custom").OnConnection(emitAuth)
}

// Conformance is the conformance profile: /socket.io/ is a Socket.IO server
// with Register, /engine.io/ a bare Engine.IO echo server with
// the same settings. Close shuts both down.
type Conformance struct {
	mux    *http.ServeMux
	io     *socketio.Server
	engine *engineio.Server
}

// Options are the conformance profile's settings beyond the suites'.
type Options struct {
	// AllowEIO3 also serves Engine.IO v3 (socket.io-client 2.x) on both
	// endpoints. Default false, as the suites expect.
	AllowEIO3 bool
	// ParkDelay is both engines' Config.ParkDelay: how long an idle
	// polling GET is held before it is parked. Zero: the engine's default.
	ParkDelay time.Duration
}

// New builds the conformance profile.
func New(logger *slog.Logger, opts Options) (*Conformance, error) {
	ecfg := EngineConfig(logger)
	ecfg.AllowEIO3 = opts.AllowEIO3
	ecfg.ParkDelay = opts.ParkDelay
	io, err := socketio.New(socketio.Config{
		Engine:         ecfg,
		ConnectTimeout: time.Second,
		Logger:         logger,
	})
	if err != nil {
		return nil, err
	}
	Register(io)
	ecfg.OnSession = func(s *engineio.Session) { s.SetHandler(echo{s}) }
	eng, err := engineio.New(ecfg)
	if err != nil {
		return nil, err
	}
	c := &Conformance{mux: http.NewServeMux(), io: io, engine: eng}
	c.mux.Handle("/socket.io/", io)
	c.mux.Handle("/engine.io/", eng)
	c.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok")) // the client may be gone
	})
	return c, nil
}

// Listener wraps ln, on which hs serves the profile, for both engines
// (engineio.Server.Listener): their idle polling GETs are parked.
func (c *Conformance) Listener(hs *http.Server, ln net.Listener) net.Listener {
	return c.engine.Listener(hs, c.io.Engine().Listener(hs, ln))
}

func (c *Conformance) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// Close shuts both servers down.
func (c *Conformance) Close(ctx context.Context) error {
	err := c.io.Close(ctx)
	if err2 := c.engine.Close(ctx); err == nil {
		err = err2
	}
	return err
}

// echo sends every message back as it came.
type echo struct{ s *engineio.Session }

func (e echo) OnMessage(data []byte, binary bool) {
	_ = e.s.Send(engineio.NewMessage(data, binary)) // a closed session needs no echo
}
func (e echo) OnClose(string) {}
