package main

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

// serveCoder follows coder/websocket's chat example: Accept, Read with a
// context in a loop (which also answers pings and close frames), and a
// writer goroutine calling Write with a per-message timeout context. Origins
// are not checked, as in Parley's bench server.
func serveCoder(srv *server, w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered with an HTTP error
	}
	c.SetReadLimit(maxPayload)
	s := srv.newSession()
	// The request's context ends when this handler returns, so reads are
	// not bound to it; closing the connection ends them.
	ctx := context.Background()
	started := srv.start(s, coderWire{c}, func() error {
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return err
			}
			if typ != websocket.MessageText {
				return errParse
			}
			if err := s.onPacket(p); err != nil {
				return err
			}
		}
	})
	if !started {
		_ = c.CloseNow() // shutting down
	}
}

func isCoderTooBig(err error) bool {
	return websocket.CloseStatus(err) == websocket.StatusMessageTooBig
}

type coderWire struct{ c *websocket.Conn }

// write writes and flushes one message, bounded by its own context, as
// coder's examples do. coder has no prepared messages: each Write frames
// the payload again.
func (cw coderWire) write(m *message) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeWait)
	defer cancel()
	return cw.c.Write(ctx, websocket.MessageText, m.text)
}

func (cw coderWire) flush() error { return nil }

// close runs coder's close handshake (bounded by coder at 5 s for each
// side), which ends the reader.
func (cw coderWire) close(code int, reason string) {
	_ = cw.c.Close(websocket.StatusCode(code), reason) // best effort: the peer may be gone
}
