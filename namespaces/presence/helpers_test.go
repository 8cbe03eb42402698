package presence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/namespacestest"
	"github.com/parley-rt/parley/namespaces/presence"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeStore is an in-memory presence.Store with failure injection.
type fakeStore struct {
	mu      sync.Mutex
	seen    map[string]int64
	names   map[string]string
	readErr error
	writes  int
}

func newFakeStore() *fakeStore {
	return &fakeStore{seen: map[string]int64{}, names: map[string]string{}}
}

func (s *fakeStore) SetLastSeen(_ context.Context, id, name string, ms int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if ms >= s.seen[id] {
		s.seen[id], s.names[id] = ms, name
	}
	return nil
}

func (s *fakeStore) LastSeen(_ context.Context, ids []string) (map[string]presence.StoredSeen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErr != nil {
		return nil, s.readErr
	}
	out := map[string]presence.StoredSeen{}
	for _, id := range ids {
		if ms, ok := s.seen[id]; ok {
			out[id] = presence.StoredSeen{Name: s.names[id], At: ms}
		}
	}
	return out, nil
}

func (s *fakeStore) get(id string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms, ok := s.seen[id]
	return ms, ok
}

// clock is a settable TrackerConfig.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) ms() int64 { return c.Now().UnixMilli() }

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// chatUserKey is where the fake /chat namespace keeps a socket's user.
const chatUserKey = "test.user"

// env is a tracker with /presence registered on a fake namespace, and a
// fake /chat namespace whose sockets the tests join to rooms "#name".
type env struct {
	ns      *namespacestest.Namespace
	chat    *namespacestest.Namespace
	tracker *presence.Tracker
	store   *fakeStore
	timers  *namespacestest.Timers
	clock   *clock
	logs    *logBuffer
}

func newEnv(t *testing.T, modT func(*presence.TrackerConfig), modD func(*presence.Deps)) *env {
	t.Helper()
	e := &env{
		ns: namespacestest.NewNamespace("/presence"), chat: namespacestest.NewNamespace("/chat"),
		store: newFakeStore(), timers: &namespacestest.Timers{}, logs: &logBuffer{},
		clock: &clock{t: time.UnixMilli(1_767_225_600_000)},
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := presence.TrackerConfig{
		Store: e.store, AfterFunc: e.timers.AfterFunc, Now: e.clock.Now, Logger: logger,
		RoomsOf: func(c namespaces.Conn) []string {
			if c.Namespace() != "/chat" {
				return nil
			}
			var out []string
			for _, r := range c.Rooms() {
				if name, ok := strings.CutPrefix(r, "#"); ok {
					out = append(out, name)
				}
			}
			return out
		},
		RoomMembers: func(room string) []string {
			ids := map[string]bool{}
			for _, c := range e.chat.Sockets("#" + room) {
				if u, ok := c.Get(chatUserKey); ok {
					ids[u.(events.UserRef).ID] = true
				}
			}
			return slices.Sorted(maps.Keys(ids))
		},
	}
	if modT != nil {
		modT(&cfg)
	}
	tr, err := presence.NewTracker(cfg)
	if err != nil {
		t.Fatalf("NewTracker: %v", err)
	}
	e.tracker = tr
	t.Cleanup(func() {
		if err := tr.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	deps := presence.Deps{
		Tracker: tr, Logger: logger,
		Authenticate: func(c namespaces.Conn) (events.UserRef, error) {
			var a struct{ UserID, Name string }
			if err := decodeAuth(c, &a); err != nil || a.UserID == "" {
				return events.UserRef{}, events.NewError(events.CodeUnauthorized, "who are you?")
			}
			return events.UserRef{ID: a.UserID, Name: a.Name}, nil
		},
	}
	if modD != nil {
		modD(&deps)
	}
	if err := presence.Register(e.ns, deps); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return e
}

func user(uid string) events.UserRef { return events.UserRef{ID: uid, Name: "Name " + uid} }

// connect connects /presence socket id as user uid.
func (e *env) connect(t *testing.T, id, uid string) *namespacestest.Conn {
	t.Helper()
	c, err := e.ns.Connect(id, map[string]string{"userId": uid, "name": "Name " + uid})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { c.Close("test over") })
	return c
}

// chatConnect connects /chat socket id as user uid, tracked like the
// composition root tracks chat sockets, in the rooms.
func (e *env) chatConnect(t *testing.T, id, uid string, rooms ...string) *namespacestest.Conn {
	t.Helper()
	c, err := e.chat.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	c.Set(chatUserKey, user(uid))
	for _, r := range rooms {
		c.Join("#" + r)
	}
	e.tracker.Connect(c, user(uid))
	return c
}

// online is the expected state of a connected user, normalized (see norm).
func (e *env) online(uid string, status events.PresenceStatus, conns int) events.PresenceState {
	return events.PresenceState{UserID: uid, Name: "Name " + uid, IsOnline: true, Status: status, Connections: conns}
}

// norm zeroes the LastSeen of online states (the time of the state, which
// tests compare separately) after checking that it is set.
func norm(t *testing.T, states ...events.PresenceState) []events.PresenceState {
	t.Helper()
	out := slices.Clone(states)
	for i := range out {
		if out[i].IsOnline {
			if out[i].LastSeen <= 0 {
				t.Fatalf("online state without a time: %+v", out[i])
			}
			out[i].LastSeen = 0
		}
	}
	return out
}

func offline(uid, name string, lastSeen int64) events.PresenceState {
	return events.PresenceState{UserID: uid, Name: name, Status: events.StatusOffline, LastSeen: lastSeen}
}

func statuses(t *testing.T, c *namespacestest.Conn) []events.PresenceState {
	t.Helper()
	got, err := namespacestest.ReceivedAll(c, events.Status)
	if err != nil {
		t.Fatalf("decode status: %v", err)
	}
	return norm(t, got...)
}

// statusesOf returns the status events c received about uid.
func statusesOf(t *testing.T, c *namespacestest.Conn, uid string) []events.PresenceState {
	t.Helper()
	return slices.DeleteFunc(statuses(t, c), func(s events.PresenceState) bool { return s.UserID != uid })
}

func call[Req, Resp any](t *testing.T, c *namespacestest.Conn, ev events.Inbound[Req, Resp], req Req) events.Result[Resp] {
	t.Helper()
	res, err := namespacestest.Call(c, ev, req)
	if err != nil {
		t.Fatalf("%s: %v", ev.Name(), err)
	}
	return res
}

func mustOK[Req, Resp any](t *testing.T, c *namespacestest.Conn, ev events.Inbound[Req, Resp], req Req) Resp {
	t.Helper()
	res := call(t, c, ev, req)
	if !res.OK {
		t.Fatalf("%s(%+v) failed: %+v", ev.Name(), req, res.Error)
	}
	return res.Data
}

func mustFail[Req, Resp any](t *testing.T, c *namespacestest.Conn, ev events.Inbound[Req, Resp], req Req, code events.Code) *events.Error {
	t.Helper()
	res := call(t, c, ev, req)
	if res.OK || res.Error.Code != code {
		t.Fatalf("%s(%+v) = %+v (error %+v), want %s", ev.Name(), req, res, res.Error, code)
	}
	return res.Error
}

func subscribe(t *testing.T, c *namespacestest.Conn, rooms, ids []string) []events.PresenceState {
	t.Helper()
	return norm(t, mustOK(t, c, events.Subscribe, events.WatchRequest{Rooms: rooms, UserIDs: ids}).Users...)
}

func decodeAuth(c namespaces.Conn, v any) error {
	return json.Unmarshal(c.Auth(), v)
}
