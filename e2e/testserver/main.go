// Command testserver serves the protocol test contract of
// e2e/protocol/TESTSERVER.md with Parley's engine, so the same suite that
// passes against Node's socket.io runs against Parley.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/parley-rt/parley/internal/conformance"
	"github.com/parley-rt/parley/internal/serve"
	"github.com/parley-rt/parley/socketio"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	pingInterval := flag.Int("ping-interval", 300, "pingInterval in ms")
	pingTimeout := flag.Int("ping-timeout", 200, "pingTimeout in ms")
	maxPayload := flag.Int64("max-payload", 1_000_000, "maxHttpBufferSize in bytes")
	connectTimeout := flag.Int("connect-timeout", 1000, "connectTimeout in ms")
	recovery := flag.Bool("recovery", false, "enable connection state recovery")
	allowEIO3 := flag.Bool("allow-eio3", false, "also serve socket.io-client 2.x (Engine.IO v3)")
	verbose := flag.Bool("v", false, "debug logging")
	parkDelay := flag.Duration("park-delay", envDuration("PARLEY_PARK_DELAY"), "how long an idle polling GET is held before it is parked without a goroutine (engineio Config.ParkDelay; 0: its default; env PARLEY_PARK_DELAY)")
	var cl clusterFlags
	cl.register()
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ecfg := conformance.EngineConfig(logger)
	ecfg.PingInterval = time.Duration(*pingInterval) * time.Millisecond
	ecfg.PingTimeout = time.Duration(*pingTimeout) * time.Millisecond
	ecfg.MaxPayload = *maxPayload
	ecfg.AllowEIO3 = *allowEIO3
	ecfg.ParkDelay = *parkDelay
	cfg := socketio.Config{Engine: ecfg, ConnectTimeout: time.Duration(*connectTimeout) * time.Millisecond, Logger: logger}
	if *recovery {
		cfg.Recovery = &socketio.RecoveryConfig{MaxDisconnectionDuration: 5 * time.Second, SkipMiddlewares: true}
	}
	closeCluster, err := cl.setup(&cfg, logger)
	if err != nil {
		return err
	}
	defer closeCluster()
	io, err := socketio.New(cfg)
	if err != nil {
		return err
	}
	setup(io)
	cl.handlers(io)

	// The harness reads the bound address from this line (--addr may name
	// port 0), so it is printed whatever the log level.
	return serve.UntilSignal(*addr, serve.SocketIO(io), io.Close, 3*time.Second, func(a net.Addr) {
		fmt.Println("testserver listening addr=" + a.String())
	}, io.Engine().Listener)
}

