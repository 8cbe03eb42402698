package rooms_test

import (
	"testing"

	"github.com/parley-rt/parley/rooms"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	p := rooms.NewPolicy("staff-*", "ops")
	for _, tc := range []struct {
		room    string
		claim   []string
		private bool
		allowed bool
	}{
		{"lobby", nil, false, true},
		{"private:x", nil, true, false},
		{"private:x", []string{"private:x"}, true, true},
		{"private:x", []string{"private:*"}, true, true},
		{"private:xy", []string{"private:x"}, true, false},
		{"staff-a", nil, true, false},
		{"staff-a", []string{"staff-*"}, true, true},
		{"ops", []string{"*"}, true, true},
		{"opsx", nil, false, true},
		{"staff.a", []string{"staff-a"}, false, true},
	} {
		if got := p.Private(tc.room); got != tc.private {
			t.Errorf("Private(%q) = %v, want %v", tc.room, got, tc.private)
		}
		if got := p.Allows(tc.claim, tc.room); got != tc.allowed {
			t.Errorf("Allows(%v, %q) = %v, want %v", tc.claim, tc.room, got, tc.allowed)
		}
	}
	var zero *rooms.Policy
	if !zero.Private("private:a") || zero.Private("lobby") {
		t.Error("a nil policy must treat exactly private:* as private")
	}
}
