package socketio

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestV3Namespace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		packet   string
		wantNsp  string
		wantAuth string // "" for none
	}{
		{"0/chat?token=abc&userId=u%201,", "/chat", `{"token":"abc","userId":"u 1"}`},
		{"0/chat,", "/chat", `{}`},
		{"0/chat?a=1&a=2", "/chat", `{"a":"2"}`},
		{"2/chat?x=y,[\"ev\"]", "/chat", ""},
		{"2[\"ev\"]", "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.packet, func(t *testing.T) {
			t.Parallel()
			p, err := Decode([]byte(tt.packet))
			if err != nil {
				t.Fatal(err)
			}
			auth := v3Namespace(p)
			if p.Nsp != tt.wantNsp || string(auth) != tt.wantAuth {
				t.Fatalf("nsp %q auth %s, want %q %s", p.Nsp, auth, tt.wantNsp, tt.wantAuth)
			}
		})
	}
}

func TestV3ConnectError(t *testing.T) {
	t.Parallel()
	plain := errors.New("nope")
	withData := &ConnectError{Message: "unauthorized", Data: map[string]string{"code": "unauthorized"}}
	for _, tt := range []struct {
		v3   bool
		err  error
		want string
	}{
		{true, plain, `"nope"`},
		{true, withData, `{"code":"unauthorized"}`},
		{false, withData, `{"data":{"code":"unauthorized"},"message":"unauthorized"}`},
	} {
		b, err := json.Marshal(connectErrorData(tt.v3, tt.err))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != tt.want {
			t.Errorf("connectErrorData(v3 %v, %v) = %s, want %s", tt.v3, tt.err, got, tt.want)
		}
	}
	if got := v3SocketID("/", "abc"); got != "abc" {
		t.Errorf("v3SocketID / = %q", got)
	}
	if got := v3SocketID("/chat", "abc"); got != "/chat#abc" {
		t.Errorf("v3SocketID /chat = %q", got)
	}
}
