package engineio

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gobwas/ws"
)

func TestDecodeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		wantType byte
		wantData string
		wantErr  bool
	}{
		{name: "empty", in: "", wantErr: true},
		{name: "open", in: "0", wantType: typeOpen},
		{name: "close", in: "1", wantType: typeClose},
		{name: "ping", in: "2", wantType: typePing},
		{name: "probe ping", in: "2probe", wantType: typePing, wantData: "probe"},
		{name: "pong", in: "3", wantType: typePong},
		{name: "message", in: "4hello", wantType: typeMessage, wantData: "hello"},
		{name: "empty message", in: "4", wantType: typeMessage},
		{name: "message with separator byte", in: "4a\x1eb", wantType: typeMessage, wantData: "a\x1eb"},
		{name: "utf8 message", in: "4héllo ✓", wantType: typeMessage, wantData: "héllo ✓"},
		{name: "upgrade", in: "5", wantType: typeUpgrade},
		{name: "noop", in: "6", wantType: typeNoop},
		{name: "type 7", in: "7", wantErr: true},
		{name: "below zero", in: "/4", wantErr: true},
		{name: "letter", in: "b4", wantErr: true},
		{name: "binary byte", in: "\x004", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := decodeText([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrParse) {
					t.Fatalf("decodeText(%q) error = %v, want ErrParse", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeText(%q): %v", tt.in, err)
			}
			if p.typ != tt.wantType || string(p.data) != tt.wantData || p.binary {
				t.Fatalf("decodeText(%q) = {%q %q %v}, want {%q %q false}", tt.in, p.typ, p.data, p.binary, tt.wantType, tt.wantData)
			}
		})
	}
}

