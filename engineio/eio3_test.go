package engineio

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestV3EncodePayload(t *testing.T) {
	t.Parallel()
	text := func(s string) *Frame { return NewMessage([]byte(s), false) }
	bin := func(b ...byte) *Frame { return NewMessage(b, true) }
	tests := []struct {
		name       string
		frames     []*Frame
		binaryOK   bool
		want       []byte
		wantBinary bool
	}{
		{"one text packet", []*Frame{text("hello")}, true, []byte("6:4hello"), false},
		{"control packets", []*Frame{frameNoop, framePong}, true, []byte("1:61:3"), false},
		// JavaScript counts UTF-16 code units: é is one, 😀 (U+1F600) two.
		{"length in UTF-16 units", []*Frame{text("é😀")}, false, []byte("4:4é😀"), false},
		{"binary as base64 for a b64 client", []*Frame{text("a"), bin(1, 2, 3)}, false, []byte("2:4a6:b4AQID"), false},
		{"binary framing when the client supports it", []*Frame{text("é"), bin(0xff)}, true,
			// 0 (string), length 3 (the UTF-8 bytes of "4é"), 255, the
			// string; 1 (binary), length 2, 255, the type byte 4, the data.
			[]byte{0, 3, 0xff, '4', 0xc3, 0xa9, 1, 2, 0xff, 4, 0xff}, true},
		{"a length of two digits", []*Frame{bin(make([]byte, 11)...)}, true,
			append([]byte{1, 1, 2, 0xff, 4}, make([]byte, 11)...), true},
		{"text only keeps the string framing", []*Frame{text("x")}, true, []byte("2:4x"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, isBinary := encodeV3Payload(tt.frames, tt.binaryOK)
			if !bytes.Equal(got, tt.want) || isBinary != tt.wantBinary {
				t.Fatalf("encodeV3Payload = %q (binary %v), want %q (binary %v)", got, isBinary, tt.want, tt.wantBinary)
			}
		})
	}
}

func collect(decode func([]byte, func(packet) error) error, body []byte) ([]packet, error) {
	var out []packet
	err := decode(body, func(p packet) error { out = append(out, p); return nil })
	return out, err
}

