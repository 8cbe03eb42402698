package socketio

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-rt/parley/engineio"
)

func authJSON(pid, offset string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"pid": pid, "offset": offset}) // strings always marshal
	return b
}

func frame(s string) []*engineio.Frame {
	return []*engineio.Frame{engineio.NewMessage([]byte(s), false)}
}

func TestRecoveryOffsets(t *testing.T) {
	t.Parallel()
	r := newRecoveryStore(time.Minute)
	other := newRecoveryStore(time.Minute)
	seen := make(map[string]bool)
	for range 100 {
		o := r.nextOffset()
		if seen[o] || !strings.HasPrefix(o, r.prefix) {
			t.Fatalf("offset %q repeated or without the store prefix %q", o, r.prefix)
		}
		seen[o] = true
	}
	if r.prefix == other.prefix {
		t.Fatal("two stores share an offset prefix: offsets of one would be valid in the other")
	}
}

func TestRecoverySaveRestore(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/rec")
	store := newRecoveryStore(time.Minute)
	s := addSocket(t, n, "sid-1", "red", "blue")
	s.pid = "pid-1"
	s.Set("user", "ann")

	// Packets before the client's last offset are not replayed.
	before := store.nextOffset()
	store.record(before, frame("before"), nil, nil)
	store.save(s)
	s.Set("user", "changed after save") // the saved data is a copy

	// Broadcasts while the socket was away; the socket was in red and blue.
	type bc struct {
		name          string
		rooms, except []string
		replay        bool
	}
	sent := []bc{
		{"all", nil, nil, true},
		{"to red", []string{"red"}, nil, true},
		{"to green", []string{"green"}, nil, false},
		{"to green or blue", []string{"green", "blue"}, nil, true},
		{"to its own room", []string{"sid-1"}, nil, true},
		{"all except red", nil, []string{"red"}, false},
		{"all except green", nil, []string{"green"}, true},
		{"to blue except itself", []string{"blue"}, []string{"sid-1"}, false},
		{"binary to red", []string{"red"}, nil, true},
	}
	var want []*engineio.Frame
	for _, b := range sent {
		fs := frame(b.name)
		if b.name == "binary to red" {
			fs = append(fs, engineio.NewMessage([]byte{1, 2}, true))
		}
		store.record(store.nextOffset(), fs, b.rooms, b.except)
		if b.replay {
			want = append(want, fs...)
		}
	}

	got := store.restore(authJSON("pid-1", before))
	if got == nil {
		t.Fatal("restore found nothing")
	}
	if got.sid != "sid-1" || got.pid != "pid-1" {
		t.Fatalf("restored %s/%s", got.sid, got.pid)
	}
	rooms := slices.Clone(got.rooms)
	slices.Sort(rooms)
	if !slices.Equal(rooms, []string{"blue", "red"}) {
		t.Fatalf("restored rooms %v, want [blue red] (its own room is implied)", rooms)
	}
	if got.data["user"] != "ann" {
		t.Fatalf("restored data %v", got.data)
	}
	// The very frames recorded (shared, not re-encoded), in order.
	if len(got.missed) != len(want) {
		t.Fatalf("missed %d frames, want %d", len(got.missed), len(want))
	}
	for i := range want {
		if got.missed[i] != want[i] {
			t.Fatalf("missed frame %d is not the recorded frame", i)
		}
	}
	// A session is restored once.
	if again := store.restore(authJSON("pid-1", before)); again != nil {
		t.Fatal("restored twice")
	}
}

func TestRecoveryRestoreRefuses(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/refuse")
	store := newRecoveryStore(time.Minute)
	s := addSocket(t, n, "sid-2")
	s.pid = "pid-2"
	offset := store.nextOffset()
	store.record(offset, frame("x"), nil, nil)
	store.save(s)

	tests := []struct {
		name string
		auth json.RawMessage
	}{
		{"no auth", json.RawMessage(`{}`)},
		{"not JSON", json.RawMessage(`{`)},
		{"array", json.RawMessage(`[]`)},
		{"pid only", json.RawMessage(`{"pid":"pid-2"}`)},
		{"offset only", authJSON("", offset)},
		{"unknown pid", authJSON("pid-x", offset)},
		{"unknown offset", authJSON("pid-2", "nope")},
		{"wrong types", json.RawMessage(`{"pid":2,"offset":3}`)},
	}
	for _, tt := range tests {
		if got := store.restore(tt.auth); got != nil {
			t.Fatalf("%s: restored %+v", tt.name, got)
		}
	}
	// None of the refusals consumed the session.
	if got := store.restore(authJSON("pid-2", offset)); got == nil || len(got.missed) != 0 {
		t.Fatalf("valid restore after refusals = %+v", got)
	}
}

func TestRecoveryExpiry(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/expiry")
	store := newRecoveryStore(time.Minute)
	s := addSocket(t, n, "sid-3")
	s.pid = "pid-3"
	old := store.nextOffset()
	store.record(old, frame("old"), nil, nil)
	store.save(s)
	fresh := store.nextOffset()
	store.record(fresh, frame("fresh"), nil, nil)

	// Age everything past MaxDisconnectionDuration instead of waiting.
	store.mu.Lock()
	for _, ss := range store.sessions {
		ss.at = ss.at.Add(-2 * time.Minute)
	}
	store.packets[0].at = store.packets[0].at.Add(-2 * time.Minute)
	store.mu.Unlock()

	if got := store.restore(authJSON("pid-3", old)); got != nil {
		t.Fatal("restored an expired session")
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.sessions) != 0 {
		t.Fatalf("%d expired sessions kept", len(store.sessions))
	}
	if len(store.packets) != 1 || store.packets[0].offset != fresh {
		t.Fatalf("packets after pruning: %d", len(store.packets))
	}
}

func TestRecoveryRecordedEventCarriesOffset(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{Recovery: &RecoveryConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.cfg.Recovery.MaxDisconnectionDuration != 2*time.Minute {
		t.Fatalf("default MaxDisconnectionDuration %v", srv.cfg.Recovery.MaxDisconnectionDuration)
	}
	n := srv.Of("/off")
	frames, err := n.encodeEvent("news", []any{"a"}, noID, true, []string{"room"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.recovery.mu.Lock()
	rec := n.recovery.packets
	n.recovery.mu.Unlock()
	if len(rec) != 1 || rec[0].frames[0] != frames[0] || !slices.Equal(rec[0].rooms, []string{"room"}) {
		t.Fatalf("recorded %+v", rec)
	}
	// The offset is the event's last argument: 2/off,["news","a","<offset>"].
	want := len(`2/off,["news","a",""]`) + len(rec[0].offset)
	if frames[0].Len() != want {
		t.Fatalf("frame is %d bytes, want %d with the offset %q appended", frames[0].Len(), want, rec[0].offset)
	}
	// Not recorded: no offset, nothing kept.
	if _, err := n.encodeEvent("news", []any{"a"}, noID, false, nil, nil); err != nil {
		t.Fatal(err)
	}
	n.recovery.mu.Lock()
	defer n.recovery.mu.Unlock()
	if len(n.recovery.packets) != 1 {
		t.Fatal("an unrecorded event was kept")
	}
}
