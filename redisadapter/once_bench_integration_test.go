//go:build integration

package redisadapter

import (
	"context"
	"strconv"
	"testing"

	"github.com/parley-rt/parley/internal/redistest"
	"github.com/parley-rt/parley/socketio"
)

// benchSend is the publisher's cost per message against a real
// redis-server, in pipelined batches of 256 as the publisher sends them:
// a PUBLISH each (a plain broadcast) or an EVALSHA of the gate each, every
// one with a new key (a chat message's original).
func benchSend(b *testing.B, gated bool) {
	r := redistest.Start(b)
	c, err := New(Config{URL: r.URL()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }() // nothing left to flush
	c.loadScripts()
	channel, payload, err := broadcastMessage("socket.io", c.uid, "/chat", benchEvent, socketio.BroadcastOptions{Rooms: []string{"r"}, Except: []string{"sid-of-the-sender-xx"}})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = "socket.io-once#/chat#01a2539e-cc72-7000-8000-" + strconv.Itoa(100000000000+i)
	}
	batch := make([]outMsg, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := outMsg{channel: channel, payload: payload}
		if gated {
			m.gate = keys[i]
		}
		batch = append(batch, m)
		if len(batch) == cap(batch) || i == b.N-1 {
			if err := c.send(c.ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.StopTimer()
	if st := c.Stats(); st.Published != uint64(b.N) || st.Gated != 0 {
		b.Fatalf("stats %+v after %d messages", st, b.N)
	}
}

func BenchmarkSendPublish(b *testing.B) { benchSend(b, false) }
func BenchmarkSendGated(b *testing.B)   { benchSend(b, true) }
