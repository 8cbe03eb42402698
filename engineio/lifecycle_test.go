package engineio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/parley-rt/parley/internal/testutil"
)

func TestServerCloseDrainsWebSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c, hs := e.openWS()
	r := e.session(hs.SID)
	other, hs2 := e.openWS()
	r2 := e.session(hs2.SID)
	for i := range 3 {
		mustSend(t, r.sess, fmt.Sprint("m", i))
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Close(ctx) }()

	for i := range 3 {
		if got := c.readText(); got != fmt.Sprint("4m", i) {
			t.Fatalf("read %q, want 4m%d", got, i)
		}
	}
	if err := c.readUntilClosed(); err == nil || err.Error() != fmt.Sprintf("%v %d", errCloseFrame, ws.StatusNormalClosure) {
		t.Fatalf("connection ended with %v, want a 1000 close frame", err)
	}
	if err := other.readUntilClosed(); !errors.Is(err, errCloseFrame) {
		t.Fatalf("second connection ended with %v, want a close frame", err)
	}
	if err := recv(t, done, "Server.Close"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	for _, r := range []*recorder{r, r2} {
		if reason := r.waitClose(t); reason != ReasonServerShutdown {
			t.Fatalf("close reason %q, want %q", reason, ReasonServerShutdown)
		}
	}
	if n := e.srv.Count(); n != 0 {
		t.Fatalf("Count = %d after Close", n)
	}
	// Closed for good: new handshakes are refused, and Close is idempotent.
	if status, _, body := e.httpDo("GET", e.url("EIO=4&transport=polling"), nil, nil); status != 400 || body != `{"code":3,"message":"server shutting down"}` {
		t.Fatalf("handshake after Close = %d %s", status, body)
	}
	if _, err := e.tryDialWS("EIO=4&transport=websocket"); err == nil {
		t.Fatal("websocket handshake after Close succeeded")
	}
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestServerCloseDrainsPolling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c := e.openPolling()
	r := e.session(c.sid)
	mustSend(t, r.sess, "last")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Close(ctx) }()

	if _, body := c.get(); body != "4last" {
		t.Fatalf("GET = %q, want the queued message first", body)
	}
	if _, body := c.get(); body != "1" {
		t.Fatalf("GET = %q, want the close packet", body)
	}
	if err := recv(t, done, "Server.Close"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if reason := r.waitClose(t); reason != ReasonServerShutdown {
		t.Fatalf("close reason %q", reason)
	}
}

func TestServerCloseReleasesPendingPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c := e.openPolling()
	r := e.session(c.sid)
	pending := c.getAsync()
	waitFor(t, "pending GET", r.sess.Writable)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		// Close returned only after the held GET carried the close packet.
		t.Fatalf("Close = %v", err)
	}
	if got := recv(t, pending, "GET"); got.body != "1" {
		t.Fatalf("pending GET = %+v, want the close packet", got)
	}
	if reason := r.waitClose(t); reason != ReasonServerShutdown {
		t.Fatalf("close reason %q", reason)
	}
}

func TestServerCloseDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c := e.openPolling()
	r := e.session(c.sid)
	// The client never fetches the close packet: Close gives up at the
	// deadline and drops the session.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.srv.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	if reason := r.waitClose(t); reason != ReasonServerShutdown {
		t.Fatalf("close reason %q", reason)
	}
	waitFor(t, "no sessions", func() bool { return e.srv.Count() == 0 })
}

func TestServerCloseWithoutSessions(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{OnSession: func(s *Session) { t.Error("unexpected session") }})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := srv.Close(context.Background()); err != nil {
			t.Fatalf("Close = %v", err)
		}
	}
}

func TestSessionCloseWebSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c, hs := e.openWS()
	r := e.session(hs.SID)
	mustSend(t, r.sess, "bye")
	r.sess.Close("custom reason")
	r.sess.Close("ignored") // idempotent
	if got := c.readText(); got != "4bye" {
		t.Fatalf("read %q", got)
	}
	if err := c.readUntilClosed(); !errors.Is(err, errCloseFrame) {
		t.Fatalf("ended with %v, want a close frame", err)
	}
	if reason := r.waitClose(t); reason != "custom reason" {
		t.Fatalf("close reason %q", reason)
	}
}