func TestV3DecodePayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    []packet
		wantErr bool
	}{
		{"ping", "1:2", []packet{{typ: typePing, data: []byte{}}}, false},
		{"messages in order", "6:4hello2:4x", []packet{{typ: typeMessage, data: []byte("hello")}, {typ: typeMessage, data: []byte("x")}}, false},
		{"UTF-16 lengths", "4:4é😀1:2", []packet{{typ: typeMessage, data: []byte("é😀")}, {typ: typePing, data: []byte{}}}, false},
		{"base64 binary", "6:b4AQID", []packet{{typ: typeMessage, data: []byte{1, 2, 3}, binary: true}}, false},
		{"an empty record is skipped", "0:1:2", []packet{{typ: typePing, data: []byte{}}}, false},
		{"empty body", "", nil, true},
		{"no length", ":2", nil, true},
		{"not a number", "x:2", nil, true},
		{"record shorter than its length", "5:4ab", nil, true},
		{"a length that splits a surrogate pair", "2:4😀", nil, true},
		{"bad packet type", "1:9", nil, true},
		{"bad base64", "3:b4!", nil, true},
		{"base64 of another type", "4:b2AA", nil, true},
		{"overlong length", "9999999999:4", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := collect(decodeV3Payload, []byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrParse) {
					t.Fatalf("err = %v, want ErrParse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !packetsEqual(got, tt.want) {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

func packetsEqual(a, b []packet) bool {
	return slices.EqualFunc(a, b, func(x, y packet) bool {
		return x.typ == y.typ && x.binary == y.binary && bytes.Equal(x.data, y.data)
	})
}

func TestV3DecodeBinaryPayload(t *testing.T) {
	t.Parallel()
	// What the server encodes, a client sends the same way: the decoder
	// reads back every frame of a payload.
	frames := []*Frame{NewMessage([]byte("héllo"), false), NewMessage(bytes.Repeat([]byte{7}, 300), true), framePing}
	body, isBinary := encodeV3Payload(frames, true)
	if !isBinary {
		t.Fatal("payload with a binary frame not binary")
	}
	got, err := collect(decodeV3BinaryPayload, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []packet{{typ: typeMessage, data: []byte("héllo")}, {typ: typeMessage, data: bytes.Repeat([]byte{7}, 300), binary: true}, {typ: typePing, data: []byte{}}}
	if !packetsEqual(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}

	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"bad kind", []byte{2, 1, 0xff, '2'}},
		{"no length", []byte{0, 0xff, '2'}},
		{"length digit over 9", []byte{0, 10, 0xff, '2'}},
		{"no 255", []byte{0, 1}},
		{"length past the end", []byte{0, 5, 0xff, '4', 'a'}},
		{"binary of another type", []byte{1, 2, 0xff, 2, 0}},
		{"empty binary", []byte{1, 0, 0xff}},
		{"too many digits", append(append([]byte{0}, bytes.Repeat([]byte{1}, 10)...), 0xff, '4')},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := collect(decodeV3BinaryPayload, tt.body); !errors.Is(err, ErrParse) {
				t.Fatalf("err = %v, want ErrParse", err)
			}
		})
	}
}

func TestV3FrameWebSocketBytes(t *testing.T) {
	t.Parallel()
	f := NewMessage([]byte{1, 2}, true)
	if got, want := f.v3WSBytes(false), []byte{0x82, 3, 4, 1, 2}; !bytes.Equal(got, want) {
		t.Fatalf("binary frame = %v, want %v", got, want)
	}
	if got, want := f.v3WSBytes(true), append([]byte{0x81, 6}, "b4AQI="...); !bytes.Equal(got, want) {
		t.Fatalf("b64 frame = %q, want %q", got, want)
	}
	if got, want := f.wsBytes(), []byte{0x82, 2, 1, 2}; !bytes.Equal(got, want) {
		t.Fatalf("the v4 encoding changed: %v, want %v", got, want)
	}
	txt := NewMessage([]byte("hi"), false)
	if !bytes.Equal(txt.v3WSBytes(false), txt.wsBytes()) {
		t.Fatal("a text frame differs between v3 and v4")
	}
}

func TestV3HandshakeGate(t *testing.T) {
	t.Parallel()
	off := newEnv(t, Config{})
	status, _, body := off.httpDo(http.MethodGet, off.url("EIO=3&transport=polling"), nil, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, `"code":5`) {
		t.Fatalf("EIO=3 without AllowEIO3: %d %q, want 400 code 5", status, body)
	}
	if _, err := off.tryDialWS("EIO=3&transport=websocket"); err == nil {
		t.Fatal("EIO=3 WebSocket accepted without AllowEIO3")
	}
	if off.opened() != 0 {
		t.Fatalf("%d sessions opened", off.opened())
	}

	on := newEnv(t, Config{AllowEIO3: true})
	for _, v := range []string{"2", "5", ""} {
		if status, _, _ := on.httpDo(http.MethodGet, on.url("EIO="+v+"&transport=polling"), nil, nil); status != http.StatusBadRequest {
			t.Fatalf("EIO=%q with AllowEIO3: %d, want 400", v, status)
		}
	}
	c := openV3Polling(t, on, "")
	// A session keeps its protocol: a v4 request for a v3 session is
	// refused, and the other way round.
	if status, _, _ := on.httpDo(http.MethodGet, on.url("EIO=4&transport=polling&sid="+c.sid), nil, nil); status != http.StatusBadRequest {
		t.Fatalf("EIO=4 GET on a v3 session: %d, want 400", status)
	}
	v4 := on.openPolling()
	if status, _, _ := on.httpDo(http.MethodGet, on.url("EIO=3&transport=polling&sid="+v4.sid), nil, nil); status != http.StatusBadRequest {
		t.Fatalf("EIO=3 GET on a v4 session: %d, want 400", status)
	}
	if p := on.session(v4.sid).sess.Protocol(); p != 4 {
		t.Fatalf("v4 session Protocol() = %d", p)
	}
	if p := on.session(c.sid).sess.Protocol(); p != 3 {
		t.Fatalf("v3 session Protocol() = %d", p)
	}
}

// v3Poll is a raw v3 long-polling client.
type v3Poll struct {
	e     *env
	sid   string
	query string
}

func (c *v3Poll) url() string { return c.e.url("EIO=3&transport=polling&sid=" + c.sid + c.query) }

func (c *v3Poll) get() (int, http.Header, string) {
	c.e.t.Helper()
	return c.e.httpDo(http.MethodGet, c.url(), nil, nil)
}

func (c *v3Poll) post(body []byte, contentType string) int {
	c.e.t.Helper()
	status, _, _ := c.e.httpDo(http.MethodPost, c.url(), bytes.NewReader(body), http.Header{"Content-Type": {contentType}})
	return status
}

// openV3Polling performs a v3 polling handshake with the extra query.
func openV3Polling(t *testing.T, e *env, query string) *v3Poll {
	t.Helper()
	status, _, body := e.httpDo(http.MethodGet, e.url("EIO=3&transport=polling"+query), nil, nil)
	got, err := collect(decodeV3Payload, []byte(body))
	if status != http.StatusOK || err != nil || len(got) != 1 || got[0].typ != typeOpen {
		t.Fatalf("v3 handshake: %d %q (%v)", status, body, err)
	}
	var hs handshakeInfo
	if err := json.Unmarshal(got[0].data, &hs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hs.Upgrades, []string{"websocket"}) || hs.PingInterval == 0 {
		t.Fatalf("open packet %+v", hs)
	}
	return &v3Poll{e: e, sid: hs.SID, query: query}
}

func TestV3Polling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{AllowEIO3: true})
	c := openV3Polling(t, e, "")
	r := e.session(c.sid)

	// Client to server, both framings.
	if status := c.post([]byte("6:4hello6:b4AQID"), "text/plain;charset=UTF-8"); status != http.StatusOK {
		t.Fatalf("string POST %d", status)
	}
	bin, _ := encodeV3Payload([]*Frame{NewMessage([]byte("x"), false), NewMessage([]byte{9}, true)}, true)
	if status := c.post(bin, "application/octet-stream"); status != http.StatusOK {
		t.Fatalf("binary POST %d", status)
	}
	got := textMessages(r.waitMessages(t, 4))
	if want := []string{"hello", "b:\x01\x02\x03", "x", "b:\x09"}; !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}

	// Server to client: text only is a string payload; with a binary frame
	// the binary payload.
	mustSend(t, r.sess, "a")
	if _, h, body := c.get(); body != "2:4a" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET = %q (%s), want 2:4a", body, h.Get("Content-Type"))
	}
	mustSend(t, r.sess, "b")
	if err := r.sess.Send(NewMessage([]byte{5}, true)); err != nil {
		t.Fatal(err)
	}
	_, h, body := c.get()
	if want := string([]byte{0, 2, 0xff, '4', 'b', 1, 2, 0xff, 4, 5}); body != want || h.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET = %q (%s), want %q", body, h.Get("Content-Type"), want)
	}

	// A broken payload closes the session, as in v4.
	c.post([]byte("9:4"), "text/plain") // answered ok or 400, as the close lands
	if reason := r.waitClose(t); reason != ReasonParseError {
		t.Fatalf("close reason %q, want %q", reason, ReasonParseError)
	}
}

