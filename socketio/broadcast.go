package socketio

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/parley-rt/parley/engineio"
)

// BroadcastOperator selects sockets of a namespace and sends to them. It is
// an immutable value: every method returns a new operator, so operators can
// be shared between goroutines and reused.
type BroadcastOperator struct {
	nsp      *Namespace
	rooms    []string
	except   []string
	volatile bool
	local    bool
	timeout  time.Duration
}

// To adds rooms to the selection.
func (b BroadcastOperator) To(rooms ...string) BroadcastOperator {
	b.rooms = append(slices.Clip(b.rooms), rooms...)
	return b
}

// In is To.
func (b BroadcastOperator) In(rooms ...string) BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in rooms.
func (b BroadcastOperator) Except(rooms ...string) BroadcastOperator {
	b.except = append(slices.Clip(b.except), rooms...)
	return b
}

// Volatile drops the packet for sockets that cannot take it at once.
func (b BroadcastOperator) Volatile() BroadcastOperator { b.volatile = true; return b }

// Compress is accepted for compatibility; Parley does not negotiate
// permessage-deflate, as Node's default does not.
func (b BroadcastOperator) Compress(bool) BroadcastOperator { return b }

// Local keeps the broadcast on this node.
func (b BroadcastOperator) Local() BroadcastOperator { b.local = true; return b }

// Timeout sets how long EmitWithAck waits for acknowledgements.
func (b BroadcastOperator) Timeout(d time.Duration) BroadcastOperator { b.timeout = d; return b }

// Emit sends the event to every selected socket. The packet is encoded
// once; every recipient gets the same frames.
func (b BroadcastOperator) Emit(event string, args ...any) error {
	n := b.nsp
	if n.recovery != nil && !b.volatile {
		err := n.emitRecorded(event, args, b.rooms, b.except, func(frames []*engineio.Frame) error {
			b.deliver(frames, nil)
			return nil
		})
		if err != nil {
			return err
		}
		// Other nodes record the event with offsets of their own; the
		// publish goes out after the emit lock is released.
		return b.publish(event, args)
	}
	frames, err := encodePacket(PacketEvent, n.name, noID, []any{event}, args)
	if err != nil {
		return err
	}
	b.deliver(frames, nil)
	return b.publish(event, args)
}

// deliver hands frames to the adapter for every selected socket; register,
// when set, is called for each local recipient first.
func (b BroadcastOperator) deliver(frames []*engineio.Frame, register func(*Socket)) int {
	n := b.nsp.adapter.Broadcast(frames, BroadcastOptions{Rooms: b.rooms, Except: b.except, Volatile: b.volatile, Local: b.local}, register)
	b.nsp.stats.broadcast(n)
	return n
}

// EmitWithAck sends the event to every selected socket and waits for each
// one's acknowledgement, until ctx ends or the operator's timeout passes.
// It returns the responses received; the error is ErrAckTimeout (or
// ctx.Err()) when some are missing.
func (b BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]*Args, error) {
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	if ca, ok := b.cluster(); ok {
		return b.emitWithAckCluster(ctx, ca, event, args)
	}
	n := b.nsp
	id := n.ackID.Add(1) - 1
	frames, err := encodePacket(PacketEvent, n.name, id, []any{event}, args)
	if err != nil {
		return nil, err
	}
	col := &collector{done: make(chan struct{})}
	var mine []*Socket
	sent := b.deliver(frames, func(s *Socket) {
		mine = append(mine, s)
		s.registerAck(id, col.add)
	})
	defer func() {
		for _, s := range mine {
			s.dropAck(id)
		}
	}()
	col.mu.Lock()
	col.want = sent
	if len(col.got) >= sent {
		col.finish()
	}
	col.mu.Unlock()
	select {
	case <-col.done:
	case <-ctx.Done():
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	out := slices.Clone(col.got)
	if len(out) < sent {
		if ctx.Err() == context.DeadlineExceeded {
			return out, ErrAckTimeout
		}
		return out, ctx.Err()
	}
	return out, nil
}

type collector struct {
	mu       sync.Mutex
	got      []*Args
	want     int
	finished bool
	done     chan struct{}
}

func (c *collector) add(a *Args) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, a)
	if c.want > 0 && len(c.got) >= c.want {
		c.finish()
	}
}