// TestSlowConsumer floods a WebSocket client that never reads: its session
// is closed as a slow consumer once MaxQueue frames wait, while a client
// that reads gets every frame and keeps working.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	const maxQueue = 16
	e := newEnv(t, Config{MaxQueue: maxQueue})
	_, hsSlow := e.openWS() // never read again
	slow := e.session(hsSlow.SID)
	fast, hsFast := e.openWS()
	healthy := e.session(hsFast.SID)

	type result struct {
		frames int
		err    error
	}
	counted := make(chan result, 1)
	go func() {
		n := 0
		for {
			op, p, err := fast.read(waitTimeout)
			if err != nil {
				counted <- result{n, err}
				return
			}
			if op == ws.OpText && string(p) == "4end" {
				counted <- result{n, nil}
				return
			}
			n++
		}
	}()

	// One shared frame, as a broadcast sends it. Enough frames to fill any
	// socket buffer: the loop ends as soon as the slow session is closed.
	f := NewMessage(bytes.Repeat([]byte{7}, 16<<10), true)
	const limit = 40_000 // 640 MiB: never reached
	sent := 0
	var slowErr error
	for i := 0; i < limit && slowErr == nil; i++ {
		slowErr = slow.sess.Send(f)
		if err := healthy.sess.Send(f); err != nil {
			t.Fatalf("healthy session refused frame %d: %v", i, err)
		}
		sent++
		// Let the healthy reader keep up so only the slow queue grows.
		waitFor(t, "healthy writer", func() bool {
			healthy.sess.mu.Lock()
			defer healthy.sess.mu.Unlock()
			return len(healthy.sess.queue) < maxQueue/2
		})
	}
	if !errors.Is(slowErr, ErrSlowConsumer) {
		t.Fatalf("after %d frames the slow session's Send = %v, want ErrSlowConsumer", sent, slowErr)
	}
	if reason := slow.waitClose(t); reason != ReasonSlowConsumer {
		t.Fatalf("slow session closed with %q, want %q", reason, ReasonSlowConsumer)
	}
	if n := e.srv.SlowConsumerDisconnects(); n != 1 {
		t.Fatalf("SlowConsumerDisconnects = %d, want 1", n)
	}
	if err := slow.sess.Send(f); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after slow-consumer close = %v, want ErrClosed", err)
	}

	mustSend(t, healthy.sess, "end")
	res := recv(t, counted, "healthy reader")
	if res.err != nil || res.frames != sent {
		t.Fatalf("healthy client read %d of %d frames (%v)", res.frames, sent, res.err)
	}
	fast.sendText("4still here")
	if got := healthy.waitMessages(t, 1); got[0].data != "still here" {
		t.Fatalf("healthy session received %q", got[0].data)
	}
	if healthy.isClosed() {
		t.Fatalf("healthy session closed: %s", healthy.reason)
	}
}

func TestSendBatchOverflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{MaxQueue: 4})
	c := e.openPolling()
	r := e.session(c.sid)
	// No GET is pending, so everything stays queued (the open packet was
	// fetched by the handshake).
	batch := []*Frame{NewMessage([]byte("1"), false), NewMessage([]byte("2"), false), NewMessage([]byte("3"), false)}
	if err := r.sess.SendBatch(batch); err != nil {
		t.Fatalf("SendBatch within the limit: %v", err)
	}
	if err := r.sess.SendBatch(batch[:2]); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("SendBatch past the limit = %v, want ErrSlowConsumer", err)
	}
	if reason := r.waitClose(t); reason != ReasonSlowConsumer {
		t.Fatalf("close reason %q", reason)
	}
	if err := r.sess.SendBatch(batch); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendBatch after close = %v, want ErrClosed", err)
	}
}

// TestWriteTimeout closes a session whose client stops reading long enough
// for one write to exceed WriteTimeout.
func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{WriteTimeout: 50 * time.Millisecond, MaxQueue: 1 << 20})
	_, hs := e.openWS() // never read again
	r := e.session(hs.SID)
	f := NewMessage(bytes.Repeat([]byte{1}, 64<<10), true)
	for i := 0; i < 40_000 && !r.isClosed(); i++ {
		if err := r.sess.Send(f); err != nil {
			break
		}
		if i%64 == 63 {
			// Give the writer time to block on the full socket.
			waitFor(t, "writer", func() bool {
				r.sess.mu.Lock()
				defer r.sess.mu.Unlock()
				return len(r.sess.queue) < 64
			})
		}
	}
	if reason := r.waitClose(t); reason != ReasonTransportError {
		t.Fatalf("close reason %q, want %q", reason, ReasonTransportError)
	}
}

// TestFrameSharedAcrossSessions sends one Frame to many sessions on both
// transports: every client gets the same bytes, and the frame was encoded
// once per transport (every session wrote the same backing array).
func TestFrameSharedAcrossSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	const n = 4
	var wsClients []*wsClient
	var recs []*recorder
	for range n {
		c, hs := e.openWS()
		wsClients = append(wsClients, c)
		recs = append(recs, e.session(hs.SID))
	}
	pc := e.openPolling()
	pr := e.session(pc.sid)

	f := NewMessage([]byte(`2["news",{"id":1}]`), false)
	if f.ws != nil || f.poll != nil {
		t.Fatal("frame encoded before use")
	}
	for _, r := range recs {
		if err := r.sess.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := pr.sess.Send(f); err != nil {
		t.Fatal(err)
	}
	for i, c := range wsClients {
		if got := c.readText(); got != `42["news",{"id":1}]` {
			t.Fatalf("client %d read %q", i, got)
		}
	}
	if _, body := pc.get(); body != `42["news",{"id":1}]` {
		t.Fatalf("polling client read %q", body)
	}
	// wsBytes and pollBytes return what the writers used (sync.Once):
	// the same array on every call.
	wsb, pollb := f.wsBytes(), f.pollBytes()
	if &f.wsBytes()[0] != &wsb[0] || &f.pollBytes()[0] != &pollb[0] {
		t.Fatal("frame re-encoded after use")
	}
}

