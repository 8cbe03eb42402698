//go:build integration

package redisadapter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/socketio"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setupRooms makes every socket of / and /chat join the rooms its auth
// names and keep its auth's name as data, then tells it "ready" (the
// CONNECT reply comes before connection handlers run, as in Node).
func setupRooms(io *socketio.Server) {
	for _, nsp := range []string{"/", "/chat"} {
		io.Of(nsp).OnConnection(func(s *socketio.Socket) {
			var auth struct {
				Rooms []string `json:"rooms"`
				Name  string   `json:"name"`
			}
			_ = json.Unmarshal(s.Auth(), &auth) // no auth, no rooms
			s.Join(auth.Rooms...)
			if auth.Name != "" {
				s.Set("name", auth.Name)
			}
			_ = s.Emit("ready") // dial waits for it
		})
	}
}

// twoNodes starts Redis and two nodes on it, and waits until they see
// each other.
func twoNodes(t *testing.T) (*redistest.Server, *node, *node) {
	r := redistest.Start(t)
	a := newNode(t, "A", r.URL(), setupRooms)
	b := newNode(t, "B", r.URL(), setupRooms)
	waitNodes(t, "/", 2, a, b)
	waitNodes(t, "/chat", 2, a, b)
	return r, a, b
}

func strArg(t *testing.T, ev event, i int) string {
	t.Helper()
	var s string
	if i >= len(ev.args) || json.Unmarshal(ev.args[i], &s) != nil {
		t.Fatalf("event %q: argument %d of %s is not a string", ev.name, i, ev.args)
	}
	return s
}

func TestBroadcastsAcrossNodes(t *testing.T) {
	_, a, b := twoNodes(t)
	a1 := dial(t, a, "/chat", `{"rooms":["lobby"]}`)
	b1 := dial(t, b, "/chat", `{"rooms":["lobby","x"]}`)
	b2 := dial(t, b, "/chat", `{}`)
	everyone := []*wsClient{a1, b1, b2}

	// A global broadcast from A reaches both nodes' sockets.
	if err := a.io.Of("/chat").Emit("all", "one", 2); err != nil {
		t.Fatal(err)
	}
	for _, c := range everyone {
		if ev := c.expect("all"); strArg(t, ev, 0) != "one" || string(ev.args[1]) != "2" {
			t.Fatalf("all: %s", ev.args)
		}
	}
	// A room broadcast from B (single-room channel) reaches lobby on A and
	// B, and not b2; a broadcast excepting lobby reaches only b2. A final
	// global broadcast shows nothing else arrived in between.
	if err := b.io.Of("/chat").To("lobby").Emit("room", "lobby"); err != nil {
		t.Fatal(err)
	}
	// Broadcasts from different nodes have no order between them: wait.
	a1.expect("room")
	b1.expect("room")
	if err := a.io.Of("/chat").Except("lobby").Emit("except", "not lobby"); err != nil {
		t.Fatal(err)
	}
	if err := a.io.Of("/chat").To("lobby", "x").Emit("multi"); err != nil {
		t.Fatal(err)
	}
	if err := a.io.Of("/chat").Emit("end"); err != nil {
		t.Fatal(err)
	}
	a1.expect("multi")
	a1.expect("end")
	b1.expect("multi")
	b1.expect("end")
	b2.expect("except")
	b2.expect("end")

	// A socket's broadcast to its room reaches the others, not itself.
	var a1sock *socketio.Socket
	for _, s := range a.io.Of("/chat").Sockets() {
		a1sock = s
	}
	if err := a1sock.To("lobby").Emit("from a1"); err != nil {
		t.Fatal(err)
	}
	if err := a.io.Of("/chat").Emit("end"); err != nil {
		t.Fatal(err)
	}
	a1.expect("end")
	b1.expect("from a1")
	b1.expect("end")
	b2.expect("end")

	// Namespaces are separate: "/" clients get nothing of /chat.
	root := dial(t, b, "/", `{"rooms":["lobby"]}`)
	if err := a.io.Of("/chat").To("lobby").Emit("chat only"); err != nil {
		t.Fatal(err)
	}
	if err := a.io.Of("/").Emit("root"); err != nil {
		t.Fatal(err)
	}
	root.expect("root")
	b1.expect("chat only")
}

