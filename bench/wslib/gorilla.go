package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// gorillaUpgrader follows gorilla's documentation for many connections:
// small per-connection read buffer (the chat example's 1 KiB) and pooled
// write buffers, so that an idle connection holds no write buffer. Origins
// are not checked, as in Parley's bench server.
var gorillaUpgrader = websocket.Upgrader{
	ReadBufferSize:  readBufferSize,
	WriteBufferSize: 1024,
	WriteBufferPool: &sync.Pool{},
	CheckOrigin:     func(*http.Request) bool { return true },
}

// serveGorilla is the gorilla chat example's shape: Upgrade, then one
// reader goroutine (ReadMessage) and one writer goroutine fed by a buffered
// channel. gorilla answers websocket pings and closes itself.
func serveGorilla(srv *server, w http.ResponseWriter, r *http.Request) {
	c, err := gorillaUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	c.SetReadLimit(maxPayload)
	s := srv.newSession()
	started := srv.start(s, gorillaWire{c}, func() error {
		for {
			typ, p, err := c.ReadMessage()
			if err != nil {
				return err
			}
			if typ != websocket.TextMessage {
				return errParse
			}
			if err := s.onPacket(p); err != nil {
				return err
			}
		}
	})
	if !started {
		_ = c.Close() // shutting down
	}
}

// prepareGorilla builds a broadcast as a PreparedMessage: gorilla frames it
// once and writes the same bytes to every connection.
func prepareGorilla(text []byte) *message {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, text)
	if err != nil {
		// Only compression can fail, and it is off: send unprepared.
		return &message{text: text}
	}
	return &message{text: text, pm: pm}
}

type gorillaWire struct{ c *websocket.Conn }

// write writes one message: gorilla writes (and flushes) every message on
// its own, so flush has nothing left to do.
func (g gorillaWire) write(m *message) error {
	if err := g.c.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
		return err
	}
	if m.pm != nil {
		return g.c.WritePreparedMessage(m.pm)
	}
	return g.c.WriteMessage(websocket.TextMessage, m.text)
}

func (g gorillaWire) flush() error { return nil }

func (g gorillaWire) close(code int, reason string) {
	_ = g.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(time.Second)) // best effort: the peer may be gone
	_ = g.c.Close() // ends ReadMessage in the reader
}