func TestDecodePayload(t *testing.T) {
	t.Parallel()
	type pkt struct {
		typ    byte
		data   string
		binary bool
	}
	tests := []struct {
		name    string
		in      string
		want    []pkt
		wantErr bool
	}{
		{name: "empty body", in: ""},
		{name: "one message", in: "4hello", want: []pkt{{typeMessage, "hello", false}}},
		{name: "two messages", in: "4a\x1e4b", want: []pkt{{typeMessage, "a", false}, {typeMessage, "b", false}}},
		{name: "mixed", in: "2\x1e4x\x1e3\x1e6", want: []pkt{{typePing, "", false}, {typeMessage, "x", false}, {typePong, "", false}, {typeNoop, "", false}}},
		{name: "binary record", in: "bAQID", want: []pkt{{typeMessage, "\x01\x02\x03", true}}},
		{name: "empty binary record", in: "b", want: []pkt{{typeMessage, "", true}}},
		{name: "binary then text", in: "bAQID\x1e4done", want: []pkt{{typeMessage, "\x01\x02\x03", true}, {typeMessage, "done", false}}},
		{name: "json with separator-free text", in: `42["m",{"a":1}]`, want: []pkt{{typeMessage, `2["m",{"a":1}]`, false}}},
		{name: "bad base64", in: "b!!!!", wantErr: true},
		{name: "truncated base64", in: "bAQI", wantErr: true},
		{name: "bad type", in: "9x", wantErr: true},
		// Lenient, unlike Node (which reports a parse error): nothing follows.
		{name: "trailing separator", in: "4a\x1e", want: []pkt{{typeMessage, "a", false}}},
		{name: "empty record", in: "4a\x1e\x1e4b", want: []pkt{{typeMessage, "a", false}}, wantErr: true},
		{name: "leading separator", in: "\x1e4a", wantErr: true},
		{name: "error stops later records", in: "4a\x1ex\x1e4b", want: []pkt{{typeMessage, "a", false}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []pkt
			err := decodePayload([]byte(tt.in), func(p packet) error {
				got = append(got, pkt{p.typ, string(p.data), p.binary})
				return nil
			})
			if tt.wantErr != (err != nil) {
				t.Fatalf("decodePayload(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrParse) {
				t.Fatalf("decodePayload(%q) error = %v, want ErrParse", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("decodePayload(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("decodePayload(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodePayloadCallbackError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	n := 0
	err := decodePayload([]byte("4a\x1e4b\x1e4c"), func(packet) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("decodePayload = %v after %d packets, want stop after 2", err, n)
	}
}

func TestFramePollBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame *Frame
		want  string
	}{
		{name: "text message", frame: NewMessage([]byte(`2["m",1]`), false), want: `42["m",1]`},
		{name: "empty text message", frame: NewMessage(nil, false), want: "4"},
		{name: "binary message", frame: NewMessage([]byte{1, 2, 3}, true), want: "bAQID"},
		{name: "empty binary message", frame: NewMessage(nil, true), want: "b"},
		{name: "binary 0xff", frame: NewMessage([]byte{0xff, 0xfe, 0xfd, 0xfc}, true), want: "b" + base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0xfd, 0xfc})},
		{name: "ping", frame: framePing, want: "2"},
		{name: "noop", frame: frameNoop, want: "6"},
		{name: "close", frame: frameClose, want: "1"},
		{name: "probe pong", frame: frameProbePong, want: "3probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(tt.frame.pollBytes()); got != tt.want {
				t.Fatalf("pollBytes = %q, want %q", got, tt.want)
			}
			// A polling record decodes back to the same packet.
			var got packet
			if err := decodePayload(tt.frame.pollBytes(), func(p packet) error { got = p; return nil }); err != nil {
				t.Fatalf("decodePayload(pollBytes): %v", err)
			}
			if got.typ != tt.frame.typ || !bytes.Equal(got.data, tt.frame.data) || got.binary != tt.frame.binary {
				t.Fatalf("round trip = {%q %q %v}, want {%q %q %v}", got.typ, got.data, got.binary, tt.frame.typ, tt.frame.data, tt.frame.binary)
			}
		})
	}
}

func TestFrameWSBytes(t *testing.T) {
	t.Parallel()
	// Total payload sizes around the three WebSocket length encodings. A
	// text frame's payload is the type digit plus data.
	sizes := []struct {
		payload   int
		headerLen int
		lenByte   byte
	}{
		{0, 2, 0},
		{1, 2, 1},
		{125, 2, 125},
		{126, 4, 126},
		{127, 4, 126},
		{65535, 4, 126},
		{65536, 10, 127},
		{70000, 10, 127},
	}
	for _, sz := range sizes {
		for _, bin := range []bool{false, true} {
			name := "text"
			if bin {
				name = "binary"
			}
			if !bin && sz.payload == 0 {
				continue // a text frame always has its type digit
			}
			t.Run(name+"/"+strconv.Itoa(sz.payload), func(t *testing.T) {
				t.Parallel()
				dataLen := sz.payload
				if !bin {
					dataLen--
				}
				data := bytes.Repeat([]byte{'x'}, dataLen)
				f := NewMessage(data, bin)
				b := f.wsBytes()
				if len(b) != sz.headerLen+sz.payload {
					t.Fatalf("frame is %d bytes, want %d header + %d payload", len(b), sz.headerLen, sz.payload)
				}
				wantOp := opText
				if bin {
					wantOp = opBinary
				}
				if b[0] != 0x80|wantOp {
					t.Fatalf("first byte %#x, want FIN|%#x", b[0], wantOp)
				}
				if b[1] != sz.lenByte {
					t.Fatalf("length byte %d, want %d (unmasked)", b[1], sz.lenByte)
				}
				switch sz.lenByte {
				case 126:
					if n := binary.BigEndian.Uint16(b[2:4]); int(n) != sz.payload {
						t.Fatalf("16-bit length %d, want %d", n, sz.payload)
					}
				case 127:
					if n := binary.BigEndian.Uint64(b[2:10]); int(n) != sz.payload {
						t.Fatalf("64-bit length %d, want %d", n, sz.payload)
					}
				}
				// An independent decoder agrees.
				fr, err := ws.ReadFrame(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("gobwas ReadFrame: %v", err)
				}
				if !fr.Header.Fin || fr.Header.Masked || int(fr.Header.Length) != sz.payload {
					t.Fatalf("gobwas header %+v", fr.Header)
				}
				want := data
				if !bin {
					want = append([]byte{typeMessage}, data...)
				}
				if !bytes.Equal(fr.Payload, want) {
					t.Fatalf("payload differs")
				}
			})
		}
	}
}

func TestControlFrameBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame *Frame
		want  []byte
	}{
		{name: "ws close 1000", frame: frameWSClose, want: []byte{0x88, 0x02, 0x03, 0xe8}},
		{name: "ping", frame: framePing, want: []byte{0x81, 0x01, '2'}},
		{name: "noop", frame: frameNoop, want: []byte{0x81, 0x01, '6'}},
		{name: "engine close packet", frame: frameClose, want: []byte{0x81, 0x01, '1'}},
		{name: "probe pong", frame: frameProbePong, want: []byte{0x81, 0x06, '3', 'p', 'r', 'o', 'b', 'e'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.frame.wsBytes(); !bytes.Equal(got, tt.want) {
				t.Fatalf("wsBytes = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAppendWSFrameKeepsPrefix(t *testing.T) {
	t.Parallel()
	dst := []byte("head")
	got := appendWSFrame(dst, opText, []byte("4"), []byte("abc"))
	if want := "head\x81\x044abc"; string(got) != want {
		t.Fatalf("appendWSFrame = %q, want %q", got, want)
	}
}

// TestFrameEncodedOnce checks that concurrent users of one Frame share one
// encoding: every call returns the same backing array.
func TestFrameEncodedOnce(t *testing.T) {
	t.Parallel()
	f := NewMessage([]byte(strings.Repeat("y", 300)), false)
	const n = 16
	ws := make([][]byte, n)
	polls := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ws[i] = f.wsBytes()
			polls[i] = f.pollBytes()
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if &ws[i][0] != &ws[0][0] {
			t.Fatalf("wsBytes call %d returned a different encoding", i)
		}
		if &polls[i][0] != &polls[0][0] {
			t.Fatalf("pollBytes call %d returned a different encoding", i)
		}
	}
	if f.Len() != 300 {
		t.Fatalf("Len = %d, want 300", f.Len())
	}
}

func TestReadHeader(t *testing.T) {
	t.Parallel()
	mask := [4]byte{1, 2, 3, 4}
	tests := []struct {
		name   string
		header ws.Header
	}{
		{"small text", ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: mask, Length: 5}},
		{"125", ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: mask, Length: 125}},
		{"126", ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: mask, Length: 126}},
		{"65535", ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: mask, Length: 65535}},
		{"65536", ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: mask, Length: 65536}},
		{"huge", ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: mask, Length: 1 << 40}},
		{"fragment", ws.Header{Fin: false, OpCode: ws.OpContinuation, Masked: true, Mask: mask, Length: 3}},
		{"unmasked", ws.Header{Fin: true, OpCode: ws.OpText, Length: 3}},
		{"rsv bits", ws.Header{Fin: true, Rsv: ws.Rsv(true, false, true), OpCode: ws.OpText, Masked: true, Mask: mask}},
		{"close", ws.Header{Fin: true, OpCode: ws.OpClose, Masked: true, Mask: mask, Length: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := ws.WriteHeader(&buf, tt.header); err != nil {
				t.Fatal(err)
			}
			raw := buf.Bytes()
			h, err := readHeader(readerOf(raw))
			if err != nil {
				t.Fatalf("readHeader: %v", err)
			}
			want := wsHeader{fin: tt.header.Fin, rsv: tt.header.Rsv, op: byte(tt.header.OpCode), masked: tt.header.Masked, length: tt.header.Length}
			if tt.header.Masked {
				want.mask = tt.header.Mask
			}
			if h != want {
				t.Fatalf("readHeader = %+v, want %+v", h, want)
			}
			// Every truncation fails without panicking.
			for i := range len(raw) {
				if _, err := readHeader(readerOf(raw[:i])); err == nil {
					t.Fatalf("readHeader of %d of %d bytes succeeded", i, len(raw))
				} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("readHeader of %d bytes: %v, want EOF", i, err)
				}
			}
		})
	}
}

func TestReadHeaderRejectsNegativeLength(t *testing.T) {
	t.Parallel()
	raw := []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	if _, err := readHeader(readerOf(raw)); !errors.Is(err, errProtocol) {
		t.Fatalf("readHeader with the top length bit set: %v, want errProtocol", err)
	}
}

func TestCodeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code Code
		want string
	}{
		{CodeUnknownTransport, "Transport unknown"},
		{CodeUnknownSID, "Session ID unknown"},
		{CodeBadHandshakeMethod, "Bad handshake method"},
		{CodeBadRequest, "Bad request"},
		{CodeForbidden, "Forbidden"},
		{CodeUnsupportedVersion, "Unsupported protocol version"},
		{Code(6), "Unknown error"},
		{Code(-1), "Unknown error"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("Code(%d).String() = %q, want %q", tt.code, got, tt.want)
		}
	}
}
