package engineio

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestWebSocketMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c, hs := e.openWS()
	r := e.session(hs.SID)
	if r.sess.Transport() != "websocket" {
		t.Fatalf("Transport = %q", r.sess.Transport())
	}

	c.sendText("4hello")
	c.sendBinary([]byte{0, 1, 2})
	c.sendText("4")
	// A fragmented text message, with a ping between its fragments.
	if err := c.write(ws.OpText, false, []byte("4frag")); err != nil {
		t.Fatal(err)
	}
	if err := c.write(ws.OpPing, true, []byte("hb")); err != nil {
		t.Fatal(err)
	}
	if err := c.write(ws.OpContinuation, false, []byte("men")); err != nil {
		t.Fatal(err)
	}
	if err := c.write(ws.OpContinuation, true, []byte("ted")); err != nil {
		t.Fatal(err)
	}
	got := textMessages(r.waitMessages(t, 4))
	if want := []string{"hello", "b:\x00\x01\x02", "", "fragmented"}; !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}

	mustSend(t, r.sess, "out")
	if err := r.sess.Send(NewMessage([]byte{9, 8}, true)); err != nil {
		t.Fatal(err)
	}
	if msg := c.readText(); msg != "4out" {
		t.Fatalf("read %q, want 4out", msg)
	}
	op, p, err := c.read(waitTimeout)
	if err != nil || op != ws.OpBinary || !bytes.Equal(p, []byte{9, 8}) {
		t.Fatalf("read %v %v %v, want binary 09 08", op, p, err)
	}
}

func TestWebSocketPingFrameGetsPong(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c, _ := e.openWS()
	if err := c.write(ws.OpPing, true, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout)) // a timeout fails the read below
	f, err := ws.ReadFrame(c.r)
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.OpCode != ws.OpPong || string(f.Payload) != "abc" {
		t.Fatalf("got %v %q, want pong abc", f.Header.OpCode, f.Payload)
	}
}

func TestWebSocketEngineHeartbeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{PingInterval: 50 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	c, hs := e.openWS()
	r := e.session(hs.SID)
	for i := range 3 {
		if msg := c.readText(); msg != "2" {
			t.Fatalf("read %d = %q, want ping", i, msg)
		}
		c.sendText("3")
	}
	if r.isClosed() {
		t.Fatalf("closed although it answered pings: %s", r.reason)
	}
}

func TestWebSocketPingTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	c, hs := e.openWS()
	r := e.session(hs.SID)
	if msg := c.readText(); msg != "2" {
		t.Fatalf("read %q, want ping", msg)
	}
	if reason := r.waitClose(t); reason != ReasonPingTimeout {
		t.Fatalf("close reason %q, want %q", reason, ReasonPingTimeout)
	}
	if err := c.readUntilClosed(); err == nil {
		t.Fatal("connection still open")
	}
}

func TestWebSocketClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		send       func(c *wsClient) error
		wantReason string
	}{
		{"close packet", func(c *wsClient) error { return c.write(ws.OpText, true, []byte("1")) }, ReasonTransportClose},
		{"close frame", func(c *wsClient) error {
			return c.write(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusGoingAway, ""))
		}, ReasonTransportClose},
		{"tcp close", func(c *wsClient) error { return c.conn.Close() }, ReasonTransportClose},
		{"parse error", func(c *wsClient) error { return c.write(ws.OpText, true, []byte("9")) }, ReasonParseError},
		{"empty text frame", func(c *wsClient) error { return c.write(ws.OpText, true, nil) }, ReasonParseError},
		{"open from client", func(c *wsClient) error { return c.write(ws.OpText, true, []byte("0")) }, ReasonParseError},
		{"unmasked frame", func(c *wsClient) error {
			return ws.WriteFrame(c.conn, ws.NewTextFrame([]byte("4x")))
		}, ReasonTransportError},
		{"continuation first", func(c *wsClient) error { return c.write(ws.OpContinuation, true, []byte("4x")) }, ReasonTransportError},
		{"reserved opcode", func(c *wsClient) error { return c.write(ws.OpCode(0x3), true, []byte("4x")) }, ReasonTransportError},
		{"fragmented ping", func(c *wsClient) error { return c.write(ws.OpPing, false, nil) }, ReasonTransportError},
		{"long control frame", func(c *wsClient) error { return c.write(ws.OpPing, true, make([]byte, 126)) }, ReasonTransportError},
		{"rsv bit", func(c *wsClient) error {
			f := ws.MaskFrame(ws.NewTextFrame([]byte("4x")))
			f.Header.Rsv = ws.Rsv(true, false, false)
			return ws.WriteFrame(c.conn, f)
		}, ReasonTransportError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Config{})
			c, hs := e.openWS()
			r := e.session(hs.SID)
			if err := tt.send(c); err != nil {
				t.Fatal(err)
			}
			if reason := r.waitClose(t); reason != tt.wantReason {
				t.Fatalf("close reason %q, want %q", reason, tt.wantReason)
			}
			if tt.name != "tcp close" {
				if err := c.readUntilClosed(); err == nil {
					t.Fatal("connection still open")
				}
			}
		})
	}
}

