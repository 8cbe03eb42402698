package socketio

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
)

// AsNamespace returns n as the handler-facing namespaces.Namespace.
func (n *Namespace) AsNamespace() namespaces.Namespace { return nsView{n} }

// AsConn returns s as the handler-facing namespaces.Conn.
func (s *Socket) AsConn() namespaces.Conn { return connView{s} }

type nsView struct{ n *Namespace }

func (v nsView) Name() string                         { return v.n.name }
func (v nsView) Emit(event string, args ...any) error { return v.n.Emit(event, args...) }
func (v nsView) To(rooms ...string) namespaces.Broadcaster {
	return opView{v.n.To(rooms...)}
}
func (v nsView) Except(rooms ...string) namespaces.Broadcaster {
	return opView{v.n.Except(rooms...)}
}
func (v nsView) Volatile() namespaces.Broadcaster { return opView{v.n.Volatile()} }

func (v nsView) Use(mw namespaces.Middleware) {
	v.n.Use(func(s *Socket) error { return toConnectError(mw(connView{s})) })
}

func (v nsView) OnConnection(fn func(c namespaces.Conn)) {
	v.n.OnConnection(func(s *Socket) { fn(connView{s}) })
}

func (v nsView) Sockets(rooms ...string) []namespaces.Conn {
	list := v.n.Sockets(rooms...)
	out := make([]namespaces.Conn, len(list))
	for i, s := range list {
		out[i] = connView{s}
	}
	return out
}

// toConnectError maps a handler error to what the client's connect_error
// shows: an *events.Error as {message: code, data: {code, message}}, any
// other error as a generic message (logged by the caller's logger).
func toConnectError(err error) error {
	if err == nil {
		return nil
	}
	var e *events.Error
	if errors.As(err, &e) {
		return &ConnectError{Message: string(e.Code), Data: map[string]any{"code": e.Code, "message": e.Message}}
	}
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce
	}
	var nce *namespaces.ConnectError
	if errors.As(err, &nce) {
		return &ConnectError{Message: nce.Message, Data: nce.Data}
	}
	return &ConnectError{Message: "internal", Data: map[string]any{"code": events.CodeInternal, "message": "internal error"}}
}

type opView struct{ b BroadcastOperator }

func (v opView) Emit(event string, args ...any) error { return v.b.Emit(event, args...) }
func (v opView) To(rooms ...string) namespaces.Broadcaster {
	return opView{v.b.To(rooms...)}
}
func (v opView) Except(rooms ...string) namespaces.Broadcaster {
	return opView{v.b.Except(rooms...)}
}
func (v opView) Volatile() namespaces.Broadcaster { return opView{v.b.Volatile()} }

type connView struct{ s *Socket }

func (v connView) ID() string                           { return v.s.id }
func (v connView) Namespace() string                    { return v.s.nsp.name }
func (v connView) Auth() json.RawMessage                { return v.s.auth }
func (v connView) Context() context.Context             { return v.s.ctx }
func (v connView) Get(key string) (any, bool)           { return v.s.Get(key) }
func (v connView) Set(key string, value any)            { v.s.Set(key, value) }
func (v connView) Join(rooms ...string)                 { v.s.Join(rooms...) }
func (v connView) Leave(room string)                    { v.s.Leave(room) }
func (v connView) Rooms() []string                      { return v.s.Rooms() }
func (v connView) Emit(event string, args ...any) error { return v.s.Emit(event, args...) }
func (v connView) Volatile() events.Emitter             { return v.s.Volatile() }
func (v connView) OnDisconnect(fn func(reason string))  { v.s.OnDisconnect(fn) }
func (v connView) Disconnect()                          { v.s.Disconnect(false) }
func (v connView) To(rooms ...string) namespaces.Broadcaster {
	return opView{v.s.To(rooms...)}
}

func (v connView) On(event string, h events.RawHandler) {
	v.s.On(event, func(s *Socket, args *Args, ack AckFunc) {
		var a events.AckFunc
		if ack != nil {
			a = events.AckFunc(ack)
		}
		h(s.ctx, args.RawAll(), a)
	})
}

// LegacyQuery implements namespaces.LegacyQuerier: the handshake query of a
// socket.io-client 2.x connection, each key with its last value.
func (v connView) LegacyQuery() (json.RawMessage, bool) {
	if !v.s.client.v3 {
		return nil, false
	}
	q := v.s.Handshake().Query()
	m := make(map[string]string, len(q))
	for k, vs := range q {
		m[k] = vs[len(vs)-1]
	}
	b, _ := json.Marshal(m) // cannot fail: strings
	return b, true
}
