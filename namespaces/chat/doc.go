// Package chat is the Socket.IO adapter of the chat core on the /chat
// namespace: Register installs the connection middleware (the identity,
// namespaces.AuthMiddleware) and, for each connected socket, opens a
// core.Session and registers its methods as the handlers of joinRoom,
// leaveRoom, chatMessage, typing and fetchHistory, and refreshToken
// (namespaces.WatchToken). events.Handle decodes, validates and acks; the
// core does the rest. The package keeps no state and starts no goroutine;
// see package core for the behaviour, the lock order and the goroutines.
package chat
