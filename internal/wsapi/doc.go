// Package wsapi serves /ws: the chat and presence contract over a plain
// WebSocket with JSON frames, for clients without socket.io-client (a
// browser's WebSocket, curl, a microcontroller).
//
// Frames, client to server:
//
//	{"type": "<client event>", "data": <payload>, "id"?: <integer>}
//
// answered, when id is given and the event has an ack, by
//
//	{"type": "ack", "id": <same>, "data": <the event's Result>}
//
// Server to client: {"type": "<server event>", "data": <payload>}; on open
// {"type": "info", "data": {"userId", "name", "protocol"}}; for a frame the
// server cannot take {"type": "error", "data": {"code", "message"}, "id"?}.
// A frame over the size limit closes the connection with 1009.
//
// A /ws connection is not a second implementation of the contract: each
// one is attached to the Socket.IO server (socketio.Server.Attach) as one
// client with a socket in every namespace of the contract, so rooms,
// history, presence, rate limits, authorization and the cluster adapter
// are the same code as for socket.io-client users, and a /ws user and a
// socket.io user talk in one room. This package only translates frames:
// an incoming frame becomes the Socket.IO packet of its event (the
// namespace found in the events registry), and every packet the server
// sends becomes a frame.
//
// Concurrency: each connection has two goroutines, both owned by the
// ServeHTTP call that accepted it: the reader (ServeHTTP itself), which
// feeds packets to the Socket.IO client and calls its OnClose once at the
// end, and the writer, which drains the connection's bounded queue. Send
// never blocks: a connection whose queue is full is closed as a slow
// consumer. Handler.Close closes every connection and waits for their
// ServeHTTP calls to return. Lock order: Handler.mu, then conn.mu; neither
// is held while calling into socketio.
package wsapi
