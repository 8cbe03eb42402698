package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/server"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	event, id, data string
	retry           string
}

// sseConn reads a text/event-stream response on its own goroutine.
type sseConn struct {
	res      *http.Response
	cancel   context.CancelFunc
	events   chan sseEvent
	comments chan string
	done     chan struct{} // closed when the stream ended
}

// openSSE opens url with the header pairs; the stream is closed at cleanup.
func openSSE(t *testing.T, url string, hdr ...string) (*sseConn, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &sseConn{res: res, cancel: cancel, events: make(chan sseEvent, 1024), comments: make(chan string, 1024), done: make(chan struct{})}
	t.Cleanup(s.close)
	if res.StatusCode != http.StatusOK {
		close(s.done)
		return s, nil
	}
	go s.read()
	return s, nil
}

func mustOpenSSE(t *testing.T, url string, hdr ...string) *sseConn {
	t.Helper()
	s, err := openSSE(t, url, hdr...)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if s.res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, s.res.StatusCode)
	}
	return s
}

func (s *sseConn) read() {
	defer close(s.done)
	sc := bufio.NewScanner(s.res.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			s.comments <- strings.TrimSpace(line[1:])
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				ev.event = value
			case "id":
				ev.id = value
			case "data":
				ev.data = value
			case "retry":
				ev.retry = value
			}
		}
	}
}

func (s *sseConn) close() {
	s.cancel()
	s.res.Body.Close()
	<-s.done
}

func (s *sseConn) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no SSE event within 5s")
		return sseEvent{}
	}
}

// nextNamed skips events until one named name.
func (s *sseConn) nextNamed(t *testing.T, name string) sseEvent {
	t.Helper()
	for {
		if ev := s.next(t); ev.event == name {
			return ev
		}
	}
}

// publish posts a message through the HTTP API (key "k") and returns it.
func publish(t *testing.T, base, room, content string) events.ChatMessage {
	t.Helper()
	m, err := tryPublish(base, room, content)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tryPublish is publish for goroutines other than the test's.
func tryPublish(base, room, content string) (events.ChatMessage, error) {
	body := fmt.Sprintf(`{"content":%q,"sender":{"id":"sys","name":"System"}}`, content)
	req, err := http.NewRequest("POST", base+"/api/rooms/"+room+"/messages", strings.NewReader(body))
	if err != nil {
		return events.ChatMessage{}, err
	}
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return events.ChatMessage{}, err
	}
	defer res.Body.Close()
	var m events.ChatMessage
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 201 {
		return m, fmt.Errorf("publish = %d: %v", res.StatusCode, err)
	}
	return m, nil
}

