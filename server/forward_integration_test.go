//go:build integration

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/internal/testutil"
	"github.com/parley-rt/parley/namespaces/ratelimit"
	"github.com/parley-rt/parley/server"
)

// clusterNode is a Parley node serving on a loopback listener, so that
// its cluster address is derived from the listener (no --cluster-addr).
type clusterNode struct {
	url string
	srv *server.Server
}

func startClusterNode(t *testing.T, redisURL string) *clusterNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		RedisURL: redisURL, DataDir: t.TempDir(), PingInterval: 2 * time.Second, PingTimeout: 5 * time.Second,
		RateLimits: map[string]ratelimit.RateLimit{"chatMessage": {}}, // the tests post back to back
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-served
	})
	return &clusterNode{url: "http://" + ln.Addr().String(), srv: srv}
}

// waitRegistered waits until n nodes have registry entries with an address.
func waitRegistered(t *testing.T, r *redistest.Server, n int) {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	ctx := testutil.Context(t)
	testutil.WaitFor(t, "the nodes' registry entries", func() bool {
		keys, err := rc.Keys(ctx, "socket.io-node#*").Result()
		if err != nil || len(keys) != n {
			return false
		}
		for _, k := range keys {
			v, err := rc.Get(ctx, k).Result()
			if err != nil || !strings.Contains(v, `"addr":"127.0.0.1:`) {
				return false
			}
		}
		return true
	})
}

// roundRobin is a load balancer without stickiness: each request, and
// each WebSocket upgrade, goes to the next node in turn.
func roundRobin(t *testing.T, nodes ...*clusterNode) (*httptest.Server, []*atomic.Int64) {
	t.Helper()
	var next atomic.Uint64
	counts := make([]*atomic.Int64, len(nodes))
	targets := make([]*url.URL, len(nodes))
	for i, n := range nodes {
		counts[i] = new(atomic.Int64)
		u, err := url.Parse(n.url)
		if err != nil {
			t.Fatal(err)
		}
		targets[i] = u
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	proxy := &httputil.ReverseProxy{Transport: tr, Rewrite: func(pr *httputil.ProxyRequest) {
		i := int((next.Add(1) - 1) % uint64(len(targets)))
		counts[i].Add(1)
		pr.SetURL(targets[i])
		pr.Out.Host = pr.In.Host
	}}
	ts := httptest.NewServer(proxy)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts, counts
}

func sidOf(c *wireClient) string {
	_, sid, _ := strings.Cut(c.url, "sid=")
	return sid
}

// forwarded reads parley_forwarded_requests_total{transport} of a node.
func forwarded(t *testing.T, n *clusterNode, transport string) int {
	t.Helper()
	_, body, _ := do(t, "GET", n.url+"/metrics", "", "")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, `parley_forwarded_requests_total{transport="`+transport+`"} `); ok {
			var f float64
			if err := json.Unmarshal([]byte(v), &f); err != nil {
				t.Fatalf("metric line %q", l)
			}
			return int(f)
		}
	}
	t.Fatalf("no parley_forwarded_requests_total{transport=%q} in /metrics", transport)
	return 0
}

