package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// packetSeeds are real Socket.IO packets (as the text of an Engine.IO
// message) and some broken ones.
var packetSeeds = []string{
	"0",
	"40"[1:],
	`0{"token":"x"}`,
	`0/chat,{"token":"x"}`,
	`0/chat,`,
	`1/chat,`,
	`2["message",1,"two"]`,
	`2/chat,["message",{"a":[1,2,{"b":null}]}]`,
	`21["m"]`,
	`3/chat,12["ok"]`,
	`31[]`,
	`4{"message":"Invalid namespace"}`,
	`4/chat,{"message":"not authorized","data":{"code":"E1"}}`,
	`51-["m",{"_placeholder":true,"num":0}]`,
	`52-/chat,7["m",[{"_placeholder":true,"num":1}],{"_placeholder":true,"num":0}]`,
	`61-/chat,3[{"_placeholder":true,"num":0}]`,
	`2[1,"numeric"]`,
	`2["connect"]`,
	`2["m\"]",",","]"]`,
	"2 [ \"m\" , 1 ]",
	"",
	"9",
	"2",
	`2[`,
	`2["a"`,
	`5-[]`,
	`5999999999999999999999-[]`,
	`2/chat`,
	`2/chat,99999999999999999999["m"]`,
	"2\x00[\"m\"]",
	"\xff\xfe\xfd",
	`2["\ud800"]`,
}

func FuzzDecode(f *testing.F) {
	for _, s := range packetSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error %v is not ErrParse", err)
			}
			if p != nil {
				t.Fatal("a packet returned with an error")
			}
			return
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("accepted a payload that is not JSON: %q", p.Data)
		}
		if p.Type > PacketBinaryAck {
			t.Fatalf("type %d", p.Type)
		}
		if p.Nsp == "" || p.Nsp[0] != '/' {
			t.Fatalf("namespace %q", p.Nsp)
		}
		binary := p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck
		if binary != (p.Attachments > 0) || p.Attachments > maxAttachments || len(p.Buffers) != 0 {
			t.Fatalf("type %d with %d attachments", p.Type, p.Attachments)
		}
		if p.ID < noID {
			t.Fatalf("ack id %d", p.ID)
		}
		switch p.Type {
		case PacketEvent, PacketBinaryEvent, PacketAck, PacketBinaryAck:
			// Handlers split what Decode accepted without a second check.
			if _, err := SplitArray(p.Data); err != nil {
				t.Fatalf("accepted %q, but SplitArray fails: %v", p.Data, err)
			}
		case PacketDisconnect:
			if p.Data != nil {
				t.Fatalf("disconnect with payload %q", p.Data)
			}
		}
		// What decoded encodes back to a packet that decodes the same.
		again := append(appendHeader(nil, p.Type, p.Nsp, p.Attachments, p.ID), p.Data...)
		q, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded %q (from %q) fails: %v", again, b, err)
		}
		if q.Type != p.Type || q.Nsp != p.Nsp || q.ID != p.ID || q.Attachments != p.Attachments || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("%q decodes to %+v, its re-encoding %q to %+v", b, p, again, q)
		}
	})
}

var arraySeeds = []string{
	`[]`,
	`["message",1,"two"]`,
	`["m",{"_placeholder":true,"num":0}]`,
	`["ok"]`,
	`[ 1 , [2,[3,{"a":"]"}]] , "\"" , "\\" ]`,
	`[{"a":"}"},"{",",",null,true,false,-1.5e3]`,
	"[\n\t1\r\n]",
	`{"a":1}`,
	`"x"`,
	`[1,`,
	`[`,
	`]`,
	``,
	`["\u00e9\ud83d\ude00"]`,
}

func FuzzSplitArray(f *testing.F) {
	for _, s := range arraySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := SplitArray(b)
		if !json.Valid(b) || firstByte(b) != '[' {
			// SplitArray assumes valid JSON; on anything else it must
			// only not panic.
			return
		}
		var want []json.RawMessage
		if jerr := json.Unmarshal(b, &want); jerr != nil {
			t.Fatalf("json.Unmarshal of a valid array: %v", jerr)
		}
		if err != nil {
			t.Fatalf("SplitArray(%q): %v", b, err)
		}
		if len(got) != len(want) {
			t.Fatalf("SplitArray(%q) = %d elements, want %d", b, len(got), len(want))
		}
		for i := range want {
			if compact(t, got[i]) != compact(t, want[i]) {
				t.Fatalf("element %d of %q: %q, want %q", i, b, got[i], want[i])
			}
		}
	})
}

func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("element %q is not JSON: %v", raw, err)
	}
	return buf.String()
}
