package admin

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-rt/parley/socketio"
)

// errBadAction reports a UI action whose arguments do not decode.
var errBadAction = errors.New("admin: malformed action")

// action is one decoded UI action.
type action struct {
	event  string
	nsp    string
	filter string // a room or a socket id; empty: every socket
	room   string // join, leave
	close  bool   // _disconnect
	name   string // emit: the event
	args   []any  // emit: its arguments, json.RawMessage each
}

// decodeAction decodes the arguments of a UI action:
//
//	emit(nsp, filter?, event, ...args)
//	join(nsp, room, filter?)   leave(nsp, room, filter?)
//	_disconnect(nsp, close, filter?)
//
// The UI sends no binary data; args are its JSON arguments.
func decodeAction(event string, args []json.RawMessage) (action, error) {
	act := action{event: event}
	str := func(i int, dst *string, optional bool) error {
		if i >= len(args) {
			if optional {
				return nil
			}
			return fmt.Errorf("%s: argument %d missing: %w", event, i, errBadAction)
		}
		raw := args[i]
		if optional && string(raw) == "null" {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%s: argument %d: %w", event, i, errBadAction)
		}
		return nil
	}
	if err := str(0, &act.nsp, false); err != nil {
		return act, err
	}
	switch event {
	case evEmit:
		if err := str(1, &act.filter, true); err != nil {
			return act, err
		}
		if err := str(2, &act.name, false); err != nil {
			return act, err
		}
		if act.name == "" {
			return act, fmt.Errorf("%s: empty event name: %w", event, errBadAction)
		}
		for _, raw := range args[min(3, len(args)):] {
			act.args = append(act.args, raw)
		}
	case evJoin, evLeave:
		if err := str(1, &act.room, false); err != nil {
			return act, err
		}
		if act.room == "" {
			return act, fmt.Errorf("%s: empty room: %w", event, errBadAction)
		}
		if err := str(2, &act.filter, true); err != nil {
			return act, err
		}
	case evDisconnect:
		if len(args) > 1 {
			if err := json.Unmarshal(args[1], &act.close); err != nil {
				return act, fmt.Errorf("%s: argument 1: %w", event, errBadAction)
			}
		}
		if err := str(2, &act.filter, true); err != nil {
			return act, err
		}
	}
	return act, nil
}

// act runs a UI action on this node's sockets. A malformed one, or one for
// a namespace that does not exist (the UI never creates namespaces), is
// logged and dropped. With a cluster adapter, join, leave and _disconnect
// are to go through BroadcastOperator's SocketsJoin, SocketsLeave and
// DisconnectSockets, so that they reach every node as emit already does.
func (a *Admin) act(event string, args *socketio.Args) {
	if args.Binary() {
		a.cfg.Logger.Warn("admin: action with binary data dropped", "event", event)
		return
	}
	act, err := decodeAction(event, args.RawAll())
	if err != nil {
		a.cfg.Logger.Warn("admin: action dropped", "err", err)
		return
	}
	n := a.namespace(act.nsp)
	if n == nil {
		a.cfg.Logger.Warn("admin: action for an unknown namespace dropped", "event", event, "nsp", act.nsp)
		return
	}
	a.cfg.Logger.Info("admin: action", "event", event, "nsp", act.nsp, "filter", act.filter, "room", act.room)
	filter := act.filter
	switch event {
	case evEmit:
		b := n.Except() // the whole namespace
		if filter != "" {
			b = n.To(filter)
		}
		if err := b.Emit(act.name, act.args...); err != nil {
			a.cfg.Logger.Warn("admin: emit action failed", "nsp", act.nsp, "event", act.name, "err", err)
		}
	case evJoin:
		room := act.room
		for _, s := range selectSockets(n, filter) {
			s.Join(room)
		}
	case evLeave:
		room := act.room
		for _, s := range selectSockets(n, filter) {
			s.Leave(room)
		}
	case evDisconnect:
		for _, s := range selectSockets(n, filter) {
			s.Disconnect(act.close)
		}
	}
}

// selectSockets returns the local sockets of n in room, or all of them.
func selectSockets(n *socketio.Namespace, room string) []*socketio.Socket {
	if room == "" {
		return n.Sockets()
	}
	return n.Sockets(room)
}

// namespace returns the existing namespace name, or nil.
func (a *Admin) namespace(name string) *socketio.Namespace {
	for _, n := range a.cfg.IO.Namespaces() {
		if n.Name() == name {
			return n
		}
	}
	return nil
}
