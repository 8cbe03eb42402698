package redisadapter

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/parley-rt/parley/socketio"
)

// Expected bytes below were written by notepack.io 3.0.1's encode; the
// integration test TestNotepackByteForByte checks hundreds more against
// notepack itself.
func TestMsgpackMatchesNotepack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, json string
		buffers    [][]byte
		want       string
	}{
		{"object key order", `{"b":1,"2":2,"a":[null,true,false]}`, nil, "83a13202a16201a16193c0c3c2"},
		{"uint 64", `4294967296`, nil, "cf0000000100000000"},
		{"int 64", `-2147483649`, nil, "d3ffffffff7fffffff"},
		{"1e21 is an integer", `1e21`, nil, "cf35c9adc5dea00000"},
		{"str 8 from 32 bytes", `"` + strings.Repeat("x", 40) + `"`, nil, "d928" + strings.Repeat("78", 40)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, err := parseJSON([]byte(c.json), c.buffers)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(appendMsgpack(nil, v)); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
	ev := socketio.EncodedEvent{Data: []byte(`["ev",1,-1,300,-300,1.5,"é",{"_placeholder":true,"num":0}]`), Buffers: [][]byte{{1, 2}}}
	channel, msg, err := broadcastMessage("socket.io", "uid", "/", ev, socketio.BroadcastOptions{Rooms: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "93a375696483a47479706502a46461746198a2657601ffcd012cd1fed4cb3ff8000000000000a2c3a9c4020102a36e7370a12f83a5726f6f6d7391a172a665786365707490a5666c61677380"
	if got := hex.EncodeToString(msg); got != want || channel != "socket.io#/#r#" {
		t.Fatalf("broadcast on %s:\n%s\nwant\n%s", channel, got, want)
	}
	// And back: what a receiving node hands to its sockets.
	v, err := parseMsgpack(msg)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := v.arr[1].get("data")
	back, err := eventOf(data)
	if err != nil || string(back.Data) != string(ev.Data) || len(back.Buffers) != 1 {
		t.Fatalf("decoded %s %v: %v", back.Data, back.Buffers, err)
	}
}

func TestJSNumbers(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{
		0: "0", 1: "1", -1.5: "-1.5", 1e21: "1e+21", 1.5e-7: "1.5e-7", 1e-6: "0.000001",
		123456789.125: "123456789.125", 9007199254740993: "9007199254740992", 1e300: "1e+300",
	} {
		if got := string(appendJSNumber(nil, in)); got != want {
			t.Errorf("%v: got %s, want %s", in, got, want)
		}
	}
}

func TestMalformedMessages(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"", "91", "dd ffffffff", "de ffff", "c4 05 01", "d9 05 61", "c1", "93 a1 61", "92c0c0c0"} {
		raw, _ := hex.DecodeString(strings.ReplaceAll(b, " ", ""))
		if _, err := parseMsgpack(raw); !errors.Is(err, ErrDecode) {
			t.Errorf("msgpack %q: %v", b, err)
		}
	}
	for _, b := range []string{"", "[", `{"a"}`, `{"a":1,}`, "[1,]", `"\x"`, "01x", "tru", `{"_placeholder":true,"num":3}`} {
		if _, err := parseJSON([]byte(b), [][]byte{{1}}); !errors.Is(err, ErrDecode) {
			t.Errorf("json %q: %v", b, err)
		}
	}
	deep := strings.Repeat("91", maxDepth+2) + "c0"
	raw, _ := hex.DecodeString(deep)
	if _, err := parseMsgpack(raw); !errors.Is(err, ErrDecode) {
		t.Errorf("deep msgpack: %v", err)
	}
}

// FuzzMsgpack: any input decodes or fails with ErrDecode, and what decodes
// encodes back to something that decodes to the same JSON, unless it holds
// an integer beyond 2^53: notepack writes those as 64-bit integers from
// JavaScript's 32-bit halves, which wraps above 2^64 and rounds above 2^53,
// and Parley writes what notepack writes.
func FuzzMsgpack(f *testing.F) {
	for _, s := range []string{
		"93a375696483a47479706502a46461746198a2657601ffcd012cd1fed4cb3ff8000000000000a2c3a9c4020102a36e7370a12f83a5726f6f6d7391a172a665786365707490a5666c61677380",
		"83a13202a16201a16193c0c3c2", "cf0000000100000000", "d6ff00000001", "c70cff000000000000000000000001", "d40000",
		"93a330303083a43030303030a4303030309" + "8a23030a9303030303030303030cd3030d13030cb583030303030303030303030303030",
	} {
		raw, _ := hex.DecodeString(s)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseMsgpack(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		var buffers [][]byte
		j := appendJSON(nil, v, &buffers)
		if !exactInJS(v) {
			return
		}
		v2, err := parseMsgpack(appendMsgpack(nil, v))
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		var buffers2 [][]byte
		if j2 := appendJSON(nil, v2, &buffers2); string(j2) != string(j) {
			t.Fatalf("round trip changed %s into %s", j, j2)
		}
		if _, err := parseJSON(j, buffers); err != nil {
			t.Fatalf("JSON out %s does not parse: %v", j, err)
		}
	})
}

// FuzzJSON: any input parses or fails with ErrDecode.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`["ev",{"a":[1,2.5,"x"]},null]`, `{"2":1,"1":2}`, `"\ud83d\ude00\u0001"`, `[{"_placeholder":true,"num":0}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseJSON(b, [][]byte{{1, 2}})
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		_ = appendMsgpack(nil, v)
	})
}

// exactInJS reports whether every number of v survives notepack's encoding:
// no integer beyond 2^53 in magnitude.
func exactInJS(v value) bool {
	switch v.k {
	case kNum:
		return v.num != math.Trunc(v.num) || math.Abs(v.num) <= 1<<53
	case kArr:
		for _, e := range v.arr {
			if !exactInJS(e) {
				return false
			}
		}
	case kObj:
		for _, m := range v.obj {
			if !exactInJS(m.val) {
				return false
			}
		}
	}
	return true
}
