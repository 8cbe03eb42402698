package events

import (
	"context"
	"encoding/json"
)

// RawHandler is what the engine calls for one incoming event: the event's
// arguments as raw JSON (binary attachments are not supported by typed events
// and arrive as placeholder objects) and the client's ack callback, nil when
// the client did not ask for an acknowledgement.
//
// ctx is cancelled when the socket disconnects. The engine calls the handlers
// of one socket one at a time, in arrival order.
type RawHandler func(ctx context.Context, args []json.RawMessage, ack AckFunc)

// AckFunc sends the acknowledgement for one event. Calling it more than once
// sends nothing after the first call. Each argument is marshalled with
// encoding/json (json.RawMessage is written as is).
type AckFunc func(args ...any) error

// Receiver registers the raw handler for an event name. A later registration
// for the same name replaces the earlier one.
type Receiver interface {
	On(event string, h RawHandler)
}

// Emitter sends one event with its arguments. Emit never blocks on a slow
// receiver: the engine queues, and disconnects a receiver whose queue is full.
type Emitter interface {
	Emit(event string, args ...any) error
}
