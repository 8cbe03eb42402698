package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// message is one outgoing Engine.IO packet. It is immutable once built and
// may be queued on many sessions.
type message struct {
	text  []byte                     // the Engine.IO packet, e.g. `42/chat,["message",1]`
	pm    *websocket.PreparedMessage // gorilla: the frame, built once for every recipient
	frame []byte                     // gobwas: the complete frame bytes, built once
}

// wire is one library's write side of a connection. Only the session's
// writer goroutine calls it.
type wire interface {
	// write sends m, or buffers it until flush.
	write(m *message) error
	// flush ends a burst of writes.
	flush() error
	// close sends a close frame with code and reason, best effort, and
	// closes the connection, which ends the reader.
	close(code int, reason string)
}

// closeReason says why a session ended: the websocket close status and text
// sent to the client.
type closeReason struct {
	code int
	text string
}

var (
	reasonTransportClose = closeReason{1000, ""}
	reasonParse          = closeReason{1007, "parse error"}
	reasonTooLarge       = closeReason{1009, "message too large"}
	reasonSlow           = closeReason{1008, "slow consumer"}
	reasonPingTimeout    = closeReason{1001, "ping timeout"}
	reasonWrite          = closeReason{1011, "write error"}
	reasonShutdown       = closeReason{1001, "server shutting down"}
)

// Errors that end a reader.
var (
	errParse       = errors.New("wslib: parse error")
	errTooLarge    = errors.New("wslib: message too large")
	errProtocol    = errors.New("wslib: websocket protocol error")
	errClientClose = errors.New("wslib: closed by the client")
)

func reasonFor(err error) closeReason {
	switch {
	case errors.Is(err, errParse), errors.Is(err, errProtocol):
		return reasonParse
	case errors.Is(err, errTooLarge), errors.Is(err, websocket.ErrReadLimit), isCoderTooBig(err):
		return reasonTooLarge
	default:
		return reasonTransportClose
	}
}

// session is one Engine.IO connection with its /chat socket.
type session struct {
	srv  *server
	sid  string
	send chan *message // bounded; full means slow consumer
	pong chan struct{} // the reader signals each Engine.IO pong to the writer
	done chan struct{} // closed by close

	once   sync.Once
	reason closeReason // set once, before done is closed

	// Owned by the reader goroutine.
	room      string // current room; guarded by srv.hub.mu as well
	connected bool   // the /chat socket is connected
}

func (srv *server) newSession() *session {
	return &session{
		srv:  srv,
		sid:  newID(),
		send: make(chan *message, srv.queue),
		pong: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
}

// close ends the session once: the writer goroutine closes the connection
// with reason, which ends the reader. Safe to call from any goroutine.
func (s *session) close(r closeReason) {
	s.once.Do(func() {
		s.reason = r
		if r == reasonSlow {
			s.srv.log.Warn("wslib: dropping slow consumer", "sid", s.sid)
		} else {
			s.srv.log.Debug("wslib: session closed", "sid", s.sid, "reason", r.text)
		}
		close(s.done)
	})
}

// queue sends m to this session only, without blocking.
func (s *session) queue(m *message) {
	select {
	case s.send <- m:
	default:
		s.close(reasonSlow)
	}
}

// writeLoop owns every write to the connection and the Engine.IO heartbeat:
// a ping every pingInterval, and the session closes when its pong has not
// come within pingTimeout.
func (s *session) writeLoop(w wire) {
	defer func() {
		// s.close has returned on this goroutine, so s.reason is set.
		w.close(s.reason.code, s.reason.text)
	}()
	hb := time.NewTimer(pingInterval)
	defer hb.Stop()
	awaitingPong := false
	for {
		select {
		case <-s.done:
			return
		case m := <-s.send:
			if err := s.writeBurst(w, m); err != nil {
				s.close(reasonWrite)
				return
			}
		case <-hb.C:
			if awaitingPong {
				s.close(reasonPingTimeout)
				return
			}
			if err := s.writeBurst(w, s.srv.ping); err != nil {
				s.close(reasonWrite)
				return
			}
			awaitingPong = true
			hb.Reset(pingTimeout)
		case <-s.pong:
			if awaitingPong {
				awaitingPong = false
				hb.Reset(pingInterval)
			}
		}
	}
}

// writeBurst writes m and whatever else is queued at this moment, then
// flushes.
func (s *session) writeBurst(w wire, m *message) error {
	if err := w.write(m); err != nil {
		return err
	}
	for n := len(s.send); n > 0; n-- {
		if err := w.write(<-s.send); err != nil {
			return err
		}
	}
	return w.flush()
}

// newID returns 20 random URL-safe characters.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b[:])
}
