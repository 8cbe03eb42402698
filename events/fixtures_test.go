package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fixture is one file of testdata/<ns>/ and the type it must decode into.
type fixture struct {
	file string
	typ  reflect.Type
	// validate: the payload must also pass Validate.
	validate bool
}

// fixtures lists the files the registry says namespace ns must have.
func fixtures(ns Namespace) []fixture {
	var out []fixture
	for _, info := range Registered() {
		if info.Namespace != ns {
			continue
		}
		switch info.Direction {
		case ClientToServer:
			out = append(out, fixture{info.Name + ".json", info.Payload, true})
			if info.Ack != nil {
				out = append(out, fixture{info.Name + ".ack.json", info.Ack, false})
			}
		case ServerToClient:
			out = append(out, fixture{info.Name + ".server.json", info.Payload, false})
		}
	}
	return out
}

func fixtureDir(ns Namespace) string {
	return filepath.Join("testdata", strings.TrimPrefix(string(ns), "/"))
}

// TestFixtures decodes every fixture strictly into its registered type,
// checks that re-encoding loses nothing, and that the fixture directory has
// exactly one file per event payload.
func TestFixtures(t *testing.T) {
	t.Parallel()
	want := fixtures(Chat)
	if len(want) == 0 {
		t.Fatal("no /chat events registered")
	}
	for _, fx := range want {
		t.Run(fx.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(fixtureDir(Chat), fx.file))
			if err != nil {
				t.Fatalf("every event needs a fixture: %v", err)
			}
			ptr := reflect.New(fx.typ)
			if err := decodeInto(data, ptr.Interface()); err != nil {
				t.Fatalf("decode into %v: %v", fx.typ, err)
			}
			if v, ok := ptr.Interface().(Validator); ok && fx.validate {
				if err := v.Validate(); err != nil {
					t.Fatalf("Validate: %v", err)
				}
			}
			again, err := json.Marshal(ptr.Interface())
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, data, again) {
				t.Fatalf("re-encoding changed the payload:\n fixture: %s\n encoded: %s", compact(t, data), again)
			}
		})
	}
	t.Run("no stray files", func(t *testing.T) {
		t.Parallel()
		entries, err := os.ReadDir(fixtureDir(Chat))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if filepath.Ext(e.Name()) != ".json" {
				continue
			}
			if !slices.ContainsFunc(want, func(fx fixture) bool { return fx.file == e.Name() }) {
				t.Errorf("%s matches no registered event", e.Name())
			}
		}
	})
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func compact(t *testing.T, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// FuzzDecode feeds arbitrary bytes to the strict decoder for every /chat
// client payload type. It must never panic, and whatever it accepts must
// survive an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, fx := range fixtures(Chat) {
		data, err := os.ReadFile(filepath.Join(fixtureDir(Chat), fx.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"room":"a","room":"b"}`, `{"ROOM":"a"}`, `{"room":null}`, `{"room":"a"} {}`,
		`{"room":"a","limit":1.5}`, `{"room":"a","limit":1e2}`, `[]`, `null`, `"x"`, `{"room":"\ud800"}`,
		`{"room":"a","content":"x","clientMsgId":""}`, `{"room":"a","isTyping":1}`,
	} {
		f.Add([]byte(s))
	}
	var types []reflect.Type
	for _, info := range Registered() {
		if info.Namespace == Chat && info.Direction == ClientToServer {
			types = append(types, info.Payload)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range types {
			ptr := reflect.New(typ)
			if err := decodeInto(data, ptr.Interface()); err != nil {
				continue
			}
			enc, err := json.Marshal(ptr.Interface())
			if err != nil {
				t.Fatalf("%v: encode accepted value: %v", typ, err)
			}
			again := reflect.New(typ)
			if err := decodeInto(enc, again.Interface()); err != nil {
				t.Fatalf("%v: decode of re-encoded %s: %v", typ, enc, err)
			}
			if !reflect.DeepEqual(ptr.Elem().Interface(), again.Elem().Interface()) {
				t.Fatalf("%v: round trip changed %s", typ, data)
			}
		}
	})
}
