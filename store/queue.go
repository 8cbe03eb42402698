package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// opKind says what a request asks the writer to do.
type opKind uint8

const (
	opAppend opKind = iota + 1
	opSeen
)

// Request states. A request is pending in the queue until the writer takes it
// or its caller abandons it, whichever comes first.
const (
	statePending int32 = iota
	stateTaken
	stateAbandoned
)

// request is one write handed to the writer goroutine.
type request struct {
	op  opKind
	msg Message // opAppend

	userID, name string // opSeen
	ms           int64  // opSeen

	state atomic.Int32
	reply chan reply // capacity 1: the writer never blocks on it
}

// reply is the writer's answer to one request.
type reply struct {
	msg     Message
	created bool
	err     error
}

// idemKey is an idempotency key: (sender_id, client_msg_id).
type idemKey struct{ sender, clientMsgID string }

// errClosed is what a write returns after Close.
func errClosed(op string) error { return fmt.Errorf("%s: %w", op, ErrUnavailable) }

// queue hands writes to a store's writer goroutine, which commits whatever is
// queued, up to maxBatch requests, as one batch. Both stores use it; each
// supplies its own commit function.
type queue struct {
	maxBatch int
	// mu orders sends on reqs against stop closing it: senders hold it for
	// reading, stop for writing.
	mu     sync.RWMutex
	closed atomic.Bool // set under mu; read without it by the read paths
	reqs   chan *request
	// done is closed when the writer goroutine returns; nil until
	// startWriter.
	done chan struct{}
}

// init sizes the queue; called once, before use.
func (q *queue) init(maxBatch int) {
	q.maxBatch = maxBatch
	q.reqs = make(chan *request, maxBatch)
}

// startWriter starts the writer goroutine, which commits batches with commit
// until stop. Called once, before the store is shared.
func (q *queue) startWriter(commit func(batch []*request, replies []reply) []reply) {
	q.done = make(chan struct{})
	go q.run(commit)
}

// stop stops taking writes and waits for the writer goroutine, if it was
// started, to commit and answer every request already queued. Called once.
func (q *queue) stop() {
	q.mu.Lock()
	q.closed.Store(true)
	close(q.reqs)
	q.mu.Unlock()
	if q.done != nil {
		<-q.done
	}
}

// submit queues req for the writer and waits for its reply. If ctx is done
// before the writer takes req, submit returns ctx.Err() and req is never
// written; once taken, submit waits for the outcome whatever ctx does, so a
// caller never sees an error for a write that was committed.
func (q *queue) submit(ctx context.Context, op string, req *request) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, err
	}
	req.reply = make(chan reply, 1)
	q.mu.RLock()
	if q.closed.Load() {
		q.mu.RUnlock()
		return reply{}, errClosed(op)
	}
	select {
	case q.reqs <- req:
	case <-ctx.Done():
		q.mu.RUnlock()
		return reply{}, ctx.Err()
	}
	q.mu.RUnlock()

	select {
	case r := <-req.reply:
		return r, r.err
	case <-ctx.Done():
		if req.state.CompareAndSwap(statePending, stateAbandoned) {
			return reply{}, ctx.Err()
		}
		r := <-req.reply
		return r, r.err
	}
}

// run is the writer goroutine: it takes whatever requests are queued, up to
// maxBatch, commits them in one transaction and answers them, until stop
// closes the queue. Requests queued before stop are still committed.
func (q *queue) run(commit func(batch []*request, replies []reply) []reply) {
	defer close(q.done)
	batch := make([]*request, 0, q.maxBatch)
	replies := make([]reply, 0, q.maxBatch)
	for {
		req, ok := <-q.reqs
		if !ok {
			return
		}
		batch = take(batch[:0], req)
	drain:
		for len(batch) < q.maxBatch {
			select {
			case req, ok := <-q.reqs:
				if !ok {
					break drain // commit this batch; the next receive returns
				}
				batch = take(batch, req)
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			continue
		}
		replies = commit(batch, replies[:0])
		for i, req := range batch {
			req.reply <- replies[i]
			batch[i] = nil // let the request be collected
		}
	}
}

// take appends req to batch unless its caller abandoned it.
func take(batch []*request, req *request) []*request {
	if req.state.CompareAndSwap(statePending, stateTaken) {
		batch = append(batch, req)
	}
	return batch
}

// String names the operation in errors: "append" or "set last seen".
func (k opKind) String() string {
	switch k {
	case opAppend:
		return "append"
	case opSeen:
		return "set last seen"
	}
	return fmt.Sprintf("opKind(%d)", uint8(k))
}
