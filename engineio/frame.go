package engineio

import (
	"encoding/base64"
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// WebSocket opcodes used by the writer.
const (
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xa
)

// A Frame is one outgoing Engine.IO packet. It is immutable and may be queued
// on any number of sessions; its WebSocket and polling encodings are built
// once, on first use, and shared.
type Frame struct {
	typ    byte
	data   []byte
	binary bool

	wsOnce sync.Once
	ws     []byte

	pollOnce sync.Once
	poll     []byte

	v3Enc atomic.Pointer[v3Encodings] // Engine.IO v3 encodings of a binary frame (eio3.go)
}

// NewMessage returns a message frame carrying data, which the caller must
// not modify afterwards. Binary frames travel as WebSocket binary frames, or
// base64 with a "b" prefix over polling.
func NewMessage(data []byte, binary bool) *Frame {
	return &Frame{typ: typeMessage, data: data, binary: binary}
}

func newControl(typ byte, data string) *Frame {
	return &Frame{typ: typ, data: []byte(data)}
}

// Shared control frames.
var (
	framePing      = newControl(typePing, "")
	framePong      = newControl(typePong, "") // v3: the answer to a client's ping
	frameNoop      = newControl(typeNoop, "")
	frameClose     = newControl(typeClose, "")
	frameProbePong = newControl(typePong, "probe")
)

// Len is the size of the frame's payload in bytes.
func (f *Frame) Len() int { return len(f.data) }

// Data returns the frame's payload, which the caller must not modify: a
// connection given to socketio.Attach reads the Socket.IO packet from it.
func (f *Frame) Data() []byte { return f.data }

// Binary reports whether the payload is binary (a Socket.IO attachment).
func (f *Frame) Binary() bool { return f.binary }

// wsBytes returns the complete WebSocket frame (server frames are not
// masked).
func (f *Frame) wsBytes() []byte {
	f.wsOnce.Do(func() {
		if f.binary {
			f.ws = appendWSFrame(nil, opBinary, nil, f.data)
		} else {
			f.ws = appendWSFrame(nil, opText, []byte{f.typ}, f.data)
		}
	})
	return f.ws
}

// pollBytes returns the frame as one long-polling record.
func (f *Frame) pollBytes() []byte {
	f.pollOnce.Do(func() {
		if f.binary {
			b := make([]byte, 1+base64.StdEncoding.EncodedLen(len(f.data)))
			b[0] = 'b'
			base64.StdEncoding.Encode(b[1:], f.data)
			f.poll = b
		} else {
			b := make([]byte, 1+len(f.data))
			b[0] = f.typ
			copy(b[1:], f.data)
			f.poll = b
		}
	})
	return f.poll
}

// appendWSFrame appends one unmasked, final WebSocket frame whose payload is
// prefix followed by data.
func appendWSFrame(dst []byte, op byte, prefix, data []byte) []byte {
	n := len(prefix) + len(data)
	switch {
	case n < 126:
		dst = append(dst, 0x80|op, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|op, 126, 0, 0)
		binary.BigEndian.PutUint16(dst[len(dst)-2:], uint16(n))
	default:
		dst = append(dst, 0x80|op, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(dst[len(dst)-8:], uint64(n))
	}
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	dst = append(dst, prefix...)
	return append(dst, data...)
}
