//go:build integration

package redisadapter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/socketio"
)

// waitTimeout bounds every wait; nothing waits for it when things work.
const waitTimeout = 10 * time.Second

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not synchronisation
	}
}

// redisServer is a redis-server process the test started, on a free port.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server on a free loopback port; it is killed at
// the end of the test.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("redis-server is not installed (apt-get install redis-server)")
		}
	}
	_ = bin
	r := &redisServer{t: t, dir: t.TempDir()}
	for attempt := 0; ; attempt++ {
		r.port = freePort(t)
		if err := r.start(); err == nil {
			break
		} else if attempt == 5 {
			t.Fatalf("redis-server: %v", err)
		}
	}
	t.Cleanup(r.kill)
	return r
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // only the number was wanted
	return port
}

// URL is the server's redis:// URL.
func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start runs redis-server on r.port and waits until it answers.
func (r *redisServer) start() error {
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--loglevel", "warning")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		// Drain the log so the server never blocks on it.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
		}
		_ = cmd.Wait() // its exit is what done reports
		close(done)
	}()
	r.cmd, r.done = cmd, done
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(waitTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited", r.port)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("redis-server on port %d: %v", r.port, err)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// kill stops the server with SIGKILL and waits for it to exit.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill() // it may have exited already
	<-r.done
	r.cmd = nil
}

// restart starts the server again on the same port.
func (r *redisServer) restart() {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.t.Fatalf("restart: %v", err)
	}
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
	c, err := redisadapter.New(redisadapter.Config{URL: redisURL, RequestTimeout: 2 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	io, err := socketio.New(socketio.Config{
		Engine:  engineio.Config{PingInterval: 5 * time.Second, PingTimeout: 5 * time.Second},
		Adapter: c.Adapter,
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
