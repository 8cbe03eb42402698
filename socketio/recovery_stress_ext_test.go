package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/parley-rt/parley/socketio"
)

// stressID names one broadcast: broadcaster g's k-th emit.
type stressID struct{ G, K int }

// TestRecoveryStress races broadcasts from many goroutines with WebSocket
// clients that drop their TCP connection at random moments and recover
// with the Socket.IO protocol (CONNECT with pid and last offset). Every
// client must end up with every broadcast meant for it exactly once, and
// all clients must have seen the broadcasts in one order.
func TestRecoveryStress(t *testing.T) {
	t.Parallel()
	const (
		clients      = 16
		broadcasters = 6
		perG         = 300
	)
	rooms := []string{"r0", "r1", "r2"}

	var discMu sync.Mutex
	disc := make(map[string]chan struct{}) // socket id -> its server-side disconnects
	discOf := func(id string) chan struct{} {
		discMu.Lock()
		defer discMu.Unlock()
		ch := disc[id]
		if ch == nil {
			ch = make(chan struct{}, 1024)
			disc[id] = ch
		}
		return ch
	}
	srv := newServer(t, socketio.Config{Recovery: &socketio.RecoveryConfig{}}, func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			id := s.ID()
			s.OnDisconnect(func(string) { offer(discOf(id), struct{}{}) })
			s.On("join", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
				var room string
				if args.Decode(0, &room) == nil {
					s.Join(room)
				}
				_ = ack() // a missing ack fails the client
			})
		})
	})
	nsp := srv.io.Of("/")

	type result struct {
		sid, room string
		got       []stressID
		drops     int
	}
	results := make([]result, clients)
	ready := make(chan string, clients) // socket ids
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[i]
			res.room = rooms[i%len(rooms)]
			if err := stressClient(srv, res.room, ready, discOf, func(sid string) { res.sid = sid }, &res.got, &res.drops, uint64(i)); err != nil {
				t.Errorf("client %d: %v", i, err)
				offer(ready, "") // never leave the test waiting
			}
		}()
	}
	sids := make([]string, 0, clients)
	for range clients {
		sids = append(sids, recv(t, ready, "client ready"))
	}
	if t.Failed() {
		wg.Wait()
		return
	}

	// The broadcasters: to everyone, to a room, to all but a room, and to
	// one socket's own room.
	type target struct{ to, except string }
	sent := make([][]target, broadcasters)
	var bwg sync.WaitGroup
	for g := range broadcasters {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			tick := time.NewTicker(time.Millisecond) // pacing, so drops interleave with the broadcasts
			defer tick.Stop()
			for k := range perG {
				<-tick.C
				var tg target
				op := nsp.Except() // the whole namespace
				switch k % 4 {
				case 1:
					tg.to = rooms[(g+k)%len(rooms)]
					op = nsp.To(tg.to)
				case 2:
					tg.except = rooms[(g+k)%len(rooms)]
					op = nsp.Except(tg.except)
				case 3:
					tg.to = sids[(g*7+k)%len(sids)]
					op = nsp.To(tg.to)
				}
				sent[g] = append(sent[g], tg)
				if err := op.Emit("m", stressID{g, k}); err != nil {
					t.Errorf("emit: %v", err)
					return
				}
			}
		}()
	}
	bwg.Wait()
	// The end marker, recorded like the rest: a client that has it has
	// everything before it.
	if err := nsp.Emit("end"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every client got exactly its broadcasts.
	drops := 0
	for i, res := range results {
		drops += res.drops
		want := make(map[stressID]bool)
		for g, list := range sent {
			for k, tg := range list {
				switch {
				case tg.to != "" && tg.to != res.room && tg.to != res.sid:
				case tg.except != "" && tg.except == res.room:
				default:
					want[stressID{g, k}] = true
				}
			}
		}
		seen := make(map[stressID]bool, len(res.got))
		for _, id := range res.got {
			if seen[id] {
				t.Fatalf("client %d got %v twice", i, id)
			}
			if !want[id] {
				t.Fatalf("client %d (room %s) got %v, not meant for it", i, res.room, id)
			}
			seen[id] = true
		}
		if len(seen) != len(want) {
			t.Fatalf("client %d got %d of its %d broadcasts", i, len(seen), len(want))
		}
	}
	// One order for all: the sequences of every client, and each
	// broadcaster's own order, must fit one total order (no cycle).
	next := make(map[stressID][]stressID)
	indeg := make(map[stressID]int)
	edge := func(a, b stressID) {
		next[a] = append(next[a], b)
		indeg[b]++
		if _, ok := indeg[a]; !ok {
			indeg[a] = 0
		}
	}
	for g, list := range sent {
		for k := 1; k < len(list); k++ {
			edge(stressID{g, k - 1}, stressID{g, k})
		}
	}
	for _, res := range results {
		for j := 1; j < len(res.got); j++ {
			edge(res.got[j-1], res.got[j])
		}
	}
	var queue []stressID
	for id, d := range indeg {
		if d == 0 {
			queue = append(queue, id)
		}
	}
	done := 0
	for len(queue) > 0 {
		id := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		done++
		for _, n := range next[id] {
			if indeg[n]--; indeg[n] == 0 {
				queue = append(queue, n)
			}
		}
	}
	if done != len(indeg) {
		t.Fatalf("clients saw the broadcasts in orders no single order explains (%d of %d placed)", done, len(indeg))
	}
	if drops < clients {
		t.Fatalf("only %d drops: the test did not exercise recovery", drops)
	}
	t.Logf("%d clients, %d broadcasts, %d drops and recoveries", clients, broadcasters*perG, drops)
}

