package wsapi

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/parley-rt/parley/socketio"
)

func TestEventPacketDecodesAsSocketIO(t *testing.T) {
	t.Parallel()
	id := int64(42)
	for _, tc := range []struct {
		nsp  string
		id   *int64
		data string
		want string
	}{
		{"/chat", &id, `{"room":"a"}`, `2/chat,42["joinRoom",{"room":"a"}]`},
		{"/presence", nil, `{"status":"busy"}`, `2/presence,["joinRoom",{"status":"busy"}]`},
		{"/chat", nil, ``, `2/chat,["joinRoom"]`},
	} {
		b := eventPacket(tc.nsp, tc.id, "joinRoom", json.RawMessage(tc.data))
		if string(b) != tc.want {
			t.Errorf("eventPacket = %s, want %s", b, tc.want)
		}
		p, err := socketio.Decode(b)
		if err != nil || p.Type != socketio.PacketEvent || p.Nsp != tc.nsp {
			t.Errorf("%s decodes as %+v, %v", b, p, err)
		}
	}
}

func TestConnectAuth(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]string{
		"token=a.b.c&userId=x":   `{"token":"a.b.c"}`,
		"userId=al%22ice&name=A": `{"name":"A","userId":"al\"ice"}`,
		"":                       `{}`,
	} {
		v, _ := url.ParseQuery(q)
		if got := string(connectAuth(v)); got != want {
			t.Errorf("connectAuth(%q) = %s, want %s", q, got, want)
		}
	}
}

func TestFrames(t *testing.T) {
	t.Parallel()
	if got := string(eventFrame("status", []byte(`{"a":1}`))); got != `{"type":"status","data":{"a":1}}` {
		t.Errorf("eventFrame = %s", got)
	}
	if got := string(eventFrame("x", nil)); got != `{"type":"x","data":null}` {
		t.Errorf("eventFrame without data = %s", got)
	}
	if got := string(ackFrame(7, []byte(`{"ok":true}`))); got != `{"type":"ack","id":7,"data":{"ok":true}}` {
		t.Errorf("ackFrame = %s", got)
	}
	id := int64(3)
	var e struct {
		Type string `json:"type"`
		Data struct{ Code, Message string }
		ID   *int64 `json:"id"`
	}
	if err := json.Unmarshal(errorFrame("not_found", `unknown type "x"`, &id), &e); err != nil || e.Type != "error" || e.Data.Code != "not_found" || *e.ID != 3 {
		t.Errorf("errorFrame = %+v, %v", e, err)
	}
}
