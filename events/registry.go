package events

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Namespace is a Socket.IO namespace name, for example "/chat".
type Namespace string

// TypeScriptPrefix is the prefix of the namespace's generated event-map
// interfaces: "/chat" gives "Chat" (ChatClientToServerEvents), "/" gives "".
func (n Namespace) TypeScriptPrefix() string {
	var b strings.Builder
	for part := range strings.FieldsFuncSeq(string(n), func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// Direction says who emits an event.
type Direction uint8

// The two directions. The registry keys events on (namespace, direction,
// name), so one name may exist in both directions with different payloads,
// as "typing" does in /chat.
const (
	ClientToServer Direction = iota + 1
	ServerToClient
)

// String returns "clientToServer" or "serverToClient".
func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return "clientToServer"
	case ServerToClient:
		return "serverToClient"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Info describes one registered event.
type Info struct {
	Namespace Namespace
	Name      string
	Direction Direction
	// Payload is the type of the event's single argument.
	Payload reflect.Type
	// Ack is the type of the data in the ack's successful Result; nil when the
	// event has no ack (server events and ClientEventNoAck).
	Ack reflect.Type
}

// Inbound is a client-to-server event whose single Req argument is answered
// with an ack carrying a Result[Resp]. Create it with ClientEvent; serve it
// with Handle.
type Inbound[Req, Resp any] struct{ info *Info }

// InboundNoAck is a client-to-server event with a single Req argument and no
// ack. Create it with ClientEventNoAck; serve it with HandleNoAck.
type InboundNoAck[Req any] struct{ info *Info }

// Outbound is a server-to-client event with a single T argument. Create it
// with ServerEvent; send it with Emit.
type Outbound[T any] struct{ info *Info }

// Name returns the event name as sent on the wire.
func (e Inbound[Req, Resp]) Name() string { return mustInfo(e.info).Name }

// Info returns a copy of the event's registry entry.
func (e Inbound[Req, Resp]) Info() Info { return *mustInfo(e.info) }

// Name returns the event name as sent on the wire.
func (e InboundNoAck[Req]) Name() string { return mustInfo(e.info).Name }

// Info returns a copy of the event's registry entry.
func (e InboundNoAck[Req]) Info() Info { return *mustInfo(e.info) }

// Name returns the event name as sent on the wire.
func (e Outbound[T]) Name() string { return mustInfo(e.info).Name }

// Info returns a copy of the event's registry entry.
func (e Outbound[T]) Info() Info { return *mustInfo(e.info) }

func mustInfo(info *Info) *Info {
	if info == nil {
		panic("events: zero event descriptor; create it with ClientEvent, ClientEventNoAck or ServerEvent")
	}
	return info
}

// ClientEvent registers a client-to-server event acknowledged with a
// Result[Resp] and returns its descriptor. Call it only to initialize a
// package-level variable: it panics on a duplicate (namespace, direction,
// name), on a reserved name, and on a payload type the codec or the
// TypeScript generator cannot represent.
func ClientEvent[Req, Resp any](ns Namespace, name string) Inbound[Req, Resp] {
	return Inbound[Req, Resp]{register(Info{
		Namespace: ns, Name: name, Direction: ClientToServer,
		Payload: reflect.TypeFor[Req](), Ack: reflect.TypeFor[Resp](),
	})}
}

// ClientEventNoAck registers a client-to-server event without an ack, like
// ClientEvent.
func ClientEventNoAck[Req any](ns Namespace, name string) InboundNoAck[Req] {
	return InboundNoAck[Req]{register(Info{
		Namespace: ns, Name: name, Direction: ClientToServer,
		Payload: reflect.TypeFor[Req](),
	})}
}

// ServerEvent registers a server-to-client event, like ClientEvent.
func ServerEvent[T any](ns Namespace, name string) Outbound[T] {
	return Outbound[T]{register(Info{
		Namespace: ns, Name: name, Direction: ServerToClient,
		Payload: reflect.TypeFor[T](),
	})}
}

// Reserved event names (socket.io lib/socket-types.ts RESERVED_EVENTS): the
// engine uses them itself, so no application event may take one.
var reserved = []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

type registryKey struct {
	ns   Namespace
	dir  Direction
	name string
}

// registry holds every descriptor. It is written while package-level
// variables are initialized and only read afterwards; the mutex makes a late
// registration safe anyway.
var registry struct {
	mu    sync.Mutex
	byKey map[registryKey]*Info
}

func register(info Info) *Info {
	if err := checkInfo(info); err != nil {
		panic(err)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.byKey == nil {
		registry.byKey = make(map[registryKey]*Info)
	}
	key := registryKey{info.Namespace, info.Direction, info.Name}
	if _, dup := registry.byKey[key]; dup {
		panic(fmt.Sprintf("events: duplicate %s event %q in namespace %q", info.Direction, info.Name, info.Namespace))
	}
	p := &info
	registry.byKey[key] = p
	return p
}

func checkInfo(info Info) error {
	if !strings.HasPrefix(string(info.Namespace), "/") {
		return fmt.Errorf("events: namespace %q does not start with /", info.Namespace)
	}
	if info.Name == "" {
		return fmt.Errorf("events: empty event name in namespace %q", info.Namespace)
	}
	if slices.Contains(reserved, info.Name) {
		return fmt.Errorf("events: event name %q is reserved by Socket.IO", info.Name)
	}
	for _, t := range []reflect.Type{info.Payload, info.Ack} {
		if t == nil {
			continue
		}
		if err := checkPayloadType(t); err != nil {
			return fmt.Errorf("events: event %q in namespace %q: %w", info.Name, info.Namespace, err)
		}
	}
	return nil
}

// checkPayloadType requires a named struct type whose fields, recursively,
// the codec and the TypeScript generator support, or a string (an event
// whose single argument is a bare string, as /presence userConnected).
func checkPayloadType(t reflect.Type) error {
	if t.Kind() == reflect.String {
		return nil
	}
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("payload type %v is not a struct or a string", t)
	}
	return checkType(t, map[reflect.Type]bool{})
}

func checkType(t reflect.Type, seen map[reflect.Type]bool) error {
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Pointer {
			return fmt.Errorf("type %v: pointer to pointer", t)
		}
		return checkType(t.Elem(), seen)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return fmt.Errorf("type %v: byte slices are not supported", t)
		}
		return checkType(t.Elem(), seen)
	case reflect.Struct:
		if seen[t] {
			return nil
		}
		seen[t] = true
		if t.Name() == "" || strings.ContainsAny(t.Name(), "[]") {
			return fmt.Errorf("type %v: only named, non-generic struct types are supported", t)
		}
		fields, err := Fields(t)
		if err != nil {
			return err
		}
		for _, f := range fields {
			if err := checkType(f.Type, seen); err != nil {
				return fmt.Errorf("%v.%s: %w", t, f.Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("type %v: kind %v is not supported", t, t.Kind())
}

// Registered returns every registered event, sorted by namespace, direction
// and name.
func Registered() []Info {
	registry.mu.Lock()
	out := make([]Info, 0, len(registry.byKey))
	for _, p := range registry.byKey {
		out = append(out, *p)
	}
	registry.mu.Unlock()
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Direction, b.Direction), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// Field is one JSON field of a payload struct, as both the strict decoder and
// the TypeScript generator see it.
type Field struct {
	// Name is the JSON key.
	Name string
	// Index is the field's index in the struct.
	Index int
	// Type is the field's Go type.
	Type reflect.Type
	// Optional is true when the key may be absent: the field is a pointer or
	// tagged omitempty or omitzero. It is the TypeScript "?".
	Optional bool
}

// Fields returns the JSON fields of struct type t in declaration order. Every
// exported field must carry a json tag naming it (or "-" to skip it);
// embedded fields and the ",string" option are not supported.
func Fields(t reflect.Type) ([]Field, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("type %v is not a struct", t)
	}
	var out []Field
	names := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil, fmt.Errorf("%v.%s: embedded fields are not supported", t, sf.Name)
		}
		if !sf.IsExported() {
			continue
		}
		tag, ok := sf.Tag.Lookup("json")
		if !ok {
			return nil, fmt.Errorf("%v.%s: exported field has no json tag", t, sf.Name)
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			return nil, fmt.Errorf("%v.%s: json tag has no name", t, sf.Name)
		}
		if names[name] {
			return nil, fmt.Errorf("%v: duplicate json name %q", t, name)
		}
		names[name] = true
		f := Field{Name: name, Index: i, Type: sf.Type, Optional: sf.Type.Kind() == reflect.Pointer}
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "":
			case "omitempty", "omitzero":
				f.Optional = true
			default:
				return nil, fmt.Errorf("%v.%s: json option %q is not supported", t, sf.Name, opt)
			}
		}
		out = append(out, f)
	}
	return out, nil
}