// stressClient is one raw WebSocket Socket.IO client: it joins room,
// reports its socket id on ready, then reads broadcasts into got until the
// end marker, dropping its TCP connection every few dozen packets and
// recovering with its pid and last offset.
func stressClient(srv *testServer, room string, ready chan<- string, discOf func(string) chan struct{}, setSID func(string), got *[]stressID, drops *int, seed uint64) error {
	rnd := rand.New(rand.NewPCG(seed, 42))
	url := "ws" + strings.TrimPrefix(srv.url, "http") + "/socket.io/?EIO=4&transport=websocket"
	var conn net.Conn
	var r io.Reader
	dial := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		c, br, _, err := ws.Dialer{}.Dial(ctx, url)
		if err != nil {
			return err
		}
		conn, r = c, c
		if br != nil {
			r = io.MultiReader(br, c)
		}
		_, err = readText(conn, r) // the open packet
		return err
	}
	defer func() {
		if conn != nil {
			_ = conn.Close() // done with it
		}
	}()
	write := func(p string) error { return wsutil.WriteClientText(conn, []byte(p)) }
	// connect sends CONNECT and returns the sid and pid of the answer.
	connect := func(auth string) (string, string, error) {
		if err := write("40" + auth); err != nil {
			return "", "", err
		}
		p, err := readText(conn, r)
		if err != nil {
			return "", "", err
		}
		var hs struct{ SID, PID string }
		if !strings.HasPrefix(p, "40{") || json.Unmarshal([]byte(p[2:]), &hs) != nil {
			return "", "", fmt.Errorf("CONNECT answered %q", p)
		}
		return hs.SID, hs.PID, nil
	}

	if err := dial(); err != nil {
		return err
	}
	sid, pid, err := connect("")
	if err != nil {
		return err
	}
	setSID(sid)
	discOf(sid) // exists before any disconnect
	if err := write(`420["join",` + fmt.Sprintf("%q", room) + `]`); err != nil {
		return err
	}
	if p, err := readText(conn, r); err != nil || p != "430[]" {
		return fmt.Errorf("join answered %q, %v", p, err)
	}
	ready <- sid

	var offset string
	untilDrop := 10 + rnd.IntN(60)
	for {
		if untilDrop == 0 && offset != "" {
			// Drop the connection with whatever is in flight, wait for the
			// server to notice, and recover.
			_ = conn.Close() // the point of the exercise
			*drops++
			select {
			case <-discOf(sid):
			case <-time.After(waitTimeout):
				return fmt.Errorf("server did not notice drop %d", *drops)
			}
			if err := dial(); err != nil {
				return err
			}
			s2, p2, err := connect(fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
			if err != nil {
				return err
			}
			if s2 != sid || p2 != pid {
				return fmt.Errorf("drop %d: not recovered (sid %s pid %s, want %s %s)", *drops, s2, p2, sid, pid)
			}
			untilDrop = rnd.IntN(60) // sometimes 0: drop again before the replay is read
			continue
		}
		p, err := readText(conn, r)
		if err != nil {
			return fmt.Errorf("read after %d packets: %w", len(*got), err)
		}
		if !strings.HasPrefix(p, "42[") {
			return fmt.Errorf("unexpected packet %q", p)
		}
		var args []json.RawMessage
		if err := json.Unmarshal([]byte(p[2:]), &args); err != nil || len(args) < 2 {
			return fmt.Errorf("event %q: %v", p, err)
		}
		if err := json.Unmarshal(args[len(args)-1], &offset); err != nil {
			return fmt.Errorf("event %q has no offset", p)
		}
		if string(args[0]) == `"end"` {
			return nil
		}
		var id stressID
		if err := json.Unmarshal(args[1], &id); err != nil {
			return fmt.Errorf("event %q: %v", p, err)
		}
		*got = append(*got, id)
		untilDrop--
	}
}

// readText reads the next text packet, answering pings.
func readText(conn net.Conn, r io.Reader) (string, error) {
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout)) // a timeout fails the read
	for {
		f, err := ws.ReadFrame(r)
		if err != nil {
			return "", err
		}
		switch f.Header.OpCode {
		case ws.OpClose:
			return "", io.EOF
		case ws.OpText:
			if string(f.Payload) == "2" {
				if err := wsutil.WriteClientText(conn, []byte("3")); err != nil {
					return "", err
				}
				continue
			}
			return string(f.Payload), nil
		}
	}
}
