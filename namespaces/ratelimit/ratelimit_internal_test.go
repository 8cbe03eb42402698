package ratelimit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	b := &bucket{level: 20, at: t0}
	taken := 0
	for range 25 {
		if b.take(t0, 10, 20) {
			taken++
		}
	}
	if taken != 20 {
		t.Fatalf("burst: took %d of 25, want 20", taken)
	}
	if b.take(t0.Add(50*time.Millisecond), 10, 20) {
		t.Fatal("a token came back before 100 ms at 10/s")
	}
	if !b.take(t0.Add(150*time.Millisecond), 10, 20) {
		t.Fatal("no token after 150 ms at 10/s")
	}
	if b.take(t0.Add(time.Hour), 10, 20); b.level != 19 {
		t.Fatalf("refill is capped by the burst: level %v after one take", b.level)
	}
}

// The abuse bucket overflows after about the window at the abuse factor,
// and never at twice the rate.
func TestAbuseThreshold(t *testing.T) {
	t.Parallel()
	const rate, factor = 10.0, 10.0
	window := 10 * time.Second
	limit := (factor - 2) * rate * window.Seconds()
	run := func(sendRate float64, d time.Duration) (overflowAt time.Duration) {
		t0 := time.Unix(1_700_000_000, 0)
		tok := &bucket{level: 20, at: t0}
		abuse := &bucket{at: t0}
		step := time.Duration(float64(time.Second) / sendRate)
		for at := time.Duration(0); at < d; at += step {
			now := t0.Add(at)
			if !tok.take(now, rate, 20) && abuse.fill(now, rate) > limit {
				return at
			}
		}
		return -1
	}
	if at := run(factor*rate, time.Minute); at < 9*time.Second || at > 13*time.Second {
		t.Fatalf("at 10x the rate, disconnected after %v; want about %v", at, window)
	}
	if at := run(2*rate, 10*time.Minute); at != -1 {
		t.Fatalf("at 2x the rate, disconnected after %v", at)
	}
}

func TestParseRateLimits(t *testing.T) {
	t.Parallel()
	got, err := ParseRateLimits(" chatMessage=2.5:4 , typing=0:0,")
	if err != nil || len(got) != 2 || got["chatMessage"] != (RateLimit{2.5, 4}) || got["typing"] != (RateLimit{}) {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := ParseRateLimits(""); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"chatMessage", "chatMessage=1", "=1:1", "x=-1:1", "x=1:0", "x=a:b"} {
		if _, err := ParseRateLimits(bad); err == nil {
			t.Errorf("ParseRateLimits(%q) succeeded", bad)
		}
	}
	if s := (RateLimit{10, 20}).String(); s != "10:20" {
		t.Fatalf("String %q", s)
	}
}