// TestServerCloseUnderLoad closes a server while every kind of goroutine the
// engine starts is running: WebSocket readers and writers, deliverers busy
// with a slow handler, polling sessions with GETs held and POSTs coming,
// an upgrade probe waiting for its 5, and a refused second WebSocket
// lingering for its client's close. When Close returns, no goroutine that
// the engine created may be left. Not parallel: the check reads every
// goroutine's stack, and other tests' servers would be counted.
func TestServerCloseUnderLoad(t *testing.T) {
	// Pings every 50 ms keep the heartbeat timers firing; the long timeout
	// keeps the clients, which do not answer them, connected.
	e := newEnv(t, Config{PingInterval: 50 * time.Millisecond, PingTimeout: 2 * waitTimeout})
	e.onNew = func(r *recorder) {
		// Simulated handler work, not synchronisation: the deliverers stay
		// busy, so Close finds them mid-batch.
		r.onMsg = func(*recorder, message) { time.Sleep(200 * time.Microsecond) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var clients sync.WaitGroup
	defer clients.Wait()

	const n = 8
	for range n {
		w, _ := e.openWS()
		clients.Add(1)
		go func() { // reads everything and talks back until the server closes
			defer clients.Done()
			for {
				if _, _, err := w.read(waitTimeout); err != nil {
					return
				}
				if w.write(ws.OpText, true, []byte("4m")) != nil {
					return
				}
			}
		}()
		c := e.openPolling()
		clients.Add(2)
		go func() { defer clients.Done(); c.drain(ctx) }()
		go func() { // posts until the session is gone
			defer clients.Done()
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(), strings.NewReader("4p"))
				if err != nil {
					return
				}
				res, err := e.ts.Client().Do(req)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, res.Body) // drained for the keep-alive; content unchecked
				_ = res.Body.Close()                 // nothing to report
				if res.StatusCode != http.StatusOK {
					return
				}
			}
		}()
	}
	// An upgrade that never completes, and a second WebSocket on it whose
	// client never answers the server's close frame.
	c := e.openPolling()
	clients.Add(1)
	go func() { defer clients.Done(); c.drain(ctx) }()
	startProbe(t, e, c)
	e.dialWS("EIO=4&transport=websocket&sid=" + c.sid)

	// Broadcast to everyone until the sessions are gone.
	e.mu.Lock()
	all := slices.Clone(e.order)
	e.mu.Unlock()
	clients.Add(1)
	go func() {
		defer clients.Done()
		f := NewMessage([]byte("tick"), false)
		for ctx.Err() == nil {
			sent := 0
			for _, r := range all {
				if r.sess.Send(f) == nil {
					sent++
				}
			}
			if sent == 0 {
				return
			}
		}
	}()
	waitFor(t, "load", func() bool {
		got := 0
		for _, r := range all {
			got += len(r.messages())
		}
		return got > 100
	})

	closeCtx, closeCancel := context.WithTimeout(context.Background(), waitTimeout)
	defer closeCancel()
	if err := e.srv.Close(closeCtx); err != nil {
		t.Fatalf("Close = %v", err)
	}
	// A counted goroutine is done when its deferred done has run, a few
	// instructions before it exits: give those instructions exitGrace,
	// far less than any of the engine's goroutines would still work for.
	const exitGrace = 20 * time.Millisecond
	deadline := time.Now().Add(exitGrace)
	left := engineGoroutines()
	for len(left) > 0 && time.Now().Before(deadline) {
		runtime.Gosched()
		left = engineGoroutines()
	}
	if len(left) > 0 {
		t.Fatalf("%d goroutines created by the engine outlive Close:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// engineGoroutines returns the stacks of the running goroutines that the
// engine created (their "created by" frame is a Server or Session method).
func engineGoroutines() []string {
	var out []string
	for _, g := range testutil.Stacks() {
		// The engine starts goroutines only from Server and Session
		// methods; the tests' own helpers are other types and functions.
		if strings.Contains(g, "created by github.com/parley-rt/parley/engineio.(*Server).") ||
			strings.Contains(g, "created by github.com/parley-rt/parley/engineio.(*Session).") {
			out = append(out, g)
		}
	}
	return out
}
