package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// testClient is a bare Engine.IO client on gobwas/wsutil.
type testClient struct {
	t    *testing.T
	conn net.Conn
	rw   io.ReadWriter // reads start with what the handshake left buffered
}

func dialTest(ctx context.Context, t *testing.T, url, room string) *testClient {
	t.Helper()
	conn, br, _, err := ws.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // the test is over; the error tells nothing
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d) // a fresh conn accepts deadlines
	}
	c := &testClient{t: t, conn: conn, rw: conn}
	if br != nil { // the server wrote right after the handshake
		c.rw = struct {
			io.Reader
			io.Writer
		}{br, conn}
	}
	if open := c.read(); !strings.HasPrefix(open, `0{"sid":"`) || !strings.Contains(open, `"pingInterval":25000`) {
		t.Fatalf("open packet = %q", open)
	}
	c.write(`40/chat,{"room":"` + room + `"}`)
	if got := c.read(); !strings.HasPrefix(got, `40/chat,{"sid":"`) {
		t.Fatalf("connect answer = %q", got)
	}
	return c
}

func (c *testClient) read() string {
	c.t.Helper()
	p, err := wsutil.ReadServerText(c.rw)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return string(p)
}

func (c *testClient) write(s string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.rw, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func TestContract(t *testing.T) {
	t.Parallel()
	for name := range libraries {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv, err := newServer(name, 16, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv)
			defer hs.Close()

			a := dialTest(ctx, t, hs.URL, "r")
			b := dialTest(ctx, t, hs.URL, "r")
			other := dialTest(ctx, t, hs.URL, "elsewhere")

			a.write(`42/chat,["message",1,{"k":"v"}]`)
			if got, want := b.read(), `42/chat,["message",1,{"k":"v"}]`; got != want {
				t.Errorf("broadcast = %q, want %q", got, want)
			}
			// The sender and the other room get nothing: their next
			// packet is the answer to their own echo.
			for _, c := range []*testClient{a, other} {
				c.write(`42/chat,7["echo",2,"x"]`)
				if got, want := c.read(), `43/chat,7[2,"x"]`; got != want {
					t.Errorf("echo ack = %q, want %q", got, want)
				}
			}
			b.write(`40/nope,`)
			if got, want := b.read(), `44/nope,{"message":"Invalid namespace"}`; got != want {
				t.Errorf("unknown namespace answer = %q, want %q", got, want)
			}

			// Each client reads (and so answers the close handshake) until
			// the server has closed its connection.
			ended := make(chan error, 3)
			for _, c := range []*testClient{a, b, other} {
				go func() {
					for {
						if _, err := wsutil.ReadServerText(c.rw); err != nil {
							ended <- err
							return
						}
					}
				}()
			}
			if err := srv.close(ctx); err != nil {
				t.Fatalf("close: %v", err)
			}
			for range 3 {
				select {
				case <-ended:
				case <-ctx.Done():
					t.Fatal("a connection stayed open after close")
				}
			}
		})
	}
}
