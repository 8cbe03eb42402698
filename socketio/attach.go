package socketio

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/events"
)

// Session is what a client's sockets need of the connection under them. An
// Engine.IO session is one; Attach takes others, such as the plain
// WebSocket endpoint's connections, which carry Socket.IO packets in
// process and translate them to their own framing.
type Session interface {
	// ID identifies the connection in logs.
	ID() string
	// Handshake describes the HTTP request that opened the connection.
	Handshake() engineio.Handshake
	// Transport names the transport ("polling", "websocket", ...).
	Transport() string
	// Writable reports whether a volatile packet would be written now.
	Writable() bool
	// Send queues one encoded Socket.IO packet (or attachment); SendBatch
	// queues several in order. Both must not block on the network.
	Send(f *engineio.Frame) error
	SendBatch(fs []*engineio.Frame) error
	// Close closes the connection with reason; the connection then calls
	// the Handler's OnClose once.
	Close(reason string)
	// Done is closed when the connection has closed.
	Done() <-chan struct{}
}

var _ Session = (*engineio.Session)(nil)

// ErrClosing is returned by Attach while the server shuts down.
var ErrClosing = errors.New("socketio: server closing")

// Attach serves sess as a client of srv, as if it had connected over
// Engine.IO: the caller feeds each Socket.IO packet it receives (text, as
// the Socket.IO parser reads it) to the returned handler's OnMessage, and
// calls its OnClose once when the connection has closed. The connect
// timeout applies as to any client: a connection that joins no namespace
// in time is closed.
func (srv *Server) Attach(sess Session) (engineio.Handler, error) {
	srv.mu.Lock()
	closing := srv.closing
	srv.mu.Unlock()
	if closing {
		return nil, ErrClosing
	}
	return srv.newClient(sess, false), nil
}

// Refusal reads the payload of a CONNECT_ERROR packet this server sent (a
// connection given to Attach sees them) as the contract's error: the code
// and message of its data ({code, message} or {code, reason}), else its
// message, as unauthorized when it names no code.
func Refusal(data []byte) *events.Error {
	var ce struct {
		Message string `json:"message"`
		Data    struct {
			Code    events.Code `json:"code"`
			Message string      `json:"message"`
			Reason  string      `json:"reason"`
		} `json:"data"`
	}
	_ = json.Unmarshal(data, &ce) // a malformed one still refuses
	code, msg := ce.Data.Code, ce.Data.Message
	if code == "" {
		code = events.CodeUnauthorized
	}
	if msg == "" {
		msg = ce.Data.Reason
	}
	if msg == "" {
		msg = ce.Message
	}
	return events.NewError(code, msg)
}

// EventPacket encodes the text EVENT packet 2<nsp>,<id>["name",data] that a
// connection given to Attach feeds its handler: id < 0 for none, data the
// single argument as JSON (empty for none).
func EventPacket(nsp string, id int64, name string, data []byte) []byte {
	b := make([]byte, 0, len(nsp)+len(name)+len(data)+32)
	b = append(b, '2')
	b = append(b, nsp...)
	b = append(b, ',')
	if id >= 0 {
		b = strconv.AppendInt(b, id, 10)
	}
	b = append(b, '[')
	b = strconv.AppendQuote(b, name)
	if len(data) > 0 {
		b = append(b, ',')
		b = append(b, data...)
	}
	return append(b, ']')
}
