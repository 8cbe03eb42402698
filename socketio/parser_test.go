package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in          string
		typ         PacketType
		nsp         string
		id          int64
		data        string // "" means nil
		attachments int
	}{
		{in: "0", typ: PacketConnect, nsp: "/", id: -1},
		{in: `0{"token":"x"}`, typ: PacketConnect, nsp: "/", id: -1, data: `{"token":"x"}`},
		{in: "0/chat,", typ: PacketConnect, nsp: "/chat", id: -1},
		{in: "0/chat", typ: PacketConnect, nsp: "/chat", id: -1},
		{in: `0/chat,{"token":"x"}`, typ: PacketConnect, nsp: "/chat", id: -1, data: `{"token":"x"}`},
		{in: `0/a/b?x=1,{}`, typ: PacketConnect, nsp: "/a/b?x=1", id: -1, data: `{}`},
		{in: "1", typ: PacketDisconnect, nsp: "/", id: -1},
		{in: "1/chat,", typ: PacketDisconnect, nsp: "/chat", id: -1},
		{in: `2["message",1,"two"]`, typ: PacketEvent, nsp: "/", id: -1, data: `["message",1,"two"]`},
		{in: `2/chat,["m"]`, typ: PacketEvent, nsp: "/chat", id: -1, data: `["m"]`},
		{in: `212["m"]`, typ: PacketEvent, nsp: "/", id: 12, data: `["m"]`},
		{in: `2/chat,0["m"]`, typ: PacketEvent, nsp: "/chat", id: 0, data: `["m"]`},
		{in: `2[1,"numeric name"]`, typ: PacketEvent, nsp: "/", id: -1, data: `[1,"numeric name"]`},
		{in: `2[-1]`, typ: PacketEvent, nsp: "/", id: -1, data: `[-1]`},
		{in: `2 [ "m" ]`, typ: PacketEvent, nsp: "/", id: -1, data: ` [ "m" ]`},
		{in: `2["m\"x"]`, typ: PacketEvent, nsp: "/", id: -1, data: `["m\"x"]`},
		{in: `43/chat,12["ok"]`[1:], typ: PacketAck, nsp: "/chat", id: 12, data: `["ok"]`},
		{in: `31[]`, typ: PacketAck, nsp: "/", id: 1, data: `[]`},
		{in: `4{"message":"nope"}`, typ: PacketConnectError, nsp: "/", id: -1, data: `{"message":"nope"}`},
		{in: `4/chat,"legacy"`, typ: PacketConnectError, nsp: "/chat", id: -1, data: `"legacy"`},
		{in: `51-["m",{"_placeholder":true,"num":0}]`, typ: PacketBinaryEvent, nsp: "/", id: -1, data: `["m",{"_placeholder":true,"num":0}]`, attachments: 1},
		{in: `52-/chat,7["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, typ: PacketBinaryEvent, nsp: "/chat", id: 7, data: `["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, attachments: 2},
		{in: `61-/chat,3[{"_placeholder":true,"num":0}]`, typ: PacketBinaryAck, nsp: "/chat", id: 3, data: `[{"_placeholder":true,"num":0}]`, attachments: 1},
		{in: "5" + strconv.Itoa(maxAttachments) + `-["m"]`, typ: PacketBinaryEvent, nsp: "/", id: -1, data: `["m"]`, attachments: maxAttachments},
		{in: `29223372036854775807["m"]`, typ: PacketEvent, nsp: "/", id: math.MaxInt64, data: `["m"]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			p, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if p.Type != tt.typ || p.Nsp != tt.nsp || p.ID != tt.id || p.Attachments != tt.attachments || len(p.Buffers) != 0 {
				t.Fatalf("Decode = {%v %q %d att=%d}, want {%v %q %d att=%d}", p.Type, p.Nsp, p.ID, p.Attachments, tt.typ, tt.nsp, tt.id, tt.attachments)
			}
			if (tt.data == "") != (p.Data == nil) || string(p.Data) != tt.data {
				t.Fatalf("Data = %q, want %q", p.Data, tt.data)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"type 7", `7["m"]`},
		{"type below 0", `/["m"]`},
		{"letter", `x["m"]`},
		{"event without payload", "2"},
		{"event with object", `2{"a":1}`},
		{"event with string", `2"m"`},
		{"event without name", `2[]`},
		{"event with null name", `2[null]`},
		{"event with object name", `2[{}]`},
		{"event with bool name", `2[true]`},
		{"reserved connect", `2["connect"]`},
		{"reserved disconnect", `2["disconnect"]`},
		{"reserved connect_error", `2/chat,["connect_error",1]`},
		{"reserved newListener", `2["newListener"]`},
		{"reserved escaped", `2["\u0063onnect"]`},
		{"broken JSON", `2["a",`},
		{"trailing garbage", `2["a"]x`},
		{"two values", `2["a"]["b"]`},
		{"connect with array", `0[]`},
		{"connect with string", `0"x"`},
		{"connect with broken object", `0/chat,{`},
		{"disconnect with payload", `1{}`},
		{"connect_error without payload", `4`},
		{"connect_error with array", `4[]`},
		{"ack without id", `3["ok"]`},
		{"ack with object", `31{}`},
		{"ack without payload", `31`},
		{"binary without count", `5["m"]`},
		{"binary without dash", `51["m"]`},
		{"binary zero attachments", `50-["m"]`},
		{"binary too many attachments", "5" + strconv.Itoa(maxAttachments+1) + `-["m"]`},
		{"binary count only", `51-`},
		{"binary dash only", `5-["m"]`},
		{"ack id overflow", `299999999999999999999["m"]`},
		{"namespace then garbage", `2/chat,garbage`},
		{"namespace without payload", `2/chat,`},
		{"nul bytes", "2\x00\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Decode([]byte(tt.in))
			if !errors.Is(err, ErrParse) {
				t.Fatalf("Decode(%q) = %+v, %v; want ErrParse", tt.in, p, err)
			}
		})
	}
}

// encodeText is encodePacket's text frame as bytes: the header and JSON
// body it is built from.
func encodeText(t *testing.T, typ PacketType, nsp string, id int64, prefix, args []any) (string, [][]byte) {
	t.Helper()
	body, buffers, err := encodeArgs(nil, prefix, args)
	if err != nil {
		t.Fatalf("encodeArgs: %v", err)
	}
	frames, err := encodePacket(typ, nsp, id, prefix, args)
	if err != nil {
		t.Fatalf("encodePacket: %v", err)
	}
	if len(buffers) > 0 {
		typ += PacketBinaryEvent - PacketEvent // EVENT->BINARY_EVENT, ACK->BINARY_ACK
	}
	text := string(appendHeader(nil, typ, nsp, len(buffers), id)) + string(body)
	// encodePacket builds the same frames: text first, then one binary
	// frame per attachment.
	if len(frames) != 1+len(buffers) || frames[0].Len() != len(text) {
		t.Fatalf("encodePacket made %d frames (text %d bytes), want %d (text %d bytes)", len(frames), frames[0].Len(), 1+len(buffers), len(text))
	}
	for i, b := range buffers {
		if frames[i+1].Len() != len(b) {
			t.Fatalf("attachment frame %d is %d bytes, want %d", i, frames[i+1].Len(), len(b))
		}
	}
	return text, buffers
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		typ      PacketType
		nsp      string
		id       int64
		prefix   []any
		args     []any
		wantText string
		wantBufs int
	}{
		{name: "plain event", typ: PacketEvent, nsp: "/", id: noID, prefix: []any{"message"}, args: []any{1, "two"},
			wantText: `2["message",1,"two"]`},
		{name: "namespace and ack id", typ: PacketEvent, nsp: "/chat", id: 12, prefix: []any{"m"}, args: []any{true, nil},
			wantText: `2/chat,12["m",true,null]`},
		{name: "ack", typ: PacketAck, nsp: "/chat", id: 12, args: []any{"ok"},
			wantText: `3/chat,12["ok"]`},
		{name: "empty ack", typ: PacketAck, nsp: "/", id: 0, wantText: `30[]`},
		{name: "raw JSON", typ: PacketEvent, nsp: "/", id: noID, prefix: []any{"m"}, args: []any{json.RawMessage(`{"a":[1,2]}`)},
			wantText: `2["m",{"a":[1,2]}]`},
		{name: "struct", typ: PacketEvent, nsp: "/", id: noID, prefix: []any{"m"}, args: []any{struct {
			A int    `json:"a"`
			B string `json:"b"`
		}{1, "x"}}, wantText: `2["m",{"a":1,"b":"x"}]`},
		{name: "escaped strings", typ: PacketEvent, nsp: "/", id: noID, prefix: []any{"m"}, args: []any{"quote\" back\\ <tag> & é \n"},
			wantText: `2["m","quote\" back\\ \u003ctag\u003e \u0026 é \n"]`},
		{name: "int64", typ: PacketEvent, nsp: "/", id: noID, prefix: []any{"m"}, args: []any{int64(math.MaxInt64), 3.5},
			wantText: `2["m",9223372036854775807,3.5]`},
		{name: "top-level binary", typ: PacketEvent, nsp: "/", id: noID, prefix: []any{"file"}, args: []any{[]byte{1, 2, 3}},
			wantText: `51-["file",{"_placeholder":true,"num":0}]`, wantBufs: 1},
		{name: "binary ack", typ: PacketAck, nsp: "/chat", id: 4, args: []any{[]byte("x"), "y"},
			wantText: `61-/chat,4[{"_placeholder":true,"num":0},"y"]`, wantBufs: 1},
		{name: "nested binary", typ: PacketEvent, nsp: "/nsp", id: 9, prefix: []any{"deep"},
			args:     []any{[]any{"a", []byte{1}, []any{[]byte{2}}}, map[string]any{"k": []byte{3}}},
			wantText: `53-/nsp,9["deep",["a",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]],{"k":{"_placeholder":true,"num":2}}]`, wantBufs: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text, bufs := encodeText(t, tt.typ, tt.nsp, tt.id, tt.prefix, tt.args)
			if text != tt.wantText || len(bufs) != tt.wantBufs {
				t.Fatalf("encoded %s with %d buffers, want %s with %d", text, len(bufs), tt.wantText, tt.wantBufs)
			}
			p, err := Decode([]byte(text))
			if err != nil {
				t.Fatalf("Decode(%s): %v", text, err)
			}
			wantType := tt.typ
			if tt.wantBufs > 0 {
				wantType += PacketBinaryEvent - PacketEvent
			}
			wantNsp := tt.nsp
			if wantNsp == "" {
				wantNsp = "/"
			}
			if p.Type != wantType || p.Nsp != wantNsp || p.ID != tt.id || p.Attachments != tt.wantBufs {
				t.Fatalf("decoded {%v %q %d %d}", p.Type, p.Nsp, p.ID, p.Attachments)
			}
			// The arguments come back as they went, binary included.
			raw, err := SplitArray(p.Data)
			if err != nil {
				t.Fatal(err)
			}
			all := append(append([]any{}, tt.prefix...), tt.args...)
			if len(raw) != len(all) {
				t.Fatalf("%d arguments, want %d", len(raw), len(all))
			}
			a := &Args{raw: raw, buffers: bufs}
			vals, err := a.Values()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				want := normalize(t, all[i])
				if got := normalize(t, v); !reflect.DeepEqual(got, want) {
					t.Fatalf("argument %d = %#v, want %#v", i, got, want)
				}
			}
		})
	}
}

// normalize turns a value into the generic tree reconstruct produces:
// JSON values decoded with UseNumber, []byte kept.
func normalize(t *testing.T, v any) any {
	t.Helper()
	switch x := v.(type) {
	case []byte:
		return x
	case json.RawMessage:
		tree, err := reconstruct(x, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tree
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(t, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(t, e)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := reconstruct(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestEncodeArgsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []any
	}{
		{"invalid raw JSON", []any{json.RawMessage(`{"a":`)}},
		{"channel", []any{make(chan int)}},
		{"function nested", []any{[]any{func() {}}}},
		{"NaN", []any{math.NaN()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := encodeArgs(nil, []any{"m"}, tt.args); err == nil {
				t.Fatal("encodeArgs succeeded")
			}
			if _, err := encodePacket(PacketEvent, "/", noID, []any{"m"}, tt.args); err == nil {
				t.Fatal("encodePacket succeeded")
			}
		})
	}
}

func TestAppendStringMatchesJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "ctl\x01\x1f", "<>&", "é✓", "\u2028\u2029", "\xff invalid", "del\x7f"} {
		want, _ := json.Marshal(s) // strings always marshal
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestAppendHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  PacketType
		nsp  string
		att  int
		id   int64
		want string
	}{
		{PacketConnect, "/", 0, noID, "0"},
		{PacketConnect, "", 0, noID, "0"},
		{PacketConnect, "/chat", 0, noID, "0/chat,"},
		{PacketEvent, "/", 0, 0, "20"},
		{PacketEvent, "/x", 0, 42, "2/x,42"},
		{PacketBinaryEvent, "/", 2, noID, "52-"},
		{PacketBinaryAck, "/x", 12, 7, "612-/x,7"},
	}
	for _, tt := range tests {
		if got := string(appendHeader(nil, tt.typ, tt.nsp, tt.att, tt.id)); got != tt.want {
			t.Errorf("appendHeader(%v, %q, %d, %d) = %q, want %q", tt.typ, tt.nsp, tt.att, tt.id, got, tt.want)
		}
	}
}

func TestEncodeControl(t *testing.T) {
	t.Parallel()
	f := encodeControl(PacketConnect, "/chat", map[string]string{"sid": "abc"})
	if want := len(`0/chat,{"sid":"abc"}`); f.Len() != want {
		t.Fatalf("connect frame is %d bytes, want %d", f.Len(), want)
	}
	if f := encodeControl(PacketDisconnect, "/", nil); f.Len() != 1 {
		t.Fatalf("disconnect frame is %d bytes, want 1", f.Len())
	}
}

func TestSplitArray(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: `[]`, want: []string{}},
		{in: `[ ]`, want: []string{}},
		{in: `[1]`, want: []string{"1"}},
		{in: `["a",1,null,true,{"x":[1,2]},[3,[4]]]`, want: []string{`"a"`, "1", "null", "true", `{"x":[1,2]}`, `[3,[4]]`}},
		{in: ` [ "a" , "b" ] `, want: []string{`"a"`, `"b"`}},
		{in: `["a,b","c]d","e\"]","f\\"]`, want: []string{`"a,b"`, `"c]d"`, `"e\"]"`, `"f\\"`}},
		{in: `[{"a":"}"},"{"]`, want: []string{`{"a":"}"}`, `"{"`}},
		{in: "[\n1,\t2\r\n]", want: []string{"1", "2"}},
		{in: `{"a":1}`, wantErr: true},
		{in: `"x"`, wantErr: true},
		{in: ``, wantErr: true},
		{in: `[1,2`, wantErr: true},
		// Invalid JSON found by FuzzSplitArray: this looped forever,
		// growing the result without bound.
		{in: `[}]]2`, wantErr: true},
		// And this indexed past the end of the input.
		{in: `["\`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := SplitArray([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrParse) {
					t.Fatalf("SplitArray(%q) = %q, %v; want ErrParse", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SplitArray(%q): %v", tt.in, err)
			}
			s := make([]string, len(got))
			for i, r := range got {
				s[i] = string(r)
			}
			if strings.Join(s, "|") != strings.Join(tt.want, "|") || len(s) != len(tt.want) {
				t.Fatalf("SplitArray(%q) = %q, want %q", tt.in, s, tt.want)
			}
		})
	}
}

func TestReconstructPlaceholders(t *testing.T) {
	t.Parallel()
	bufs := [][]byte{{0xa}, {0xb}}
	tests := []struct {
		name    string
		raw     string
		want    any
		wantErr bool
	}{
		{name: "top level", raw: `{"_placeholder":true,"num":1}`, want: []byte{0xb}},
		{name: "nested", raw: `{"a":[{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]}`,
			want: map[string]any{"a": []any{[]byte{0xa}, map[string]any{"b": []byte{0xb}}}}},
		{name: "false flag is data", raw: `{"_placeholder":false,"num":0}`,
			want: map[string]any{"_placeholder": false, "num": json.Number("0")}},
		{name: "same buffer twice", raw: `[{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`,
			want: []any{[]byte{0xa}, []byte{0xa}}},
		{name: "out of range", raw: `{"_placeholder":true,"num":2}`, wantErr: true},
		{name: "negative", raw: `{"_placeholder":true,"num":-1}`, wantErr: true},
		{name: "fractional", raw: `{"_placeholder":true,"num":0.5}`, wantErr: true},
		{name: "no num", raw: `{"_placeholder":true}`, wantErr: true},
		{name: "string num", raw: `{"_placeholder":true,"num":"0"}`, wantErr: true},
		{name: "deep error", raw: `[[[{"_placeholder":true,"num":9}]]]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := reconstruct([]byte(tt.raw), bufs)
			if tt.wantErr {
				if !errors.Is(err, ErrParse) {
					t.Fatalf("reconstruct = %#v, %v; want ErrParse", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("reconstruct = %#v, want %#v", got, tt.want)
			}
		})
	}
}
