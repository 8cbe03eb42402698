// Command zishang serves Parley's bench contract with the zishang520 Go port
// of socket.io, as a second reference next to the Node server.
//
// The bench contract: namespace /chat; the handshake auth {room} joins that
// room on connect; "message" (any args) is re-broadcast to the room excluding
// the sender; "echo" (any args, ack) is acked with the same args.
//
// It is its own module so that Parley's main module never depends on it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3002", "listen address (host:port)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, log); err != nil {
		log.Error("zishang bench server", "err", err)
		os.Exit(1)
	}
}

func run(addr string, log *slog.Logger) error {
	io := socket.NewServer(nil, nil)
	chat := io.Of("/chat", nil)
	err := chat.On("connection", func(clients ...any) {
		s, ok := clients[0].(*socket.Socket)
		if !ok {
			return
		}
		if room, ok := s.Handshake().Auth["room"].(string); ok && room != "" {
			s.Join(socket.Room(room))
		}
		room, _ := s.Handshake().Auth["room"].(string)
		_ = s.On("message", func(args ...any) {
			if room == "" {
				return
			}
			// Emit only fails for reserved event names; "message" is not one.
			_ = s.To(socket.Room(room)).Emit("message", args...)
		})
		_ = s.On("echo", func(args ...any) {
			if len(args) == 0 {
				return
			}
			ack, ok := args[len(args)-1].(socket.Ack)
			if !ok {
				return
			}
			ack(args[:len(args)-1], nil)
		})
	})
	if err != nil {
		return fmt.Errorf("register connection handler: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("zishang bench server listening", "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	io.Close(nil)
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
