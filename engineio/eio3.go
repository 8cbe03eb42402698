package engineio

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Engine.IO protocol v3 (socket.io-client 2.x), served when
// Config.AllowEIO3 is set. It differs from v4 in three places only:
//
//   - Framing. A long-polling payload is a string of "<length>:<packet>"
//     records, the length counted in UTF-16 code units as JavaScript counts
//     a string's length; a binary packet in it is "b4" and base64. A client
//     that supports binary (no b64 query parameter) instead gets, for any
//     payload that holds a binary packet, the binary payload framing: per
//     packet a 0 (string) or 1 (binary) byte, the decimal digits of its
//     length as bytes 0-9, a 255 byte, then the packet (a string as UTF-8,
//     a binary packet as its type byte 4 and the data). Over WebSocket a
//     binary message is a binary frame whose first byte is the packet type
//     4, or a text frame "b4"+base64 for a b64 client.
//   - Heartbeat. The client pings and the server answers pong; the server
//     closes a session that has not pinged for PingInterval+PingTimeout.
//   - Nothing else at this layer: the handshake, its open packet and the
//     upgrade probe are those of v4.

// binaryType is the packet type a v3 binary packet carries in its first
// byte (the message type as a number, not an ASCII digit).
const binaryType byte = typeMessage - '0'

// v3Encodings are a binary frame's v3 encodings, built together on first
// use by a v3 session (a v4-only server never builds them; a frame holds
// one pointer for them).
type v3Encodings struct {
	text  []byte // "b4"+base64: a polling record, or a b64 client's WebSocket text
	ws    []byte // binary WebSocket frame: the type byte, then the data
	b64WS []byte // text WebSocket frame of text
}

func (f *Frame) v3() *v3Encodings {
	if e := f.v3Enc.Load(); e != nil {
		return e
	}
	text := appendV3Base64(nil, f.data)
	e := &v3Encodings{
		text:  text,
		ws:    appendWSFrame(nil, opBinary, []byte{binaryType}, f.data),
		b64WS: appendWSFrame(nil, opText, nil, text),
	}
	if f.v3Enc.CompareAndSwap(nil, e) {
		return e
	}
	return f.v3Enc.Load() // another session built them first
}

// v3WSBytes returns the frame's WebSocket encoding for a v3 session. Only a
// binary frame differs from v4: a binary frame with the type byte, or, for a
// client that asked for base64, a text frame "b4"+base64.
func (f *Frame) v3WSBytes(b64 bool) []byte {
	switch {
	case !f.binary:
		return f.wsBytes()
	case b64:
		return f.v3().b64WS
	}
	return f.v3().ws
}

// v3TextPacket returns the frame as one v3 string packet: the type digit
// and the data, or "b4"+base64 for a binary frame.
func (f *Frame) v3TextPacket() []byte {
	if f.binary {
		return f.v3().text
	}
	return f.pollBytes() // the type digit and the data, as in v4
}

func appendV3Base64(dst, data []byte) []byte {
	dst = append(dst, 'b', typeMessage)
	n := len(dst)
	dst = append(dst, make([]byte, base64.StdEncoding.EncodedLen(len(data)))...)
	base64.StdEncoding.Encode(dst[n:], data)
	return dst
}

// utf16Len is the length JavaScript gives the string b: its UTF-16 code
// units. An invalid byte counts as the one U+FFFD it decodes to.
func utf16Len(b []byte) int {
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// encodeV3Payload encodes frames as one v3 long-polling response body. It
// uses the binary framing when binaryOK (the client did not ask for b64)
// and a frame is binary, and reports whether it did.
func encodeV3Payload(frames []*Frame, binaryOK bool) (body []byte, isBinary bool) {
	if binaryOK {
		for _, f := range frames {
			if f.binary {
				isBinary = true
				break
			}
		}
	}
	if isBinary {
		for _, f := range frames {
			if f.binary {
				body = append(body, 1)
				body = appendLengthDigits(body, len(f.data)+1)
				body = append(body, 0xff, binaryType)
				body = append(body, f.data...)
				continue
			}
			p := f.pollBytes()
			body = append(body, 0)
			body = appendLengthDigits(body, len(p))
			body = append(body, 0xff)
			body = append(body, p...)
		}
		return body, true
	}
	for _, f := range frames {
		p := f.v3TextPacket()
		body = strconv.AppendInt(body, int64(utf16Len(p)), 10)
		body = append(body, ':')
		body = append(body, p...)
	}
	return body, false
}

// appendLengthDigits appends n's decimal digits as the byte values 0-9.
func appendLengthDigits(dst []byte, n int) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(n), 10)
	for i := start; i < len(dst); i++ {
		dst[i] -= '0'
	}
	return dst
}

