package graphql

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/graphql/schema"
)

// operation ties a root field of the schema to the contract event it
// serves: its result is the event's ack data (client events) or payload
// (server events); its arguments are the payload fields of the client
// event args (none: a room subscription's one room argument is a filter).
type operation struct {
	root, field string
	ns          events.Namespace
	event       string
	dir         events.Direction
	args        string
}

var operations = []operation{
	{"Query", "messages", events.Chat, "fetchHistory", events.ClientToServer, "fetchHistory"},
	{"Query", "presence", events.Presence, "subscribe", events.ClientToServer, "subscribe"},
	{"Mutation", "sendMessage", events.Chat, "chatMessage", events.ClientToServer, "chatMessage"},
	{"Mutation", "setStatus", events.Presence, "setStatus", events.ClientToServer, "setStatus"},
	{"Subscription", "newChatMessage", events.Chat, "newChatMessage", events.ServerToClient, ""},
	{"Subscription", "userJoined", events.Chat, "userJoined", events.ServerToClient, ""},
	{"Subscription", "userLeft", events.Chat, "userLeft", events.ServerToClient, ""},
	{"Subscription", "status", events.Presence, "status", events.ServerToClient, "subscribe"},
}

// notExposed are the contract's events GraphQL does not offer, and why; a
// new event must be added to operations or here.
var notExposed = map[string]string{
	"/chat joinRoom":          "a room subscription joins the room",
	"/chat leaveRoom":         "ending the last subscription of a room leaves it",
	"/chat refreshToken":      "a connection is re-initialised with a new token",
	"/chat typing":            "typing indicators are not part of the GraphQL schema yet",
	"/presence refreshToken":  "a connection is re-initialised with a new token",
	"/presence unsubscribe":   "ending a status subscription unsubscribes it",
	"/presence userConnected": "the status subscription carries presence",
}

// TestSchemaMatchesRegistry fails when the GraphQL schema and the events
// registry drift: every operation's arguments and result must have the
// fields of the event's payload and ack types, with matching types and
// nullability (a Go optional field is nullable, every other is not).
func TestSchemaMatchesRegistry(t *testing.T) {
	t.Parallel()
	s := schema.NewExecutableSchema(schema.Config{}).Schema()
	infos := map[string]events.Info{}
	for _, info := range events.Registered() {
		if info.Namespace != events.Chat && info.Namespace != events.Presence {
			continue
		}
		key := fmt.Sprintf("%s %s %d", info.Namespace, info.Name, info.Direction)
		infos[key] = info
	}
	covered := map[string]bool{}
	for _, op := range operations {
		t.Run(op.root+"."+op.field, func(t *testing.T) {
			key := fmt.Sprintf("%s %s %d", op.ns, op.event, op.dir)
			info, ok := infos[key]
			if !ok {
				t.Fatalf("no event %s", key)
			}
			covered[key] = true
			root := s.Types[op.root]
			if root == nil || root.Fields.ForName(op.field) == nil {
				t.Fatalf("the schema has no %s.%s", op.root, op.field)
			}
			f := root.Fields.ForName(op.field)
			if op.args != "" {
				from, ok := infos[fmt.Sprintf("%s %s %d", op.ns, op.args, events.ClientToServer)]
				if !ok {
					t.Fatalf("no client event %s %s", op.ns, op.args)
				}
				checkArgs(t, s, f, from.Payload)
			} else if len(f.Arguments) != 1 || f.Arguments[0].Name != "room" || f.Arguments[0].Type.String() != "String!" {
				t.Errorf("%s: a room subscription takes one argument, room: String!", op.field)
			}
			result := info.Ack
			if op.dir == events.ServerToClient {
				result = info.Payload
			}
			if f.Type.Elem != nil { // a list: the ack's one slice field (subscribe's users)
				fs, err := events.Fields(result)
				if err != nil || len(fs) != 1 || fs[0].Type.Kind() != reflect.Slice {
					t.Fatalf("%s returns a list; %v is not one slice field", op.field, result)
				}
				result = fs[0].Type
			}
			if err := match(s, result, f.Type, false); err != nil {
				t.Errorf("%s.%s result: %v", op.root, op.field, err)
			}
		})
	}
	for key, info := range infos {
		name := string(info.Namespace) + " " + info.Name
		if !covered[key] && notExposed[name] == "" {
			t.Errorf("event %s (%v) has no GraphQL operation: add it to the schema or to notExposed", name, info.Direction)
		}
	}
}

func checkArgs(t *testing.T, s *ast.Schema, f *ast.FieldDefinition, payload reflect.Type) {
	t.Helper()
	fs, err := events.Fields(payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != len(f.Arguments) {
		t.Errorf("%s has %d arguments, %v has %d fields", f.Name, len(f.Arguments), payload, len(fs))
	}
	for _, pf := range fs {
		a := f.Arguments.ForName(pf.Name)
		if a == nil {
			t.Errorf("%s has no argument %s (%v)", f.Name, pf.Name, payload)
			continue
		}
		if err := match(s, pf.Type, a.Type, pf.Optional); err != nil {
			t.Errorf("%s(%s): %v", f.Name, pf.Name, err)
		}
	}
}

// match checks that the GraphQL type gt carries Go type t.
func match(s *ast.Schema, t reflect.Type, gt *ast.Type, optional bool) error {
	if gt.NonNull == optional {
		return fmt.Errorf("%s: nullable must be %v (Go %v)", gt, optional, t)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice {
		if gt.Elem == nil {
			return fmt.Errorf("%s is not a list (Go %v)", gt, t)
		}
		return match(s, t.Elem(), gt.Elem, false)
	}
	if gt.Elem != nil {
		return fmt.Errorf("%s is a list (Go %v)", gt, t)
	}
	def := s.Types[gt.NamedType]
	if def == nil {
		return fmt.Errorf("no type %s", gt.NamedType)
	}
	if e, ok := reflect.Zero(t).Interface().(events.Enum); ok {
		if def.Kind != ast.Enum {
			return fmt.Errorf("%s is not an enum (Go %v)", gt.NamedType, t)
		}
		var vals []string
		for _, v := range def.EnumValues {
			vals = append(vals, v.Name)
		}
		if want := e.Values(); !slices.Equal(vals, want) {
			return fmt.Errorf("enum %s is %v, Go %v is %v", gt.NamedType, vals, t, want)
		}
		return nil
	}
	want := map[reflect.Kind]string{reflect.String: "String", reflect.Int: "Int", reflect.Int64: "Timestamp", reflect.Bool: "Boolean"}
	if name, ok := want[t.Kind()]; ok {
		if gt.NamedType != name {
			return fmt.Errorf("%s carries Go %v; want %s", gt.NamedType, t, name)
		}
		return nil
	}
	if t.Kind() != reflect.Struct || def.Kind != ast.Object {
		return fmt.Errorf("%s (%s) does not carry Go %v", gt.NamedType, def.Kind, t)
	}
	fs, err := events.Fields(t)
	if err != nil {
		return err
	}
	if len(fs) != len(def.Fields) {
		return fmt.Errorf("type %s has %d fields, Go %v has %d", def.Name, len(def.Fields), t, len(fs))
	}
	for _, f := range fs {
		gf := def.Fields.ForName(f.Name)
		if gf == nil {
			return fmt.Errorf("type %s has no field %s (Go %v)", def.Name, f.Name, t)
		}
		if err := match(s, f.Type, gf.Type, f.Optional); err != nil {
			return fmt.Errorf("%s.%s: %w", def.Name, f.Name, err)
		}
	}
	return nil
}
