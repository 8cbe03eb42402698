package socketio

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// argsOf decodes the arguments of an event packet the way runEvent does:
// everything after the event name, with the packet's attachments.
func argsOf(t *testing.T, text string, buffers ...[]byte) *Args {
	t.Helper()
	p, err := Decode([]byte(text))
	if err != nil {
		t.Fatalf("Decode(%s): %v", text, err)
	}
	if p.Attachments != len(buffers) {
		t.Fatalf("packet announces %d attachments, test gives %d", p.Attachments, len(buffers))
	}
	raw, err := SplitArray(p.Data)
	if err != nil {
		t.Fatal(err)
	}
	return &Args{raw: raw[1:], buffers: buffers}
}

func TestArgsDecodeJSON(t *testing.T) {
	t.Parallel()
	a := argsOf(t, `2["m","text",42,{"name":"ann","tags":["x"]},null]`)
	if a.Len() != 4 || a.Binary() {
		t.Fatalf("Len %d Binary %v", a.Len(), a.Binary())
	}
	var s string
	var n int
	var obj struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	var nothing *int
	for i, v := range []any{&s, &n, &obj, &nothing} {
		if err := a.Decode(i, v); err != nil {
			t.Fatalf("Decode(%d): %v", i, err)
		}
	}
	if s != "text" || n != 42 || obj.Name != "ann" || len(obj.Tags) != 1 || nothing != nil {
		t.Fatalf("decoded %q %d %+v %v", s, n, obj, nothing)
	}
	if string(a.Raw(2)) != `{"name":"ann","tags":["x"]}` || len(a.RawAll()) != 4 {
		t.Fatalf("Raw(2) = %s", a.Raw(2))
	}
	for _, i := range []int{-1, 4} {
		if err := a.Decode(i, &s); err == nil {
			t.Fatalf("Decode(%d) of 4 arguments succeeded", i)
		}
	}
	if err := a.Decode(0, &n); err == nil {
		t.Fatal("decoding a string into an int succeeded")
	}
	// Without attachments Values hands back the raw JSON, ready to re-emit.
	vals, err := a.Values()
	if err != nil {
		t.Fatal(err)
	}
	if raw, ok := vals[1].(json.RawMessage); !ok || string(raw) != "42" {
		t.Fatalf("Values()[1] = %#v", vals[1])
	}
}

func TestArgsDecodeBinary(t *testing.T) {
	t.Parallel()
	file := []byte{0, 1, 2, 0xff}
	thumb := []byte("thumb")
	a := argsOf(t,
		`52-["upload",{"_placeholder":true,"num":0},{"name":"pic","data":{"_placeholder":true,"num":1},"parts":[{"_placeholder":true,"num":0}]},"plain"]`,
		file, thumb)
	if !a.Binary() || a.Len() != 3 {
		t.Fatalf("Binary %v Len %d", a.Binary(), a.Len())
	}

	// A top-level attachment decodes straight into a []byte.
	var got []byte
	if err := a.Decode(0, &got); err != nil || !bytes.Equal(got, file) {
		t.Fatalf("Decode(0) = %v, %v", got, err)
	}
	// Nested attachments decode into []byte fields.
	var meta struct {
		Name  string   `json:"name"`
		Data  []byte   `json:"data"`
		Parts [][]byte `json:"parts"`
	}
	if err := a.Decode(1, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Name != "pic" || !bytes.Equal(meta.Data, thumb) || len(meta.Parts) != 1 || !bytes.Equal(meta.Parts[0], file) {
		t.Fatalf("Decode(1) = %+v", meta)
	}
	// Arguments without placeholders still decode in a binary packet.
	var s string
	if err := a.Decode(2, &s); err != nil || s != "plain" {
		t.Fatalf("Decode(2) = %q, %v", s, err)
	}
	// The raw form keeps the placeholders.
	if string(a.Raw(0)) != `{"_placeholder":true,"num":0}` {
		t.Fatalf("Raw(0) = %s", a.Raw(0))
	}

	vals, err := a.Values()
	if err != nil {
		t.Fatal(err)
	}
	want := []any{
		file,
		map[string]any{"name": "pic", "data": thumb, "parts": []any{file}},
		"plain",
	}
	if !reflect.DeepEqual(vals, want) {
		t.Fatalf("Values() = %#v, want %#v", vals, want)
	}
	// Values re-encode to the same packet shape: they can be emitted again.
	body, bufs, err := encodeArgs(nil, []any{"upload"}, vals)
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 3 || !bytes.Equal(bufs[0], file) {
		t.Fatalf("re-encoded %s with %d buffers", body, len(bufs))
	}
}

func TestArgsBadPlaceholder(t *testing.T) {
	t.Parallel()
	a := argsOf(t, `51-["m",{"_placeholder":true,"num":5}]`, []byte{1})
	var b []byte
	if err := a.Decode(0, &b); err == nil {
		t.Fatal("Decode of an out-of-range placeholder succeeded")
	}
	if _, err := a.Values(); err == nil {
		t.Fatal("Values with an out-of-range placeholder succeeded")
	}
}
