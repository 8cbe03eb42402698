//go:build linux

package engineio

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// TestNetpollIdleWebSocketsHoldNoGoroutine: open WebSocket sessions that
// are idle hold no reader goroutine on Linux.
func TestNetpollIdleWebSocketsHoldNoGoroutine(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	e := newEnv(t, Config{})
	c0, _ := e.openWS() // starts the poller
	c0.sendText("4warm")
	before := runtime.NumGoroutine()
	const n = 20
	for range n {
		c, hs := e.openWS()
		c.sendText("4hi")
		e.session(hs.SID).waitMessages(t, 1)
	}
	// The writers of the open packets end once their queues are empty.
	var extra int
	waitFor(t, "idle sessions' goroutines to end", func() bool {
		extra = runtime.NumGoroutine() - before
		return extra < n/2
	})
	if e.srv.np.err != nil {
		t.Fatalf("netpoller did not start: %v", e.srv.np.err)
	}
}

// TestNetpollSplitAndLargeMessages: frames that arrive a few bytes at a
// time, a message larger than the poller's read buffer, and control frames
// between them, are all delivered whole and in order.
func TestNetpollSplitAndLargeMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	c, hs := e.openWS()
	r := e.session(hs.SID)
	big := "4" + strings.Repeat("x", 3*pollReadSize+17)

	// One masked frame written in pieces: header bytes first, then the rest.
	frame := ws.MaskFrameInPlace(ws.NewTextFrame([]byte("4split")))
	raw, err := ws.CompileFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range [][]byte{raw[:1], raw[1:3], raw[3:7], raw[7:]} {
		if _, err := c.conn.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	c.sendText(big)
	if err := c.write(ws.OpPing, true, []byte("p")); err != nil {
		t.Fatal(err)
	}
	c.sendText("4after")
	got := textMessages(r.waitMessages(t, 3))
	if want := []string{"split", big[1:], "after"}; !slices.Equal(got, want) {
		t.Fatalf("received %d messages %.40q, want split, %d bytes, after", len(got), got, len(big)-1)
	}
}

func TestParseHeaderPartial(t *testing.T) {
	t.Parallel()
	full, err := ws.CompileFrame(ws.MaskFrameInPlace(ws.NewTextFrame(make([]byte, 70000))))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 14 {
		h, n, ok, err := parseHeader(full[:i])
		if err != nil || ok != (i >= 14) {
			t.Fatalf("parseHeader of %d bytes: ok %v err %v", i, ok, err)
		}
		_, _ = h, n
	}
	h, n, ok, err := parseHeader(full)
	if err != nil || !ok || n != 14 || h.length != 70000 || !h.masked || !h.fin || h.op != opText {
		t.Fatalf("parseHeader = %+v, %d, %v, %v", h, n, ok, err)
	}
	if _, _, _, err := parseHeader([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}); err != errProtocol {
		t.Fatalf("a length with the top bit set: %v, want errProtocol", err)
	}
}
