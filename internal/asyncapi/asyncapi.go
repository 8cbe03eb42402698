// Package asyncapi renders the contract — the events registry — as an
// AsyncAPI 3.0 document: the Socket.IO namespaces (/chat, /presence) on the
// Socket.IO server and the /ws endpoint's JSON frames. The server serves it
// at /asyncapi.json; `go generate ./internal/asyncapi` writes the committed
// copy, docs/asyncapi.json, and a test fails when that copy is stale.
//
// Operations are seen from the server, as AsyncAPI 3 wants: a
// client-to-server event is one the server receives, a server-to-client
// event one it sends; an event with an ack has a reply carrying its Result.
package asyncapi

//go:generate go run ./gen ../../docs/asyncapi.json

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/parley-rt/parley/events"
)

// Document returns the AsyncAPI document of the registered events,
// indented, with sorted keys (the same bytes for the same registry).
func Document() ([]byte, error) {
	d, err := build(events.Registered())
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

type obj = map[string]any

func ref(path ...string) obj { return obj{"$ref": "#/" + strings.Join(path, "/")} }

// builder collects the component schemas while the channels are built.
type builder struct {
	schemas obj
}

func build(infos []events.Info) (obj, error) {
	b := &builder{schemas: obj{}}
	b.schemas["ErrorCode"] = enumSchema(codes())
	b.schemas["Error"] = obj{
		"type": "object", "additionalProperties": false, "required": []string{"code", "message"},
		"properties": obj{"code": ref("components", "schemas", "ErrorCode"), "message": obj{"type": "string"}},
	}
	channels, operations, messages := obj{}, obj{}, obj{}

	var nss []events.Namespace
	for _, info := range infos {
		if !slices.Contains(nss, info.Namespace) {
			nss = append(nss, info.Namespace)
		}
	}
	slices.Sort(nss)
	for _, ns := range nss {
		ch := strings.TrimPrefix(string(ns), "/")
		chMsgs := obj{}
		for _, info := range infos {
			if info.Namespace != ns {
				continue
			}
			payload, err := b.schema(info.Payload)
			if err != nil {
				return nil, err
			}
			key := info.Direction.String() + "." + info.Name
			compKey := ch + "." + key
			messages[compKey] = obj{
				"name": info.Name, "title": info.Name, "contentType": "application/json",
				"summary": fmt.Sprintf("%s %s %q", directionWords(info.Direction), info.Name, ns),
				"payload": payload,
			}
			chMsgs[key] = ref("components", "messages", compKey)
			op := obj{
				"action":   action(info.Direction),
				"channel":  ref("channels", ch),
				"messages": []obj{ref("channels", ch, "messages", key)},
			}
			if info.Ack != nil {
				ack, err := b.result(info.Ack)
				if err != nil {
					return nil, err
				}
				messages[compKey+".ack"] = obj{
					"name": info.Name + " ack", "title": info.Name + " ack", "contentType": "application/json",
					"summary": "The ack of " + info.Name + ": its Result.", "payload": ack,
				}
				chMsgs[key+".ack"] = ref("components", "messages", compKey+".ack")
				op["reply"] = obj{"channel": ref("channels", ch), "messages": []obj{ref("channels", ch, "messages", key+".ack")}}
			}
			operations[ch+"."+key] = op
		}
		channels[ch] = obj{
			"address": string(ns), "servers": []obj{ref("servers", "socketio")}, "messages": chMsgs,
			"description": fmt.Sprintf("The Socket.IO namespace %s: each message is one event, its payload the event's single argument; an ack's payload is the Result passed to the ack callback.", ns),
		}
	}
	if err := b.ws(infos, channels, operations, messages); err != nil {
		return nil, err
	}
	return obj{
		"asyncapi": "3.0.0",
		"info": obj{
			"title":   "Parley",
			"version": fmt.Sprint(events.ContractVersion),
			"description": "Parley's real-time contract: group chat with durable history (/chat) and presence (/presence), " +
				"over Socket.IO (socket.io-client v4) and over a plain WebSocket with JSON frames (/ws). " +
				"Generated from the Go events registry; version is the contract version.",
		},
		"defaultContentType": "application/json",
		"servers": obj{
			"socketio": obj{"host": "localhost:3000", "protocol": "ws", "pathname": "/socket.io/",
				"description": "Socket.IO v5 over Engine.IO v4 (WebSocket, or HTTP long-polling with the upgrade). Auth: the handshake's auth {token} (a JWT), or {userId, name} in dev mode."},
			"ws": obj{"host": "localhost:3000", "protocol": "ws", "pathname": "/ws",
				"description": "A plain WebSocket with JSON text frames {type, data, id?}. Auth: ?token=<JWT>, or ?userId=&name= in dev mode."},
		},
		"channels":   channels,
		"operations": operations,
		"components": obj{"schemas": b.schemas, "messages": messages},
	}, nil
}

// ws adds the /ws channel: one frame message per event name (an event two
// namespaces register, refreshToken, once), and the info, ack and error
// frames.
func (b *builder) ws(infos []events.Info, channels, operations, messages obj) error {
	chMsgs := obj{}
	seen := map[string]bool{}
	frame := func(typ string, data any, id string) obj {
		props := obj{"type": obj{"const": typ}, "data": data}
		req := []string{"type", "data"}
		switch id {
		case "optional":
			props["id"] = obj{"type": "integer", "minimum": 0, "maximum": 1<<52 - 1}
		case "required":
			props["id"] = obj{"type": "integer", "minimum": 0}
			req = append(req, "id")
		}
		return obj{"type": "object", "additionalProperties": false, "required": req, "properties": props}
	}
	add := func(key, summary string, payload obj) {
		messages["ws."+key] = obj{"name": key, "title": key, "contentType": "application/json", "summary": summary, "payload": payload}
		chMsgs[key] = ref("components", "messages", "ws."+key)
	}
	for _, info := range infos {
		dkey := info.Direction.String() + "." + info.Name
		if seen[dkey] {
			continue
		}
		seen[dkey] = true
		payload, err := b.schema(info.Payload)
		if err != nil {
			return err
		}
		id := ""
		if info.Direction == events.ClientToServer {
			id = "optional"
		}
		add(dkey, fmt.Sprintf("%s %s", directionWords(info.Direction), info.Name), frame(info.Name, payload, id))
		op := obj{"action": action(info.Direction), "channel": ref("channels", "ws"), "messages": []obj{ref("channels", "ws", "messages", dkey)}}
		if info.Ack != nil {
			ack, err := b.result(info.Ack)
			if err != nil {
				return err
			}
			add(dkey+".ack", "The ack frame of "+info.Name+" (sent when the frame had an id).", frame("ack", ack, "required"))
			op["reply"] = obj{"channel": ref("channels", "ws"), "messages": []obj{ref("channels", "ws", "messages", dkey+".ack")}}
		}
		operations["ws."+dkey] = op
	}
	info, err := b.schema(reflect.TypeFor[events.WSInfo]())
	if err != nil {
		return err
	}
	add("serverToClient.info", "The first frame of an accepted connection.", frame("info", info, ""))
	add("serverToClient.error", "A frame the server could not take: not JSON, an unknown type, a bad id; or a refused connection (then a close with 1008).",
		frame("error", ref("components", "schemas", "Error"), "optional"))
	for _, k := range []string{"serverToClient.info", "serverToClient.error"} {
		operations["ws."+k] = obj{"action": "send", "channel": ref("channels", "ws"), "messages": []obj{ref("channels", "ws", "messages", k)}}
	}
	channels["ws"] = obj{
		"address": "/ws", "servers": []obj{ref("servers", "ws")}, "messages": chMsgs,
		"description": "The contract over a plain WebSocket: every event of /chat and /presence as a JSON frame {type, data, id?}.",
	}
	return nil
}

func action(d events.Direction) string {
	if d == events.ClientToServer {
		return "receive"
	}
	return "send"
}

func directionWords(d events.Direction) string {
	if d == events.ClientToServer {
		return "A client emits"
	}
	return "The server emits"
}

// result is the schema of Result[T]: {ok: true, data: T} or {ok: false,
// error: Error}.
func (b *builder) result(t reflect.Type) (obj, error) {
	data, err := b.schema(t)
	if err != nil {
		return nil, err
	}
	return obj{"oneOf": []obj{
		{"type": "object", "additionalProperties": false, "required": []string{"ok", "data"},
			"properties": obj{"ok": obj{"const": true}, "data": data}},
		{"type": "object", "additionalProperties": false, "required": []string{"ok", "error"},
			"properties": obj{"ok": obj{"const": false}, "error": ref("components", "schemas", "Error")}},
	}}, nil
}

var (
	enumType = reflect.TypeFor[events.Enum]()
	codeType = reflect.TypeFor[events.Code]()
)

// schema returns the JSON Schema of t: a $ref to components/schemas for
// named structs and enums (added on first use), inline otherwise.
func (b *builder) schema(t reflect.Type) (obj, error) {
	if t == codeType {
		return ref("components", "schemas", "ErrorCode"), nil
	}
	if t.Kind() == reflect.String && t.Name() != "" && t.Implements(enumType) {
		if _, ok := b.schemas[t.Name()]; !ok {
			vals := reflect.Zero(t).Interface().(events.Enum).Values()
			b.schemas[t.Name()] = enumSchema(vals)
		}
		return ref("components", "schemas", t.Name()), nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return b.schema(t.Elem())
	case reflect.Slice:
		items, err := b.schema(t.Elem())
		return obj{"type": "array", "items": items}, err
	case reflect.String:
		return obj{"type": "string"}, nil
	case reflect.Bool:
		return obj{"type": "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer"}, nil
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}, nil
	case reflect.Struct:
		if _, ok := b.schemas[t.Name()]; ok {
			return ref("components", "schemas", t.Name()), nil
		}
		b.schemas[t.Name()] = obj{} // a placeholder: recursive types end here
		fields, err := events.Fields(t)
		if err != nil {
			return nil, err
		}
		props := obj{}
		req := []string{}
		for _, f := range fields {
			s, err := b.schema(f.Type)
			if err != nil {
				return nil, fmt.Errorf("%v.%s: %w", t, f.Name, err)
			}
			props[f.Name] = s
			if !f.Optional {
				req = append(req, f.Name)
			}
		}
		s := obj{"type": "object", "additionalProperties": false, "properties": props}
		if len(req) > 0 {
			s["required"] = req
		}
		b.schemas[t.Name()] = s
		return ref("components", "schemas", t.Name()), nil
	}
	return nil, fmt.Errorf("asyncapi: type %v has no JSON Schema mapping", t)
}

func enumSchema(vals []string) obj { return obj{"type": "string", "enum": vals} }

func codes() []string {
	var out []string
	for _, c := range events.Codes() {
		out = append(out, string(c))
	}
	return out
}
