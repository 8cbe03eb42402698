package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-rt/parley/internal/testutil"
)

// wireClient is a minimal Socket.IO v5 client over Engine.IO v4 long
// polling, written from the protocol documents for these tests: one
// namespace per client, text packets only. It answers pings, records every
// packet of its namespace, and matches acks to emits. The npm
// socket.io-client drives the same paths in the e2e suites; this one keeps
// the Go tests self-contained (the zishang520 client starts a package-level
// goroutine at init that goleak reports).
type wireClient struct {
	t    *testing.T
	url  string // .../socket.io/?EIO=4&transport=polling&sid=...
	nsp  string
	done chan struct{} // closed when the poll loop ends

	mu      sync.Mutex
	events  []wireEvent // not yet returned by next
	acks    map[int]chan json.RawMessage
	ackID   int
	connect chan string // the CONNECT or CONNECT_ERROR payload
	changed chan struct{}
	closed  bool
}

// wireEvent is one event received: its name and JSON arguments.
type wireEvent struct {
	name string
	args []json.RawMessage
}

// dial opens a session and connects to the namespace with auth (nil: none).
// It returns the CONNECT_ERROR payload as an error.
func dial(t *testing.T, base, nsp string, auth any) (*wireClient, error) {
	t.Helper()
	res, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !strings.HasPrefix(string(body), "0") {
		return nil, fmt.Errorf("handshake %d %q: %v", res.StatusCode, body, err)
	}
	var hs struct{ SID string }
	if err := json.Unmarshal(body[1:], &hs); err != nil {
		return nil, fmt.Errorf("handshake %q: %w", body, err)
	}
	c := &wireClient{
		t: t, url: base + "/socket.io/?EIO=4&transport=polling&sid=" + hs.SID, nsp: nsp,
		done: make(chan struct{}), acks: map[int]chan json.RawMessage{},
		connect: make(chan string, 1), changed: make(chan struct{}),
	}
	go c.poll()
	t.Cleanup(c.close)
	connect := "40" + nsp + ","
	if auth != nil {
		b, err := json.Marshal(auth)
		if err != nil {
			return nil, err
		}
		connect += string(b)
	}
	if err := c.post(connect); err != nil {
		return nil, err
	}
	select {
	case p := <-c.connect:
		if strings.HasPrefix(p, "4") {
			c.close()
			return nil, fmt.Errorf("connect_error %s", p[1:])
		}
		return c, nil
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("no CONNECT answer for %s", nsp)
	}
}

// mustDial is dial that fails the test.
func mustDial(t *testing.T, base, nsp string, auth any) *wireClient {
	t.Helper()
	c, err := dial(t, base, nsp, auth)
	if err != nil {
		t.Fatalf("connect %s: %v", nsp, err)
	}
	return c
}

func (c *wireClient) post(payload string) error {
	res, err := http.Post(c.url, "text/plain;charset=UTF-8", strings.NewReader(payload))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body) // "ok"
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("post: status %d", res.StatusCode)
	}
	return nil
}

// poll long-polls until the session ends.
func (c *wireClient) poll() {
	defer close(c.done)
	for {
		res, err := http.Get(c.url)
		if err != nil {
			return
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			return
		}
		for _, pkt := range strings.Split(string(body), "\x1e") {
			switch {
			case pkt == "2":
				if c.post("3") != nil {
					return
				}
			case pkt == "1" || pkt == "":
				return
			case strings.HasPrefix(pkt, "4"):
				c.onPacket(pkt[1:])
			}
		}
	}
}

// onPacket handles one Socket.IO packet.
func (c *wireClient) onPacket(p string) {
	typ, rest := p[:1], p[1:]
	if c.nsp != "/" {
		var ok bool
		if rest, ok = strings.CutPrefix(rest, c.nsp+","); !ok {
			return // another namespace, or the bare "/" form
		}
	}
	switch typ {
	case "0", "4":
		select {
		case c.connect <- typ + rest:
		default:
		}
	case "1":
		c.record(wireEvent{name: "disconnect"})
	case "2":
		var arr []json.RawMessage
		if err := json.Unmarshal([]byte(rest), &arr); err != nil || len(arr) == 0 {
			c.t.Errorf("bad event packet %q", p)
			return
		}
		var name string
		_ = json.Unmarshal(arr[0], &name) // a non-string name stays empty
		c.record(wireEvent{name: name, args: arr[1:]})
	case "3":
		i := strings.IndexByte(rest, '[')
		id, err := strconv.Atoi(rest[:max(i, 0)])
		var arr []json.RawMessage
		if err != nil || json.Unmarshal([]byte(rest[i:]), &arr) != nil || len(arr) == 0 {
			c.t.Errorf("bad ack packet %q", p)
			return
		}
		c.mu.Lock()
		ch := c.acks[id]
		delete(c.acks, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- arr[0]
		}
	}
}

func (c *wireClient) record(ev wireEvent) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// call emits event with one argument and an ack, and returns the ack's
// first argument.
func (c *wireClient) call(event string, arg any) json.RawMessage {
	c.t.Helper()
	b, err := json.Marshal([]any{event, arg})
	if err != nil {
		c.t.Fatal(err)
	}
	ch := make(chan json.RawMessage, 1)
	c.mu.Lock()
	id := c.ackID
	c.ackID++
	c.acks[id] = ch
	c.mu.Unlock()
	if err := c.post("42" + c.nspPrefix() + strconv.Itoa(id) + string(b)); err != nil {
		c.t.Fatalf("emit %s: %v", event, err)
	}
	select {
	case a := <-ch:
		return a
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no ack for %s", event)
		return nil
	}
}

// callInto is call that decodes a successful Result's data into out.
func (c *wireClient) callInto(event string, arg, out any) {
	c.t.Helper()
	raw := c.call(event, arg)
	var res struct {
		OK   bool
		Data json.RawMessage
	}
	if err := json.Unmarshal(raw, &res); err != nil || !res.OK {
		c.t.Fatalf("%s failed: %s", event, raw)
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			c.t.Fatalf("%s data %s: %v", event, res.Data, err)
		}
	}
}

func (c *wireClient) nspPrefix() string {
	if c.nsp == "/" {
		return ""
	}
	return c.nsp + ","
}

// next waits for the next unreturned event named name and decodes its
// first argument into out (when not nil).
func (c *wireClient) next(ctx context.Context, name string, out any) {
	c.t.Helper()
	for {
		c.mu.Lock()
		for i := range c.events {
			if ev := c.events[i]; ev.name == name {
				// Earlier events of other names stay available to later calls.
				c.events = append(c.events[:i:i], c.events[i+1:]...)
				c.mu.Unlock()
				if out != nil && len(ev.args) > 0 {
					if err := json.Unmarshal(ev.args[0], out); err != nil {
						c.t.Fatalf("%s %s: %v", name, ev.args[0], err)
					}
				}
				return
			}
		}
		wait := c.changed
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			c.t.Fatalf("waiting for %q on %s: %v", name, c.nsp, ctx.Err())
		}
	}
}

// count returns how many events named name are unreturned.
func (c *wireClient) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ev := range c.events {
		if ev.name == name {
			n++
		}
	}
	return n
}

// close ends the session (an Engine.IO close packet) and waits for the poll
// loop.
func (c *wireClient) close() {
	c.mu.Lock()
	closed := c.closed
	c.closed = true
	c.mu.Unlock()
	if !closed {
		_ = c.post("1") // the session may be gone already
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.t.Error("poll loop did not end")
	}
}

func waitCtx(t *testing.T) context.Context { return testutil.Context(t) }
