package conformance_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/parley-rt/parley/internal/conformance"
)

// pollClient is a minimal Engine.IO polling client for the conformance
// profile.
type pollClient struct {
	t   *testing.T
	url string // endpoint with EIO, transport and sid
}

func openPoll(t *testing.T, base, path string) (*pollClient, string) {
	t.Helper()
	res, err := http.Get(base + path + "?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body) // a short read fails the checks below
	open := string(b)
	var hs struct{ SID string }
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &hs) != nil || hs.SID == "" {
		t.Fatalf("handshake %q", open)
	}
	return &pollClient{t: t, url: base + path + "?EIO=4&transport=polling&sid=" + hs.SID}, open[1:]
}

func (c *pollClient) post(body string) {
	c.t.Helper()
	res, err := http.Post(c.url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	_ = res.Body.Close() // the status is what matters
	if res.StatusCode != 200 {
		c.t.Fatalf("POST %q: %d", body, res.StatusCode)
	}
}

// next polls until a packet that is not a ping arrives and returns the
// packets of that response.
func (c *pollClient) next() []string {
	c.t.Helper()
	for range 20 {
		res, err := http.Get(c.url)
		if err != nil {
			c.t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body) // a short read fails the caller's check
		_ = res.Body.Close()
		var out []string
		for _, p := range strings.Split(string(b), "\x1e") {
			if p == "2" {
				c.post("3")
				continue
			}
			out = append(out, p)
		}
		if len(out) > 0 {
			return out
		}
	}
	c.t.Fatal("no packet in 20 polls")
	return nil
}

// TestConformanceProfile drives `parley conformance` the way the public
// Socket.IO and Engine.IO protocol suites do.
func TestConformanceProfile(t *testing.T) {
	t.Parallel()
	conf, err := conformance.New(slog.New(slog.DiscardHandler), conformance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(conf)
	t.Cleanup(func() {
		_ = conf.Close(t.Context()) // the sessions end with the test
		ts.Close()
	})

	t.Run("handshake", func(t *testing.T) {
		_, open := openPoll(t, ts.URL, "/socket.io/")
		var m map[string]any
		if err := json.Unmarshal([]byte(open), &m); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"}) ||
			m["pingInterval"] != 300.0 || m["pingTimeout"] != 200.0 || m["maxPayload"] != 1e6 {
			t.Fatalf("handshake %s", open)
		}
	})

	t.Run("socket.io", func(t *testing.T) {
		c, _ := openPoll(t, ts.URL, "/socket.io/")
		c.post("40/nope,")
		if got := c.next(); !slices.Equal(got, []string{`44/nope,{"message":"Invalid namespace"}`}) {
			t.Fatalf("invalid namespace: %q", got)
		}
		c.post(`40{"token":"x"}`)
		got := c.next()
		if len(got) != 2 || !strings.HasPrefix(got[0], `40{"sid":"`) || got[1] != `42["auth",{"token":"x"}]` {
			t.Fatalf("connect: %q", got)
		}
		c.post(`42["message",1,"two",{"three":[4]}]`)
		if got := c.next(); !slices.Equal(got, []string{`42["message-back",1,"two",{"three":[4]}]`}) {
			t.Fatalf("echo: %q", got)
		}
		c.post(`451-["message",{"_placeholder":true,"num":0}]` + "\x1e" + "bAQID")
		if got := c.next(); !slices.Equal(got, []string{`451-["message-back",{"_placeholder":true,"num":0}]`, "bAQID"}) {
			t.Fatalf("binary echo: %q", got)
		}
		c.post(`427["message-with-ack",1,"x"]`)
		if got := c.next(); !slices.Equal(got, []string{`437[1,"x"]`}) {
			t.Fatalf("ack: %q", got)
		}
		c.post(`40/custom,`)
		got = c.next()
		if len(got) != 2 || !strings.HasPrefix(got[0], `40/custom,{"sid":"`) || got[1] != `42/custom,["auth",{}]` {
			t.Fatalf("custom: %q", got)
		}
	})

	t.Run("engine.io echo", func(t *testing.T) {
		c, _ := openPoll(t, ts.URL, "/engine.io/")
		c.post("4hello\x1ebAQID\x1e4é")
		if got := c.next(); !slices.Equal(got, []string{"4hello", "bAQID", "4é"}) {
			t.Fatalf("echo: %q", got)
		}
	})
}

// TestConformanceAllowEIO3 checks that Options.AllowEIO3 reaches both
// endpoints, and that without it an EIO=3 handshake is refused.
func TestConformanceAllowEIO3(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		conf, err := conformance.New(slog.New(slog.DiscardHandler), conformance.Options{AllowEIO3: allow})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(conf)
		for _, path := range []string{"/socket.io/", "/engine.io/"} {
			res, err := ts.Client().Get(ts.URL + path + "?EIO=3&transport=polling")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body) // a short body fails below
			_ = res.Body.Close()
			want := http.StatusBadRequest
			if allow {
				want = http.StatusOK
			}
			if res.StatusCode != want || allow && !strings.Contains(string(body), `:0{"sid":`) {
				t.Errorf("AllowEIO3 %v: %s handshake = %d %q, want %d", allow, path, res.StatusCode, body, want)
			}
		}
		_ = conf.Close(t.Context()) // the sessions end with the test
		ts.Close()
	}
}
