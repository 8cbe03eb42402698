// Package graphql serves /graphql: the chat and presence contract as a
// GraphQL schema (package schema: schema.graphqls, and the code gqlgen
// generates from it with `go generate ./internal/graphql/schema`).
//
//	query        messages(room, before, after, limit)   presence(userIds, rooms)
//	mutation     sendMessage(room, content, clientMsgId) setStatus(status)
//	subscription newChatMessage(room) userJoined(room) userLeft(room) status(userIds, rooms)
//
// Queries and mutations are served over HTTP (GET and POST) and over the
// WebSocket; subscriptions over the WebSocket only, with the
// graphql-transport-ws protocol (the graphql-ws npm client) on the same
// path. The types mirror the events registry's payloads field by field,
// and TestSchemaMatchesRegistry fails when they drift.
//
// # Authentication
//
// Over HTTP: Authorization: Bearer <JWT>, verified as for every other
// transport; a missing or refused token is answered 401 with a GraphQL
// error. In dev mode a request without a token reads as the anonymous
// user (as the SSE feeds do), who may query but not post (a dev token
// comes from GET /api/dev/token). Over the WebSocket: the connection_init
// payload {token}, or in dev mode {userId, name}, is presented to the
// namespaces as the Socket.IO CONNECT auth, so the same code accepts or
// refuses it; a refusal closes the WebSocket with 4403 and the reason
// "<code>: <message>", and connection_ack carries {userId, name,
// protocol} otherwise.
//
// # Errors
//
// Every error is a GraphQL error whose extensions.code is a contract code
// (events.Code): an *events.Error from the core or a namespace as
// written; gqlgen's own (a query that does not parse or validate, a bad
// argument) as bad_request, with gqlgen's code kept in
// extensions.graphqlCode; anything else is logged and answered internal.
//
// # Design
//
// Queries and mutations call the application core directly, as the HTTP
// API does: messages is Chat.Page, sendMessage Chat.Publish, both behind
// the room policy (Chat.Authorize: a room must be one the user may join);
// presence is the snapshot of a Watch that lives for the request
// (Watch.Subscribe: the same checks and limits as the subscribe event).
// setStatus belongs to a connected user: over the WebSocket it is the
// setStatus event of the connection's /presence socket (the same handler
// and rate limit); over HTTP it sets the status of the user's connections
// elsewhere (core.Presence.SetStatus), and fails with not_found when the
// user has none.
//
// Each WebSocket connection is attached to the Socket.IO server as one
// client (socketio.Server.Attach), exactly as /ws connections are: it has
// a socket in /chat and one in /presence, so the user counts as online
// (one more connection of the user, within MaxConnectionsPerUser), and
// rooms, authorization, rate limits and the cluster adapter are the same
// code as for socket.io-client users. A newChatMessage, userJoined or
// userLeft subscription joins the room with the /chat socket's joinRoom
// (refcounted per connection; the last subscription of a room leaves it),
// and the namespace's events of that room become the subscription's
// payloads: cluster-wide through the Redis adapter. A status subscription
// is a core Watch of its own (what the /presence socket's subscribe is),
// so that each subscription gets exactly its users and rooms; presence is
// exactly as cluster-wide as the core's presence (and /presence) is.
//
// # Limits
//
// Besides the limits of the namespaces and the core: a WebSocket
// connection may have Config.MaxSubscriptions subscriptions at once (100;
// one more fails with forbidden), an operation's complexity is bounded by
// Config.MaxComplexity (1000 selected fields, aliases included), and an
// HTTP body by Config.MaxBody. Queries and sendMessage call the core
// directly, so the per-socket rate limits do not apply to them (as to the
// HTTP API); setStatus, joins and leaves go through the sockets, so they
// do.
//
// # Concurrency
//
// gqlgen runs each WebSocket connection in its ServeHTTP call and each
// operation on its own goroutine. Handler owns one goroutine per
// connection, which closes the link when the connection's context ends
// and then waits for the link's goroutines: one per subscription, which
// ends the subscription's listener or watch and leaves the room. Close
// closes every connection (gqlgen closes the WebSocket with 1000) and
// waits for them.
// Deliveries never block: each subscription has a queue of
// Config.MaxQueue events, and a connection with a full queue is closed as
// a slow consumer. Lock order: link.roomMu, then link.inMu, then link.mu
// (a subscription's own mutex is taken under link.mu or the presence
// lock, and takes nothing); only roomMu is held while waiting for an ack
// (joinRoom, leaveRoom).
package graphql
