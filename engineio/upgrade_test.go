package engineio

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// startProbe opens the probe WebSocket of a polling session and completes
// the 2probe/3probe exchange.
func startProbe(t *testing.T, e *env, c *pollClient) *wsClient {
	t.Helper()
	w := e.dialWS("EIO=4&transport=websocket&sid=" + c.sid)
	w.sendText("2probe")
	if msg := w.readText(); msg != "3probe" {
		t.Fatalf("probe answer %q, want 3probe", msg)
	}
	return w
}

func TestUpgrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c := e.openPolling()
	r := e.session(c.sid)

	// Before: messages both ways over polling.
	mustSend(t, r.sess, "a1")
	mustSend(t, r.sess, "a2")
	if _, body := c.get(); body != "4a1\x1e4a2" {
		t.Fatalf("GET = %q", body)
	}
	if status, _ := c.post("4x1"); status != 200 {
		t.Fatal("POST failed")
	}

	// A GET is pending when the probe starts; 2probe releases it with a
	// noop so the client can pause polling.
	pending := c.getAsync()
	waitFor(t, "pending GET", r.sess.Writable)
	w := startProbe(t, e, c)
	if got := recv(t, pending, "released GET"); got.err != nil || got.status != 200 || got.body != "6" {
		t.Fatalf("released GET = %+v, want 200 6", got)
	}
	if r.sess.Writable() {
		t.Fatal("Writable during the upgrade")
	}

	// Frames sent during the upgrade wait for the new transport.
	mustSend(t, r.sess, "b1")
	mustSend(t, r.sess, "b2")
	if tr := r.sess.Transport(); tr != "polling" {
		t.Fatalf("Transport before 5 = %q", tr)
	}
	w.sendText("5")
	for _, want := range []string{"4b1", "4b2"} {
		if got := w.readText(); got != want {
			t.Fatalf("after upgrade read %q, want %q", got, want)
		}
	}
	waitFor(t, "transport switch", func() bool { return r.sess.Transport() == "websocket" })

	// After: messages both ways over the WebSocket, order kept throughout.
	mustSend(t, r.sess, "c1")
	if got := w.readText(); got != "4c1" {
		t.Fatalf("read %q, want 4c1", got)
	}
	w.sendText("4x2")
	got := textMessages(r.waitMessages(t, 2))
	if !slices.Equal(got, []string{"x1", "x2"}) {
		t.Fatalf("received %q", got)
	}

	// Polling requests are refused once upgraded, without closing.
	if status, body := c.get(); status != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("GET after upgrade = %d %s", status, body)
	}
	if r.isClosed() {
		t.Fatalf("closed: %s", r.reason)
	}
	// A second upgrade is accepted as a WebSocket, as in Node, then closed
	// with a close frame without a status; the first one keeps working.
	assertRefusedWS(t, e, c.sid)
	mustSend(t, r.sess, "c2")
	if got := w.readText(); got != "4c2" {
		t.Fatalf("read %q, want 4c2", got)
	}
}

// assertRefusedWS opens a WebSocket for sid and asserts that the server
// accepts it, sends no packet, and closes it with an empty close frame.
func assertRefusedWS(t *testing.T, e *env, sid string) {
	t.Helper()
	second, err := e.tryDialWS("EIO=4&transport=websocket&sid=" + sid)
	if err != nil {
		t.Fatalf("second WebSocket refused at HTTP level: %v", err)
	}
	op, p, err := second.read(waitTimeout)
	if op != ws.OpClose || len(p) != 0 || !errors.Is(err, errCloseFrame) {
		t.Fatalf("second WebSocket read %v %q %v, want an empty close frame", op, p, err)
	}
	// The server shut its side after the close frame.
	if _, _, err := second.read(waitTimeout); !errors.Is(err, io.EOF) {
		t.Fatalf("after the close frame: %v, want EOF", err)
	}
}

