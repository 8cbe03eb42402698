package rooms

import (
	"errors"

	"github.com/parley-rt/parley/events"
)

// ErrInvalidName reports a room name that is empty, longer than
// events.MaxRoomNameChars, holds a character outside [A-Za-z0-9_.:-], or is
// only dots (events.RoomNameDotsPattern: "." and ".." would be path segments
// that a normalising proxy rewrites in /sse/rooms/:room and /api/rooms/:room
// URLs).
var ErrInvalidName = errors.New("rooms: invalid room name")

// Validate reports whether name is a valid room name, one that matches
// events.RoomNamePattern in full and not events.RoomNameDotsPattern: 1 to
// events.MaxRoomNameChars characters of [A-Za-z0-9_.:-], not only dots. It
// checks the bytes in a loop rather than with the
// pattern, which FuzzValidate holds it to. It returns ErrInvalidName,
// unwrapped, so callers may compare with errors.Is or ==.
func Validate(name string) error {
	if len(name) == 0 || len(name) > events.MaxRoomNameChars {
		return ErrInvalidName
	}
	dots := true
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return ErrInvalidName
		}
		dots = dots && name[i] == '.'
	}
	if dots {
		return ErrInvalidName
	}
	return nil
}

func nameByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	case b == '_', b == '.', b == ':', b == '-':
		return true
	}
	return false
}
