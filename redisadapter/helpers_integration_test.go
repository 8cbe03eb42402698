//go:build integration

package redisadapter_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/internal/testutil"
	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/socketio"
)

// waitTimeout bounds every wait; nothing waits for it when things work.
const waitTimeout = testutil.Timeout

// waitFor is the shared helper (internal/testutil).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, cond)
}

// node is a Parley socket.io server on the cluster, behind httptest.
type node struct {
	name    string
	io      *socketio.Server
	cluster *redisadapter.Cluster
	url     string
}

// newNode starts a node on redisURL; setup runs before it serves. It is
// closed at the end of the test.
func newNode(t *testing.T, name, redisURL string, setup func(io *socketio.Server)) *node {
	t.Helper()
	return newNodeWith(t, name, redisURL, nil, setup)
}

// newNodeWith is newNode with connection state recovery when rec is set.
func newNodeWith(t *testing.T, name, redisURL string, rec *socketio.RecoveryConfig, setup func(io *socketio.Server)) *node {
	t.Helper()
	return newNodeCfg(t, name, redisadapter.Config{URL: redisURL}, rec, setup)
}

// newNodeCfg is newNode with the cluster configured by cfg (test timeouts
// and backoffs are filled in).
func newNodeCfg(t *testing.T, name string, cfg redisadapter.Config, rec *socketio.RecoveryConfig, setup func(io *socketio.Server)) *node {
	t.Helper()
	cfg.RequestTimeout, cfg.MinBackoff, cfg.MaxBackoff = 2*time.Second, 20*time.Millisecond, 200*time.Millisecond
	c, err := redisadapter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	io, err := socketio.New(socketio.Config{
		Engine:   engineio.Config{PingInterval: 5 * time.Second, PingTimeout: 5 * time.Second},
		Adapter:  c.Adapter,
		Recovery: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	if setup != nil {
		setup(io)
	}
	ts := httptest.NewServer(io)
	n := &node{name: name, io: io, cluster: c, url: ts.URL}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := io.Close(ctx); err != nil {
			t.Errorf("%s: close: %v", name, err)
		}
		ts.Close()
		if err := c.Close(ctx); err != nil {
			t.Errorf("%s: cluster close: %v", name, err)
		}
	})
	return n
}

// waitNodes waits until every node sees count nodes on nsp.
func waitNodes(t *testing.T, nsp string, count int, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, n.name+" to see the cluster", func() bool {
			c, err := n.io.Of(nsp).ServerCount(context.Background())
			return err == nil && c == count && n.cluster.Ready()
		})
	}
}

// event is a received Socket.IO packet: its type, ack id, JSON payload and
// binary attachments.
type event struct {
	typ     byte
	id      int
	name    string
	args    []json.RawMessage
	buffers [][]byte
}

// wsClient is a hand-written Socket.IO client over WebSocket: it answers
// pings and queues every EVENT and ACK it gets.
type wsClient struct {
	t    *testing.T
	conn net.Conn
	rw   io.ReadWriter
	nsp  string
	sid  string
	in   chan event
	wmu  sync.Mutex
	done chan struct{}
}

// dial connects a client to nsp of n, with auth; it is closed at the end
// of the test.
func dial(t *testing.T, n *node, nsp, auth string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, br, _, err := ws.Dialer{}.Dial(ctx, "ws"+strings.TrimPrefix(n.url, "http")+"/socket.io/?EIO=4&transport=websocket&client=test")
	if err != nil {
		t.Fatalf("dial %s: %v", n.name, err)
	}
	c := &wsClient{t: t, conn: conn, rw: conn, nsp: nsp, in: make(chan event, 1024), done: make(chan struct{})}
	if br != nil {
		c.rw = struct {
			io.Reader
			io.Writer
		}{io.MultiReader(br, conn), conn}
	}
	t.Cleanup(func() {
		_ = conn.Close() // the reader ends with it
		<-c.done
	})
	open, _, err := wsutil.ReadServerData(c.rw)
	if err != nil || len(open) == 0 || open[0] != '0' {
		t.Fatalf("open packet %q: %v", open, err)
	}
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	c.write("40" + prefix + auth)
	reply, _, err := wsutil.ReadServerData(c.rw)
	if err != nil || !strings.HasPrefix(string(reply), "40"+prefix) {
		t.Fatalf("connect reply %q: %v", reply, err)
	}
	var ok struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(reply[2+len(prefix):], &ok); err != nil {
		t.Fatalf("connect reply %q: %v", reply, err)
	}
	c.sid = ok.SID
	go c.read()
	c.expect("ready") // the connection handlers have run
	return c
}

