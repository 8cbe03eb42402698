//go:build integration

package redisadapter

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parley-rt/parley/socketio"
)

type npCase struct {
	UID      string   `json:"uid"`
	Nsp      string   `json:"nsp"`
	JSON     string   `json:"json"`
	Buffers  []string `json:"buffers"`
	Rooms    []string `json:"rooms"`
	Except   []string `json:"except"`
	Volatile bool     `json:"volatile"`
}

// notepackCases are event payloads that exercise every format choice of
// notepack.io: integer widths on both sides of each boundary, floats,
// string and binary lengths, array and map sizes, JavaScript's key order.
func notepackCases() []npCase {
	nums := []string{"0", "1", "127", "128", "255", "256", "65535", "65536", "4294967295", "4294967296",
		"9007199254740991", "9007199254740993", "9223372036854775807", "18446744073709551615", "1e21", "1e300",
		"-1", "-32", "-33", "-128", "-129", "-32768", "-32769", "-2147483648", "-2147483649",
		"-9007199254740991", "-1e300", "0.1", "1.5e-7", "-0", "1e-7", "123456789.123", "1.0", "2E3", "-0.0"}
	var cases []npCase
	add := func(json string, buffers ...[]byte) {
		c := npCase{UID: "Ab3-_z", Nsp: "/", JSON: json, Rooms: []string{}, Except: []string{}}
		for _, b := range buffers {
			c.Buffers = append(c.Buffers, base64.StdEncoding.EncodeToString(b))
		}
		cases = append(cases, c)
	}
	add(`["ev",` + strings.Join(nums, ",") + `]`)
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		add(`["ev","` + strings.Repeat("x", n) + `"]`)
	}
	add(`["ev","é","😀","\n\t\"\\","\u0001\u001f","\ud83d\ude00","<&>","\u2028"]`)
	for _, n := range []int{0, 15, 16, 65536} {
		elems := make([]string, n)
		for i := range elems {
			elems[i] = fmt.Sprint(i % 300)
		}
		add(`["ev",[` + strings.Join(elems, ",") + `]]`)
		members := make([]string, n)
		for i := range members {
			members[i] = fmt.Sprintf(`"k%d":%d`, i, i)
		}
		add(`["ev",{` + strings.Join(members, ",") + `}]`)
	}
	add(`["ev",{"b":1,"10":2,"a":3,"2":4,"-1":5,"01":6,"4294967295":7,"4294967294":8,"b":9}]`)
	add(`["ev",null,true,false,{},[],[[[]]],{"a":{"b":{"c":null}}}]`)
	add(`[42,"numeric event name"]`)
	for _, n := range []int{0, 1, 255, 256, 65535, 65536} {
		add(`["bin",{"_placeholder":true,"num":0}]`, bytes.Repeat([]byte{0xab}, n))
	}
	add(`["bin",{"a":[1,{"_placeholder":true,"num":0}],"b":{"_placeholder":true,"num":1}},{"_placeholder":true,"num":2}]`,
		[]byte("one"), []byte{0, 1, 2}, []byte{})
	c := npCase{UID: "uid123", Nsp: "/chat", JSON: `["msg","hi"]`, Rooms: []string{"lobby"}, Except: []string{"sid1", "sid1"}, Volatile: true}
	cases = append(cases, c)
	c = npCase{UID: "uid123", Nsp: "/chat", JSON: `["msg","hi"]`, Rooms: []string{"a", "b", "a"}, Except: []string{}}
	cases = append(cases, c)

	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		add(`["rand",` + randomJSON(r, 0) + `]`)
	}
	return cases
}

func randomJSON(r *rand.Rand, depth int) string {
	k := r.IntN(8)
	if depth > 4 {
		k = r.IntN(5)
	}
	switch k {
	case 0:
		return "null"
	case 1:
		return fmt.Sprint(r.IntN(2) == 0)
	case 2:
		exp := r.IntN(70) - 10
		f := (r.Float64() - 0.5) * pow10(exp)
		if r.IntN(2) == 0 {
			f = float64(int64(f))
		}
		b, _ := json.Marshal(f)
		return string(b)
	case 3:
		b, _ := json.Marshal(int64(r.Uint64() >> r.IntN(64)))
		return string(b)
	case 4:
		runes := []rune("aé😀\"\\\n\x01€ z")
		n := r.IntN(40)
		var sb strings.Builder
		for range n {
			sb.WriteRune(runes[r.IntN(len(runes))])
		}
		b, _ := json.Marshal(sb.String())
		return string(b)
	case 5, 6:
		n := r.IntN(20)
		elems := make([]string, n)
		for i := range elems {
			elems[i] = randomJSON(r, depth+1)
		}
		return "[" + strings.Join(elems, ",") + "]"
	default:
		n := r.IntN(20)
		ms := make([]string, n)
		for i := range ms {
			key := fmt.Sprint(r.IntN(30))
			if r.IntN(2) == 0 {
				key = "k" + key
			}
			ms[i] = fmt.Sprintf("%q:%s", key, randomJSON(r, depth+1))
		}
		return "{" + strings.Join(ms, ",") + "}"
	}
}

