package socketio

// SessionID returns the id of the Engine.IO session the socket rides on
// (the "sid" of the transport, not the socket id).
func (s *Socket) SessionID() string { return s.client.sess.ID() }
