package presence_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/testutil"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/chat"
	"github.com/parley-rt/parley/namespaces/namespacestest"
	"github.com/parley-rt/parley/namespaces/presence"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeStore is an in-memory core.PresenceStore with failure injection.
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

func (s *fakeStore) LastSeen(_ context.Context, ids []string) (map[string]core.StoredSeen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErr != nil {
		return nil, s.readErr
	}
	out := map[string]core.StoredSeen{}
	for _, id := range ids {
		if ms, ok := s.seen[id]; ok {
			out[id] = core.StoredSeen{Name: s.names[id], At: ms}
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

// clock is a settable PresenceConfig.Now.
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

// noHistory is a chat history that stores nothing: presence tests only
// need the chat's rooms.
type noHistory struct{}

func (noHistory) Append(_ context.Context, m events.ChatMessage) (events.ChatMessage, bool, error) {
	return m, true, nil
}

func (noHistory) Page(context.Context, string, string, string, int) ([]events.ChatMessage, bool, error) {
	return nil, false, nil
}

// env is presence with /presence registered on a fake namespace, and the
// chat core with /chat registered on another, whose sockets count as
// connections and whose rooms can be watched.
type env struct {
	ns       *namespacestest.Namespace
	chat     *namespacestest.Namespace
	presence *core.Presence
	store    *fakeStore
	timers   *namespacestest.Timers
	clock    *clock
	logs     *testutil.LogBuffer
}

// devAuthn is the dev handshake identity, with the rooms claim
// "private:*" for users named boss.
func devAuthn(c namespaces.Conn) (auth.Identity, error) {
	u, err := auth.DevUser(c.Auth())
	id := auth.Identity{User: u}
	if u.ID == "boss" {
		id.Rooms = []string{"private:*"}
	}
	return id, err
}

func newEnv(t *testing.T, modP func(*core.PresenceConfig), modD func(*presence.Deps)) *env {
	t.Helper()
	e := &env{
		ns: namespacestest.NewNamespace("/presence"), chat: namespacestest.NewNamespace("/chat"),
		store: newFakeStore(), timers: &namespacestest.Timers{}, logs: &testutil.LogBuffer{},
		clock: &clock{t: time.UnixMilli(1_767_225_600_000)},
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ch, err := core.NewChat(core.ChatConfig{History: noHistory{}, Rooms: e.chat, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := chat.Register(e.chat, chat.Deps{Chat: ch, Authenticate: devAuthn, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	cfg := core.PresenceConfig{
		Store: e.store, Chat: ch, AfterFunc: e.timers.AfterFunc, Now: e.clock.Now, Logger: logger,
	}
	if modP != nil {
		modP(&cfg)
	}
	p, err := core.NewPresence(cfg)
	if err != nil {
		t.Fatalf("NewPresence: %v", err)
	}
	e.presence = p
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	deps := presence.Deps{
		Presence: p, Logger: logger,
		Authenticate: func(c namespaces.Conn) (auth.Identity, error) {
			var a struct{ UserID, Name string }
			if err := decodeAuth(c, &a); err != nil || a.UserID == "" {
				return auth.Identity{}, events.NewError(events.CodeUnauthorized, "who are you?")
			}
			return auth.Identity{User: events.UserRef{ID: a.UserID, Name: a.Name}}, nil
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

// chatConnect connects /chat socket id as user uid (the chat core tracks
// it) and joins it to the rooms.
func (e *env) chatConnect(t *testing.T, id, uid string, rooms ...string) *namespacestest.Conn {
	t.Helper()
	c, err := e.chat.Connect(id, map[string]string{"userId": uid, "name": "Name " + uid})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	for _, r := range rooms {
		joinRoom(t, c, r)
	}
	return c
}

func joinRoom(t *testing.T, c *namespacestest.Conn, room string) {
	t.Helper()
	mustOK(t, c, events.JoinRoom, events.JoinRoomRequest{Room: room})
}

func leaveRoom(t *testing.T, c *namespacestest.Conn, room string) {
	t.Helper()
	mustOK(t, c, events.LeaveRoom, events.LeaveRoomRequest{Room: room})
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

func mustOK[Req, Resp any](t *testing.T, c *namespacestest.Conn, ev events.Inbound[Req, Resp], req Req) Resp {
	t.Helper()
	return namespacestest.MustOK(t, c, ev, req)
}

func mustFail[Req, Resp any](t *testing.T, c *namespacestest.Conn, ev events.Inbound[Req, Resp], req Req, code events.Code) *events.Error {
	t.Helper()
	return namespacestest.MustFail(t, c, ev, req, code)
}

func subscribe(t *testing.T, c *namespacestest.Conn, rooms, ids []string) []events.PresenceState {
	t.Helper()
	return norm(t, mustOK(t, c, events.Subscribe, events.WatchRequest{Rooms: rooms, UserIDs: ids}).Users...)
}

func decodeAuth(c namespaces.Conn, v any) error {
	return json.Unmarshal(c.Auth(), v)
}
