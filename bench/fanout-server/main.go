// Command fanout-server is Parley's side of the benchmark contract
// (bench/README.md): namespace /chat; the handshake auth {room} joins that
// room; "message" is re-broadcast to the room excluding the sender; "echo"
// is answered by ack with the same arguments.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/internal/serve"
	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/socketio"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fanout-server:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:3100", "listen address")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (profiling runs only)")
	redisURL := flag.String("redis-url", "", "join a cluster on this Redis (the Redis adapter); empty: a single node")
	parkDelay := flag.Duration("park-delay", 0, "hold an idle polling GET this long before parking it without a goroutine (engineio Config.ParkDelay); 0: the engine's default (1s), negative: never park")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }() // profiling aid; its failure only loses the profile
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := socketio.Config{
		Engine: engineio.Config{CORS: engineio.CORS{AllowOrigin: func(string) bool { return true }}, ParkDelay: *parkDelay},
		Logger: logger,
	}
	if *redisURL != "" {
		cluster, err := redisadapter.New(redisadapter.Config{URL: *redisURL, Logger: logger})
		if err != nil {
			return err
		}
		cluster.Start()
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = cluster.Close(ctx) // the process is exiting
		}()
		cfg.Adapter = cluster.Adapter
	}
	io, err := socketio.New(cfg)
	if err != nil {
		return err
	}
	chat := io.Of("/chat")
	chat.OnConnection(func(s *socketio.Socket) {
		var auth struct {
			Room string `json:"room"`
		}
		if json.Unmarshal(s.Auth(), &auth) == nil && auth.Room != "" {
			s.Join(auth.Room)
		}
		room := auth.Room
		s.On("message", func(s *socketio.Socket, args *socketio.Args, _ socketio.AckFunc) {
			vals, err := args.Values()
			if err != nil || room == "" {
				return
			}
			_ = s.To(room).Emit("message", vals...) // slow receivers are the engine's to drop
		})
		s.On("echo", func(_ *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			if ack == nil {
				return
			}
			if vals, err := args.Values(); err == nil {
				_ = ack(vals...) // a gone socket needs no ack
			}
		})
	})
	return serve.UntilSignal(*addr, serve.SocketIO(io), io.Close, 5*time.Second, nil, io.Engine().Listener)
}
