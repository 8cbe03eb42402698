package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Engine.IO settings, the defaults of the Node server and of Parley.
const (
	pingInterval = 25 * time.Second
	pingTimeout  = 20 * time.Second
	maxPayload   = 1_000_000 // bytes per incoming message
	writeWait    = 10 * time.Second
	// readBufferSize is the per-connection read buffer of gorilla (its chat
	// example's value) and gobwas.
	readBufferSize = 1024
)

// library is one websocket library's side of the server.
type library struct {
	// serve upgrades the request and, on success, starts the session with
	// srv.start. On failure the library has answered the request.
	serve func(srv *server, w http.ResponseWriter, r *http.Request)
	// prepare wraps an Engine.IO packet sent to many sessions; where the
	// library can, its websocket frame is built here, once.
	prepare func(text []byte) *message
}

var libraries = map[string]library{
	"gorilla": {serve: serveGorilla, prepare: prepareGorilla},
	"coder":   {serve: serveCoder, prepare: func(text []byte) *message { return &message{text: text} }},
	"gobwas":  {serve: serveGobwas, prepare: prepareGobwas},
}

// server is the http.Handler for /socket.io/. It owns every connection's
// goroutines.
type server struct {
	lib   library
	hub   *hub
	queue int // send channel capacity per session
	log   *slog.Logger
	ping  *message // the Engine.IO ping "2", prepared once
	wg    sync.WaitGroup
}

func newServer(lib string, queue int, log *slog.Logger) (*server, error) {
	l, ok := libraries[lib]
	if !ok {
		return nil, fmt.Errorf("unknown --lib %q (gorilla, coder or gobwas)", lib)
	}
	if queue <= 0 {
		return nil, fmt.Errorf("--queue must be positive, got %d", queue)
	}
	return &server{lib: l, hub: newHub(), queue: queue, log: log, ping: l.prepare([]byte{'2'})}, nil
}

// ServeHTTP accepts Engine.IO v4 websocket connections only; everything
// else (polling included) gets Engine.IO's 400 answer.
func (srv *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("EIO") != "4":
		httpError(w, 5, "Unsupported protocol version")
	case q.Get("transport") != "websocket" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		httpError(w, 0, "Transport unknown")
	default:
		srv.lib.serve(srv, w, r)
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = fmt.Fprintf(w, `{"code":%d,"message":%q}`, code, msg) // the client may be gone
}

// start registers s, queues its open packet and runs its writer (w) and
// reader (read) goroutines. read returns when the connection fails or
// closes. It reports false, and starts nothing, once the server is closing.
func (srv *server) start(s *session, w wire, read func() error) bool {
	if !srv.hub.add(s) {
		return false
	}
	s.queue(openMessage(s.sid))
	srv.wg.Add(2)
	go func() {
		defer srv.wg.Done()
		s.writeLoop(w)
	}()
	go func() {
		defer srv.wg.Done()
		err := read()
		s.close(reasonFor(err))
		srv.hub.remove(s)
	}()
	return true
}

// close closes every session and waits for their goroutines until ctx ends.
func (srv *server) close(ctx context.Context) error {
	srv.hub.closeAll()
	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
