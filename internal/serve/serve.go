// Package serve is the main loop shared by Parley's small programs (the
// conformance profile, the protocol test server, the benchmark server):
// listen, serve until SIGINT or SIGTERM, then shut down within a bound.
package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// SocketIO returns a handler with sio at /socket.io/ and GET /healthz
// answering 200 "ok".
func SocketIO(sio http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok")) // the client may be gone
	})
	return mux
}

// UntilSignal listens on addr and serves h until SIGINT or SIGTERM. It then
// calls drain (the engine's Close: sessions get their close packets while
// the listener is still open) and shuts the HTTP server down, both within
// timeout. onListen, when not nil, is told the bound address. listen, when
// not nil, wraps the listener for the server (the engine's Listener, which
// parks idle long-polling GETs without a goroutine).
func UntilSignal(addr string, h http.Handler, drain func(context.Context) error, timeout time.Duration, onListen func(net.Addr), listen func(*http.Server, net.Listener) net.Listener) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	if listen != nil {
		ln = listen(hs, ln)
	}
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = errors.Join(drain(sctx), hs.Shutdown(sctx))
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
