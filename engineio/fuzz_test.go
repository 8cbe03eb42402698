package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

// Seeds are real traffic: handshakes, Socket.IO packets, probes, binary
// records, and a few broken ones.
var payloadSeeds = []string{
	"",
	"2",
	"3",
	"2probe",
	"3probe",
	"5",
	"6",
	"1",
	"40",
	`40/chat,{"token":"x"}`,
	`42["message",1,"two"]`,
	`451-["m",{"_placeholder":true,"num":0}]` + "\x1ebAQID",
	`43/chat,12["ok"]`,
	"4a\x1e4b\x1e4c",
	"bAQID",
	"b",
	"b====",
	"b!!",
	"4a\x1e",
	"\x1e",
	"9",
	"\xff\xfe",
	"4héllo\x1e3",
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeText(b)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error %v is not ErrParse", err)
			}
			return
		}
		if p.typ < typeOpen || p.typ > typeNoop || p.binary {
			t.Fatalf("accepted packet type %q binary=%v", p.typ, p.binary)
		}
		if p.typ != b[0] || !bytes.Equal(p.data, b[1:]) {
			t.Fatalf("decodeText(%q) = {%q %q}", b, p.typ, p.data)
		}
	})
}

// encodeRecords is the client side of a polling payload.
func encodeRecords(ps []packet) []byte {
	var out []byte
	for i, p := range ps {
		if i > 0 {
			out = append(out, recordSeparator)
		}
		if p.binary {
			out = append(out, 'b')
			out = base64.StdEncoding.AppendEncode(out, p.data)
		} else {
			out = append(out, p.typ)
			out = append(out, p.data...)
		}
	}
	return out
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got []packet
		err := decodePayload(body, func(p packet) error {
			if p.binary && p.typ != typeMessage {
				t.Fatalf("binary packet of type %q", p.typ)
			}
			if !p.binary && (p.typ < typeOpen || p.typ > typeNoop) {
				t.Fatalf("accepted packet type %q", p.typ)
			}
			if !p.binary && bytes.IndexByte(p.data, recordSeparator) >= 0 {
				t.Fatalf("record %q holds a separator", p.data)
			}
			got = append(got, packet{p.typ, bytes.Clone(p.data), p.binary})
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error %v is not ErrParse", err)
			}
			return
		}
		// What decoded re-encodes to a payload that decodes the same.
		var again []packet
		if err := decodePayload(encodeRecords(got), func(p packet) error {
			again = append(again, p)
			return nil
		}); err != nil {
			t.Fatalf("re-encoded payload fails: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("re-decoded %d packets, want %d", len(again), len(got))
		}
		for i := range got {
			if again[i].typ != got[i].typ || again[i].binary != got[i].binary || !bytes.Equal(again[i].data, got[i].data) {
				t.Fatalf("packet %d: %+v then %+v", i, got[i], again[i])
			}
		}
	})
}

func FuzzReadHeader(f *testing.F) {
	seeds := []ws.Header{
		{Fin: true, OpCode: ws.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 6},
		{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: 125},
		{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: 126},
		{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: 65535},
		{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: 65536},
		{Fin: false, OpCode: ws.OpContinuation, Masked: true, Length: 3},
		{Fin: true, OpCode: ws.OpClose, Masked: true, Length: 2},
		{Fin: true, OpCode: ws.OpText, Length: 1},
	}
	for _, h := range seeds {
		var b bytes.Buffer
		if err := ws.WriteHeader(&b, h); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte{0x81})
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x82, 0xfe, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readHeader(readerOf(b))
		if err != nil {
			return
		}
		if h.length < 0 {
			t.Fatalf("negative length %d", h.length)
		}
		if h.op > 0xf || h.rsv > 7 {
			t.Fatalf("header fields out of range: %+v", h)
		}
		// An independent parser agrees on what it accepts.
		g, gerr := ws.ReadHeader(bytes.NewReader(b))
		if gerr != nil {
			t.Fatalf("readHeader accepted %x, gobwas: %v", b, gerr)
		}
		want := wsHeader{fin: g.Fin, rsv: g.Rsv, op: byte(g.OpCode), masked: g.Masked, mask: g.Mask, length: g.Length}
		if h != want {
			t.Fatalf("readHeader = %+v, gobwas = %+v", h, want)
		}
	})
}

var v3Seeds = []string{
	"1:2",
	"6:4hello2:4x",
	"4:4é😀1:2",
	"6:b4AQID",
	"0:1:2",
	"97:0{\"sid\":\"x\"}",
	"5:4ab",
	"2:4😀",
	"3:b4!",
	"9999999999:4",
	"\x00\x03\xff4\xc3\xa9\x01\x02\xff\x04\xff",
	"\x01\x01\x02\xff\x04",
	"\x00\xff2",
}

// v3Frames turns decoded packets back into frames, to re-encode them.
func v3Frames(ps []packet) []*Frame {
	fs := make([]*Frame, len(ps))
	for i, p := range ps {
		fs[i] = &Frame{typ: p.typ, data: bytes.Clone(p.data), binary: p.binary}
	}
	return fs
}

func fuzzV3(t *testing.T, decode func([]byte, func(packet) error) error, body []byte) {
	var got []packet
	err := decode(body, func(p packet) error {
		if p.binary != (p.typ == typeMessage && p.binary) {
			t.Fatalf("binary packet of type %q", p.typ)
		}
		if p.typ < typeOpen || p.typ > typeNoop {
			t.Fatalf("accepted packet type %q", p.typ)
		}
		got = append(got, p)
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrParse) {
			t.Fatalf("error %v is not ErrParse", err)
		}
		return
	}
	// What decoded re-encodes, in both framings, to payloads that decode
	// the same.
	for _, binaryOK := range []bool{false, true} {
		enc, isBinary := encodeV3Payload(v3Frames(got), binaryOK)
		dec := decodeV3Payload
		if isBinary {
			dec = decodeV3BinaryPayload
		}
		if len(got) == 0 {
			continue // an empty payload is not a request body
		}
		var again []packet
		if err := dec(enc, func(p packet) error { again = append(again, p); return nil }); err != nil {
			t.Fatalf("re-encoded payload %q fails: %v", enc, err)
		}
		if !packetsEqual(again, got) {
			t.Fatalf("re-decoded %+v, want %+v", again, got)
		}
	}
}

func FuzzDecodeV3Payload(f *testing.F) {
	for _, s := range v3Seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzV3(t, decodeV3Payload, body) })
}

func FuzzDecodeV3BinaryPayload(f *testing.F) {
	for _, s := range v3Seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzV3(t, decodeV3BinaryPayload, body) })
}
