package main

import (
	"os"
	"testing"
	"time"
)

// TestServerCPUTime reads this test process's own /proc/PID/stat, which must
// agree with getrusage after some work (ticks are 10 ms).
func TestServerCPUTime(t *testing.T) {
	start := cpuTime()
	x := 0
	for cpuTime()-start < 200*time.Millisecond {
		for i := range 100000 {
			x += i
		}
	}
	got, err := serverCPUTime(os.Getpid())
	want := cpuTime()
	if err != nil {
		t.Fatalf("serverCPUTime: %v", err)
	}
	if d := (got - want).Abs(); d > 50*time.Millisecond || got < 150*time.Millisecond {
		t.Fatalf("serverCPUTime = %v, getrusage says %v (x=%d)", got, want, x)
	}
	if _, err := serverCPUTime(0); err == nil {
		t.Fatal("serverCPUTime(0) did not fail")
	}
}
