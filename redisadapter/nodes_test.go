package redisadapter_test

import (
	"testing"
	"time"

	"github.com/parley-rt/parley/redisadapter"
)

// The stated bound: with the defaults, a SIGKILLed node's users go offline
// on the other nodes at most 30 s plus the grace period after its death.
// Detection is TTL (the key outlives the last renewal, which came before
// the death), a scan, the confirmation (the key stays missing for two
// renewal intervals) and a scan.
func TestLivenessDefaults(t *testing.T) {
	t.Parallel()
	l := redisadapter.Liveness{}.WithDefaults()
	if l.TTL != 10*time.Second || l.Interval != 2*time.Second || l.Scan != 2500*time.Millisecond || l.Confirm() != 4*time.Second {
		t.Fatalf("defaults %+v", l)
	}
	if got := (redisadapter.Liveness{}).DetectionBound(); got != 19*time.Second || got > 30*time.Second {
		t.Fatalf("default detection bound %v; want 19s (within the stated 30s)", got)
	}
	// A renewal may come late by most of the TTL before the key expires:
	// several renewals fit in one TTL.
	if 2*l.Interval >= l.TTL {
		t.Fatalf("interval %v leaves no room for a late renewal within TTL %v", l.Interval, l.TTL)
	}
	cases := []struct {
		in   redisadapter.Liveness
		want time.Duration
	}{
		// TTL + 2 scans + 2 intervals
		{redisadapter.Liveness{TTL: time.Second}, 1900 * time.Millisecond},
		{redisadapter.Liveness{TTL: time.Second, Scan: 100 * time.Millisecond}, 1600 * time.Millisecond},
		{redisadapter.Liveness{TTL: time.Second, Interval: 2 * time.Second}, 1900 * time.Millisecond}, // interval capped
	}
	for _, c := range cases {
		if got := c.in.DetectionBound(); got != c.want {
			t.Errorf("%+v: bound %v, want %v", c.in, got, c.want)
		}
	}
	if l := (redisadapter.Liveness{TTL: time.Second, Interval: 2 * time.Second}).WithDefaults(); l.Interval >= l.TTL {
		t.Errorf("an interval beyond the TTL was kept: %+v", l)
	}
}