// TestPollingBehindRoundRobin: two /chat clients on long-polling behind a
// round-robin balancer, their sessions on different nodes: every second
// request lands on the other node and is forwarded; joins, messages with
// acks and the room broadcast all work, nothing lost or doubled.
func TestPollingBehindRoundRobin(t *testing.T) {
	r := redistest.Start(t)
	n1, n2 := startClusterNode(t, r.URL()), startClusterNode(t, r.URL())
	waitRegistered(t, r, 2)
	lb, counts := roundRobin(t, n1, n2)

	ann := mustDial(t, lb.URL, "/chat", map[string]string{"userId": "ann", "name": "Ann"})
	var bob *wireClient
	for bob == nil || sidOf(bob)[:6] == sidOf(ann)[:6] {
		// Until the two sessions live on different nodes.
		bob = mustDial(t, lb.URL, "/chat", map[string]string{"userId": "bob", "name": "Bob"})
	}
	const room = "lobby:forwarding"
	ann.callInto("joinRoom", events.JoinRoomRequest{Room: room}, nil)
	bob.callInto("joinRoom", events.JoinRoomRequest{Room: room}, nil)
	ctx := waitCtx(t)
	const n = 20
	for i := range n {
		from, to := ann, bob
		if i%2 == 1 {
			from, to = bob, ann
		}
		var sent events.ChatMessage
		from.callInto("chatMessage", events.ChatMessageRequest{Room: room, Content: "m" + string(rune('a'+i))}, &sent)
		var got events.ChatMessage
		to.next(ctx, "newChatMessage", &got)
		if got.Content != sent.Content || got.ID != sent.ID {
			t.Fatalf("message %d: sent %+v, received %+v", i, sent, got)
		}
	}
	// Nothing doubled: no message waits beyond the ones taken.
	for _, c := range []*wireClient{ann, bob} {
		if extra := c.count("newChatMessage"); extra != 0 {
			t.Fatalf("%d messages delivered twice", extra)
		}
	}
	f1, f2 := forwarded(t, n1, "polling"), forwarded(t, n2, "polling")
	if f1 == 0 || f2 == 0 || counts[0].Load() < 10 || counts[1].Load() < 10 {
		t.Fatalf("requests did not spread: balancer sent %d and %d, nodes forwarded %d and %d", counts[0].Load(), counts[1].Load(), f1, f2)
	}
	t.Logf("balancer sent %d and %d requests; nodes forwarded %d and %d", counts[0].Load(), counts[1].Load(), f1, f2)
}

// rawWS is a Socket.IO client on an upgraded WebSocket: it answers pings
// and returns the other packets.
type rawWS struct {
	t    *testing.T
	conn net.Conn
}

func (c rawWS) send(s string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(s)); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// until reads until a packet starts with prefix and returns it.
func (c rawWS) until(prefix string) string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testutil.Timeout)) // a timeout fails below
	for {
		b, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			c.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		switch p := string(b); {
		case p == "2":
			c.send("3")
		case strings.HasPrefix(p, prefix):
			return p
		}
	}
}

// TestUpgradeOnOtherNode: a polling session of node 1 connects to /chat
// with its requests sent to node 2, then upgrades to WebSocket at node 2:
// the connection is relayed to node 1, where the session lives, and a
// message posted on it reaches a member of the room on node 2.
func TestUpgradeOnOtherNode(t *testing.T) {
	r := redistest.Start(t)
	n1, n2 := startClusterNode(t, r.URL()), startClusterNode(t, r.URL())
	waitRegistered(t, r, 2)
	const room = "lobby:upgrade"
	member := mustDial(t, n2.url, "/chat", map[string]string{"userId": "mem", "name": "Mem"})
	member.callInto("joinRoom", events.JoinRoomRequest{Room: room}, nil)

	res, err := http.Get(n1.url + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body) // a short body fails the parse below
	_ = res.Body.Close()
	var hs struct{ SID string }
	if len(body) < 2 || json.Unmarshal(body[1:], &hs) != nil {
		t.Fatalf("handshake %q", body)
	}
	q := "/socket.io/?EIO=4&transport=polling&sid=" + hs.SID
	if code, b, _ := do(t, "POST", n2.url+q, "", `40/chat,{"userId":"up","name":"Up"}`); code != 200 || b != "ok" {
		t.Fatalf("CONNECT through node 2: %d %q", code, b)
	}
	if code, b, _ := do(t, "GET", n2.url+q, "", ""); code != 200 || !strings.HasPrefix(b, "40/chat,") {
		t.Fatalf("CONNECT answer through node 2: %d %q", code, b)
	}
	conn, br, _, err := ws.Dialer{Timeout: testutil.Timeout}.Dial(testutil.Context(t), "ws"+strings.TrimPrefix(n2.url, "http")+"/socket.io/?EIO=4&transport=websocket&sid="+hs.SID)
	if err != nil {
		t.Fatalf("upgrade at node 2: %v", err)
	}
	if br != nil {
		ws.PutReader(br)
	}
	defer conn.Close()
	c := rawWS{t, conn}
	c.send("2probe")
	c.until("3probe")
	c.send("5")
	c.send(`42/chat,0["joinRoom",{"room":"` + room + `"}]`)
	if ack := c.until("43/chat,0"); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("joinRoom over the relayed WebSocket: %s", ack)
	}
	c.send(`42/chat,1["chatMessage",{"room":"` + room + `","content":"over the relay"}]`)
	if ack := c.until("43/chat,1"); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("chatMessage over the relayed WebSocket: %s", ack)
	}
	var got events.ChatMessage
	member.next(waitCtx(t), "newChatMessage", &got)
	if got.Content != "over the relay" {
		t.Fatalf("member got %+v", got)
	}
	if f := forwarded(t, n2, "websocket"); f != 1 {
		t.Fatalf("node 2 relayed %d upgrades, want 1", f)
	}
	if f := forwarded(t, n2, "polling"); f != 2 {
		t.Fatalf("node 2 relayed %d polling requests, want 2", f)
	}
}

