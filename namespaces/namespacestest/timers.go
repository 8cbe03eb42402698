package namespacestest

import (
	"slices"
	"sync"
	"time"
)

// Timers is an AfterFunc (the shape handlers take for their timers) whose
// timers fire only when a test says so. The zero value is ready to use.
type Timers struct {
	mu     sync.Mutex
	timers []*Timer
}

// Timer is one timer started through Timers.AfterFunc.
type Timer struct {
	// D is the duration the timer was started with.
	D       time.Duration
	f       func()
	stopped bool
	fired   bool
}

// AfterFunc records a timer of d running f and returns its stop function,
// which reports whether it prevented the call, as time.Timer.Stop does.
func (m *Timers) AfterFunc(d time.Duration, f func()) func() bool {
	t := &Timer{D: d, f: f}
	m.mu.Lock()
	m.timers = append(m.timers, t)
	m.mu.Unlock()
	return func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		pending := !t.stopped && !t.fired
		t.stopped = true
		return pending
	}
}

// Pending returns the timers neither stopped nor fired.
func (m *Timers) Pending() []*Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Timer
	for _, t := range m.timers {
		if !t.stopped && !t.fired {
			out = append(out, t)
		}
	}
	return out
}

// All returns every timer started, in order.
func (m *Timers) All() []*Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.timers)
}

// Fire runs t's function even when t was stopped, as a timer that fired
// just before Stop would.
func (m *Timers) Fire(t *Timer) {
	m.mu.Lock()
	t.fired = true
	m.mu.Unlock()
	t.f()
}
