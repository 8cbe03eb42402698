package socketio_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// rawConn is a hand-written Engine.IO client, over long-polling or
// WebSocket, speaking in Engine.IO packets as text: "4..." is a message,
// "b..." a binary message in base64 (as in a polling payload).
type rawConn struct {
	t         *testing.T
	transport string
	sid       string

	in        chan string   // received packets, pings excepted
	closed    chan struct{} // closed when the connection ended
	cancel    context.CancelFunc
	done      sync.WaitGroup
	closeOnce sync.Once

	// polling
	url  string
	http *http.Client
	// websocket
	conn net.Conn
	wmu  sync.Mutex
}

// dialRaw opens an Engine.IO session. The connection is closed at the end
// of the test.
func dialRaw(t *testing.T, srv *testServer, transport string) *rawConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &rawConn{t: t, transport: transport, in: make(chan string, 256), closed: make(chan struct{}), cancel: cancel}
	base := srv.url + "/socket.io/?EIO=4&transport=" + transport
	var open string
	switch transport {
	case "polling":
		c.http = srv.ts.Client()
		body, err := c.get(ctx, base)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		open = body
	case "websocket":
		dctx, dcancel := context.WithTimeout(ctx, waitTimeout)
		defer dcancel()
		conn, br, _, err := ws.Dialer{}.Dial(dctx, "ws"+strings.TrimPrefix(base, "http"))
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.conn = conn
		var r io.Reader = conn
		if br != nil {
			r = io.MultiReader(br, conn)
		}
		_ = conn.SetReadDeadline(time.Now().Add(waitTimeout)) // a timeout fails the read
		first, err := readWS(r)
		if err != nil {
			t.Fatalf("open packet: %v", err)
		}
		_ = conn.SetReadDeadline(time.Time{}) // the reader runs until the conn closes
		open = first
		c.done.Add(1)
		go c.wsReader(r)
	}
	if !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	var hs struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(open[1:]), &hs); err != nil {
		t.Fatalf("open packet %q: %v", open, err)
	}
	c.sid = hs.SID
	if transport == "polling" {
		c.url = base + "&sid=" + c.sid
		c.done.Add(1)
		go c.pollLoop(ctx)
	}
	t.Cleanup(c.close)
	return c
}

func (c *rawConn) get(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	return string(b), nil
}

// pollLoop is the polling client's reader: one GET at a time, as a real
// client does, answering pings.
func (c *rawConn) pollLoop(ctx context.Context) {
	defer c.done.Done()
	defer close(c.closed)
	for {
		body, err := c.get(ctx, c.url)
		if err != nil {
			return
		}
		for _, rec := range strings.Split(body, "\x1e") {
			switch rec {
			case "2":
				_ = c.trySend("3") // a failed pong shows as a close
				continue
			case "6":
				continue
			case "1":
				return
			}
			c.in <- rec
		}
	}
}

// readWS reads one data frame as a packet; binary frames become "b" +
// base64. Server frames are never fragmented.
func readWS(r io.Reader) (string, error) {
	for {
		f, err := ws.ReadFrame(r)
		if err != nil {
			return "", err
		}
		switch f.Header.OpCode {
		case ws.OpText:
			return string(f.Payload), nil
		case ws.OpBinary:
			return "b" + base64.StdEncoding.EncodeToString(f.Payload), nil
		case ws.OpClose:
			return "", io.EOF
		}
	}
}

func (c *rawConn) wsReader(r io.Reader) {
	defer c.done.Done()
	defer close(c.closed)
	for {
		p, err := readWS(r)
		if err != nil {
			return
		}
		if p == "2" {
			_ = c.trySend("3") // a failed pong shows as a close
			continue
		}
		c.in <- p
	}
}

// trySend sends packets: one POST over polling, one frame each over
// WebSocket.
func (c *rawConn) trySend(packets ...string) error {
	switch c.transport {
	case "polling":
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(strings.Join(packets, "\x1e")))
		if err != nil {
			return err
		}
		res, err := c.http.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body) // shown in the error below
		_ = res.Body.Close()         // read fully
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("POST: %d %s", res.StatusCode, b)
		}
		return nil
	default:
		c.wmu.Lock()
		defer c.wmu.Unlock()
		for _, p := range packets {
			var f ws.Frame
			if strings.HasPrefix(p, "b") {
				b, err := base64.StdEncoding.DecodeString(p[1:])
				if err != nil {
					return err
				}
				f = ws.NewBinaryFrame(b)
			} else {
				f = ws.NewTextFrame([]byte(p))
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout)) // a failed write reports
			if err := ws.WriteFrame(c.conn, ws.MaskFrame(f)); err != nil {
				return err
			}
		}
		return nil
	}
}

func (c *rawConn) send(packets ...string) {
	c.t.Helper()
	if err := c.trySend(packets...); err != nil {
		c.t.Fatalf("send %q: %v", packets, err)
	}
}

// next returns the next packet.
func (c *rawConn) next() string {
	c.t.Helper()
	select {
	case p := <-c.in:
		return p
	case <-c.closed:
		select {
		case p := <-c.in:
			return p
		default:
		}
		c.t.Fatal("connection closed while waiting for a packet")
	case <-time.After(waitTimeout):
		c.t.Fatal("timed out waiting for a packet")
	}
	return ""
}

// waitClosed waits for the server to end the connection, discarding what
// arrives meanwhile.
func (c *rawConn) waitClosed() {
	c.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case <-c.in:
		case <-c.closed:
			return
		case <-deadline:
			c.t.Fatal("connection still open")
		}
	}
}

func (c *rawConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// close ends the connection from the client side; it is idempotent.
func (c *rawConn) close() { c.closeOnce.Do(c.doClose) }

func (c *rawConn) doClose() {
	c.cancel()
	if c.conn != nil {
		_ = c.conn.Close() // may be closed already
	}
	// Unblock a reader stuck on a full channel.
	go func() {
		for range c.in {
		}
	}()
	c.done.Wait()
	close(c.in)
}

// connect joins nsp ("/" or "/name") with auth JSON (or "") and returns
// the socket id.
func (c *rawConn) connect(nsp, auth string) string {
	c.t.Helper()
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	c.send(prefix + auth)
	p := c.next()
	if !strings.HasPrefix(p, prefix+"{") {
		c.t.Fatalf("CONNECT answered with %q", p)
	}
	var ok struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(p[len(prefix):]), &ok); err != nil || ok.SID == "" {
		c.t.Fatalf("CONNECT answer %q: %v", p, err)
	}
	return ok.SID
}
