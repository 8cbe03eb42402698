package engineio

import (
	"context"
	"sync"
	"sync/atomic"
)

// inflight counts running goroutines that a close must wait for. Unlike a
// sync.WaitGroup it may be added to while someone waits, as sessions keep
// closing during a shutdown. add and done are an atomic add each: writer
// goroutines start and end once per busy period of every connection, and a
// shared mutex there would be contended by a busy fan-out; the mutex is
// taken only when the count drops to zero.
type inflight struct {
	n    atomic.Int64
	mu   sync.Mutex
	idle chan struct{} // made by wait; closed by done when n drops to zero
}

func (f *inflight) add() { f.n.Add(1) }

func (f *inflight) done() {
	if f.n.Add(-1) != 0 {
		return
	}
	f.mu.Lock()
	if f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// wait returns when no goroutine is counted, or ctx.Err() when ctx ends
// first.
func (f *inflight) wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		if f.n.Load() == 0 {
			f.mu.Unlock()
			return nil
		}
		if f.idle == nil {
			f.idle = make(chan struct{})
		}
		idle := f.idle
		f.mu.Unlock()
		select {
		case <-idle: // more may have started meanwhile: check again
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
