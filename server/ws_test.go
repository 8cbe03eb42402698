package server_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/asyncapi"
	"github.com/parley-rt/parley/server"
)

// wsFrame is one frame of /ws, either direction.
type wsFrame struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	ID   *int64          `json:"id,omitempty"`
}

// wsClient is a plain WebSocket client of /ws, as a browser's WebSocket
// would be: JSON text frames, no Socket.IO.
type wsClient struct {
	t  *testing.T
	nc net.Conn
	rw io.ReadWriter // reads from what the handshake buffered first
}

// dialWS opens /ws with the query (e.g. "userId=a&name=A").
func dialWS(t *testing.T, base, query string) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws?" + query
	nc, br, _, err := ws.Dial(waitCtx(t), u)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	var r io.Reader = nc
	if br != nil { // frames that came with the 101 response
		r = io.MultiReader(br, nc)
	}
	return &wsClient{t: t, nc: nc, rw: struct {
		io.Reader
		io.Writer
	}{r, nc}}
}

func (c *wsClient) send(raw string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.nc, []byte(raw)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads frames until one of type typ arrives (others are skipped),
// within the test's deadline.
func (c *wsClient) next(typ string) wsFrame {
	c.t.Helper()
	for {
		f, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for a %q frame: %v", typ, err)
		}
		if f.Type == typ {
			return f
		}
	}
}

func (c *wsClient) read() (wsFrame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := wsutil.ReadServerText(c.rw)
	if err != nil {
		return wsFrame{}, err
	}
	var f wsFrame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("frame %s: %v", b, err)
	}
	return f, nil
}

// closeCode reads until the server closes, and returns the close code.
func (c *wsClient) closeCode() ws.StatusCode {
	c.t.Helper()
	for {
		_, err := c.read()
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			c.t.Fatalf("want a close frame, got %v", err)
		}
	}
}

// wsResult is the data of an ack frame: the event's Result.
type wsResult struct {
	OK    bool            `json:"ok"`
	Data  json.RawMessage `json:"data"`
	Error *events.Error   `json:"error"`
}

// ack sends the event with id and returns the ack's Result.
func (c *wsClient) ack(typ string, id int64, data string) wsResult {
	c.t.Helper()
	c.send(`{"type":"` + typ + `","id":` + itoa(id) + `,"data":` + data + `}`)
	f := c.next("ack")
	if f.ID == nil || *f.ID != id {
		c.t.Fatalf("ack for %s: id %v, want %d", typ, f.ID, id)
	}
	var r wsResult
	if err := json.Unmarshal(f.Data, &r); err != nil {
		c.t.Fatalf("ack data %s: %v", f.Data, err)
	}
	return r
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestWSChatWithSocketIOUser(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	alice := dialWS(t, ts.URL, "userId=alice&name=Alice")
	info := alice.next("info")
	var who struct {
		UserID   string `json:"userId"`
		Name     string `json:"name"`
		Protocol int    `json:"protocol"`
	}
	if err := json.Unmarshal(info.Data, &who); err != nil || who.UserID != "alice" || who.Name != "Alice" || who.Protocol != events.ContractVersion {
		t.Fatalf("info %s (%v)", info.Data, err)
	}
	if r := alice.ack("joinRoom", 1, `{"room":"lobby"}`); !r.OK {
		t.Fatalf("joinRoom: %+v", r.Error)
	}
	bob := mustDial(t, ts.URL, "/chat", map[string]string{"userId": "bob", "name": "Bob"})
	bob.call("joinRoom", map[string]string{"room": "lobby"})
	var joined events.RoomUser
	if f := alice.next("userJoined"); json.Unmarshal(f.Data, &joined) != nil || joined.User.ID != "bob" {
		t.Fatalf("userJoined %s", f.Data)
	}

	// socket.io -> /ws
	bob.call("chatMessage", map[string]string{"room": "lobby", "content": "hi from socket.io"})
	var m events.ChatMessage
	if f := alice.next("newChatMessage"); json.Unmarshal(f.Data, &m) != nil || m.Content != "hi from socket.io" || m.Sender.ID != "bob" {
		t.Fatalf("newChatMessage %s", f.Data)
	}
	// /ws -> socket.io, acked with the stored message
	r := alice.ack("chatMessage", 2, `{"room":"lobby","content":"hi from /ws","clientMsgId":"w1"}`)
	var mine events.ChatMessage
	if !r.OK || json.Unmarshal(r.Data, &mine) != nil || mine.ID == "" || mine.ClientMsgID != "w1" {
		t.Fatalf("chatMessage ack %+v", r)
	}
	var got events.ChatMessage
	bob.next(waitCtx(t), "newChatMessage", &got)
	if got.ID != mine.ID || got.Content != "hi from /ws" || got.Sender.ID != "alice" {
		t.Fatalf("bob got %+v, want %+v", got, mine)
	}
	// history has both, in order
	r = alice.ack("fetchHistory", 3, `{"room":"lobby"}`)
	var page events.FetchHistoryResult
	if !r.OK || json.Unmarshal(r.Data, &page) != nil || len(page.Messages) != 2 || page.Messages[1].ID != mine.ID {
		t.Fatalf("fetchHistory %+v", r)
	}
}

func TestWSBadFramesKeepTheConnection(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{MaxHTTPBufferSize: 4096})
	c := dialWS(t, ts.URL, "userId=carol&name=Carol")
	c.next("info")
	for _, tc := range []struct {
		frame string
		code  events.Code
		id    bool
	}{
		{`not json`, events.CodeBadRequest, false},
		{`[1,2]`, events.CodeBadRequest, false},
		{`{"type":"joinRoom","id":-1,"data":{"room":"a"}}`, events.CodeBadRequest, false},
		{`{"type":"nope","id":7,"data":{}}`, events.CodeNotFound, true},
	} {
		c.send(tc.frame)
		f := c.next("error")
		var e events.Error
		if err := json.Unmarshal(f.Data, &e); err != nil || e.Code != tc.code || (f.ID != nil) != tc.id {
			t.Errorf("%s: error frame %s id %v, want code %s", tc.frame, f.Data, f.ID, tc.code)
		}
	}
	// A known event with a bad payload gets its ok:false ack.
	if r := c.ack("joinRoom", 8, `{"room":"no spaces allowed"}`); r.OK || r.Error == nil || r.Error.Code != events.CodeBadRequest {
		t.Fatalf("bad joinRoom: %+v", r)
	}
	// Still serving.
	if r := c.ack("joinRoom", 9, `{"room":"ok"}`); !r.OK {
		t.Fatalf("joinRoom after bad frames: %+v", r.Error)
	}
	// One byte over the limit closes with 1009.
	c.send(`{"type":"typing","data":"` + strings.Repeat("x", 4096) + `"}`)
	if code := c.closeCode(); code != ws.StatusMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
}

