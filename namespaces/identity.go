package namespaces

import "github.com/parley-rt/parley/events"

// userKey is the Conn.Get key of the socket's authenticated user.
const userKey = "namespaces.user"

// SetUser records the authenticated user of c; a namespace's connection
// middleware calls it.
func SetUser(c Conn, u events.UserRef) { c.Set(userKey, u) }

// User returns the user SetUser recorded on c.
func User(c Conn) (events.UserRef, bool) {
	v, ok := c.Get(userKey)
	if !ok {
		return events.UserRef{}, false
	}
	u, ok := v.(events.UserRef)
	return u, ok
}
