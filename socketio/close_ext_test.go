package socketio_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/internal/testutil"
	"github.com/parley-rt/parley/socketio"
)

// TestCloseUnderLoadLeavesNoGoroutine closes a server while clients emit
// events with acks as fast as they can, handlers broadcast and wait for
// acknowledgements that never come, disconnect handlers emit, and
// connections that never join a namespace hold connect timers. When Close
// returns, no goroutine runs socketio code; once the clients are gone too,
// goleak finds nothing left.
//
// Not parallel: goleak compares against the goroutines that existed before.
func TestCloseUnderLoadLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	io2, err := socketio.New(socketio.Config{
		Recovery: &socketio.RecoveryConfig{},
		Engine:   engineio.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	var events atomic.Int64
	nsp := io2.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			events.Add(1)
			vals, _ := args.Values()        // the load does not check values
			_ = nsp.Emit("echoed", vals...) // fails only once closed
			if ack != nil {
				_ = ack(vals...) // fails only once closed
			}
		})
		s.On("ask", func(s *socketio.Socket, _ *socketio.Args, _ socketio.AckFunc) {
			// The client never answers: this waits for the timeout or the
			// disconnect.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, _ = s.EmitWithAck(ctx, "question") // times out or ends with the socket
			_, _ = nsp.Timeout(time.Second).EmitWithAck(ctx, "poll")
		})
		s.OnDisconnect(func(string) {
			_ = nsp.Emit("left", s.ID()) // reaches nobody once every socket is gone
		})
	})
	ts := httptest.NewServer(io2)
	defer ts.Close()

	stop := make(chan struct{})
	var clients sync.WaitGroup
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	for i := range 8 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			loadClient(wsURL, i%4 == 0, stop)
		}()
	}
	// Sessions that never send CONNECT: their connect timers are running.
	for range 4 {
		res, err := http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body) // the open packet
		_ = res.Body.Close()
	}
	waitFor(t, "load", func() bool { return events.Load() > 500 })

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := io2.Close(ctx); err != nil {
		t.Fatalf("Close under load: %v", err)
	}
	// A goroutine that has told Close it is done still has to return:
	// allow it a moment (far less than any handler or timer here lasts).
	var left string
	for range 50 {
		if left = goroutinesIn("github.com/parley-rt/parley/socketio."); left == "" {
			break
		}
		time.Sleep(2 * time.Millisecond) // polling interval
	}
	if left != "" {
		t.Fatalf("goroutines in socketio after Close returned:\n%s", left)
	}
	close(stop)
	clients.Wait()
	ts.Close()
	goleak.VerifyNone(t, before,
		goleak.IgnoreTopFunction("github.com/zishang520/socket.io/v3/pkg/utils.SetInterval.func1"))
}

// loadClient connects to / over WebSocket and emits echo with acks in a
// loop (and, with ask, an event whose handler waits for an ack it never
// gets) until stop is closed or the server closes the connection,
// reconnecting meanwhile.
func loadClient(url string, ask bool, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		conn, br, _, err := ws.Dialer{}.Dial(ctx, url)
		cancel()
		if err != nil {
			return // the server is gone
		}
		var r io.Reader = conn
		if br != nil {
			r = io.MultiReader(br, conn)
		}
		go func() { // reads and answers pings until the connection ends
			for {
				p, err := readText(conn, r)
				if err != nil {
					_ = conn.Close() // ends the writer below too
					return
				}
				_ = p // everything else is load, unchecked
			}
		}()
		done := loadWrites(conn, ask, stop)
		_ = conn.Close() // whichever side ended it
		if done {
			return
		}
	}
}

// loadWrites writes CONNECT, then events, until a write fails (false) or
// stop is closed (true).
func loadWrites(conn net.Conn, ask bool, stop <-chan struct{}) bool {
	if wsutil.WriteClientText(conn, []byte("40")) != nil {
		return false
	}
	var buf bytes.Buffer
	for n := 0; ; n++ {
		select {
		case <-stop:
			return true
		default:
		}
		buf.Reset()
		if ask && n%50 == 0 {
			buf.WriteString(`42["ask"]`)
		} else {
			fmt.Fprintf(&buf, `42%d["echo",%d,"load"]`, n, n)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(waitTimeout)) // a stuck write fails
		if wsutil.WriteClientText(conn, buf.Bytes()) != nil {
			return false
		}
	}
}

// goroutinesIn returns the stacks of the goroutines, other than the
// caller's, with a frame in the package whose qualified names start with
// prefix (its tests' frames excepted).
func goroutinesIn(prefix string) string {
	var out []string
	for i, g := range testutil.Stacks() {
		if i == 0 {
			continue // the caller
		}
		lines := strings.Split(g, "\n")
		for j := 1; j+1 < len(lines); j++ {
			// A frame is a function line and a file line; "created by"
			// lines are followed by a file line too.
			fn, file := lines[j], lines[j+1]
			if strings.Contains(fn, prefix) && !strings.Contains(file, "_test.go:") {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}
