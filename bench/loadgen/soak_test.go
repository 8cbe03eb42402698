package main

import "testing"

// TestOffsetOf reads the recovery offset that ends a recorded event, and
// refuses events without one or with another server's prefix.
func TestOffsetOf(t *testing.T) {
	t.Parallel()
	r := &soakRun{}
	cases := []struct {
		args string
		off  string
		seq  uint64
		ok   bool
	}{
		{`["newChatMessage",{"id":"1"},"Ab_d-x9z-1z"]`, "Ab_d-x9z-1z", 71, true},
		{`["userJoined",{"room":"r"},"Ab_d-x9z-a"]`, "Ab_d-x9z-a", 10, true},
		{`["newChatMessage",{"id":"1"}]`, "", 0, false},
		{`["typing","a-b"]`, "", 0, false}, // "b" is base 36, but another prefix
		{`["x","nodash"]`, "", 0, false},
		{`["x","Ab_d-x9z-!"]`, "", 0, false},
	}
	for _, c := range cases {
		off, seq, ok := r.offsetOf([]byte(c.args))
		if ok != c.ok || ok && (off != c.off || seq != c.seq) {
			t.Errorf("offsetOf(%s) = %q, %d, %v; want %q, %d, %v", c.args, off, seq, ok, c.off, c.seq, c.ok)
		}
	}
}

func TestLogField(t *testing.T) {
	t.Parallel()
	line := `time=2026-12-07T23:44:58.949Z level=INFO msg="metrics listening" addr=127.0.0.1:42039 pprof=true`
	if got := logField(line, "addr="); got != "127.0.0.1:42039" {
		t.Errorf("addr = %q", got)
	}
	if got := logField(`level=INFO msg="parley listening" addr=127.0.0.1:1`, "addr="); got != "127.0.0.1:1" {
		t.Errorf("addr at the end = %q", got)
	}
	if got := logField(line, "sid="); got != "" {
		t.Errorf("missing key = %q", got)
	}
}

func TestJSONStringField(t *testing.T) {
	t.Parallel()
	obj := []byte(`{"sid":"abc","pid":"p-1"}`)
	if jsonStringField(obj, `"sid":"`) != "abc" || jsonStringField(obj, `"pid":"`) != "p-1" || jsonStringField(obj, `"x":"`) != "" {
		t.Error("jsonStringField is wrong")
	}
}
