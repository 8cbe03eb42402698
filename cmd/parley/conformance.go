package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/parley-rt/parley/server"
)

// runConformance serves the conformance profile until SIGINT/SIGTERM.
func runConformance(args []string, logger *slog.Logger) error {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:3000", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := server.NewConformance(logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("conformance profile listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(hs.Shutdown(sctx), c.Close(sctx))
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