func TestSSERoomStream(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{APIKey: "k", SSEHeartbeat: 30 * time.Millisecond, SSERetry: 1500 * time.Millisecond})
	s := mustOpenSSE(t, ts.URL+"/sse/rooms/lobby", "Origin", "http://localhost:5173")
	h := s.res.Header
	if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" ||
		h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Fatalf("headers %v", h)
	}
	if ev := s.next(t); ev.retry != "1500" {
		t.Fatalf("first event %+v, want the retry hint", ev)
	}
	// Heartbeats keep an idle stream open.
	select {
	case c := <-s.comments:
		if c != "heartbeat" {
			t.Fatalf("comment %q", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat")
	}

	m := publish(t, ts.URL, "lobby", "hello")
	ev := s.next(t)
	want, _ := json.Marshal(m)
	if ev.event != "newChatMessage" || ev.id != m.ID || ev.data != string(want) {
		t.Fatalf("event %+v, want newChatMessage %s", ev, want)
	}
	publish(t, ts.URL, "elsewhere", "not for lobby")

	// Socket.IO traffic of the room reaches the stream in the same shapes.
	bob := mustDial(t, ts.URL, "/chat", devAuth("bob"))
	bob.callInto("joinRoom", events.JoinRoomRequest{Room: "lobby"}, nil)
	ev = s.next(t)
	if ev.event != "userJoined" || ev.id != "" || ev.data != `{"room":"lobby","user":{"id":"bob","name":"Name bob"}}` {
		t.Fatalf("event %+v, want userJoined", ev)
	}
	var sent events.ChatMessage
	bob.callInto("chatMessage", events.ChatMessageRequest{Room: "lobby", Content: "from a socket"}, &sent)
	if ev = s.next(t); ev.event != "newChatMessage" || ev.id != sent.ID {
		t.Fatalf("event %+v, want bob's message %s", ev, sent.ID)
	}
	bob.callInto("leaveRoom", events.LeaveRoomRequest{Room: "lobby"}, nil)
	if ev = s.next(t); ev.event != "userLeft" || ev.data != `{"room":"lobby","user":{"id":"bob","name":"Name bob"}}` {
		t.Fatalf("event %+v, want userLeft", ev)
	}
	// typing is not streamed, and nothing of other rooms was.
	select {
	case ev := <-s.events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func TestSSEResume(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{APIKey: "k"})
	var ids []string
	for i := range 5 {
		ids = append(ids, publish(t, ts.URL, "r", fmt.Sprint("m", i)).ID)
	}
	read := func(s *sseConn, n int) []string {
		var got []string
		for len(got) < n {
			if ev := s.next(t); ev.event == "newChatMessage" {
				got = append(got, ev.id)
			}
		}
		return got
	}
	s := mustOpenSSE(t, ts.URL+"/sse/rooms/r", "Last-Event-ID", ids[1])
	if got := read(s, 3); !slices.Equal(got, ids[2:]) {
		t.Fatalf("replay %v, want %v", got, ids[2:])
	}
	ids = append(ids, publish(t, ts.URL, "r", "live").ID)
	if got := read(s, 1); got[0] != ids[5] {
		t.Fatalf("live %v, want %s", got, ids[5])
	}
	s2 := mustOpenSSE(t, ts.URL+"/sse/rooms/r?lastEventId="+ids[3])
	if got := read(s2, 2); !slices.Equal(got, ids[4:]) {
		t.Fatalf("?lastEventId replay %v, want %v", got, ids[4:])
	}
	// The header wins over the query, as a reconnecting EventSource keeps
	// its original URL.
	s3 := mustOpenSSE(t, ts.URL+"/sse/rooms/r?lastEventId="+ids[0], "Last-Event-ID", ids[4])
	if got := read(s3, 1); got[0] != ids[5] {
		t.Fatalf("header replay %v, want %s", got, ids[5])
	}

	for _, c := range []struct {
		url  string
		code int
	}{
		{"/sse/rooms/r?lastEventId=01900000-0000-7000-8000-000000000000", 400},
		{"/sse/rooms/other?lastEventId=" + ids[0], 400},
		{"/sse/rooms/bad%20room", 400},
	} {
		s, err := openSSE(t, ts.URL+c.url)
		if err != nil || s.res.StatusCode != c.code {
			t.Errorf("%s: %v %v, want %d", c.url, s.res.StatusCode, err, c.code)
		}
	}
}

// TestSSEResumeWhileMessagesFlow reconnects a reader again and again with
// Last-Event-ID while two publishers post concurrently: the reader must see
// every message exactly once, in id (commit) order.
func TestSSEResumeWhileMessagesFlow(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{APIKey: "k"})
	const perPublisher = 40
	var (
		mu        sync.Mutex
		published []string
		wg        sync.WaitGroup
	)
	var got []string
	last := ""
	s := mustOpenSSE(t, ts.URL+"/sse/rooms/flow") // live from here
	s.next(t)                                     // retry
	for p := range 2 {
		wg.Go(func() {
			for i := range perPublisher {
				m, err := tryPublish(ts.URL, "flow", fmt.Sprintf("p%d-%d", p, i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				published = append(published, m.ID)
				mu.Unlock()
			}
		})
	}
	for rounds := 0; len(got) < 2*perPublisher; rounds++ {
		if rounds > 500 {
			t.Fatalf("no progress: %d of %d", len(got), 2*perPublisher)
		}
		if rounds > 0 {
			s = mustOpenSSE(t, ts.URL+"/sse/rooms/flow", "Last-Event-ID", last)
		}
		// Read a few events, then drop the connection mid-stream.
		for n := 0; n < 7 && len(got) < 2*perPublisher; {
			ev := s.next(t)
			if ev.event != "newChatMessage" {
				continue
			}
			got = append(got, ev.id)
			last = ev.id
			n++
		}
		s.close()
	}
	wg.Wait()
	want := slices.Clone(published)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read %d ids, want the %d published, in order, once each\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

func TestSSEPresence(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{PresenceGrace: -1})
	carol := mustDial(t, ts.URL, "/chat", devAuth("carol"))
	carol.callInto("joinRoom", events.JoinRoomRequest{Room: "general"}, nil)

	s := mustOpenSSE(t, ts.URL+"/sse/presence?userIds=bob,bob&rooms=general")
	s.next(t) // retry
	var snap []events.PresenceState
	for range 2 {
		ev := s.next(t)
		var st events.PresenceState
		if ev.event != "status" || json.Unmarshal([]byte(ev.data), &st) != nil {
			t.Fatalf("snapshot event %+v", ev)
		}
		snap = append(snap, st)
	}
	if snap[0].UserID != "bob" || snap[0].IsOnline || snap[1].UserID != "carol" || !snap[1].IsOnline {
		t.Fatalf("snapshot %+v", snap)
	}
	bob := mustDial(t, ts.URL, "/presence", devAuth("bob"))
	var st events.PresenceState
	if ev := s.nextNamed(t, "status"); json.Unmarshal([]byte(ev.data), &st) != nil || st.UserID != "bob" || !st.IsOnline {
		t.Fatalf("after bob connected %+v", ev)
	}
	bob.close()
	if ev := s.nextNamed(t, "status"); json.Unmarshal([]byte(ev.data), &st) != nil || st.UserID != "bob" || st.IsOnline {
		t.Fatalf("after bob left %+v", ev)
	}

	for _, url := range []string{
		"/sse/presence?rooms=bad%20room",
		"/sse/presence?userIds=" + strings.Repeat("x", events.MaxUserIDChars+1),
	} {
		s, err := openSSE(t, ts.URL+url)
		if err != nil || s.res.StatusCode != 400 {
			t.Errorf("%s: %v %v, want 400", url, s.res.StatusCode, err)
		}
	}
}

// TestShutdownEndsSSEStreams checks that Shutdown does not wait for open
// streams until its deadline: they end when it starts.
func TestShutdownEndsSSEStreams(t *testing.T) {
	t.Parallel()
	srv, err := server.New(server.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	room := mustOpenSSE(t, base+"/sse/rooms/lobby")
	pres := mustOpenSSE(t, base+"/sse/presence?userIds=bob")
	room.next(t)
	pres.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	for _, s := range []*sseConn{room, pres} {
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Fatal("a stream outlived Shutdown")
		}
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}