func TestWebSocketCloseFrameIsEchoed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c, _ := e.openWS()
	if err := c.write(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")); err != nil {
		t.Fatal(err)
	}
	err := c.readUntilClosed()
	if want := fmt.Sprintf("%v %d", errCloseFrame, ws.StatusGoingAway); err == nil || err.Error() != want {
		t.Fatalf("read ended with %v, want %q", err, want)
	}
}

func TestWebSocketMessageTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(c *wsClient) error
	}{
		{"one frame", func(c *wsClient) error { return c.write(ws.OpText, true, []byte("4"+strings.Repeat("x", 200))) }},
		{"binary", func(c *wsClient) error { return c.write(ws.OpBinary, true, make([]byte, 101)) }},
		{"fragments", func(c *wsClient) error {
			// 40 + 40 + 40 bytes: the third fragment crosses the limit.
			op := ws.OpText
			for range 3 {
				// The server may close before the last fragment is
				// written: the close is what the test checks.
				_ = c.write(op, false, []byte(strings.Repeat("4", 40)))
				op = ws.OpContinuation
			}
			return nil
		}},
		{"large rest unread", func(c *wsClient) error {
			// 4 MiB the server never parses: it must drain them rather
			// than reset the connection over its own close frame.
			_ = c.write(ws.OpBinary, true, make([]byte, 4<<20)) // may fail once the server shuts its side
			return nil
		}},
		{"announced only", func(c *wsClient) error {
			// A header announcing 1 GiB is refused before any payload.
			return ws.WriteHeader(c.conn, ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: 1 << 30})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Config{MaxPayload: 100})
			c, hs := e.openWS()
			r := e.session(hs.SID)
			if err := tt.write(c); err != nil {
				t.Fatal(err)
			}
			if reason := r.waitClose(t); reason != ReasonTransportError {
				t.Fatalf("close reason %q, want %q", reason, ReasonTransportError)
			}
			want := fmt.Sprintf("%v %d", errCloseFrame, ws.StatusMessageTooBig)
			if err := c.readUntilClosed(); err == nil || err.Error() != want {
				t.Fatalf("read ended with %v, want %q", err, want)
			}
			if len(r.messages()) != 0 {
				t.Fatalf("delivered %d messages", len(r.messages()))
			}
		})
	}
}

func TestWebSocketMessageAtLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{MaxPayload: 100})
	c, hs := e.openWS()
	r := e.session(hs.SID)
	c.sendText("4" + strings.Repeat("x", 99))
	c.sendBinary(make([]byte, 100))
	got := r.waitMessages(t, 2)
	if len(got[0].data) != 99 || len(got[1].data) != 100 {
		t.Fatalf("received %d and %d bytes", len(got[0].data), len(got[1].data))
	}
}

// TestWebSocketLargeMessages crosses the read buffer and the 16- and 64-bit
// length encodings in both directions.
func TestWebSocketLargeMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{ReadBufferSize: 64})
	c, hs := e.openWS()
	r := e.session(hs.SID)
	sizes := []int{125, 126, 65535, 65536, 200_000}
	for _, n := range sizes {
		c.sendBinary(bytes.Repeat([]byte{byte(n)}, n))
	}
	got := r.waitMessages(t, len(sizes))
	for i, n := range sizes {
		if !got[i].binary || got[i].data != strings.Repeat(string([]byte{byte(n)}), n) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(got[i].data), n)
		}
		if err := r.sess.Send(NewMessage([]byte(got[i].data), true)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range sizes {
		op, p, err := c.read(waitTimeout)
		if err != nil || op != ws.OpBinary || len(p) != n {
			t.Fatalf("echo of %d bytes: %v %d %v", n, op, len(p), err)
		}
	}
}

func TestWebSocketUpgradeHeaderRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{DisableUpgrades: true})
	c := e.openPolling()
	// DisableUpgrades refuses the upgrade of a polling session.
	if _, err := e.tryDialWS("EIO=4&transport=websocket&sid=" + c.sid); !errors.Is(err, ws.StatusError(400)) {
		t.Fatalf("upgrade with DisableUpgrades: %v, want 400", err)
	}
	if r := e.session(c.sid); r.isClosed() {
		t.Fatal("refused upgrade closed the session")
	}
}
