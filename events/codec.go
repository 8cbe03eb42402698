package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
)

// Validator is implemented by payload types with rules beyond their JSON
// shape. Handle and HandleNoAck call Validate after decoding; an *Error it
// returns reaches the client as written, any other error as bad_request with
// the error's text, so its text must be fit for the client.
type Validator interface {
	Validate() error
}

// Decode decodes one payload strictly, as Handle does, and reports a
// *PayloadError (matching ErrInvalidPayload) when the payload:
//   - is not a single JSON value of T's shape (trailing data, wrong types,
//     fractions or out-of-range numbers for integer fields);
//   - has a key that is not exactly a field's JSON name (encoding/json would
//     match keys case-insensitively) or has a key twice;
//   - lacks a required field (one that is neither a pointer nor omitempty),
//     whatever its zero value;
//   - holds null anywhere (the TypeScript contract has no nullable fields;
//     an optional field is left out, not set to null).
//
// Decode does not call Validate.
func Decode[T any](data []byte) (T, error) {
	var v T
	err := decodeInto(data, &v)
	return v, err
}

// decodeInto decodes data into *ptr strictly; ptr is a non-nil pointer.
func decodeInto(data []byte, ptr any) error {
	t := reflect.TypeOf(ptr).Elem()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := checkNext(dec, t, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &PayloadError{Problem: "trailing data after the JSON value"}
	}
	// The shape is right; let encoding/json fill the value.
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr); err != nil {
		return &PayloadError{Problem: "malformed value"}
	}
	return nil
}

func checkNext(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return &PayloadError{Path: path, Problem: "malformed JSON"}
	}
	return checkValue(dec, tok, t, path)
}

func checkValue(dec *json.Decoder, tok json.Token, t reflect.Type, path string) error {
	if tok == nil {
		return &PayloadError{Path: path, Problem: "null is not allowed"}
	}
	mismatch := func(want string) error {
		return &PayloadError{Path: path, Problem: "expected " + want + ", got " + tokenKind(tok)}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkValue(dec, tok, t.Elem(), path)
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return mismatch("boolean")
		}
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return mismatch("string")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return mismatch("integer")
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return numberError(path, err)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := tok.(json.Number)
		if !ok {
			return mismatch("non-negative integer")
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			return numberError(path, err)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return mismatch("number")
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			return &PayloadError{Path: path, Problem: "number out of range"}
		}
	case reflect.Slice:
		if tok != json.Delim('[') {
			return mismatch("array")
		}
		for i := 0; dec.More(); i++ {
			if err := checkNext(dec, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return &PayloadError{Path: path, Problem: "malformed JSON"}
		}
	case reflect.Struct:
		if tok != json.Delim('{') {
			return mismatch("object")
		}
		return checkObject(dec, t, path)
	default:
		return &PayloadError{Path: path, Problem: fmt.Sprintf("unsupported Go type %v", t)}
	}
	return nil
}

func checkObject(dec *json.Decoder, t reflect.Type, path string) error {
	fields, err := Fields(t)
	if err != nil {
		return &PayloadError{Path: path, Problem: "unsupported Go type"}
	}
	seen := make([]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return &PayloadError{Path: path, Problem: "malformed JSON"}
		}
		key, _ := tok.(string) // object keys are always strings
		i := fieldIndex(fields, key)
		if i < 0 {
			return &PayloadError{Path: path, Problem: fmt.Sprintf("unknown field %q", key)}
		}
		if seen[i] {
			return &PayloadError{Path: path, Problem: fmt.Sprintf("duplicate field %q", key)}
		}
		seen[i] = true
		if err := checkNext(dec, fields[i].Type, joinPath(path, key)); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return &PayloadError{Path: path, Problem: "malformed JSON"}
	}
	for i, f := range fields {
		if !seen[i] && !f.Optional {
			return &PayloadError{Path: path, Problem: fmt.Sprintf("missing required field %q", f.Name)}
		}
	}
	return nil
}

func fieldIndex(fields []Field, key string) int {
	for i, f := range fields {
		if f.Name == key {
			return i
		}
	}
	return -1
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func numberError(path string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return &PayloadError{Path: path, Problem: "number out of range"}
	}
	return &PayloadError{Path: path, Problem: "expected an integer"}
}

func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		return "number"
	case json.Delim:
		if tok == json.Delim('[') {
			return "array"
		}
		return "object"
	}
	return "null"
}