func TestWSRefusedTokenGetsNoInfo(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret})
	bad := dialWS(t, ts.URL, "token=not-a-token")
	f, err := bad.read()
	if err != nil || f.Type != "error" {
		t.Fatalf("first frame %+v (%v), want error", f, err)
	}
	var e events.Error
	if json.Unmarshal(f.Data, &e) != nil || e.Code != events.CodeUnauthorized {
		t.Fatalf("error %s", f.Data)
	}
	if f, err := bad.read(); err == nil {
		t.Fatalf("a second frame after the refusal: %+v", f)
	} else if ce := (wsutil.ClosedError{}); !errors.As(err, &ce) || ce.Code != ws.StatusPolicyViolation {
		t.Fatalf("after the refusal: %v, want close 1008", err)
	}
	// Without a token, a server with a secret is not in dev mode.
	anon := dialWS(t, ts.URL, "userId=x&name=X")
	if f, _ := anon.read(); f.Type != "error" {
		t.Fatalf("dev identity on a server with a secret: %+v", f)
	}

	good := dialWS(t, ts.URL, "token="+url.QueryEscape(hs256(t, secret, claims("dave", time.Hour, nil))))
	var who struct {
		UserID string `json:"userId"`
	}
	if f := good.next("info"); json.Unmarshal(f.Data, &who) != nil || who.UserID != "dave" {
		t.Fatalf("info %s", f.Data)
	}
}

func TestWSPresence(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	watcher := dialWS(t, ts.URL, "userId=w&name=W")
	watcher.next("info")
	r := watcher.ack("subscribe", 1, `{"userIds":["erin"]}`)
	var snap events.PresenceSnapshot
	if !r.OK || json.Unmarshal(r.Data, &snap) != nil {
		t.Fatalf("subscribe %+v", r)
	}
	// erin over /ws counts as one connection: she shows up online.
	erin := dialWS(t, ts.URL, "userId=erin&name=Erin")
	erin.next("info")
	var st events.PresenceState
	for st.Status != events.StatusOnline {
		f := watcher.next("status")
		if err := json.Unmarshal(f.Data, &st); err != nil || st.UserID != "erin" {
			t.Fatalf("status %s", f.Data)
		}
	}
	if r := erin.ack("setStatus", 2, `{"status":"busy"}`); !r.OK {
		t.Fatalf("setStatus %+v", r.Error)
	}
	for st.Status != events.StatusBusy {
		if err := json.Unmarshal(watcher.next("status").Data, &st); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAsyncAPIDocumentIsServed(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	code, body, hdr := do(t, "GET", ts.URL+"/asyncapi.json", "", "")
	want, err := asyncapi.Document()
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 || body != string(want) || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /asyncapi.json: %d %s, %d bytes (want %d)", code, hdr.Get("Content-Type"), len(body), len(want))
	}
}
