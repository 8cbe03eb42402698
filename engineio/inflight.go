package engineio

import (
	"context"
	"sync"
)

// inflight counts running goroutines that a close must wait for. Unlike a
// sync.WaitGroup it may be added to while someone waits, as sessions keep
// closing during a shutdown.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero; nil while n is zero
}

func (f *inflight) add() {
	f.mu.Lock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// wait returns when no goroutine is counted, or ctx.Err() when ctx ends
// first.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return f.wait(ctx) // more may have started meanwhile
	case <-ctx.Done():
		return ctx.Err()
	}
}
