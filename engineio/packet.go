package engineio

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// Packet types of Engine.IO v4, as the ASCII digit that starts a text packet.
const (
	typeOpen    byte = '0'
	typeClose   byte = '1'
	typePing    byte = '2'
	typePong    byte = '3'
	typeMessage byte = '4'
	typeUpgrade byte = '5'
	typeNoop    byte = '6'
)

// recordSeparator joins packets in a long-polling payload.
const recordSeparator = 0x1e

// ErrParse reports a malformed Engine.IO packet or payload.
var ErrParse = errors.New("engineio: parse error")

// packet is one decoded incoming packet.
type packet struct {
	typ    byte
	data   []byte
	binary bool
}

// decodeText decodes one text packet (WebSocket text frame or one polling
// record).
func decodeText(b []byte) (packet, error) {
	if len(b) == 0 {
		return packet{}, fmt.Errorf("empty packet: %w", ErrParse)
	}
	t := b[0]
	if t < typeOpen || t > typeNoop {
		return packet{}, fmt.Errorf("packet type %q: %w", t, ErrParse)
	}
	return packet{typ: t, data: b[1:]}, nil
}

// decodePayload splits a long-polling request body into packets. Binary
// records are "b" followed by base64.
func decodePayload(body []byte, fn func(packet) error) error {
	for len(body) > 0 {
		end := len(body)
		for i, c := range body {
			if c == recordSeparator {
				end = i
				break
			}
		}
		rec := body[:end]
		if end < len(body) {
			body = body[end+1:]
		} else {
			body = nil
		}
		var p packet
		if len(rec) > 0 && rec[0] == 'b' {
			data := make([]byte, base64.StdEncoding.DecodedLen(len(rec)-1))
			n, err := base64.StdEncoding.Decode(data, rec[1:])
			if err != nil {
				return fmt.Errorf("binary record: %w", ErrParse)
			}
			p = packet{typ: typeMessage, data: data[:n], binary: true}
		} else {
			var err error
			if p, err = decodeText(rec); err != nil {
				return err
			}
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
