package main

import (
	"context"
	"fmt"
	"log"
	"time"
)

// runIdle opens many idle connections (each joined to one of 100 rooms via the
// handshake auth), holds them while answering pings, and reports the server's
// RSS growth per connection.
func runIdle(ctx context.Context, cfg config) (map[string]any, error) {
	n := orDefault(cfg.conns, 10000)
	hold := orDefault(cfg.duration, 10*time.Second)
	base, err := rssBytes(cfg.serverPID)
	if err != nil {
		return nil, fmt.Errorf("baseline RSS: %w", err)
	}
	log.Printf("idle: %d connections, hold %s; server RSS baseline %.1f MiB", n, hold, mib(base))
	dc := cfg.dialCfg(n)
	auth := func(i int) string { return fmt.Sprintf(`{"room":"idle-%d"}`, i%100) }
	clients, failed, err := connectMany(ctx, dc, n, cfg.dialConc, auth, func(int) handlers { return handlers{} }, nil)
	defer closeAll(clients)
	out := map[string]any{"conns": n, "connectFailed": failed, "rssBaseline": base, "holdSec": hold.Seconds()}
	if err != nil {
		return out, fmt.Errorf("connect: %w", err)
	}
	connected, err := rssBytes(cfg.serverPID)
	if err != nil {
		return out, fmt.Errorf("RSS after connect: %w", err)
	}
	log.Printf("all connected; server RSS %.1f MiB (+%.0f B/conn)", mib(connected), perConn(connected, base, n))
	if !sleepCtx(ctx, hold) {
		return out, ctx.Err()
	}
	held, err := rssBytes(cfg.serverPID)
	if err != nil {
		return out, fmt.Errorf("RSS after hold: %w", err)
	}
	alive := countAlive(clients)
	out["rssConnected"] = connected
	out["rssHeld"] = held
	out["alive"] = alive
	out["bytesPerConnConnected"] = perConn(connected, base, n)
	out["bytesPerConn"] = perConn(held, base, n)
	log.Printf("after %s hold: server RSS %.1f MiB, %d/%d alive, %.0f bytes per idle connection",
		hold, mib(held), alive, n, perConn(held, base, n))
	if alive < n {
		return out, fmt.Errorf("%d connections dropped during hold", n-alive)
	}
	return out, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func perConn(after, base int64, n int) float64 { return float64(after-base) / float64(n) }
