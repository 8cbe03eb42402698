package redisadapter

import (
	"testing"

	"github.com/parley-rt/parley/socketio"
)

// benchEvent is a fan-out message like the bench contract's: step, sender,
// seq, timestamp and 64 bytes of padding.
var benchEvent = socketio.EncodedEvent{Data: []byte(`["message",3,7,123456,987654321012,"` + string(make64()) + `"]`)}

func make64() []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = 'x'
	}
	return b
}

// BenchmarkPublishEncode is the sending node's cost per forwarded
// broadcast: JSON to notepack's MessagePack.
func BenchmarkPublishEncode(b *testing.B) {
	opts := socketio.BroadcastOptions{Rooms: []string{"r"}, Except: []string{"sid-of-the-sender-xx"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := broadcastMessage("socket.io", "abcdef", "/chat", benchEvent, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiveDecode is the receiving node's cost per broadcast before
// the local encode-once path: MessagePack to the event's JSON.
func BenchmarkReceiveDecode(b *testing.B) {
	_, msg, err := broadcastMessage("socket.io", "abcdef", "/chat", benchEvent, socketio.BroadcastOptions{Rooms: []string{"r"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := parseMsgpack(msg)
		if err != nil {
			b.Fatal(err)
		}
		data, _ := v.arr[1].get("data")
		if _, err := eventOf(data); err != nil {
			b.Fatal(err)
		}
	}
}
