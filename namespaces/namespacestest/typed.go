package namespacestest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/parley-rt/parley/events"
)

// Call plays the client emitting the event ev with req and an ack callback,
// and decodes the ack strictly. It fails when the handler did not ack
// exactly once with one argument.
func Call[Req, Resp any](c *Conn, ev events.Inbound[Req, Resp], req Req) (events.Result[Resp], error) {
	var res events.Result[Resp]
	ack, err := c.Call(ev.Name(), req)
	if err != nil {
		return res, err
	}
	if ack.Calls != 1 || len(ack.Args) != 1 {
		return res, fmt.Errorf("namespacestest: %s acked %d times with %d arguments, want once with 1", ev.Name(), ack.Calls, len(ack.Args))
	}
	if err := json.Unmarshal(ack.Args[0], &res); err != nil {
		return res, fmt.Errorf("namespacestest: %s ack %s: %w", ev.Name(), ack.Args[0], err)
	}
	return res, nil
}

// Send plays the client emitting the ack-less event ev with req.
func Send[Req any](c *Conn, ev events.InboundNoAck[Req], req Req) error {
	return c.Send(ev.Name(), req)
}

// Next waits for the server event ev on c, as Conn.Next, and decodes its
// single argument strictly.
func Next[T any](ctx context.Context, c *Conn, ev events.Outbound[T]) (T, Packet, error) {
	var zero T
	pkt, err := c.Next(ctx, ev.Name())
	if err != nil {
		return zero, pkt, err
	}
	v, err := Decode(ev, pkt)
	return v, pkt, err
}

// Decode decodes the single argument of a packet of ev strictly.
func Decode[T any](ev events.Outbound[T], pkt Packet) (T, error) {
	var zero T
	if pkt.Event != ev.Name() || len(pkt.Args) != 1 {
		return zero, fmt.Errorf("namespacestest: packet %s with %d arguments is not one %s", pkt.Event, len(pkt.Args), ev.Name())
	}
	return events.Decode[T](pkt.Args[0])
}

// ReceivedAll decodes every packet of ev delivered to c so far.
func ReceivedAll[T any](c *Conn, ev events.Outbound[T]) ([]T, error) {
	var out []T
	for _, pkt := range c.ReceivedEvent(ev.Name()) {
		v, err := Decode(ev, pkt)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