// TestUpgradeKeepsOrderUnderLoad sends a numbered stream while the client
// upgrades: the client sees every number once, in order, across both
// transports.
func TestUpgradeKeepsOrderUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c := e.openPolling()
	r := e.session(c.sid)

	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if err := r.sess.Send(NewMessage([]byte(itoa3(i)), false)); err != nil {
				return
			}
		}
	}()
	var got []string
	collect := func(recs []string) {
		for _, rec := range recs {
			if rec[0] == '4' {
				got = append(got, rec[1:])
			}
		}
	}
	// Poll a little, then upgrade mid-stream.
	_, body := c.get()
	collect(splitPayload(body))
	pending := c.getAsync()
	w := e.dialWS("EIO=4&transport=websocket&sid=" + c.sid)
	w.sendText("2probe")
	if msg := w.readText(); msg != "3probe" {
		t.Fatalf("probe answer %q", msg)
	}
	res := recv(t, pending, "pending GET")
	collect(splitPayload(res.body))
	w.sendText("5")
	for len(got) < n {
		collect([]string{w.readText()})
	}
	<-done
	for i, s := range got {
		if s != itoa3(i) {
			t.Fatalf("message %d is %q: order broken around the upgrade (%q)", i, s, got[max(0, i-3):min(len(got), i+3)])
		}
	}
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestUpgradeProbeFailureKeepsPolling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   Config
		abort func(w *wsClient)
	}{
		{"probe socket closed", Config{}, func(w *wsClient) { _ = w.conn.Close() }},
		{"unexpected packet", Config{}, func(w *wsClient) { w.sendText("4hello") }},
		{"binary during probe", Config{}, func(w *wsClient) { w.sendBinary([]byte{1}) }},
		{"no upgrade packet", Config{UpgradeTimeout: 50 * time.Millisecond}, func(*wsClient) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg)
			c := e.openPolling()
			r := e.session(c.sid)
			w := startProbe(t, e, c)
			tt.abort(w)
			// The probe connection ends; the session stays on polling.
			if err := w.readUntilClosed(); err == nil {
				t.Fatal("probe still open")
			}
			waitFor(t, "upgrade abandoned", func() bool {
				r.sess.mu.Lock()
				defer r.sess.mu.Unlock()
				return !r.sess.upgrading
			})
			if tr := r.sess.Transport(); tr != "polling" {
				t.Fatalf("Transport = %q", tr)
			}
			if status, _ := c.post("4still"); status != 200 {
				t.Fatal("POST failed")
			}
			mustSend(t, r.sess, "here")
			if _, body := c.get(); body != "4here" {
				t.Fatalf("GET = %q", body)
			}
			if got := textMessages(r.waitMessages(t, 1)); got[0] != "still" {
				t.Fatalf("received %q", got)
			}
			if r.isClosed() {
				t.Fatalf("closed: %s", r.reason)
			}
		})
	}
}

// TestUpgradePollDuringProbeIsHeld checks that a GET arriving while an
// upgrade is in progress is held briefly, as Node's 100 ms "fast upgrade"
// noop does, instead of being answered at once: an immediate answer lets a
// client that keeps polling spin in a request loop for the whole upgrade.
func TestUpgradePollDuringProbeIsHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c := e.openPolling()
	r := e.session(c.sid)
	w := startProbe(t, e, c)
	// The session is upgrading by the time the client has 3probe: a GET
	// sent then is held for the upgrade packet, not as a plain poll.
	r.sess.mu.Lock()
	upgrading := r.sess.upgrading
	r.sess.mu.Unlock()
	if !upgrading {
		t.Fatal("not upgrading once 3probe was received")
	}
	start := time.Now()
	status, body := c.get()
	if status != 200 || body != "6" {
		t.Fatalf("GET during upgrade = %d %q, want 200 6", status, body)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("GET during upgrade answered after %v, want it held", d)
	}
	// A GET still held when the upgrade packet arrives is refused like
	// one sent after it: HTTP does not order it against the WebSocket, so
	// the server cannot tell the two apart, and the public suites require
	// the refusal ("ignores HTTP requests with same sid after upgrade").
	// socket.io-client never has a GET out at that point: it sends 5 only
	// once polling has paused.
	res := c.getAsync()
	waitFor(t, "held GET", func() bool {
		r.sess.mu.Lock()
		defer r.sess.mu.Unlock()
		return r.sess.pollWaiting
	})
	w.sendText("5")
	if got := recv(t, res, "GET"); got.status != 400 || got.body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("GET held across the upgrade = %+v, want 400 code 3", got)
	}
	mustSend(t, r.sess, "over ws")
	if got := w.readText(); got != "4over ws" {
		t.Fatalf("read %q", got)
	}
}

func TestUpgradeUnknownSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	if _, err := e.tryDialWS("EIO=4&transport=websocket&sid=unknown"); err != ws.StatusError(400) {
		t.Fatalf("upgrade of an unknown sid: %v, want 400", err)
	}
}

// TestUpgradeProbeClosedWithSession closes a session while its upgrade
// probe waits for "5": the probe connection is closed with it, as Node
// closes the probe transport when the socket closes, instead of lingering
// (with its goroutine) until UpgradeTimeout.
func TestUpgradeProbeClosedWithSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		close func(e *env, r *recorder)
	}{
		{"terminate", func(_ *env, r *recorder) { r.sess.Terminate("test") }},
		{"server close", func(e *env, _ *recorder) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := e.srv.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// An upgrade timeout far beyond the test's waits.
			e := newEnv(t, Config{UpgradeTimeout: time.Hour})
			c := e.openPolling()
			r := e.session(c.sid)
			w := startProbe(t, e, c)
			waitFor(t, "upgrading", func() bool {
				r.sess.mu.Lock()
				defer r.sess.mu.Unlock()
				return r.sess.upgrading
			})
			// The client's GET fetches the close packet of a graceful close.
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				c.drain(ctx)
			}()
			t.Cleanup(func() {
				cancel()
				<-drained
			})
			tt.close(e, r)
			r.waitClose(t)
			if err := w.readUntilClosed(); err == nil {
				t.Fatal("probe connection still open")
			}
		})
	}
}