func TestBinaryAcrossNodes(t *testing.T) {
	_, a, b := twoNodes(t)
	b1 := dial(t, b, "/chat", `{}`)
	payload := bytes.Repeat([]byte{0, 1, 2, 0xff}, 100)
	if err := a.io.Of("/chat").Emit("bin", "label", payload, map[string]any{"nested": []byte("xyz"), "n": 1}); err != nil {
		t.Fatal(err)
	}
	ev := b1.expect("bin")
	if ev.typ != '5' || len(ev.buffers) != 2 {
		t.Fatalf("binary event: type %c with %d buffers", ev.typ, len(ev.buffers))
	}
	if !bytes.Equal(ev.buffers[0], payload) || string(ev.buffers[1]) != "xyz" {
		t.Fatalf("buffers %q", ev.buffers)
	}
	if strArg(t, ev, 0) != "label" || string(ev.args[1]) != `{"_placeholder":true,"num":0}` {
		t.Fatalf("args %s", ev.args)
	}
}

func TestAcksAcrossNodes(t *testing.T) {
	_, a, b := twoNodes(t)
	clients := []*wsClient{dial(t, a, "/chat", `{}`), dial(t, b, "/chat", `{}`), dial(t, b, "/chat", `{}`)}
	type result struct {
		acks []*socketio.Args
		err  error
	}
	done := make(chan result, 1)
	go func() {
		acks, err := a.io.Of("/chat").Timeout(5*time.Second).EmitWithAck(context.Background(), "ask", "q")
		done <- result{acks, err}
	}()
	var want []string
	for _, c := range clients {
		ev := c.expect("ask")
		if ev.id < 0 {
			t.Fatal("ask without an ack id")
		}
		c.ack(ev.id, c.sid)
		want = append(want, c.sid)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("EmitWithAck: %v", res.err)
	}
	var got []string
	for _, a := range res.acks {
		var s string
		if err := a.Decode(0, &s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("acks %v, want %v", got, want)
	}

	// A remote socket that never answers makes the broadcast time out
	// with the answers that came.
	go func() {
		acks, err := a.io.Of("/chat").Timeout(300*time.Millisecond).EmitWithAck(context.Background(), "ask", "q2")
		done <- result{acks, err}
	}()
	for i, c := range clients {
		ev := c.expect("ask")
		if i < 2 {
			c.ack(ev.id, "ok")
		}
	}
	res = <-done
	if !errors.Is(res.err, socketio.ErrAckTimeout) || len(res.acks) != 2 {
		t.Fatalf("EmitWithAck with a silent client: %d acks, %v", len(res.acks), res.err)
	}
}

func TestRemoteSocketsAcrossNodes(t *testing.T) {
	_, a, b := twoNodes(t)
	a1 := dial(t, a, "/chat", `{"name":"ann","rooms":["lobby"]}`)
	b1 := dial(t, b, "/chat", `{"name":"bob","rooms":["lobby"]}`)
	b2 := dial(t, b, "/chat", `{"name":"bea"}`)
	ctx := context.Background()

	all, err := a.io.Of("/chat").In("lobby").FetchAllSockets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]socketio.RemoteSocket{}
	for _, s := range all {
		byID[s.ID] = s
	}
	if len(all) != 2 || byID[a1.sid].ID == "" || byID[b1.sid].ID == "" {
		t.Fatalf("fetch lobby: %v", all)
	}
	rb := byID[b1.sid]
	if !slices.Contains(rb.Rooms, "lobby") || !slices.Contains(rb.Rooms, b1.sid) || string(rb.Data) != `{"name":"bob"}` {
		t.Fatalf("remote socket: rooms %v data %s", rb.Rooms, rb.Data)
	}
	var hs struct {
		Headers map[string]string `json:"headers"`
		Query   map[string]string `json:"query"`
		Auth    map[string]any    `json:"auth"`
	}
	if err := json.Unmarshal(rb.Handshake, &hs); err != nil || hs.Query["client"] != "test" || hs.Auth["name"] != "bob" || hs.Headers["upgrade"] == "" {
		t.Fatalf("handshake %s: %v", rb.Handshake, err)
	}

	// Join, emit to, leave and disconnect a socket of B from A.
	rb.Join("vip")
	waitFor(t, "b1 to join vip", func() bool {
		return len(b.io.Of("/chat").Sockets("vip")) == 1
	})
	if err := rb.Emit("direct", "hi"); err != nil {
		t.Fatal(err)
	}
	b1.expect("direct")
	a.io.Of("/chat").In("vip").SocketsLeave("vip")
	waitFor(t, "b1 to leave vip", func() bool {
		return len(b.io.Of("/chat").Sockets("vip")) == 0
	})
	a.io.Of("/chat").Except("lobby").SocketsJoin("outside")
	waitFor(t, "b2 to join outside", func() bool {
		s := b.io.Of("/chat").Sockets("outside")
		return len(s) == 1 && s[0].ID() == b2.sid
	})
	a.io.Of("/chat").In("outside").DisconnectSockets(false)
	if ev := b2.next(); ev.name != "disconnect" {
		t.Fatalf("b2 got %q, want a disconnect", ev.name)
	}

	rooms, err := a.io.Of("/chat").AllRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"lobby", a1.sid, b1.sid} {
		if !slices.Contains(rooms, r) {
			t.Fatalf("AllRooms %v lacks %s", rooms, r)
		}
	}
	if slices.Contains(rooms, "outside") || slices.Contains(rooms, b2.sid) {
		t.Fatalf("AllRooms %v has the disconnected socket's rooms", rooms)
	}
}