// TestRedisOutageBehindRoundRobin: while Redis is down, a polling client
// whose requests alternate between the nodes keeps talking to its session
// (the relays go on to the owner's last known address), and a member of
// its room on the same node still gets its messages.
func TestRedisOutageBehindRoundRobin(t *testing.T) {
	r := redistest.Start(t)
	n1, n2 := startClusterNode(t, r.URL()), startClusterNode(t, r.URL())
	waitRegistered(t, r, 2)
	lb, _ := roundRobin(t, n1, n2)
	ann := mustDial(t, lb.URL, "/chat", map[string]string{"userId": "ann", "name": "Ann"})
	var bob *wireClient
	for bob == nil || sidOf(bob)[:6] != sidOf(ann)[:6] {
		// Until both sessions live on the same node: across nodes, a
		// broadcast needs Redis.
		bob = mustDial(t, lb.URL, "/chat", map[string]string{"userId": "bob", "name": "Bob"})
	}
	const room = "lobby:outage"
	ann.callInto("joinRoom", events.JoinRoomRequest{Room: room}, nil)
	bob.callInto("joinRoom", events.JoinRoomRequest{Room: room}, nil)
	r.Kill()
	killed := time.Now()
	ctx := waitCtx(t)
	// Past the forwarders' 3 s address cache, so that every lookup meets
	// the outage.
	for i := 0; i < 10 || time.Since(killed) < 4*time.Second; i++ {
		var sent, got events.ChatMessage
		ann.callInto("chatMessage", events.ChatMessageRequest{Room: room, Content: fmt.Sprintf("during the outage %d", i)}, &sent)
		bob.next(ctx, "newChatMessage", &got)
		if got.ID != sent.ID {
			t.Fatalf("message %d: sent %+v, received %+v", i, sent, got)
		}
	}
	if f := forwarded(t, n1, "polling") + forwarded(t, n2, "polling"); f == 0 {
		t.Fatal("no request was forwarded")
	}
}

// TestOwnerGone: once a session's node has shut down, a request for it
// that lands on another node gets "Session ID unknown", as from Node, so
// the client makes a new handshake; the failure is counted.
func TestOwnerGone(t *testing.T) {
	r := redistest.Start(t)
	n1, n2 := startClusterNode(t, r.URL()), startClusterNode(t, r.URL())
	waitRegistered(t, r, 2)
	c := mustDial(t, n1.url, "/chat", map[string]string{"userId": "ann", "name": "Ann"})
	q := "/socket.io/?EIO=4&transport=polling&sid=" + sidOf(c)
	if code, body, _ := do(t, "POST", n2.url+q, "", "3"); code != 200 || body != "ok" {
		t.Fatalf("relayed POST while the owner is up: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n1.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	code, body, _ := do(t, "POST", n2.url+q, "", "3")
	if code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("relayed POST after the owner shut down: %d %q", code, body)
	}
	_, metrics, _ := do(t, "GET", n2.url+"/metrics", "", "")
	if !strings.Contains(metrics, `parley_forward_failures_total{reason="unknown_owner"} 1`+"\n") &&
		!strings.Contains(metrics, `parley_forward_failures_total{reason="unreachable"} 1`+"\n") {
		t.Fatalf("the failure is not counted:\n%s", grepLines(metrics, "parley_forward"))
	}
}
