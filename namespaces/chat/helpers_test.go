package chat_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/parley-rt/parley/rooms"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeHistory is an in-memory chat.History with failure injection.
type fakeHistory struct {
	mu        sync.Mutex
	seq       int
	rooms     map[string][]events.ChatMessage // oldest first
	byKey     map[string]events.ChatMessage   // sender id + clientMsgId
	appendErr error
	pageErr   error
	pages     []pageCall
}

type pageCall struct {
	room, before, after string
	limit               int
}

func newFakeHistory() *fakeHistory {
	return &fakeHistory{rooms: map[string][]events.ChatMessage{}, byKey: map[string]events.ChatMessage{}}
}

func (h *fakeHistory) Append(_ context.Context, m events.ChatMessage) (events.ChatMessage, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.appendErr != nil {
		return events.ChatMessage{}, false, h.appendErr
	}
	if m.ID != "" || m.Timestamp != 0 {
		return events.ChatMessage{}, false, errors.New("fake history: the store assigns id and timestamp")
	}
	key := m.Sender.ID + "\x00" + m.ClientMsgID
	if m.ClientMsgID != "" {
		if orig, ok := h.byKey[key]; ok {
			return orig, false, nil
		}
	}
	h.seq++
	m.ID = fmt.Sprintf("m%04d", h.seq)
	m.Timestamp = int64(1_700_000_000_000 + h.seq)
	h.rooms[m.Room] = append(h.rooms[m.Room], m)
	if m.ClientMsgID != "" {
		h.byKey[key] = m
	}
	return m, true, nil
}

func (h *fakeHistory) Page(_ context.Context, room, before, after string, limit int) ([]events.ChatMessage, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pages = append(h.pages, pageCall{room, before, after, limit})
	if h.pageErr != nil {
		return nil, false, h.pageErr
	}
	list := h.rooms[room]
	index := func(id string) int {
		return slices.IndexFunc(list, func(m events.ChatMessage) bool { return m.ID == id })
	}
	lo, hi := 0, len(list)
	if after != "" {
		i := index(after)
		if i < 0 {
			return nil, false, fmt.Errorf("fake history: after %s: %w", after, core.ErrNotFound)
		}
		lo = i + 1
	}
	if before != "" {
		i := index(before)
		if i < 0 {
			return nil, false, fmt.Errorf("fake history: before %s: %w", before, core.ErrNotFound)
		}
		hi = i
	}
	if lo >= hi {
		return nil, false, nil
	}
	if after != "" {
		end := min(lo+limit, hi)
		return slices.Clone(list[lo:end]), end < hi, nil
	}
	start := max(hi-limit, lo)
	return slices.Clone(list[start:hi]), start > lo, nil
}

func (h *fakeHistory) seed(room string, n int) {
	for i := range n {
		_, _, err := h.Append(context.Background(), events.ChatMessage{
			Room: room, Sender: events.UserRef{ID: "seed", Name: "Seed"}, Content: fmt.Sprintf("msg %d", i),
		})
		if err != nil {
			panic(err)
		}
	}
}

func (h *fakeHistory) count(room string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms[room])
}

func (h *fakeHistory) lastPage() pageCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pages[len(h.pages)-1]
}

// deps are the test's knobs over the core and the /chat adapter.
type deps struct {
	History        core.History
	Logger         *slog.Logger
	Authenticate   func(namespaces.Conn) (auth.Identity, error) // nil: the dev handshake
	Policy         *rooms.Policy
	TypingTimeout  time.Duration
	AfterFunc      func(d time.Duration, f func()) (stop func() bool)
	MaxRooms       int
	HandlerTimeout time.Duration
	Observer       core.Observer
}

// register builds the core over ns and installs the /chat adapter on it.
func register(ns namespaces.Namespace, d deps) (*core.Chat, error) {
	ch, err := core.NewChat(core.ChatConfig{
		History: d.History, Rooms: ns, Policy: d.Policy, MaxRooms: d.MaxRooms,
		TypingTimeout: d.TypingTimeout, AfterFunc: d.AfterFunc, Logger: d.Logger,
	})
	if err != nil {
		return nil, err
	}
	ch.Observe(d.Observer)
	authn := d.Authenticate
	if authn == nil {
		authn = func(c namespaces.Conn) (auth.Identity, error) {
			u, err := auth.DevUser(c.Auth())
			return auth.Identity{User: u}, err
		}
	}
	return ch, chat.Register(ns, chat.Deps{Chat: ch, Authenticate: authn, HandlerTimeout: d.HandlerTimeout, Logger: d.Logger})
}

type env struct {
	ns     *namespacestest.Namespace
	chat   *core.Chat
	hist   *fakeHistory
	timers *namespacestest.Timers
	logs   *testutil.LogBuffer
}

// newEnv registers chat on a fake namespace. By default typing timers are
// manual; mod may change any dependency.
func newEnv(t *testing.T, mod func(*deps)) *env {
	t.Helper()
	e := &env{
		ns: namespacestest.NewNamespace("/chat"), hist: newFakeHistory(),
		timers: &namespacestest.Timers{}, logs: &testutil.LogBuffer{},
	}
	d := deps{
		History:   e.hist,
		Logger:    slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		AfterFunc: e.timers.AfterFunc,
	}
	if mod != nil {
		mod(&d)
	}
	ch, err := register(e.ns, d)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	e.chat = ch
	return e
}

// connect connects socket id as user uid (named after it).
func (e *env) connect(t *testing.T, id, uid string) *namespacestest.Conn {
	t.Helper()
	c, err := e.ns.Connect(id, map[string]string{"userId": uid, "name": "Name " + uid})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { c.Close("test over") })
	return c
}

func user(uid string) events.UserRef { return events.UserRef{ID: uid, Name: "Name " + uid} }

func call[Req, Resp any](t *testing.T, c *namespacestest.Conn, ev events.Inbound[Req, Resp], req Req) events.Result[Resp] {
	t.Helper()
	return namespacestest.MustCall(t, c, ev, req)
}

func mustOK[Req, Resp any](t *testing.T, c *namespacestest.Conn, ev events.Inbound[Req, Resp], req Req) Resp {
	t.Helper()
	return namespacestest.MustOK(t, c, ev, req)
}

func mustFail[Req, Resp any](t *testing.T, c *namespacestest.Conn, ev events.Inbound[Req, Resp], req Req, code events.Code) *events.Error {
	t.Helper()
	return namespacestest.MustFail(t, c, ev, req, code)
}

func join(t *testing.T, c *namespacestest.Conn, room string) events.JoinRoomResult {
	t.Helper()
	return mustOK(t, c, events.JoinRoom, events.JoinRoomRequest{Room: room})
}

func received[T any](t *testing.T, c *namespacestest.Conn, ev events.Outbound[T]) []T {
	t.Helper()
	got, err := namespacestest.ReceivedAll(c, ev)
	if err != nil {
		t.Fatalf("decode %s: %v", ev.Name(), err)
	}
	return got
}

func waitCtx(t *testing.T) context.Context { return testutil.Context(t) }

func ptr[T any](v T) *T { return &v }
