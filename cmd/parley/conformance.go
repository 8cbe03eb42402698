package main

import (
	"flag"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/parley-rt/parley/internal/conformance"
	"github.com/parley-rt/parley/internal/serve"
)

// runConformance serves the conformance profile until SIGINT/SIGTERM.
func runConformance(args []string, logger *slog.Logger) error {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:3000", "listen address")
	var opts conformance.Options
	fs.BoolVar(&opts.AllowEIO3, "allow-eio3", os.Getenv("PARLEY_ALLOW_EIO3") == "true", "also serve socket.io-client 2.x (Engine.IO v3) (env PARLEY_ALLOW_EIO3=true)")
	parkDelay, _ := time.ParseDuration(os.Getenv("PARLEY_PARK_DELAY")) // unset or invalid: zero, the engine's default
	fs.DurationVar(&opts.ParkDelay, "park-delay", parkDelay, "how long an idle polling GET is held before it is parked without a goroutine (0: the engine's 1s) (env PARLEY_PARK_DELAY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := conformance.New(logger, opts)
	if err != nil {
		return err
	}
	return serve.UntilSignal(*addr, c, c.Close, 5*time.Second, func(a net.Addr) {
		logger.Info("conformance profile listening", "addr", a.String())
	}, c.Listener)
}