func (c *wsClient) write(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = wsutil.WriteClientText(c.conn, []byte(s)) // a closed connection fails the test elsewhere
}

func (c *wsClient) read() {
	defer close(c.done)
	var pending *event
	want := 0
	for {
		b, op, err := wsutil.ReadServerData(c.rw)
		if err != nil {
			return
		}
		if op == ws.OpBinary {
			if pending != nil {
				pending.buffers = append(pending.buffers, b)
				if len(pending.buffers) == want {
					c.in <- *pending
					pending = nil
				}
			}
			continue
		}
		s := string(b)
		switch {
		case s == "2":
			c.write("3")
			continue
		case len(s) < 2 || s[0] != '4':
			continue
		}
		p := s[1:]
		ev := event{typ: p[0], id: -1}
		p = p[1:]
		if ev.typ == '5' || ev.typ == '6' {
			i := strings.IndexByte(p, '-')
			want, _ = strconv.Atoi(p[:i])
			p = p[i+1:]
		}
		if strings.HasPrefix(p, "/") {
			i := strings.IndexByte(p, ',')
			if i < 0 {
				i = len(p) - 1
			}
			p = p[i+1:]
		}
		j := 0
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j > 0 {
			ev.id, _ = strconv.Atoi(p[:j])
			p = p[j:]
		}
		if ev.typ == '1' {
			ev.name = "disconnect"
			c.in <- ev
			continue
		}
		_ = json.Unmarshal([]byte(p), &ev.args) // a malformed payload shows as no args
		if (ev.typ == '2' || ev.typ == '5') && len(ev.args) > 0 {
			_ = json.Unmarshal(ev.args[0], &ev.name) // numeric names stay empty
			ev.args = ev.args[1:]
		}
		if ev.typ == '5' || ev.typ == '6' {
			pending = &ev
			continue
		}
		c.in <- ev
	}
}

// next waits for the next packet.
func (c *wsClient) next() event {
	c.t.Helper()
	select {
	case ev := <-c.in:
		return ev
	case <-time.After(waitTimeout):
		c.t.Fatalf("client %s: timed out waiting for a packet", c.sid)
		return event{}
	}
}

// expect waits for the next packet and checks it is event name.
func (c *wsClient) expect(name string) event {
	c.t.Helper()
	ev := c.next()
	if ev.name != name {
		c.t.Fatalf("client %s: got %q %s, want %q", c.sid, ev.name, ev.args, name)
	}
	return ev
}

// emit sends an event to the server.
func (c *wsClient) emit(name string, args ...any) {
	b, _ := json.Marshal(append([]any{name}, args...)) // test values marshal
	prefix := ""
	if c.nsp != "/" {
		prefix = c.nsp + ","
	}
	c.write("42" + prefix + string(b))
}

// ack answers event id with args.
func (c *wsClient) ack(id int, args ...any) {
	b, _ := json.Marshal(args) // test values marshal
	prefix := ""
	if c.nsp != "/" {
		prefix = c.nsp + ","
	}
	c.write("43" + prefix + strconv.Itoa(id) + string(b))
}

// repoRoot is the repository root, for the e2e fixtures.
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}
