package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestErrorJSON(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk on fire")
	e := WrapError(CodeUnavailable, "history unavailable", cause)
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"code":"unavailable","message":"history unavailable"}` {
		t.Fatalf("marshal = %s (the cause must never be sent)", b)
	}
	if !errors.Is(e, cause) {
		t.Fatal("WrapError should unwrap to its cause")
	}
	var target *Error
	if !errors.As(fmt.Errorf("join: %w", e), &target) || target.Code != CodeUnavailable {
		t.Fatal("errors.As through a wrap")
	}
}

func TestErrorf(t *testing.T) {
	t.Parallel()
	e := Errorf(CodeTooLarge, "over %d", 5)
	if e.Code != CodeTooLarge || e.Message != "over 5" || e.Unwrap() != nil {
		t.Fatalf("Errorf = %#v", e)
	}
	if e.Error() != "events: too_large: over 5" {
		t.Fatalf("Error() = %q", e.Error())
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	codes := Codes()
	if len(codes) != 9 {
		t.Fatalf("%d codes", len(codes))
	}
	codes[0] = "mutated"
	if Codes()[0] != CodeBadRequest {
		t.Fatal("Codes must return a copy")
	}
	if !CodeConflict.Valid() || Code("nope").Valid() {
		t.Fatal("Valid")
	}
}

func TestDisconnectAs(t *testing.T) {
	t.Parallel()
	for _, err := range []error{Disconnect{Reason: "flood"}, &Disconnect{Reason: "flood"}, fmt.Errorf("x: %w", Disconnect{Reason: "flood"})} {
		if r, ok := disconnectReason(err); !ok || r != "flood" {
			t.Errorf("disconnectReason(%v) = %q, %v", err, r, ok)
		}
	}
}