func (c *collector) finish() {
	if !c.finished {
		c.finished = true
		close(c.done)
	}
}

// FetchSockets returns the selected local sockets; FetchAllSockets
// returns those of every node.
func (b BroadcastOperator) FetchSockets() []*Socket {
	return b.nsp.localSockets(b.rooms, b.except)
}

// SocketsJoin makes the selected sockets join rooms, on every node of a
// multi-node adapter unless Local.
func (b BroadcastOperator) SocketsJoin(rooms ...string) {
	if ca, ok := b.cluster(); ok {
		ca.AddSockets(b.options(), rooms)
	}
	for _, s := range b.FetchSockets() {
		s.Join(rooms...)
	}
}

// SocketsLeave makes the selected sockets leave rooms, on every node of a
// multi-node adapter unless Local.
func (b BroadcastOperator) SocketsLeave(rooms ...string) {
	if ca, ok := b.cluster(); ok {
		ca.DelSockets(b.options(), rooms)
	}
	for _, s := range b.FetchSockets() {
		for _, r := range rooms {
			s.Leave(r)
		}
	}
}

// DisconnectSockets disconnects the selected sockets, on every node of a
// multi-node adapter unless Local; with close, their whole connections are
// closed.
func (b BroadcastOperator) DisconnectSockets(close bool) {
	if ca, ok := b.cluster(); ok {
		ca.DisconnectSockets(b.options(), close)
	}
	for _, s := range b.FetchSockets() {
		s.Disconnect(close)
	}
}

// emitRecorded encodes an EVENT packet once, with a recovery offset as its
// last argument, and records it and hands it to deliver as one step (see
// recoveryStore). The encoding happens before the emit lock is taken.
func (n *Namespace) emitRecorded(event string, args []any, rooms, except []string, deliver func([]*engineio.Frame) error) error {
	text, buffers, err := encodeTextFrame(PacketEvent, n.name, noID, []any{event}, args, n.recovery.offsetRoom())
	if err != nil {
		return err
	}
	frames := make([]*engineio.Frame, 1, 1+len(buffers))
	for _, b := range buffers {
		frames = append(frames, engineio.NewMessage(b, true))
	}
	return n.recovery.emit(text, frames, rooms, except, deliver)
}

// encodePacket encodes an EVENT or ACK packet: text frame first, then one
// binary frame per attachment.
func encodePacket(t PacketType, nsp string, id int64, prefix, args []any) ([]*engineio.Frame, error) {
	text, buffers, err := encodeTextFrame(t, nsp, id, prefix, args, 0)
	if err != nil {
		return nil, err
	}
	frames := make([]*engineio.Frame, 1, 1+len(buffers))
	frames[0] = engineio.NewMessage(text, false)
	for _, b := range buffers {
		frames = append(frames, engineio.NewMessage(b, true))
	}
	return frames, nil
}

// encodeTextFrame encodes an EVENT or ACK packet's text frame, with spare bytes
// of capacity left at its end, and returns its attachments.
func encodeTextFrame(t PacketType, nsp string, id int64, prefix, args []any, spare int) ([]byte, [][]byte, error) {
	body, buffers, err := encodeArgs(make([]byte, 0, 64), prefix, args)
	if err != nil {
		return nil, nil, err
	}
	if len(buffers) > 0 {
		switch t {
		case PacketEvent:
			t = PacketBinaryEvent
		case PacketAck:
			t = PacketBinaryAck
		}
	}
	head := appendHeader(make([]byte, 0, len(body)+len(nsp)+16+spare), t, nsp, len(buffers), id)
	return append(head, body...), buffers, nil
}

// encodeControl encodes a CONNECT, DISCONNECT or CONNECT_ERROR packet.
func encodeControl(t PacketType, nsp string, data any) *engineio.Frame {
	b := appendHeader(nil, t, nsp, 0, noID)
	if data != nil {
		j, _ := json.Marshal(data) // callers pass maps of strings and JSON values
		b = append(b, j...)
	}
	return engineio.NewMessage(b, false)
}
