package socketio

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-rt/parley/engineio"
)

func authJSON(pid, offset string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"pid": pid, "offset": offset}) // strings always marshal
	return b
}

// record records a text packet named name (plus attachments) the way an
// emit does, and returns its offset and frames.
func record(t *testing.T, r *recoveryStore, name string, rooms, except []string, attachments ...[]byte) (string, []*engineio.Frame) {
	t.Helper()
	text := append(make([]byte, 0, 64+r.offsetRoom()), `2["`+name+`"]`...)
	frames := []*engineio.Frame{nil}
	for _, a := range attachments {
		frames = append(frames, engineio.NewMessage(a, true))
	}
	var delivered []*engineio.Frame
	if err := r.emit(text, frames, rooms, except, func(fs []*engineio.Frame) error { delivered = fs; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(delivered) != len(frames) || delivered[0] == nil {
		t.Fatalf("emit delivered %v", delivered)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	offset := r.prefix + strconv.FormatUint(r.seq, 36)
	if want := len(`2["`+name+`",""]`) + len(offset); delivered[0].Len() != want {
		t.Fatalf("frame is %d bytes, want %d with the offset %q appended", delivered[0].Len(), want, offset)
	}
	return offset, delivered
}

// resumed claims the session for auth and returns it with its missed
// frames, or nil.
func resumed(r *recoveryStore, auth json.RawMessage) (*savedSession, []*engineio.Frame) {
	s := r.claim(auth)
	if s == nil {
		return nil, nil
	}
	var missed []*engineio.Frame
	r.resume(s, func(m []*engineio.Frame) { missed = m })
	return s, missed
}

func TestRecoveryOffsets(t *testing.T) {
	t.Parallel()
	r := newRecoveryStore(time.Minute)
	other := newRecoveryStore(time.Minute)
	seen := make(map[string]bool)
	for i := range 100 {
		o, _ := record(t, r, "x", nil, nil)
		if seen[o] || !strings.HasPrefix(o, r.prefix) {
			t.Fatalf("offset %q repeated or without the store prefix %q", o, r.prefix)
		}
		seen[o] = true
		if n, ok := r.offsetSeq(o); !ok || n != uint64(i+1) {
			t.Fatalf("offset %q has sequence number %d, %v", o, n, ok)
		}
		if _, ok := other.offsetSeq(o); ok {
			t.Fatalf("offset %q of one store accepted by another", o)
		}
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
	record(t, store, "older", nil, nil)
	before, _ := record(t, store, "before", nil, nil)
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
		var attachments [][]byte
		if b.name == "binary to red" {
			attachments = append(attachments, []byte{1, 2})
		}
		_, fs := record(t, store, b.name, b.rooms, b.except, attachments...)
		if b.replay {
			want = append(want, fs...)
		}
	}

	got, missed := resumed(store, authJSON("pid-1", before))
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
	if len(missed) != len(want) {
		t.Fatalf("missed %d frames, want %d", len(missed), len(want))
	}
	for i := range want {
		if missed[i] != want[i] {
			t.Fatalf("missed frame %d is not the recorded frame", i)
		}
	}
	// A session is restored once.
	if again := store.claim(authJSON("pid-1", before)); again != nil {
		t.Fatal("restored twice")
	}
}

// TestRecoveryResumeCatchesUp records packets between claim and resume
// (while the middlewares run) and from inside join's lock-free filtering
// window: they are missed packets too, after the older ones.
func TestRecoveryResumeCatchesUp(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/catchup")
	store := newRecoveryStore(time.Minute)
	s := addSocket(t, n, "sid-5")
	s.pid = "pid-5"
	last, _ := record(t, store, "seen", nil, nil)
	store.save(s)
	_, a := record(t, store, "a", nil, nil)
	ss := store.claim(authJSON("pid-5", last))
	if ss == nil {
		t.Fatal("claim refused")
	}
	_, b := record(t, store, "b", nil, nil)
	var missed []*engineio.Frame
	if !store.resume(ss, func(m []*engineio.Frame) { missed = m }) {
		t.Fatal("resume reported expired packets")
	}
	if len(missed) != 2 || missed[0] != a[0] || missed[1] != b[0] {
		t.Fatalf("missed %v, want a then b", missed)
	}
}

func TestRecoveryRestoreRefuses(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/refuse")
	store := newRecoveryStore(time.Minute)
	s := addSocket(t, n, "sid-2")
	s.pid = "pid-2"
	offset, _ := record(t, store, "x", nil, nil)
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
		{"offset of another store", authJSON("pid-2", newRecoveryStore(time.Minute).prefix+"1")},
		{"offset not issued yet", authJSON("pid-2", store.prefix+"2")},
		{"offset before the first", authJSON("pid-2", store.prefix+"0")},
		{"offset not base 36", authJSON("pid-2", store.prefix+"!")},
		{"wrong types", json.RawMessage(`{"pid":2,"offset":3}`)},
	}
	for _, tt := range tests {
		if got := store.claim(tt.auth); got != nil {
			t.Fatalf("%s: restored %+v", tt.name, got)
		}
	}
	// None of the refusals consumed the session.
	if got, missed := resumed(store, authJSON("pid-2", offset)); got == nil || len(missed) != 0 {
		t.Fatalf("valid restore after refusals = %+v, %v", got, missed)
	}
}

func TestRecoveryExpiry(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/expiry")
	store := newRecoveryStore(time.Minute)
	s := addSocket(t, n, "sid-3")
	s.pid = "pid-3"
	old, _ := record(t, store, "old", nil, nil)
	store.save(s)
	fresh, _ := record(t, store, "fresh", nil, nil)

	// Age everything past MaxDisconnectionDuration instead of waiting.
	store.mu.Lock()
	for _, ss := range store.sessions {
		ss.at = ss.at.Add(-2 * time.Minute)
	}
	store.packets[0].at = store.packets[0].at.Add(-2 * time.Minute)
	store.mu.Unlock()

	if got := store.claim(authJSON("pid-3", old)); got != nil {
		t.Fatal("restored an expired session")
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.sessions) != 0 || len(store.saved) != 0 {
		t.Fatalf("%d expired sessions kept (%d in the expiry queue)", len(store.sessions), len(store.saved))
	}
	if len(store.packets) != 1 || store.prefix+strconv.FormatUint(store.firstLocked(), 36) != fresh {
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
	var frames []*engineio.Frame
	err = n.emitRecorded("news", []any{"a"}, []string{"room"}, nil, func(fs []*engineio.Frame) error { frames = fs; return nil })
	if err != nil {
		t.Fatal(err)
	}
	n.recovery.mu.Lock()
	rec := n.recovery.packets
	offset := n.recovery.prefix + strconv.FormatUint(n.recovery.seq, 36)
	n.recovery.mu.Unlock()
	if len(rec) != 1 || rec[0].frames[0] != frames[0] || !slices.Equal(rec[0].rooms, []string{"room"}) {
		t.Fatalf("recorded %+v", rec)
	}
	// The offset is the event's last argument: 2/off,["news","a","<offset>"].
	if want := len(`2/off,["news","a",""]`) + len(offset); frames[0].Len() != want {
		t.Fatalf("frame is %d bytes, want %d with the offset %q appended", frames[0].Len(), want, offset)
	}
}

// TestRecoveryResumeAfterExpiry ages the packets a claimed session missed
// past the window before resume (middlewares that took that long): resume
// says so, and hands over what is left.
func TestRecoveryResumeAfterExpiry(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/late")
	store := newRecoveryStore(time.Minute)
	s := addSocket(t, n, "sid-6")
	s.pid = "pid-6"
	last, _ := record(t, store, "seen", nil, nil)
	store.save(s)
	record(t, store, "expires", nil, nil)
	ss := store.claim(authJSON("pid-6", last))
	if ss == nil {
		t.Fatal("claim refused")
	}
	store.mu.Lock()
	store.packets[0].at = store.packets[0].at.Add(-2 * time.Minute)
	store.packets[1].at = store.packets[1].at.Add(-2 * time.Minute)
	store.mu.Unlock()
	_, fresh := record(t, store, "fresh", nil, nil) // prunes the two
	var missed []*engineio.Frame
	if store.resume(ss, func(m []*engineio.Frame) { missed = m }) {
		t.Fatal("resume did not report the expired packet")
	}
	if len(missed) != 1 || missed[0] != fresh[0] {
		t.Fatalf("missed %v, want only the fresh packet", missed)
	}
}

// TestRecoveryConcurrentPrune resumes sessions while other goroutines
// record packets into a store whose window holds about 400 of them (its
// clock advances a millisecond per packet), so packets expire and the log
// is resliced and compacted while resume reads its copy outside the lock;
// the race detector checks that this is safe. Each resume starts from an
// offset halfway back in the log, or near its oldest end, and must get every packet after it up to
// the newest, once and in order (or, when some expired meanwhile and
// resume says so, every packet from the oldest left).
func TestRecoveryConcurrentPrune(t *testing.T) {
	t.Parallel()
	n := newTestNamespace(t, "/prune")
	store := newRecoveryStore(400 * time.Millisecond)
	base := time.Now()
	var clock atomic.Int64
	store.now = func() time.Time { return base.Add(time.Duration(clock.Load()) * time.Millisecond) }
	var seqOf sync.Map // first frame -> its sequence number
	emit := func() error {
		clock.Add(1)
		text := append(make([]byte, 0, 16+store.offsetRoom()), `2["x"]`...)
		return store.emit(text, []*engineio.Frame{nil}, nil, nil, func(fs []*engineio.Frame) error {
			seqOf.Store(fs[0], store.seq) // under the emit lock
			return nil
		})
	}
	var recorders, resumers sync.WaitGroup
	var resumed, completed atomic.Int64
	stop := make(chan struct{})
	for range 4 {
		recorders.Add(1)
		go func() {
			defer recorders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := emit(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(waitTimeout)
	for i := range 2 {
		resumers.Add(1)
		go func() {
			defer resumers.Done()
			s := addSocket(t, n, fmt.Sprintf("sid-p%d", i))
			s.pid = fmt.Sprintf("pid-p%d", i)
			for k := 0; resumed.Load() < 200 && time.Now().Before(deadline); k++ {
				// Halfway back, or from packets about to expire (whose
				// slots pruning drops while resume reads them).
				lag := uint64(200)
				if k%2 == 1 {
					lag = 395
				}
				store.mu.Lock()
				after := store.seq - min(store.seq, lag)
				store.mu.Unlock()
				store.save(s)
				ss := store.claim(authJSON(s.pid, store.prefix+strconv.FormatUint(after, 36)))
				if ss == nil {
					continue // the offset's packet expired already
				}
				if err := emit(); err != nil { // at least one to replay
					t.Error(err)
					return
				}
				var got []uint64
				var newest uint64
				complete := store.resume(ss, func(missed []*engineio.Frame) {
					newest = store.seq // under the emit lock
					for _, f := range missed {
						v, ok := seqOf.Load(f)
						if !ok {
							t.Errorf("missed frame %p was never recorded", f)
							return
						}
						got = append(got, v.(uint64))
					}
				})
				if len(got) == 0 {
					t.Errorf("resume from %d replayed nothing, newest %d", after, newest)
					return
				}
				// Complete: every packet after the offset. Otherwise some
				// expired while resume ran (and were dropped from the log
				// whole): still each once, in order.
				prev := after
				for j, seq := range got {
					if complete && seq != prev+1 || seq <= prev {
						t.Errorf("resume from %d (complete %v): packet %d is %d after %d", after, complete, j, seq, prev)
						return
					}
					prev = seq
				}
				if complete {
					completed.Add(1)
				}
				if last := got[len(got)-1]; last != newest {
					t.Errorf("resume from %d ends at %d, newest is %d", after, last, newest)
					return
				}
				resumed.Add(1)
			}
		}()
	}
	resumers.Wait()
	close(stop)
	recorders.Wait()
	if (resumed.Load() < 200 || completed.Load() == 0) && !t.Failed() {
		t.Fatalf("only %d resumes (%d complete) in %v", resumed.Load(), completed.Load(), waitTimeout)
	}
	t.Logf("%d resumes, %d complete", resumed.Load(), completed.Load())
}