// setup installs the namespaces of TESTSERVER.md.
func setup(io *socketio.Server) {
	conformance.Register(io)
	observer := io.Of("/observer")
	report := func(s *socketio.Socket) {
		s.OnDisconnect(func(reason string) {
			_ = observer.Emit("disconnected", map[string]string{"id": s.ID(), "nsp": s.Namespace().Name(), "reason": reason}) // observers may be gone
		})
	}

	main := io.Of("/")
	main.OnConnection(func(s *socketio.Socket) {
		report(s)
		_ = s.Emit("info", map[string]any{"id": s.ID(), "recovered": s.Recovered()}) // a gone socket needs nothing
		s.Use(func(_ *socketio.Socket, event string, _ *socketio.Args) error {
			if event == "forbidden" {
				return errors.New("forbidden event")
			}
			return nil
		})
		s.OnError(func(err error) { _ = s.Emit("packet-error", err.Error()) })
		s.On("join", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			var many []string
			if err := args.Decode(0, &many); err != nil {
				var one string
				if args.Decode(0, &one) != nil {
					return
				}
				many = []string{one}
			}
			s.Join(many...)
			reply(ack, s.Rooms())
		})
		s.On("leave", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			var room string
			if args.Decode(0, &room) == nil {
				s.Leave(room)
			}
			reply(ack, s.Rooms())
		})
		s.On("emit-to", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			var o struct {
				To          []string `json:"to"`
				Except      []string `json:"except"`
				ExcludeSelf bool     `json:"excludeSelf"`
				Volatile    bool     `json:"volatile"`
				Event       string   `json:"event"`
			}
			if args.Decode(0, &o) != nil {
				return
			}
			emitted := fieldArgs(args, "args")
			op := io.Of("/").To()
			if o.ExcludeSelf {
				op = s.Broadcast()
			}
			if len(o.To) > 0 {
				op = op.To(o.To...)
			}
			if len(o.Except) > 0 {
				op = op.Except(o.Except...)
			}
			if o.Volatile {
				op = op.Volatile()
			}
			_ = op.Emit(o.Event, emitted...) // delivery is best effort per socket
			reply(ack, "ok")
		})
		s.On("server-ask", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			var o struct {
				Timeout int `json:"timeout"`
			}
			if args.Decode(0, &o) != nil {
				return
			}
			ctx, cancel := context.WithTimeout(s.Context(), time.Duration(o.Timeout)*time.Millisecond)
			defer cancel()
			res, err := s.EmitWithAck(ctx, "ask", fieldArgs(args, "args")...)
			if err != nil {
				reply(ack, map[string]any{"ok": false, "error": "operation has timed out"})
				return
			}
			vals, err := res.Values()
			if err != nil {
				return
			}
			reply(ack, map[string]any{"ok": true, "res": vals})
		})
		s.On("broadcast-ask", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			var o struct {
				Timeout int               `json:"timeout"`
				Room    string            `json:"room"`
				Args    []json.RawMessage `json:"args"`
			}
			if args.Decode(0, &o) != nil {
				return
			}
			op := io.Of("/").Timeout(time.Duration(o.Timeout) * time.Millisecond)
			if o.Room != "" {
				op = op.To(o.Room)
			}
			// The handler must not block this socket's own ack: answer from
			// a goroutine owned by this handler's request.
			go func() {
				res, err := op.EmitWithAck(context.Background(), "ask", raws(o.Args)...)
				responses := make([]string, 0, len(res))
				for _, r := range res {
					if r.Len() > 0 {
						responses = append(responses, string(r.Raw(0)))
					} else {
						responses = append(responses, "null")
					}
				}
				slices.Sort(responses)
				var e any
				if err != nil {
					e = "operation has timed out"
				}
				reply(ack, map[string]any{"error": e, "responses": responses})
			}()
		})
		s.On("disconnect-me", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
			var close bool
			_ = args.Decode(0, &close) // absent means false
			s.Disconnect(close)
		})
		s.On("fetch-sockets", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			var room *string
			_ = args.Decode(0, &room) // null means all
			op := io.Of("/").To()
			if room != nil {
				op = op.To(*room)
			}
			ids := []string{}
			all, _ := op.FetchAllSockets(s.Context()) // a cluster request that timed out lists what answered
			for _, x := range all {
				ids = append(ids, x.ID)
			}
			slices.Sort(ids)
			reply(ack, ids)
		})
		roomOp := func(args *socketio.Args, fn func(op socketio.BroadcastOperator, room string)) bool {
			var o struct {
				Room   string `json:"room"`
				Target string `json:"target"`
			}
			if args.Decode(0, &o) != nil {
				return false
			}
			op := io.Of("/").To()
			if o.Target != "" {
				op = op.To(o.Target)
			}
			fn(op, o.Room)
			return true
		}
		s.On("sockets-join", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			if roomOp(args, func(op socketio.BroadcastOperator, room string) { op.SocketsJoin(room) }) {
				reply(ack, "ok")
			}
		})
		s.On("sockets-leave", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			if roomOp(args, func(op socketio.BroadcastOperator, room string) { op.SocketsLeave(room) }) {
				reply(ack, "ok")
			}
		})
		s.On("disconnect-sockets", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
			var o struct {
				Room  string `json:"room"`
				Close bool   `json:"close"`
			}
			if args.Decode(0, &o) != nil {
				return
			}
			op := io.Of("/").To()
			if o.Room != "" {
				op = op.To(o.Room)
			}
			op.DisconnectSockets(o.Close)
		})
	})

	io.Of("/custom").OnConnection(report)

	mw := io.Of("/mw")
	mw.Use(func(s *socketio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(s.Auth(), &auth) // a malformed auth has no token
		if auth.Token != "secret" {
			return &socketio.ConnectError{Message: "unauthorized", Data: map[string]string{"code": "unauthorized", "reason": "bad token"}}
		}
		return nil
	})
	mw.OnConnection(func(s *socketio.Socket) {
		report(s)
		_ = s.Emit("auth", s.Auth()) // a gone socket needs nothing
	})

	dyn := io.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	dyn.OnConnection(func(s *socketio.Socket) {
		report(s)
		_ = s.Emit("nsp", s.Namespace().Name()) // a gone socket needs nothing
	})
}

func reply(ack socketio.AckFunc, args ...any) {
	if ack != nil {
		_ = ack(args...) // a gone socket needs no ack
	}
}

// fieldArgs returns field name of argument 0, an array, as emit arguments;
// binary attachments inside it stay binary.
func fieldArgs(args *socketio.Args, name string) []any {
	tree, err := args.Value(0)
	if err != nil {
		return nil
	}
	switch t := tree.(type) {
	case map[string]any:
		out, _ := t[name].([]any)
		return out
	case json.RawMessage:
		var w map[string][]json.RawMessage
		_ = json.Unmarshal(t, &w) // not an object of arrays: no arguments
		return raws(w[name])
	}
	return nil
}

func raws(in []json.RawMessage) []any {
	out := make([]any, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// envDuration parses the environment variable name as a duration; unset
// or invalid is zero (the flag's default then applies).
func envDuration(name string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(name)) // invalid: zero, the default
	return d
}
