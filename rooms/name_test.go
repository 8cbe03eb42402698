package rooms_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/rooms"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "general", true},
		{"all classes", "Room_1.a:b-C", true},
		{"one char", "x", true},
		{"max length", strings.Repeat("a", events.MaxRoomNameChars), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", events.MaxRoomNameChars+1), false},
		{"space", "my room", false},
		{"slash", "a/b", false},
		{"hash", "#general", false},
		{"unicode letter", "café", false},
		{"nul", "a\x00", false},
		{"newline", "a\n", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"only dots", "....", false},
		{"dots and a letter", "..a", true},
		{"trailing dot", "a.", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := rooms.Validate(tt.in)
			if tt.ok && err != nil {
				t.Fatalf("Validate(%q) = %v, want nil", tt.in, err)
			}
			if !tt.ok && !errors.Is(err, rooms.ErrInvalidName) {
				t.Fatalf("Validate(%q) = %v, want ErrInvalidName", tt.in, err)
			}
		})
	}
}

// nameRE is the contract's rule, which clients check with the same
// pattern.
var (
	nameRE = regexp.MustCompile(events.RoomNamePattern)
	dotsRE = regexp.MustCompile(events.RoomNameDotsPattern)
)

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"general", "", "a b", "Room_1.a:b-C", strings.Repeat("z", events.MaxRoomNameChars+1), "é", "..", ".a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := rooms.Validate(s) == nil
		if want := nameRE.MatchString(s) && !dotsRE.MatchString(s); got != want {
			t.Fatalf("Validate(%q) ok = %v, regexp says %v", s, got, want)
		}
	})
}
