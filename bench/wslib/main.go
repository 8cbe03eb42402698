package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only with --pprof
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3205", "listen address (host:port)")
	lib := flag.String("lib", "gorilla", "websocket library: gorilla | coder | gobwas")
	queue := flag.Int("queue", envInt("WSLIB_QUEUE", 256),
		"outgoing messages that may wait per connection before it is dropped as a slow consumer\n"+
			"(default from $WSLIB_QUEUE, so that bench/run.sh can set it)")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (profiling runs only)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }() // profiling aid; its failure only loses the profile
	}
	if err := run(*addr, *lib, *queue, log); err != nil {
		log.Error("wslib", "err", err)
		os.Exit(1)
	}
}

// envInt returns the integer in environment variable name, or def when it
// is unset or not an integer.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func run(addr, lib string, queue int, log *slog.Logger) error {
	srv, err := newServer(lib, queue, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	hs := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Warn("wslib listening", "addr", addr, "lib", lib, "queue", queue)
	select {
	case err := <-errc:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	// Shutdown does not track hijacked connections; closing the sessions
	// and waiting for their goroutines does.
	err = hs.Shutdown(sctx)
	if werr := srv.close(sctx); err == nil {
		err = werr
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
