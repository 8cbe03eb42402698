package socketio

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/parley-rt/parley/engineio"
)

// Socket.IO protocol v4, spoken by socket.io-client 2.x over Engine.IO v3
// (engineio.Config.AllowEIO3), differs from v5 as Node's socket.io 4
// serves it:
//
//   - The client is connected to "/" as soon as its session opens, without
//     a CONNECT of its own; it sends CONNECT only for other namespaces.
//   - A CONNECT carries no auth object: the namespace may carry a query,
//     "0/chat?token=x,", whose parameters are the socket's auth (string
//     values; the implicit "/" gets {}).
//   - The server's CONNECT has no payload ("0", "0/chat,"), and the socket
//     id is the engine's sid, prefixed with "<nsp>#" outside "/", the id
//     the client computes for itself.
//   - A refused CONNECT is answered with an ERROR packet (type 4) whose
//     data is the error's data, or its message as a JSON string, not the
//     {message, data} object.
//   - There is no connection state recovery.
//
// Events, acks and binary attachments are encoded as in v5.

// v3Namespace removes the query from a v3 packet's namespace and returns
// the query as the auth object of a CONNECT (nil for other packets).
func v3Namespace(p *Packet) json.RawMessage {
	nsp, rawQuery, hasQuery := strings.Cut(p.Nsp, "?")
	p.Nsp = nsp
	if p.Type != PacketConnect {
		return nil
	}
	auth := map[string]string{}
	if hasQuery {
		q, _ := url.ParseQuery(rawQuery) // what parses is kept, as URLSearchParams does
		for k, vs := range q {
			auth[k] = vs[len(vs)-1] // the last value of a repeated key, as in Node
		}
	}
	b, _ := json.Marshal(auth) // cannot fail: strings
	return b
}

// v3SocketID is the socket id of a v3 client in namespace nsp.
func v3SocketID(nsp, sid string) string {
	if nsp == "/" {
		return sid
	}
	return nsp + "#" + sid
}

// connectError encodes the packet that refuses a CONNECT to nsp with err.
func (c *client) connectError(nsp string, err error) *engineio.Frame {
	return encodeControl(PacketConnectError, nsp, connectErrorData(c.v3, err))
}

// connectErrorData is the payload of a refused CONNECT: {message, data},
// or for a v3 client the error's data, else its message.
func connectErrorData(v3 bool, err error) any {
	payload := connectErrorPayload(err)
	if !v3 {
		return payload
	}
	if data, ok := payload["data"]; ok {
		return data
	}
	return payload["message"]
}
