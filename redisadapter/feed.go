package redisadapter

import "bytes"

// Feed is a channel every node publishes on and reads, skipping its own
// messages: <prefix>-<name>, each payload prefixed with the sender's uid
// and a newline. Publishing never blocks; a message published while Redis
// is unreachable is dropped and counted (Stats.Dropped), as broadcasts
// are.
type Feed struct {
	c       *Cluster
	channel string
	self    []byte // uid + "\n"
}

// Feed returns the feed name; Start subscribes to it.
func (c *Cluster) Feed(name string) *Feed {
	return &Feed{c: c, channel: c.cfg.Prefix + "-" + name, self: []byte(c.uid + "\n")}
}

// Start subscribes: fn receives the other nodes' payloads on the
// subscriber goroutine and must return at once.
func (f *Feed) Start(fn func(payload []byte)) {
	c := f.c
	c.Handle(f.channel, func(msg []byte) {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			c.errs.Add(1)
			return
		}
		if bytes.Equal(msg[:i+1], f.self) {
			return
		}
		fn(msg[i+1:])
	})
}

// Publish sends payload to the other nodes' fn.
func (f *Feed) Publish(payload []byte) {
	msg := make([]byte, 0, len(f.self)+len(payload))
	f.c.Publish(f.channel, append(append(msg, f.self...), payload...))
}
