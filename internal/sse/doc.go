// Package sse is the server-sent events adapter of the application
// core: GET /sse/rooms/:room (Server.Room) streams a chat room's
// newChatMessage (with the message id as the event id), userJoined and
// userLeft; GET /sse/presence streams presence status events.
//
// Room streams are fed by one roomFeed per room with readers. The chat core
// (an Observer registered by New) only signals a feed that the room has a new message (a non-blocking send); the
// feed's goroutine then reads the messages after the last one it delivered
// from the store and hands them to every reader. Reading from the store
// rather than relaying what chat broadcast keeps each stream in id order,
// which is commit order: two messages committed concurrently may be
// broadcast in either order, and a stream resumed from an id must never
// skip or repeat one. A reader with Last-Event-ID registers with the feed
// first, then replays the history after that id, then delivers what the
// feed queued meanwhile, skipping the ids it replayed: no gap, no duplicate.
//
// In a cluster the observer is a Cluster one: messages posted, and users
// joining and leaving, on other nodes reach the streams of this one
// through the chat feed (core.Chat.Relay); a wake for a message posted
// elsewhere reads it from the shared store.
//
// Every reader has a bounded queue (Config.Buffer). Chat, the feed and the
// presence tracker never wait for a reader: one whose queue is full is
// dropped, its stream ends, and the client reconnects and resumes.
//
// Goroutines: each room with readers has one feed goroutine, started by the
// first reader and ended by the last one's release or by Shutdown; Close
// waits for them. A stream is written by its own HTTP handler goroutine.
// Lock: roomFeeds.mu guards the feeds and their readers; offers run under
// it and never block. The chat core calls the message observer under its
// locks and the join/leave observers from a room slot's announcement
// queue, in transition order, after the room lock (core/doc.go); none of
// them is called with roomFeeds.mu held, and roomFeeds.mu is taken last.
package sse
