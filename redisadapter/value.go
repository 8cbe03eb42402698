package redisadapter

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is the one data model both wire formats go through: value is a
// JavaScript value as Node holds it after notepack.io's decode or
// JSON.parse (numbers are float64, objects keep JavaScript's key order).
// The JSON and MessagePack encoders write what JSON.stringify and
// notepack.io's encode write for that value, byte for byte.

// ErrDecode reports a message from Redis that is not valid MessagePack or
// JSON, or not shaped as the adapter protocol says.
var ErrDecode = errors.New("redisadapter: malformed message")

type kind uint8

const (
	kNull kind = iota
	kBool
	kNum
	kStr
	kBin
	kArr
	kObj
)

type value struct {
	k   kind
	b   bool
	num float64
	str string
	bin []byte
	arr []value
	obj []member
}

type member struct {
	key string
	val value
}

func vNull() value           { return value{} }
func vBool(b bool) value     { return value{k: kBool, b: b} }
func vNum(f float64) value   { return value{k: kNum, num: f} }
func vStr(s string) value    { return value{k: kStr, str: s} }
func vBin(b []byte) value    { return value{k: kBin, bin: b} }
func vArr(a ...value) value  { return value{k: kArr, arr: a} }
func vObj(m ...member) value { return value{k: kObj, obj: m} }
func vStrs(ss []string) value {
	a := make([]value, len(ss))
	for i, s := range ss {
		a[i] = vStr(s)
	}
	return vArr(a...)
}

// get returns the member key of an object.
func (v value) get(key string) (value, bool) {
	if v.k != kObj {
		return value{}, false
	}
	for _, m := range v.obj {
		if m.key == key {
			return m.val, true
		}
	}
	return value{}, false
}

func (v value) getStr(key string) string {
	m, _ := v.get(key)
	if m.k == kStr {
		return m.str
	}
	return ""
}

// getNum returns member key as a number, or -1.
func (v value) getNum(key string) float64 {
	m, ok := v.get(key)
	if !ok || m.k != kNum {
		return -1
	}
	return m.num
}

// strings returns an array of strings (numbers formatted as JavaScript's
// String does, as a Set of rooms would hold them).
func (v value) strings() []string {
	if v.k != kArr {
		return nil
	}
	out := make([]string, 0, len(v.arr))
	for _, e := range v.arr {
		switch e.k {
		case kStr:
			out = append(out, e.str)
		case kNum:
			out = append(out, string(appendJSNumber(nil, e.num)))
		}
	}
	return out
}

