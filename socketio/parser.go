package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is a Socket.IO v5 packet type.
type PacketType byte

// The Socket.IO v5 packet types.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

// ErrParse reports a packet that breaks the Socket.IO protocol.
var ErrParse = errors.New("socketio: parse error")

// maxAttachments bounds the attachments one packet may announce, as Node's
// socket.io-parser does by default.
const maxAttachments = 10

// noID marks a packet without an ack id.
const noID int64 = -1

// Packet is one decoded Socket.IO packet.
type Packet struct {
	Type PacketType
	Nsp  string
	// ID is the ack id, or -1 when the packet has none.
	ID int64
	// Data is the raw JSON payload; nil when the packet has none. Binary
	// attachments appear in it as {"_placeholder":true,"num":N}.
	Data []byte
	// Attachments is the number of binary attachments announced.
	Attachments int
	// Buffers holds the attachments received so far.
	Buffers [][]byte
}

// Decode parses one text Socket.IO packet. A binary packet is returned
// with Attachments > 0 and no Buffers yet.
func Decode(b []byte) (*Packet, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty packet: %w", ErrParse)
	}
	p := &Packet{Type: PacketType(b[0] - '0'), Nsp: "/", ID: noID}
	if b[0] < '0' || p.Type > PacketBinaryAck {
		return nil, fmt.Errorf("unknown packet type %q: %w", b[0], ErrParse)
	}
	i := 1
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i || j >= len(b) || b[j] != '-' {
			return nil, fmt.Errorf("attachment count: %w", ErrParse)
		}
		n, err := strconv.Atoi(string(b[i:j]))
		if err != nil || n < 1 || n > maxAttachments {
			return nil, fmt.Errorf("attachment count: %w", ErrParse)
		}
		p.Attachments = n
		i = j + 1
	}
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			p.Nsp = string(b[i:])
			i = len(b)
		} else {
			p.Nsp = string(b[i : i+j])
			i += j + 1
		}
	}
	if j := i; j < len(b) && b[j] >= '0' && b[j] <= '9' {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		id, err := strconv.ParseInt(string(b[i:j]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ack id: %w", ErrParse)
		}
		p.ID = id
		i = j
	}
	if i < len(b) {
		p.Data = b[i:]
		if !json.Valid(p.Data) {
			return nil, fmt.Errorf("payload is not JSON: %w", ErrParse)
		}
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// check applies the payload rules of Node's socket.io-parser.
func (p *Packet) check() error {
	first := firstByte(p.Data)
	switch p.Type {
	case PacketConnect:
		if p.Data != nil && first != '{' {
			return fmt.Errorf("connect payload must be an object: %w", ErrParse)
		}
	case PacketDisconnect:
		if p.Data != nil {
			return fmt.Errorf("disconnect has no payload: %w", ErrParse)
		}
	case PacketConnectError:
		if first != '{' && first != '"' {
			return fmt.Errorf("connect_error payload: %w", ErrParse)
		}
	case PacketEvent, PacketBinaryEvent:
		if first != '[' {
			return fmt.Errorf("event payload must be an array: %w", ErrParse)
		}
		name, err := firstElement(p.Data)
		if err != nil {
			return err
		}
		if len(name) == 0 {
			return fmt.Errorf("event without a name: %w", ErrParse)
		}
		if name[0] == '"' {
			var s string
			if err := json.Unmarshal(name, &s); err != nil {
				return fmt.Errorf("event name: %w", ErrParse)
			}
			if reserved(s) {
				return fmt.Errorf("reserved event name %q: %w", s, ErrParse)
			}
		} else if name[0] != '-' && (name[0] < '0' || name[0] > '9') {
			return fmt.Errorf("event name must be a string or number: %w", ErrParse)
		}
	case PacketAck, PacketBinaryAck:
		if first != '[' {
			return fmt.Errorf("ack payload must be an array: %w", ErrParse)
		}
		if p.ID == noID {
			return fmt.Errorf("ack without id: %w", ErrParse)
		}
	}
	return nil
}

func reserved(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func firstElement(arr []byte) ([]byte, error) {
	var first []byte
	err := eachElement(arr, func(_ int, e []byte) bool { first = e; return false })
	return first, err
}

// SplitArray returns the elements of a JSON array (already known to be
// valid JSON) without decoding them.
func SplitArray(arr []byte) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, 4)
	err := eachElement(arr, func(_ int, e []byte) bool {
		out = append(out, json.RawMessage(e))
		return true
	})
	return out, err
}

// eachElement calls fn for each top-level element of the valid JSON array
// arr, until fn returns false.
func eachElement(arr []byte, fn func(i int, e []byte) bool) error {
	i := 0
	for i < len(arr) && arr[i] != '[' {
		i++
	}
	if i == len(arr) {
		return fmt.Errorf("not an array: %w", ErrParse)
	}
	i++
	n := 0
	for {
		for i < len(arr) && isSpace(arr[i]) {
			i++
		}
		if i >= len(arr) {
			return fmt.Errorf("unterminated array: %w", ErrParse)
		}
		if arr[i] == ']' {
			return nil
		}
		if arr[i] == ',' {
			i++
			continue
		}
		start := i
		depth := 0
		inString := false
	scan:
		for ; i < len(arr); i++ {
			c := arr[i]
			if inString {
				switch c {
				case '\\':
					i++
				case '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '[', '{':
				depth++
			case ']', '}':
				if depth == 0 {
					break scan
				}
				depth--
			case ',':
				if depth == 0 {
					break scan
				}
			}
		}
		// Only invalid JSON gets here: an element running past the end (a
		// trailing backslash skips beyond it), or a stray '}' where an
		// element should start, on which the loop would never advance.
		if i >= len(arr) {
			return fmt.Errorf("unterminated array: %w", ErrParse)
		}
		if i == start {
			return fmt.Errorf("malformed array: %w", ErrParse)
		}
		end := i
		for end > start && isSpace(arr[end-1]) {
			end--
		}
		if !fn(n, arr[start:end]) {
			return nil
		}
		n++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendHeader appends the text packet's header: type, attachment count,
// namespace and ack id.
func appendHeader(dst []byte, t PacketType, nsp string, attachments int, id int64) []byte {
	dst = append(dst, byte('0'+t))
	if attachments > 0 {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "/" && nsp != "" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return dst
}

// encodeArgs appends the JSON array of args, replacing each []byte (top
// level, or inside map[string]any and []any values) by a placeholder and
// collecting it in buffers. Other values are marshalled with encoding/json;
// json.RawMessage is checked and written as is.
func encodeArgs(dst []byte, prefix []any, args []any) ([]byte, [][]byte, error) {
	var buffers [][]byte
	dst = append(dst, '[')
	n := 0
	var err error
	write := func(v any) {
		if err != nil {
			return
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst, err = appendValue(dst, v, &buffers)
	}
	for _, v := range prefix {
		write(v)
	}
	for _, v := range args {
		write(v)
	}
	dst = append(dst, ']')
	return dst, buffers, err
}

func appendValue(dst []byte, v any, buffers *[][]byte) ([]byte, error) {
	switch x := v.(type) {
	case json.RawMessage:
		if !json.Valid(x) {
			return dst, fmt.Errorf("socketio: invalid json.RawMessage argument")
		}
		return append(dst, x...), nil
	case string:
		return appendString(dst, x), nil
	case rawElems:
		if len(x.buffers) > 0 && len(*buffers) > 0 {
			return dst, fmt.Errorf("socketio: pre-encoded arguments must come before other attachments")
		}
		*buffers = append(*buffers, x.buffers...)
		return append(dst, x.json...), nil
	case []byte:
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(*buffers)), 10)
		*buffers = append(*buffers, x)
		return append(dst, '}'), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, buffers); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		dst = append(dst, '{')
		i := 0
		for k, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			i++
			dst = appendString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendValue(dst, e, buffers); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("socketio: marshal argument: %w", err)
	}
	return append(dst, b...), nil
}

func appendString(dst []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			simple = false
			break
		}
	}
	if simple {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// checkPlaceholders verifies that every placeholder in a binary packet's
// payload names one of its n attachments.
func checkPlaceholders(data []byte, n int) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("payload: %w", ErrParse)
	}
	_, err := replacePlaceholders(v, make([][]byte, n))
	return err
}

// reconstruct decodes raw JSON into a generic value, replacing placeholders
// by their buffers.
func reconstruct(raw []byte, buffers [][]byte) (any, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return replacePlaceholders(v, buffers)
}

func replacePlaceholders(v any, buffers [][]byte) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if ph, ok := x["_placeholder"].(bool); ok && ph {
			num, ok := x["num"].(json.Number)
			if !ok {
				return nil, fmt.Errorf("placeholder without num: %w", ErrParse)
			}
			i, err := num.Int64()
			if err != nil || i < 0 || i >= int64(len(buffers)) {
				return nil, fmt.Errorf("placeholder %s out of range: %w", num, ErrParse)
			}
			return buffers[i], nil
		}
		for k, e := range x {
			r, err := replacePlaceholders(e, buffers)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	case []any:
		for i, e := range x {
			r, err := replacePlaceholders(e, buffers)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	}
	return v, nil
}