func pow10(e int) float64 {
	f := 1.0
	for ; e > 0; e-- {
		f *= 10
	}
	for ; e < 0; e++ {
		f /= 10
	}
	return f
}

// runNotepack feeds lines to testdata/notepack.cjs and returns its output
// lines.
func runNotepack(t *testing.T, lines [][]byte) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join("..", "node_modules", "notepack.io")); err != nil {
		t.Fatal("node_modules/notepack.io is missing: run npm ci at the repository root")
	}
	cmd := exec.Command(node, filepath.Join("testdata", "notepack.cjs"))
	cmd.Stdin = bytes.NewReader(bytes.Join(append(lines, nil), []byte("\n")))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("notepack.cjs: %v\n%s", err, stderr.String())
	}
	var res []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		res = append(res, sc.Text())
	}
	if len(res) != len(lines) {
		t.Fatalf("notepack.cjs answered %d lines for %d", len(res), len(lines))
	}
	return res
}

// TestNotepackByteForByte checks that a broadcast published by Parley is,
// byte for byte, what Node's adapter publishes for the same emit, and that
// Parley decodes what Node publishes into what a Node receiver would hand
// to socket.io-parser.
func TestNotepackByteForByte(t *testing.T) {
	cases := notepackCases()
	lines := make([][]byte, len(cases))
	for i, c := range cases {
		lines[i], _ = json.Marshal(c)
	}
	want := runNotepack(t, lines)
	decodeLines := make([][]byte, len(cases))
	for i, c := range cases {
		ev := socketio.EncodedEvent{Data: []byte(c.JSON)}
		for _, b := range c.Buffers {
			raw, _ := base64.StdEncoding.DecodeString(b)
			ev.Buffers = append(ev.Buffers, raw)
		}
		channel, msg, err := broadcastMessage("socket.io", c.UID, c.Nsp, ev, socketio.BroadcastOptions{Rooms: c.Rooms, Except: c.Except, Volatile: c.Volatile})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := hex.EncodeToString(msg); got != want[i] {
			t.Errorf("case %d (%.80s): Parley wrote\n%.400s\nnotepack wrote\n%.400s", i, c.JSON, got, want[i])
		}
		if wantCh := "socket.io#" + c.Nsp + "#"; len(slices.Compact(slices.Clone(c.Rooms))) == 1 && channel != wantCh+c.Rooms[0]+"#" || len(c.Rooms) == 0 && channel != wantCh {
			t.Errorf("case %d: channel %q", i, channel)
		}
		decodeLines[i], _ = json.Marshal(map[string]string{"hex": want[i]})
	}
	decoded := runNotepack(t, decodeLines)
	for i := range cases {
		var ref struct {
			JSON    string   `json:"json"`
			Buffers []string `json:"buffers"`
		}
		if err := json.Unmarshal([]byte(decoded[i]), &ref); err != nil {
			t.Fatal(err)
		}
		raw, _ := hex.DecodeString(want[i])
		v, err := parseMsgpack(raw)
		if err != nil {
			t.Fatalf("case %d: decode: %v", i, err)
		}
		var buffers [][]byte
		got := appendJSON(nil, v, &buffers)
		if string(got) != ref.JSON {
			t.Errorf("case %d: Parley decoded\n%.400s\nNode decoded\n%.400s", i, got, ref.JSON)
		}
		if len(buffers) != len(ref.Buffers) {
			t.Errorf("case %d: %d buffers, Node %d", i, len(buffers), len(ref.Buffers))
			continue
		}
		for j, b := range buffers {
			if base64.StdEncoding.EncodeToString(b) != ref.Buffers[j] {
				t.Errorf("case %d: buffer %d differs", i, j)
			}
		}
	}
}