// isArrayIndex reports whether key is a canonical array index, which
// JavaScript objects order first, ascending.
func isArrayIndex(key string) (uint32, bool) {
	if key == "" || len(key) > 10 || key[0] == '0' && len(key) > 1 {
		return 0, false
	}
	n, err := strconv.ParseUint(key, 10, 32)
	if err != nil || n == math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

// objectOf builds an object from members in source order as JavaScript
// does: a repeated key keeps its first position and its last value, and
// array-index keys come first, ascending.
func objectOf(ms []member) value {
	hasIndex := false
	var seen map[string]int // key -> position, for large objects
	if len(ms) > 16 {
		seen = make(map[string]int, len(ms))
	}
	out := ms[:0]
	for _, m := range ms {
		if _, ok := isArrayIndex(m.key); ok {
			hasIndex = true
		}
		j := -1
		if seen != nil {
			if k, dup := seen[m.key]; dup {
				j = k
			} else {
				seen[m.key] = len(out)
			}
		} else {
			j = slices.IndexFunc(out, func(o member) bool { return o.key == m.key })
		}
		if j >= 0 {
			out[j].val = m.val
			continue
		}
		out = append(out, m)
	}
	if hasIndex {
		slices.SortStableFunc(out, func(a, b member) int {
			ai, aok := isArrayIndex(a.key)
			bi, bok := isArrayIndex(b.key)
			switch {
			case aok && bok:
				return int(int64(ai) - int64(bi))
			case aok:
				return -1
			case bok:
				return 1
			}
			return 0
		})
	}
	return value{k: kObj, obj: out}
}

// --- JSON in ---

// maxDepth bounds nesting in both decoders.
const maxDepth = 128

type jsonParser struct {
	b []byte
	i int
	// buffers, when not nil, replace placeholders {"_placeholder":true,
	// "num":i} by binary values.
	buffers [][]byte
}

// parseJSON parses one JSON text.
func parseJSON(b []byte, buffers [][]byte) (value, error) {
	p := &jsonParser{b: b, buffers: buffers}
	v, err := p.value(0)
	if err != nil {
		return value{}, err
	}
	p.space()
	if p.i != len(p.b) {
		return value{}, fmt.Errorf("json: trailing data: %w", ErrDecode)
	}
	return v, nil
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) fail(what string) error {
	return fmt.Errorf("json: %s at %d: %w", what, p.i, ErrDecode)
}

func (p *jsonParser) value(depth int) (value, error) {
	if depth > maxDepth {
		return value{}, p.fail("too deep")
	}
	p.space()
	if p.i >= len(p.b) {
		return value{}, p.fail("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		var ms []member
		p.space()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return vObj(), nil
		}
		for {
			p.space()
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				return value{}, p.fail("object key")
			}
			k, err := p.string()
			if err != nil {
				return value{}, err
			}
			p.space()
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return value{}, p.fail("colon")
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return value{}, err
			}
			ms = append(ms, member{k, v})
			p.space()
			if p.i < len(p.b) && p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.b) && p.b[p.i] == '}' {
				p.i++
				break
			}
			return value{}, p.fail("object")
		}
		obj := objectOf(ms)
		if p.buffers != nil {
			if ph, ok := obj.get("_placeholder"); ok && ph.k == kBool && ph.b {
				num := obj.getNum("num")
				if num < 0 || num >= float64(len(p.buffers)) || num != math.Trunc(num) {
					return value{}, p.fail("placeholder")
				}
				return vBin(p.buffers[int(num)]), nil
			}
		}
		return obj, nil
	case c == '[':
		p.i++
		arr := []value{}
		p.space()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return vArr(arr...), nil
		}
		for {
			v, err := p.value(depth + 1)
			if err != nil {
				return value{}, err
			}
			arr = append(arr, v)
			p.space()
			if p.i < len(p.b) && p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.b) && p.b[p.i] == ']' {
				p.i++
				return vArr(arr...), nil
			}
			return value{}, p.fail("array")
		}
	case c == '"':
		s, err := p.string()
		return vStr(s), err
	case c == 't' && hasPrefixAt(p.b, p.i, "true"):
		p.i += 4
		return vBool(true), nil
	case c == 'f' && hasPrefixAt(p.b, p.i, "false"):
		p.i += 5
		return vBool(false), nil
	case c == 'n' && hasPrefixAt(p.b, p.i, "null"):
		p.i += 4
		return vNull(), nil
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		if p.b[p.i] == '-' {
			p.i++
		}
		for p.i < len(p.b) && (p.b[p.i] >= '0' && p.b[p.i] <= '9' || p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E' || p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return value{}, p.fail("number")
		}
		return vNum(f), nil
	}
	return value{}, p.fail("unexpected character")
}

func hasPrefixAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

// string parses a JSON string; lone surrogates become U+FFFD.
func (p *jsonParser) string() (string, error) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	out := []byte(string(p.b[start:p.i]))
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			break
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("\\u escape")
			}
			if utf16.IsSurrogate(r) {
				if hasPrefixAt(p.b, p.i, `\u`) {
					save := p.i
					p.i += 2
					r2, ok := p.hex4()
					if ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							continue
						}
					}
					p.i = save
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", p.fail("escape")
		}
	}
	return "", p.fail("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}

// --- JSON out ---

// appendJSON appends v as JSON.stringify writes it; binary values become
// placeholders numbered into *buffers (socket.io-parser's deconstruction),
// or, with buffers nil, Buffer's toJSON form.
func appendJSON(dst []byte, v value, buffers *[][]byte) []byte {
	switch v.k {
	case kNull:
		return append(dst, "null"...)
	case kBool:
		return strconv.AppendBool(dst, v.b)
	case kNum:
		return appendJSNumber(dst, v.num)
	case kStr:
		return appendJSString(dst, v.str)
	case kBin:
		if buffers == nil {
			dst = append(dst, `{"type":"Buffer","data":[`...)
			for i, c := range v.bin {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = strconv.AppendUint(dst, uint64(c), 10)
			}
			return append(dst, "]}"...)
		}
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(*buffers)), 10)
		*buffers = append(*buffers, v.bin)
		return append(dst, '}')
	case kArr:
		dst = append(dst, '[')
		for i, e := range v.arr {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, e, buffers)
		}
		return append(dst, ']')
	case kObj:
		dst = append(dst, '{')
		for i, m := range v.obj {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSString(dst, m.key)
			dst = append(dst, ':')
			dst = appendJSON(dst, m.val, buffers)
		}
		return append(dst, '}')
	}
	return dst
}