func TestServerSideEmitBothWays(t *testing.T) {
	_, a, b := twoNodes(t)
	got := make(chan string, 4)
	for _, n := range []*node{a, b} {
		name := n.name
		n.io.Of("/chat").OnServerSideEmit("hello", func(args *socketio.Args, ack socketio.AckFunc) {
			var from string
			_ = args.Decode(0, &from) // a missing argument shows in the test
			got <- name + " got hello from " + from
			if ack != nil {
				_ = ack(map[string]string{"node": name}) // the requester times out without it
			}
		})
	}
	if err := a.io.Of("/chat").ServerSideEmit("hello", "A"); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "B got hello from A" {
		t.Fatal(s)
	}
	answers, err := b.io.Of("/chat").ServerSideEmitWithAck(context.Background(), "hello", "B")
	if err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "A got hello from B" {
		t.Fatal(s)
	}
	if len(answers) != 1 || string(answers[0].Raw(0)) != `{"node":"A"}` {
		t.Fatalf("answers %v", answers)
	}
	select {
	case s := <-got:
		t.Fatalf("a node got its own server-side emit: %s", s)
	default:
	}
}

// TestRedisRestart kills Redis under traffic: each node keeps serving its
// own sockets, cross-node broadcasts are dropped and counted, requests
// fail with a clear error, and after a restart the nodes resubscribe and
// talk again.
func TestRedisRestart(t *testing.T) {
	r, a, b := twoNodes(t)
	a1 := dial(t, a, "/chat", `{"rooms":["lobby"]}`)
	a2 := dial(t, a, "/chat", `{"rooms":["lobby"]}`)
	b1 := dial(t, b, "/chat", `{"rooms":["lobby"]}`)
	if err := a.io.Of("/chat").To("lobby").Emit("before"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsClient{a1, a2, b1} {
		c.expect("before")
	}

	r.Kill()
	waitFor(t, "A to notice Redis is down", func() bool { return !a.cluster.Ready() })
	if err := a.cluster.Ping(context.Background()); !errors.Is(err, redisadapter.ErrUnavailable) {
		t.Fatalf("Ping with Redis down: %v", err)
	}
	// Local clients still talk.
	dropped := a.cluster.Stats().Dropped
	for i := range 20 {
		if err := a.io.Of("/chat").To("lobby").Emit("during", i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		for _, c := range []*wsClient{a1, a2} {
			if ev := c.expect("during"); string(ev.args[0]) != strconv.Itoa(i) {
				t.Fatalf("during %d: %s", i, ev.args)
			}
		}
	}
	waitFor(t, "the broadcasts to be counted as dropped", func() bool {
		return a.cluster.Stats().Dropped >= dropped+1
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := a.io.Of("/chat").FetchAllSockets(ctx)
	cancel()
	if !errors.Is(err, redisadapter.ErrUnavailable) && !errors.Is(err, redisadapter.ErrTimeout) {
		t.Fatalf("fetchSockets with Redis down: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("fetchSockets took %v with Redis down", time.Since(start))
	}
	// A broadcast with acks gets the local ones, and says the others are
	// out of reach.
	type result struct {
		acks []*socketio.Args
		err  error
	}
	done := make(chan result, 1)
	go func() {
		acks, err := a.io.Of("/chat").Timeout(2*time.Second).EmitWithAck(context.Background(), "ask")
		done <- result{acks, err}
	}()
	for _, c := range []*wsClient{a1, a2} {
		ev := c.expect("ask")
		c.ack(ev.id, "ok")
	}
	if res := <-done; len(res.acks) != 2 || !errors.Is(res.err, redisadapter.ErrUnavailable) {
		t.Fatalf("EmitWithAck with Redis down: %d acks, %v", len(res.acks), res.err)
	}

	r.Restart()
	waitNodes(t, "/chat", 2, a, b)
	if a.cluster.Stats().Reconnects == 0 || b.cluster.Stats().Reconnects == 0 {
		t.Fatalf("reconnects: A %+v, B %+v", a.cluster.Stats(), b.cluster.Stats())
	}
	if err := a.io.Of("/chat").To("lobby").Emit("after"); err != nil {
		t.Fatal(err)
	}
	b1.expect("after")
	if err := b.io.Of("/chat").To("lobby").Emit("after from b"); err != nil {
		t.Fatal(err)
	}
	a1.expect("after")
	a1.expect("after from b")
}

// TestRecoveryOffsets: with connection state recovery, each node appends
// its own offset to what it delivers; the offset of the sending node never
// crosses, as with Node's adapter.
func TestRecoveryOffsets(t *testing.T) {
	r := redistest.Start(t)
	rec := &socketio.RecoveryConfig{MaxDisconnectionDuration: time.Minute}
	a := newNodeWith(t, "A", r.URL(), rec, setupRooms)
	b := newNodeWith(t, "B", r.URL(), rec, setupRooms)
	waitNodes(t, "/chat", 2, a, b)
	a1 := dial(t, a, "/chat", `{}`)
	b1 := dial(t, b, "/chat", `{}`)
	if err := a.io.Of("/chat").Emit("ev", "x"); err != nil {
		t.Fatal(err)
	}
	la, lb := a1.expect("ev"), b1.expect("ev")
	if len(la.args) != 2 || len(lb.args) != 2 || strArg(t, la, 0) != "x" || strArg(t, lb, 0) != "x" {
		t.Fatalf("args on A %s, on B %s; want the payload and one offset", la.args, lb.args)
	}
	if strArg(t, la, 1) == strArg(t, lb, 1) {
		t.Fatalf("both nodes delivered offset %s", la.args[1])
	}
	// A volatile broadcast carries no offset, on either node.
	if err := a.io.Of("/chat").Volatile().Emit("vol", "y"); err != nil {
		t.Fatal(err)
	}
	if la, lb := a1.expect("vol"), b1.expect("vol"); len(la.args) != 1 || len(lb.args) != 1 {
		t.Fatalf("volatile args on A %s, on B %s", la.args, lb.args)
	}
}

// TestSpecificResponseChannel: a node answering on each requester's own
// response channel (Node's publishOnSpecificResponseChannel) is understood,
// and a custom prefix keeps two clusters on one Redis apart.
func TestSpecificResponseChannel(t *testing.T) {
	r := redistest.Start(t)
	a := newNodeCfg(t, "A", redisadapter.Config{URL: r.URL(), Prefix: "app", SpecificResponseChannel: true}, nil, setupRooms)
	b := newNodeCfg(t, "B", redisadapter.Config{URL: r.URL(), Prefix: "app", SpecificResponseChannel: true}, nil, setupRooms)
	other := newNodeCfg(t, "other", redisadapter.Config{URL: r.URL()}, nil, setupRooms)
	waitNodes(t, "/chat", 2, a, b)
	waitNodes(t, "/chat", 1, other)
	a1 := dial(t, a, "/chat", `{"rooms":["x"]}`)
	b1 := dial(t, b, "/chat", `{"rooms":["x"]}`)
	o1 := dial(t, other, "/chat", `{"rooms":["x"]}`)
	all, err := b.io.Of("/chat").FetchAllSockets(context.Background())
	if err != nil || len(all) != 2 {
		t.Fatalf("fetch: %v %v", all, err)
	}
	if err := a.io.Of("/chat").To("x").Emit("only app"); err != nil {
		t.Fatal(err)
	}
	if err := other.io.Of("/chat").To("x").Emit("only other"); err != nil {
		t.Fatal(err)
	}
	a1.expect("only app")
	b1.expect("only app")
	o1.expect("only other")
}

// freezeProxy forwards TCP to Redis and can stop forwarding without
// closing anything: to the nodes behind it, Redis goes silent, as a host
// that vanished without a reset.
type freezeProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close() // Redis is not there: the client sees a reset
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies src to dst, holding what it read while frozen.
func (p *freezeProxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		for p.frozen && !p.closed {
			p.cond.Wait()
		}
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *freezeProxy) setFrozen(f bool) {
	p.mu.Lock()
	p.frozen = f
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *freezeProxy) close() {
	_ = p.ln.Close() // ends accept
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	for _, c := range p.conns {
		_ = c.Close() // ends the pipes
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestSilentRedis: a connection that goes silent without a reset is
// noticed by the health check (an unanswered PING), replaced, and the
// node is back once Redis answers again.
func TestSilentRedis(t *testing.T) {
	r := redistest.Start(t)
	px := newFreezeProxy(t, r.Addr())
	a := newNodeCfg(t, "A", redisadapter.Config{URL: "redis://" + px.addr() + "/0", HealthInterval: 200 * time.Millisecond}, nil, setupRooms)
	b := newNode(t, "B", r.URL(), setupRooms)
	waitNodes(t, "/chat", 2, a, b)
	a1 := dial(t, a, "/chat", `{"rooms":["x"]}`)
	b1 := dial(t, b, "/chat", `{"rooms":["x"]}`)

	px.setFrozen(true)
	waitFor(t, "A to notice the silence", func() bool { return !a.cluster.Ready() })
	// A's clients are still served by A.
	if err := a.io.Of("/chat").To("x").Emit("local"); err != nil {
		t.Fatal(err)
	}
	a1.expect("local")

	px.setFrozen(false)
	waitNodes(t, "/chat", 2, a, b)
	if a.cluster.Stats().Reconnects == 0 {
		t.Fatalf("A's stats after the silence: %+v", a.cluster.Stats())
	}
	if err := b.io.Of("/chat").To("x").Emit("after"); err != nil {
		t.Fatal(err)
	}
	a1.expect("after")
	// "local" was written to A's publishing connection before the silence
	// was noticed: it may reach B late, once Redis answers again.
	if ev := b1.next(); ev.name == "local" {
		b1.expect("after")
	} else if ev.name != "after" {
		t.Fatalf("b1 got %q, want after", ev.name)
	}
}
