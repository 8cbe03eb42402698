package socketio

import "maps"

// Data returns a copy of the values Set stored on the socket.
func (s *Socket) Data() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.data)
}