// appendJSNumber appends f as JavaScript's Number#toString, which
// JSON.stringify uses (non-finite numbers are null).
func appendJSNumber(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == 0 {
		return append(dst, '0') // -0 too
	}
	if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	abs := math.Abs(f)
	if abs < 1e-6 || abs >= 1e21 {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
		// Go writes e-07 and e+07; JavaScript e-7 and e+7.
		for i := start; i < len(dst)-2; i++ {
			if dst[i] == 'e' && dst[i+2] == '0' && len(dst)-i > 3 {
				dst = append(dst[:i+2], dst[i+3:]...)
				break
			}
		}
		return dst
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// appendJSString appends s quoted as JSON.stringify does: only quote,
// backslash and control characters are escaped.
func appendJSString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c >= 0x20:
			dst = append(dst, c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return append(dst, '"')
}

// --- MessagePack out (notepack.io's choices) ---

// appendMsgpack appends v as notepack.io's encode writes it.
func appendMsgpack(dst []byte, v value) []byte {
	switch v.k {
	case kNull:
		return append(dst, 0xc0)
	case kBool:
		if v.b {
			return append(dst, 0xc3)
		}
		return append(dst, 0xc2)
	case kNum:
		return appendMsgpackNumber(dst, v.num)
	case kStr:
		return appendMsgpackString(dst, v.str)
	case kBin:
		n := len(v.bin)
		switch {
		case n < 0x100:
			dst = append(dst, 0xc4, byte(n))
		case n < 0x10000:
			dst = append(dst, 0xc5, byte(n>>8), byte(n))
		default:
			dst = append(dst, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		return append(dst, v.bin...)
	case kArr:
		dst = appendArrayHeader(dst, len(v.arr))
		for _, e := range v.arr {
			dst = appendMsgpack(dst, e)
		}
		return dst
	case kObj:
		dst = appendMapHeader(dst, len(v.obj))
		for _, m := range v.obj {
			dst = appendMsgpackString(dst, m.key)
			dst = appendMsgpack(dst, m.val)
		}
		return dst
	}
	return dst
}

func appendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 0x10:
		return append(dst, 0x90|byte(n))
	case n < 0x10000:
		return append(dst, 0xdc, byte(n>>8), byte(n))
	}
	return append(dst, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 0x10:
		return append(dst, 0x80|byte(n))
	case n < 0x10000:
		return append(dst, 0xde, byte(n>>8), byte(n))
	}
	return append(dst, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendMsgpackString writes a str with notepack's header choice (fixstr
// below 32 bytes, then str 8, 16 and 32). Invalid UTF-8 is written as
// Node's Buffer would: each bad byte as U+FFFD.
func appendMsgpackString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = toValidUTF8(s)
	}
	n := len(s)
	switch {
	case n < 0x20:
		dst = append(dst, 0xa0|byte(n))
	case n < 0x100:
		dst = append(dst, 0xd9, byte(n))
	case n < 0x10000:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

func toValidUTF8(s string) string {
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		out = utf8.AppendRune(out, r)
		i += size
	}
	return string(out)
}

// toInt32 and toUint32 are JavaScript's ToInt32 and ToUint32, which
// notepack's shifts apply to the halves of 64-bit integers.
func toUint32(f float64) uint32 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	m := math.Mod(math.Trunc(f), 1<<32)
	if m < 0 {
		m += 1 << 32
	}
	return uint32(m)
}

func appendBE32(dst []byte, u uint32) []byte {
	return append(dst, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

// appendMsgpackNumber writes f as notepack does: integers in the smallest
// format, anything else as float 64.
func appendMsgpackNumber(dst []byte, f float64) []byte {
	if math.Floor(f) != f || math.IsInf(f, 0) || math.IsNaN(f) {
		return binaryAppendFloat(dst, f)
	}
	if f >= 0 {
		switch {
		case f < 0x80:
			return append(dst, byte(f))
		case f < 0x100:
			return append(dst, 0xcc, byte(f))
		case f < 0x10000:
			u := uint16(f)
			return append(dst, 0xcd, byte(u>>8), byte(u))
		case f < 0x100000000:
			return appendBE32(append(dst, 0xce), uint32(f))
		}
		// hi = (value / 2^32) >> 0, lo = value >>> 0
		dst = appendBE32(append(dst, 0xcf), toUint32(f/(1<<32)))
		return appendBE32(dst, toUint32(f))
	}
	switch {
	case f >= -0x20:
		return append(dst, byte(int8(f)))
	case f >= -0x80:
		return append(dst, 0xd0, byte(int8(f)))
	case f >= -0x8000:
		u := uint16(int16(f))
		return append(dst, 0xd1, byte(u>>8), byte(u))
	case f >= -0x80000000:
		return appendBE32(append(dst, 0xd2), uint32(int32(f)))
	}
	// hi = Math.floor(value / 2^32), lo = value >>> 0
	dst = appendBE32(append(dst, 0xd3), toUint32(math.Floor(f/(1<<32))))
	return appendBE32(dst, toUint32(f))
}

func binaryAppendFloat(dst []byte, f float64) []byte {
	u := math.Float64bits(f)
	dst = append(dst, 0xcb)
	dst = appendBE32(dst, uint32(u>>32))
	return appendBE32(dst, uint32(u))
}

// --- MessagePack in (notepack.io's decode) ---

type msgpackReader struct {
	b []byte
	i int
}

// parseMsgpack decodes one MessagePack value that fills b.
func parseMsgpack(b []byte) (value, error) {
	r := &msgpackReader{b: b}
	v, err := r.value(0)
	if err != nil {
		return value{}, err
	}
	if r.i != len(b) {
		return value{}, fmt.Errorf("msgpack: %d trailing bytes: %w", len(b)-r.i, ErrDecode)
	}
	return v, nil
}

func (r *msgpackReader) fail(what string) error {
	return fmt.Errorf("msgpack: %s at %d: %w", what, r.i, ErrDecode)
}

func (r *msgpackReader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.i {
		return nil, r.fail("truncated")
	}
	s := r.b[r.i : r.i+n]
	r.i += n
	return s, nil
}

func (r *msgpackReader) uint(n int) (uint64, error) {
	s, err := r.take(n)
	if err != nil {
		return 0, err
	}
	var u uint64
	for _, c := range s {
		u = u<<8 | uint64(c)
	}
	return u, nil
}

func (r *msgpackReader) value(depth int) (value, error) {
	if depth > maxDepth {
		return value{}, r.fail("too deep")
	}
	if r.i >= len(r.b) {
		return value{}, r.fail("truncated")
	}
	c := r.b[r.i]
	r.i++
	switch {
	case c < 0x80:
		return vNum(float64(c)), nil
	case c < 0x90:
		return r.mapOf(int(c&0x0f), depth)
	case c < 0xa0:
		return r.arrayOf(int(c&0x0f), depth)
	case c < 0xc0:
		return r.strOf(int(c & 0x1f))
	case c > 0xdf:
		return vNum(float64(int8(c))), nil
	}
	size := func(n int) (int, error) {
		u, err := r.uint(n)
		return int(u), err
	}
	switch c {
	case 0xc0:
		return vNull(), nil
	case 0xc2:
		return vBool(false), nil
	case 0xc3:
		return vBool(true), nil
	case 0xc4, 0xc5, 0xc6:
		n, err := size(1 << (c - 0xc4))
		if err != nil {
			return value{}, err
		}
		s, err := r.take(n)
		return vBin(s), err
	case 0xc7, 0xc8, 0xc9:
		n, err := size(1 << (c - 0xc7))
		if err != nil {
			return value{}, err
		}
		return r.ext(n, false)
	case 0xca:
		u, err := r.uint(4)
		return vNum(float64(math.Float32frombits(uint32(u)))), err
	case 0xcb:
		u, err := r.uint(8)
		return vNum(math.Float64frombits(u)), err
	case 0xcc, 0xcd, 0xce, 0xcf:
		u, err := r.uint(1 << (c - 0xcc))
		return vNum(float64(u)), err
	case 0xd0:
		u, err := r.uint(1)
		return vNum(float64(int8(u))), err
	case 0xd1:
		u, err := r.uint(2)
		return vNum(float64(int16(u))), err
	case 0xd2:
		u, err := r.uint(4)
		return vNum(float64(int32(u))), err
	case 0xd3:
		u, err := r.uint(8)
		return vNum(float64(int64(u))), err
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return r.ext(1<<(c-0xd4), true)
	case 0xd9, 0xda, 0xdb:
		n, err := size(1 << (c - 0xd9))
		if err != nil {
			return value{}, err
		}
		return r.strOf(n)
	case 0xdc, 0xdd:
		n, err := size(2 << (c - 0xdc))
		if err != nil {
			return value{}, err
		}
		return r.arrayOf(n, depth)
	case 0xde, 0xdf:
		n, err := size(2 << (c - 0xde))
		if err != nil {
			return value{}, err
		}
		return r.mapOf(n, depth)
	}
	return value{}, r.fail("unknown type")
}

func (r *msgpackReader) strOf(n int) (value, error) {
	s, err := r.take(n)
	if err != nil {
		return value{}, err
	}
	str := string(s)
	if !utf8.ValidString(str) {
		str = toValidUTF8(str)
	}
	return vStr(str), nil
}

func (r *msgpackReader) arrayOf(n int, depth int) (value, error) {
	if n > len(r.b)-r.i {
		return value{}, r.fail("array longer than the message")
	}
	arr := make([]value, n)
	for i := range arr {
		v, err := r.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		arr[i] = v
	}
	return vArr(arr...), nil
}

func (r *msgpackReader) mapOf(n int, depth int) (value, error) {
	if n > (len(r.b)-r.i)/2 {
		return value{}, r.fail("map longer than the message")
	}
	ms := make([]member, 0, n)
	for range n {
		k, err := r.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		var key string
		switch k.k {
		case kStr:
			key = k.str
		case kNum:
			key = string(appendJSNumber(nil, k.num))
		case kBool:
			key = strconv.FormatBool(k.b)
		case kNull:
			key = "null"
		default:
			return value{}, r.fail("map key")
		}
		v, err := r.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		ms = append(ms, member{key, v})
	}
	return objectOf(ms), nil
}

// ext decodes the extension types notepack knows: undefined (fixext 1,
// type 0; null here), ArrayBuffer (type 0), timestamps (type -1, as
// Node's Date, which JSON.stringify writes as an ISO string); others are
// [type, data], as notepack returns them.
func (r *msgpackReader) ext(n int, fixed bool) (value, error) {
	t, err := r.uint(1)
	if err != nil {
		return value{}, err
	}
	data, err := r.take(n)
	if err != nil {
		return value{}, err
	}
	typ := int8(t)
	switch {
	case fixed && typ == 0 && n == 1:
		return vNull(), nil
	case fixed && typ == 0 && n == 8:
		ms := int64(binaryUint(data[:4]))<<32 | int64(binaryUint(data[4:]))
		return vStr(time.UnixMilli(int64(int32(ms>>32))<<32 | ms&0xffffffff).UTC().Format("2006-01-02T15:04:05.000Z")), nil
	case !fixed && typ == 0:
		return vBin(data), nil
	case fixed && typ == -1 && n == 4:
		return vStr(time.Unix(int64(binaryUint(data)), 0).UTC().Format("2006-01-02T15:04:05.000Z")), nil
	case fixed && typ == -1 && n == 8:
		hi, lo := binaryUint(data[:4]), binaryUint(data[4:])
		sec := int64(hi&3)<<32 | int64(lo)
		return vStr(time.Unix(sec, int64(hi>>2)).UTC().Format("2006-01-02T15:04:05.000Z")), nil
	case !fixed && typ == -1 && n == 12:
		ns := binaryUint(data[:4])
		sec := int64(int32(binaryUint(data[4:8])))<<32 | int64(binaryUint(data[8:]))
		return vStr(time.Unix(sec, int64(ns)).UTC().Format("2006-01-02T15:04:05.000Z")), nil
	}
	return vArr(vNum(float64(typ)), vBin(data)), nil
}

func binaryUint(b []byte) uint32 {
	var u uint32
	for _, c := range b {
		u = u<<8 | uint32(c)
	}
	return u
}
