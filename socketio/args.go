package socketio

import (
	"encoding/json"
	"fmt"
)

// Args are the arguments of one incoming event or ack, kept as raw JSON
// until a handler decodes them into Go values.
type Args struct {
	raw     []json.RawMessage
	buffers [][]byte
}

// Len returns the number of arguments.
func (a *Args) Len() int { return len(a.raw) }

// Raw returns argument i as raw JSON. Binary attachments appear as
// placeholder objects.
func (a *Args) Raw(i int) json.RawMessage { return a.raw[i] }

// RawAll returns every argument as raw JSON.
func (a *Args) RawAll() []json.RawMessage { return a.raw }

// Binary reports whether the arguments carry binary attachments.
func (a *Args) Binary() bool { return len(a.buffers) > 0 }

// Decode unmarshals argument i into v. Binary attachments decode into
// []byte values.
func (a *Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.raw) {
		return fmt.Errorf("socketio: argument %d of %d", i, len(a.raw))
	}
	if len(a.buffers) == 0 {
		return json.Unmarshal(a.raw[i], v)
	}
	tree, err := reconstruct(a.raw[i], a.buffers)
	if err != nil {
		return err
	}
	if b, ok := tree.([]byte); ok {
		if p, ok := v.(*[]byte); ok {
			*p = b
			return nil
		}
	}
	// []byte marshals as base64, which unmarshals back into []byte fields.
	j, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, v)
}

// Value returns argument i ready to be emitted again: raw JSON, or, when
// it holds attachments, a tree of map[string]any, []any and []byte.
func (a *Args) Value(i int) (any, error) {
	if len(a.buffers) == 0 {
		return a.raw[i], nil
	}
	return reconstruct(a.raw[i], a.buffers)
}

// Values returns every argument as Value does.
func (a *Args) Values() ([]any, error) {
	out := make([]any, len(a.raw))
	for i := range a.raw {
		v, err := a.Value(i)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
