package admin

import (
	"strings"

	"github.com/parley-rt/parley/socketio"
)

// roomPrefix is how the chat core addresses a chat room on the adapter
// today: "#" + name (core.roomKey). The UI shows plain room names, as a
// Node adapter holds them; these two functions are the only place that
// knows the prefix, and the cluster change to plain adapter room names
// removes them.
const roomPrefix = "#"

// plainRoom is the room name the UI shows for an adapter room.
func plainRoom(key string) string { return strings.TrimPrefix(key, roomPrefix) }

// adapterRoom is the adapter room for a name the UI sent: a socket's own
// room (its id) as it is, a chat room of chatNsp with the prefix, any other
// room as it is.
func adapterRoom(n *socketio.Namespace, chatNsp, name string) string {
	if name == "" || n.Name() != chatNsp || strings.HasPrefix(name, roomPrefix) {
		return name
	}
	for _, s := range n.Sockets(name) {
		if s.ID() == name {
			return name
		}
	}
	return roomPrefix + name
}