func TestV3PollingBase64Client(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{AllowEIO3: true})
	c := openV3Polling(t, e, "&b64=1")
	r := e.session(c.sid)
	if err := r.sess.Send(NewMessage([]byte{1, 2, 3}, true)); err != nil {
		t.Fatal(err)
	}
	if _, h, body := c.get(); body != "6:b4AQID" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET = %q (%s), want 6:b4AQID", body, h.Get("Content-Type"))
	}
}

func TestV3HeartbeatIsTheClients(t *testing.T) {
	t.Parallel()
	const interval, timeout = 150 * time.Millisecond, 150 * time.Millisecond
	e := newEnv(t, Config{AllowEIO3: true, PingInterval: interval, PingTimeout: timeout})
	c := openV3Polling(t, e, "")
	r := e.session(c.sid)
	// The client pings, as engine.io-client 3.x does every pingInterval,
	// for well over the server's PingInterval+PingTimeout; each ping gets
	// its pong and the session stays open. The server itself never pings.
	// The ticker is the client's ping timer, not synchronisation.
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	start := time.Now()
	for time.Since(start) < 5*(interval+timeout)/2 {
		<-tick.C
		if status := c.post([]byte("1:2"), "text/plain"); status != http.StatusOK {
			t.Fatalf("ping POST %d", status)
		}
		if _, _, body := c.get(); body != "1:3" {
			t.Fatalf("GET after a ping = %q, want the pong 1:3", body)
		}
		if r.isClosed() {
			t.Fatalf("session closed while the client pinged: %s", r.reason)
		}
	}
	// Pings stop: the session closes after PingInterval+PingTimeout.
	stopped := time.Now()
	if reason := r.waitClose(t); reason != ReasonPingTimeout {
		t.Fatalf("close reason %q, want %q", reason, ReasonPingTimeout)
	}
	if d := time.Since(stopped); d < interval+timeout-10*time.Millisecond {
		t.Fatalf("closed %v after the last ping, before PingInterval+PingTimeout", d)
	}
}

