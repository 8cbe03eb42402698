package asyncapi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/asyncapi"
)

// TestCommittedDocumentIsCurrent is the drift guard: docs/asyncapi.json
// must be what the registry renders today.
func TestCommittedDocumentIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := asyncapi.Document()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/asyncapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/asyncapi.json is stale: run go generate ./internal/asyncapi")
	}
}

// TestEveryEventHasAnOperation checks the document against the registry
// itself: each event is an operation on its namespace's channel and on
// /ws, with a reply exactly when it has an ack.
func TestEveryEventHasAnOperation(t *testing.T) {
	t.Parallel()
	b, err := asyncapi.Document()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Operations map[string]struct {
			Action string          `json:"action"`
			Reply  json.RawMessage `json:"reply"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, info := range events.Registered() {
		key := info.Direction.String() + "." + info.Name
		want := "send"
		if info.Direction == events.ClientToServer {
			want = "receive"
		}
		for _, op := range []string{string(info.Namespace[1:]) + "." + key, "ws." + key} {
			o, ok := doc.Operations[op]
			if !ok {
				t.Errorf("no operation %s", op)
				continue
			}
			if o.Action != want || (len(o.Reply) > 0) != (info.Ack != nil) {
				t.Errorf("%s: action %s reply %s; want %s, reply %v", op, o.Action, o.Reply, want, info.Ack != nil)
			}
		}
	}
}