// maxV3LengthDigits bounds the digits of one record's length: nine fit an
// int32, and a longer record is no payload MaxPayload would allow.
const maxV3LengthDigits = 9

// decodeV3Payload splits a v3 string payload into packets.
func decodeV3Payload(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return fmt.Errorf("empty payload: %w", ErrParse)
	}
	for len(body) > 0 {
		colon := -1
		for i := 0; i < len(body) && i <= maxV3LengthDigits; i++ {
			if body[i] == ':' {
				colon = i
				break
			}
			if body[i] < '0' || body[i] > '9' {
				break
			}
		}
		if colon <= 0 {
			return fmt.Errorf("record length: %w", ErrParse)
		}
		n, err := strconv.Atoi(string(body[:colon]))
		if err != nil {
			return fmt.Errorf("record length: %w", ErrParse)
		}
		body = body[colon+1:]
		// Take n UTF-16 code units.
		end, units := 0, 0
		for units < n && end < len(body) {
			r, size := utf8.DecodeRune(body[end:])
			end += size
			if r >= 0x10000 {
				units += 2
			} else {
				units++
			}
		}
		if units != n {
			return fmt.Errorf("record shorter than its length: %w", ErrParse)
		}
		rec := body[:end]
		body = body[end:]
		if len(rec) == 0 {
			continue // "0:", an empty payload
		}
		p, err := decodeV3Text(rec)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// decodeV3Text decodes one v3 string packet: a text packet as in v4, or
// "b" and a type digit and base64.
func decodeV3Text(rec []byte) (packet, error) {
	if len(rec) == 0 || rec[0] != 'b' {
		return decodeText(rec)
	}
	if len(rec) < 2 || rec[1] != typeMessage {
		return packet{}, fmt.Errorf("base64 packet type: %w", ErrParse)
	}
	data := make([]byte, base64.StdEncoding.DecodedLen(len(rec)-2))
	n, err := base64.StdEncoding.Decode(data, rec[2:])
	if err != nil {
		return packet{}, fmt.Errorf("base64 packet: %w", ErrParse)
	}
	return packet{typ: typeMessage, data: data[:n], binary: true}, nil
}

// decodeV3Binary decodes one v3 binary packet (a WebSocket binary frame, or
// a binary record): the type byte, then the data.
func decodeV3Binary(b []byte) (packet, error) {
	if len(b) == 0 {
		return packet{}, fmt.Errorf("empty binary packet: %w", ErrParse)
	}
	if b[0] != binaryType {
		return packet{}, fmt.Errorf("binary packet type %d: %w", b[0], ErrParse)
	}
	return packet{typ: typeMessage, data: b[1:], binary: true}, nil
}

// decodeV3BinaryPayload splits a v3 binary payload (a POST sent as
// application/octet-stream) into packets.
func decodeV3BinaryPayload(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return fmt.Errorf("empty payload: %w", ErrParse)
	}
	for len(body) > 0 {
		kind := body[0]
		if kind > 1 {
			return fmt.Errorf("record kind %d: %w", kind, ErrParse)
		}
		n, i := 0, 1
		for ; i < len(body) && body[i] != 0xff; i++ {
			if body[i] > 9 || i > maxV3LengthDigits {
				return fmt.Errorf("record length: %w", ErrParse)
			}
			n = n*10 + int(body[i])
		}
		if i == 1 || i >= len(body) || n > len(body)-i-1 {
			return fmt.Errorf("record length: %w", ErrParse)
		}
		rec := body[i+1 : i+1+n]
		body = body[i+1+n:]
		var p packet
		var err error
		if kind == 0 {
			p, err = decodeV3Text(rec)
		} else {
			p, err = decodeV3Binary(rec)
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