func TestV3PongFromClientCloses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{AllowEIO3: true})
	c := openV3Polling(t, e, "")
	r := e.session(c.sid)
	c.post([]byte("1:3"), "text/plain") // answered before or after the close
	if reason := r.waitClose(t); reason != ReasonTransportError {
		t.Fatalf("close reason %q, want %q (invalid heartbeat direction)", reason, ReasonTransportError)
	}
}

func TestV3WebSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{AllowEIO3: true})
	for _, b64 := range []bool{false, true} {
		query := "EIO=3&transport=websocket"
		if b64 {
			query += "&b64=1"
		}
		c := e.dialWS(query)
		if msg := c.readText(); !strings.HasPrefix(msg, `0{"sid":`) {
			t.Fatalf("open packet %q", msg)
		}
		e.mu.Lock()
		r := e.order[len(e.order)-1] // OnSession ran before the open packet went out
		e.mu.Unlock()

		c.sendText("2")
		if msg := c.readText(); msg != "3" {
			t.Fatalf("answer to a ping = %q, want 3", msg)
		}
		c.sendBinary([]byte{4, 0xaa})
		c.sendText("b4uw==")
		got := textMessages(r.waitMessages(t, 2))
		if want := []string{"b:\xaa", "b:\xbb"}; !slices.Equal(got, want) {
			t.Fatalf("received %q, want %q", got, want)
		}
		if err := r.sess.Send(NewMessage([]byte{0xcc}, true)); err != nil {
			t.Fatal(err)
		}
		op, p, err := c.read(waitTimeout)
		switch {
		case err != nil:
			t.Fatal(err)
		case b64 && (op != ws.OpText || string(p) != "b4zA=="):
			t.Fatalf("b64 binary message = %v %q, want text b4zA==", op, p)
		case !b64 && (op != ws.OpBinary || !bytes.Equal(p, []byte{4, 0xcc})):
			t.Fatalf("binary message = %v %v, want binary [4 204]", op, p)
		}
		c.sendBinary([]byte{2}) // not a message type
		if reason := r.waitClose(t); reason != ReasonParseError {
			t.Fatalf("close reason %q, want %q", reason, ReasonParseError)
		}
	}
}

func TestV3Upgrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{AllowEIO3: true})
	c := openV3Polling(t, e, "")
	r := e.session(c.sid)
	if _, err := e.tryDialWS("EIO=4&transport=websocket&sid=" + c.sid); err == nil {
		t.Fatal("a v4 upgrade of a v3 session was accepted")
	}
	w := e.dialWS("EIO=3&transport=websocket&sid=" + c.sid)
	w.sendText("2probe")
	if msg := w.readText(); msg != "3probe" {
		t.Fatalf("probe answer %q", msg)
	}
	if _, _, body := c.get(); body != "1:6" {
		t.Fatalf("GET during the upgrade = %q, want the noop 1:6", body)
	}
	w.sendText("5")
	waitFor(t, "upgrade", func() bool { return r.sess.Transport() == "websocket" })
	if err := r.sess.Send(NewMessage([]byte{1}, true)); err != nil {
		t.Fatal(err)
	}
	if op, p, err := w.read(waitTimeout); err != nil || op != ws.OpBinary || !bytes.Equal(p, []byte{4, 1}) {
		t.Fatalf("after the upgrade: %v %v %v, want binary [4 1]", op, p, err)
	}
	w.sendText("2")
	if msg := w.readText(); msg != "3" {
		t.Fatalf("ping over the upgraded WebSocket answered %q", msg)
	}
}
