package presence_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/namespacestest"
	"github.com/parley-rt/parley/namespaces/presence"
)

func TestNewTrackerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]core.PresenceConfig{
		"no store":           {},
		"negative remember":  {Store: newFakeStore(), Remembered: -1},
		"negative w timeout": {Store: newFakeStore(), WriteTimeout: -1},
		"negative users":     {Store: newFakeStore(), MaxWatchedUsers: -1},
	} {
		if _, err := core.NewPresence(cfg); err == nil {
			t.Errorf("%s: NewPresence accepted %+v", name, cfg)
		}
	}
}

func TestRegisterRejectsBadDeps(t *testing.T) {
	t.Parallel()
	tr, err := core.NewPresence(core.PresenceConfig{Store: newFakeStore()})
	if err != nil {
		t.Fatal(err)
	}
	authn := func(namespaces.Conn) (auth.Identity, error) { return auth.Identity{User: user("u")}, nil }
	for name, deps := range map[string]presence.Deps{
		"no presence":      {Authenticate: authn},
		"no authenticate":  {Presence: tr},
		"negative timeout": {Presence: tr, Authenticate: authn, HandlerTimeout: -1},
	} {
		if err := presence.Register(namespacestest.NewNamespace("/presence"), deps); err == nil {
			t.Errorf("%s: Register accepted %+v", name, deps)
		}
	}
}

func TestConnectSendsIdentityThenOwnState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	c := e.connect(t, "a1", "alice")
	pkts := c.Received()
	if len(pkts) != 2 || pkts[0].Event != "userConnected" || string(pkts[0].Args[0]) != `"alice"` || pkts[1].Event != "status" {
		t.Fatalf("received %+v, want userConnected \"alice\" then status", pkts)
	}
	if got := statuses(t, c); !slices.Equal(got, []events.PresenceState{e.online("alice", events.StatusOnline, 1)}) {
		t.Fatalf("own state %+v", got)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	_, err := e.ns.Connect("s1", map[string]string{"name": "nobody"})
	var ee *events.Error
	if !errors.As(err, &ee) || ee.Code != events.CodeUnauthorized {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	if len(e.ns.Sockets()) != 0 || e.presence.Connections("") != 0 {
		t.Fatal("a refused socket is connected or tracked")
	}

	secret := errors.New("identity provider down")
	e = newEnv(t, nil, func(d *presence.Deps) {
		d.Authenticate = func(namespaces.Conn) (auth.Identity, error) { return auth.Identity{}, secret }
	})
	_, err = e.ns.Connect("s1", nil)
	if !errors.As(err, &ee) || ee.Code != events.CodeUnauthorized || strings.Contains(ee.Message, "down") {
		t.Fatalf("err = %v, want a generic unauthorized", err)
	}
	if !strings.Contains(e.logs.String(), "identity provider down") {
		t.Fatal("the cause was not logged")
	}
}

// A user is online while any socket of any namespace is connected, goes
// offline only after the grace period, and its last-seen time is the end of
// its last connection.
func TestOnlineAcrossNamespacesAndGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *core.PresenceConfig) { c.Grace = 3 * time.Second }, nil)
	alice := e.connect(t, "a1", "alice")
	subscribe(t, alice, nil, []string{"bob"})

	bobChat := e.chatConnect(t, "b-chat", "bob")
	bobTab := e.connect(t, "b-tab", "bob")
	want := []events.PresenceState{e.online("bob", events.StatusOnline, 1), e.online("bob", events.StatusOnline, 2)}
	if got := statusesOf(t, alice, "bob"); !slices.Equal(got, want) {
		t.Fatalf("alice saw %+v, want %+v", got, want)
	}
	if n := e.presence.Connections("bob"); n != 2 {
		t.Fatalf("connections %d", n)
	}

	bobChat.Close("transport close")
	want = append(want, e.online("bob", events.StatusOnline, 1))
	e.clock.advance(time.Second)
	leftAt := e.clock.ms()
	bobTab.Close("transport close")
	if got := statusesOf(t, alice, "bob"); !slices.Equal(got, want) {
		t.Fatalf("after the last disconnect alice saw %+v, want %+v (nothing during grace)", got, want)
	}
	p := e.timers.Pending()
	if len(p) != 1 || p[0].D != 3*time.Second {
		t.Fatalf("pending timers %+v", p)
	}
	if _, ok := e.store.get("bob"); ok {
		t.Fatal("last seen written before the grace period ended")
	}
	e.clock.advance(3 * time.Second)
	e.timers.Fire(p[0])
	want = append(want, offline("bob", "Name bob", leftAt))
	if got := statusesOf(t, alice, "bob"); !slices.Equal(got, want) {
		t.Fatalf("after grace alice saw %+v, want %+v", got, want)
	}
	if ms, _ := e.store.get("bob"); ms != leftAt {
		t.Fatalf("stored last seen %d, want %d (the disconnect, not the timer)", ms, leftAt)
	}
	// The snapshot of an offline user comes from memory and the store.
	if got := subscribe(t, alice, nil, []string{"bob"}); !slices.Equal(got, []events.PresenceState{offline("bob", "Name bob", leftAt)}) {
		t.Fatalf("snapshot %+v", got)
	}
}

func TestReconnectWithinGraceDoesNotFlap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	alice := e.connect(t, "a1", "alice")
	subscribe(t, alice, nil, []string{"bob"})
	b1 := e.connect(t, "b1", "bob")
	mustOK(t, b1, events.SetStatus, events.SetStatusRequest{Status: events.UserBusy})
	before := len(statusesOf(t, alice, "bob"))
	b1.Close("transport close")
	timer := e.timers.Pending()[0]
	if timer.D != core.DefaultGrace {
		t.Fatalf("grace %v", timer.D)
	}
	b2 := e.connect(t, "b2", "bob")
	if got := statusesOf(t, alice, "bob"); len(got) != before {
		t.Fatalf("the reconnect was visible: %+v", got[before:])
	}
	if len(e.timers.Pending()) != 0 {
		t.Fatal("the grace timer was not stopped")
	}
	// A timer that fires just as it was stopped does nothing.
	e.timers.Fire(timer)
	if got := statusesOf(t, alice, "bob"); len(got) != before {
		t.Fatalf("a stale timer was visible: %+v", got[before:])
	}
	// The chosen status survived the reconnect, and the new tab learns it.
	if got := statusesOf(t, b2, "bob"); !slices.Equal(got, []events.PresenceState{e.online("bob", events.StatusBusy, 1)}) {
		t.Fatalf("new tab saw %+v", got)
	}
	if _, ok := e.store.get("bob"); ok {
		t.Fatal("a user that came back within the grace period was recorded offline")
	}
}

func TestNegativeGraceGoesOfflineAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *core.PresenceConfig) { c.Grace = -1 }, nil)
	alice := e.connect(t, "a1", "alice")
	subscribe(t, alice, nil, []string{"bob"})
	b := e.chatConnect(t, "b1", "bob")
	b.Close("transport close")
	got := statusesOf(t, alice, "bob")
	if len(got) != 2 || got[1] != offline("bob", "Name bob", e.clock.ms()) {
		t.Fatalf("alice saw %+v", got)
	}
	if len(e.timers.All()) != 0 {
		t.Fatal("a timer was started")
	}
	if ms, ok := e.store.get("bob"); !ok || ms != e.clock.ms() {
		t.Fatalf("stored %d %v", ms, ok)
	}
}

// setStatus applies to the user: every tab and every watcher sees it.
func TestSetStatusAppliesToUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	tab1 := e.connect(t, "b1", "bob")
	tab2 := e.connect(t, "b2", "bob")
	alice := e.connect(t, "a1", "alice")
	subscribe(t, alice, nil, []string{"bob"})
	olga := e.connect(t, "o1", "olga") // watches nobody

	got := norm(t, mustOK(t, tab1, events.SetStatus, events.SetStatusRequest{Status: events.UserAway}))[0]
	want := e.online("bob", events.StatusAway, 2)
	if got != want {
		t.Fatalf("ack %+v, want %+v", got, want)
	}
	for _, c := range []*namespacestest.Conn{tab1, tab2, alice} {
		if s := statusesOf(t, c, "bob"); len(s) == 0 || s[len(s)-1] != want {
			t.Fatalf("%s saw %+v", c.ID(), s)
		}
	}
	if s := statusesOf(t, olga, "bob"); len(s) != 0 {
		t.Fatalf("a socket watching nobody received %+v: no broadcast to everyone", s)
	}
	// Setting the same status again changes nothing and delivers nothing.
	n := len(statusesOf(t, alice, "bob"))
	mustOK(t, tab2, events.SetStatus, events.SetStatusRequest{Status: events.UserAway})
	if len(statusesOf(t, alice, "bob")) != n {
		t.Fatal("an unchanged state was delivered")
	}
	mustFail(t, tab1, events.SetStatus, events.SetStatusRequest{Status: "offline"}, events.CodeBadRequest)
	mustFail(t, tab1, events.SetStatus, events.SetStatusRequest{Status: "sleepy"}, events.CodeBadRequest)

	// The chosen status ends when the user goes offline.
	tab1.Close("transport close")
	tab2.Close("transport close")
	e.timers.Fire(e.timers.Pending()[0])
	b := e.connect(t, "b3", "bob")
	if s := statusesOf(t, b, "bob"); len(s) != 1 || s[0].Status != events.StatusOnline {
		t.Fatalf("after coming back: %+v", s)
	}
}

func TestSubscribeSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	if err := e.store.SetLastSeen(context.Background(), "carol", "Carol", 1_700_000_000_000); err != nil {
		t.Fatal(err)
	}
	e.chatConnect(t, "b1", "bob")
	alice := e.connect(t, "a1", "alice")
	got := subscribe(t, alice, nil, []string{"nobody", "carol", "bob", "bob"})
	want := []events.PresenceState{
		e.online("bob", events.StatusOnline, 1),
		// A user not seen since the start: name and time from the store.
		offline("carol", "Carol", 1_700_000_000_000),
		offline("nobody", "", 0),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("snapshot\n got %+v\nwant %+v", got, want)
	}
	// An empty request is a valid no-op.
	if got := subscribe(t, alice, nil, nil); len(got) != 0 {
		t.Fatalf("empty subscribe %+v", got)
	}
	// The wire shape: arrays, never null.
	ack, err := alice.Call(events.Subscribe.Name(), map[string]any{})
	if err != nil || string(ack.Args[0]) != `{"ok":true,"data":{"users":[]}}` {
		t.Fatalf("ack %s %v", ack.Args, err)
	}
}

// Watching a room watches the users present in it: joining adds a user
// (its state is delivered when it joins), leaving removes it.
func TestSubscribeRooms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	bob := e.chatConnect(t, "b1", "bob", "general", "random")
	e.chatConnect(t, "c1", "carol", "random")
	alice := e.connect(t, "a1", "alice")
	got := subscribe(t, alice, []string{"general"}, nil)
	if !slices.Equal(got, []events.PresenceState{e.online("bob", events.StatusOnline, 1)}) {
		t.Fatalf("snapshot %+v", got)
	}

	// A change of a member reaches the room's watchers, once, even through
	// two of its sockets in the room.
	bob2 := e.chatConnect(t, "b2", "bob", "general")
	if s := statusesOf(t, alice, "bob"); !slices.Equal(s, []events.PresenceState{e.online("bob", events.StatusOnline, 2)}) {
		t.Fatalf("alice saw %+v", s)
	}
	// carol is not in general: her changes are not delivered.
	e.chatConnect(t, "c2", "carol", "random")
	if s := statusesOf(t, alice, "carol"); len(s) != 0 {
		t.Fatalf("alice saw carol %+v", s)
	}
	// carol joins general: delivered at once, and watched from then on.
	carolIn := e.chatConnect(t, "c3", "carol")
	joinRoom(t, carolIn, "general")
	if s := statusesOf(t, alice, "carol"); len(s) != 1 || s[0].Connections != 3 {
		t.Fatalf("after joining alice saw carol %+v", s)
	}
	if _, err := e.presence.SetStatus("carol", events.UserAway); err != nil {
		t.Fatal(err)
	}
	if s := statusesOf(t, alice, "carol"); len(s) != 2 || s[1].Status != events.StatusAway {
		t.Fatalf("carol's change not delivered: %+v", s)
	}
	// Closing her only socket in general takes her out of it: the change
	// that follows is not delivered.
	carolIn.Close("transport close")
	if s := statusesOf(t, alice, "carol"); len(s) != 2 {
		t.Fatalf("carol is still watched after leaving: %+v", s)
	}
	// bob leaves general: no longer watched.
	leaveRoom(t, bob, "general")
	leaveRoom(t, bob2, "general")
	n := len(statusesOf(t, alice, "bob"))
	bob2.Close("transport close")
	if s := statusesOf(t, alice, "bob"); len(s) != n {
		t.Fatalf("a user who left the room is still watched: %+v", s[n:])
	}
	// Unsubscribing the room stops everything.
	mustOK(t, alice, events.Unsubscribe, events.WatchRequest{Rooms: []string{"general"}})
	e.chatConnect(t, "c4", "carol", "general")
	if s := statusesOf(t, alice, "carol"); len(s) != 2 {
		t.Fatalf("after unsubscribe alice saw %+v", s)
	}
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	alice := e.connect(t, "a1", "alice")
	subscribe(t, alice, nil, []string{"bob", "carol"})
	mustOK(t, alice, events.Unsubscribe, events.WatchRequest{UserIDs: []string{"bob", "never-watched"}})
	// Unsubscribing oneself does not stop one's own updates.
	mustOK(t, alice, events.Unsubscribe, events.WatchRequest{UserIDs: []string{"alice"}})
	e.connect(t, "b1", "bob")
	e.connect(t, "c1", "carol")
	e.connect(t, "a2", "alice")
	if s := statusesOf(t, alice, "bob"); len(s) != 0 {
		t.Fatalf("alice still watches bob: %+v", s)
	}
	if s := statusesOf(t, alice, "carol"); len(s) != 1 {
		t.Fatalf("alice lost carol: %+v", s)
	}
	if s := statusesOf(t, alice, "alice"); len(s) != 2 || s[1].Connections != 2 {
		t.Fatalf("alice lost herself: %+v", s)
	}
	mustFail(t, alice, events.Unsubscribe, events.WatchRequest{Rooms: []string{"bad room"}}, events.CodeBadRequest)
}

func TestSubscribeRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *core.PresenceConfig) { c.MaxWatchedUsers, c.MaxWatchedRooms = 3, 2 }, nil)
	e.store.mu.Lock()
	e.store.readErr = errors.New("database is locked")
	e.store.mu.Unlock()
	c := e.connect(t, "a1", "alice")
	msg := mustFail(t, c, events.Subscribe, events.WatchRequest{UserIDs: []string{"bob"}}, events.CodeUnavailable)
	if strings.Contains(msg.Message, "locked") {
		t.Fatalf("store error leaked: %q", msg.Message)
	}
	e.store.mu.Lock()
	e.store.readErr = nil
	e.store.mu.Unlock()
	e.connect(t, "b1", "bob")
	if s := statusesOf(t, c, "bob"); len(s) != 0 {
		t.Fatalf("a failed subscribe left a watch: %+v", s)
	}

	mustFail(t, c, events.Subscribe, events.WatchRequest{Rooms: []string{"a b"}}, events.CodeBadRequest)
	mustFail(t, c, events.Subscribe, events.WatchRequest{Rooms: []string{"ok", "#x"}}, events.CodeBadRequest)
	if got := mustFail(t, c, events.Subscribe, events.WatchRequest{Rooms: []string{"ok", "private:secret"}}, events.CodeForbidden); !strings.Contains(got.Message, "private") {
		t.Fatalf("message %q", got.Message)
	}
	mustFail(t, c, events.Subscribe, events.WatchRequest{UserIDs: []string{""}}, events.CodeBadRequest)
	subscribe(t, c, []string{"r1", "r2"}, []string{"u1", "u2"})
	mustFail(t, c, events.Subscribe, events.WatchRequest{Rooms: []string{"r3"}}, events.CodeForbidden)
	mustFail(t, c, events.Subscribe, events.WatchRequest{UserIDs: []string{"u3", "u4"}}, events.CodeForbidden)
	subscribe(t, c, nil, []string{"u3"})
	mustOK(t, c, events.Unsubscribe, events.WatchRequest{UserIDs: []string{"u1"}, Rooms: []string{"r1"}})
	subscribe(t, c, []string{"r3"}, []string{"u4"})
}

func TestWatchersReleasedOnDisconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	alice := e.connect(t, "a1", "alice")
	subscribe(t, alice, []string{"general"}, []string{"bob"})
	alice.Close("transport close")
	e.chatConnect(t, "b1", "bob", "general")
	if s := statusesOf(t, alice, "bob"); len(s) != 0 {
		t.Fatalf("a closed socket was delivered %+v", s)
	}
}

// Close writes the last-seen time of every user still tracked: a connected
// one at the close, one within its grace period at its last disconnect.
func TestCloseWritesLastSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.connect(t, "a1", "alice")
	b := e.chatConnect(t, "b1", "bob")
	b.Close("transport close")
	bobLeft := e.clock.ms()
	e.clock.advance(2 * time.Second)
	if err := e.presence.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms, _ := e.store.get("alice"); ms != e.clock.ms() {
		t.Fatalf("alice %d, want %d", ms, e.clock.ms())
	}
	if ms, _ := e.store.get("bob"); ms != bobLeft {
		t.Fatalf("bob %d, want %d", ms, bobLeft)
	}
	if len(e.timers.Pending()) != 0 {
		t.Fatal("Close left a timer pending")
	}
	// After Close nothing is tracked and nothing is written.
	writes := e.store.writes
	c, err := e.ns.Connect("late", map[string]string{"userId": "late", "name": "Late"})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.presence.Track(c, user("late")) // after Close: nothing to refuse
	c.Close("transport close")
	if e.presence.Connections("late") != 0 || e.store.writes != writes {
		t.Fatal("the tracker worked after Close")
	}
	if err := e.presence.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRememberedIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *core.PresenceConfig) { c.Grace, c.Remembered = -1, 2 }, nil)
	for _, u := range []string{"u1", "u2", "u3"} {
		e.chatConnect(t, u, u).Close("transport close")
	}
	alice := e.connect(t, "a1", "alice")
	// u1 was evicted from memory: its name and time come from the store.
	got := subscribe(t, alice, nil, []string{"u1", "u3"})
	if got[0].Name != "Name u1" || got[0].LastSeen != e.clock.ms() || got[1].Name != "Name u3" {
		t.Fatalf("snapshot %+v", got)
	}
}

// TestConcurrentChurn connects, disconnects and changes status from many
// goroutines with real timers, for the race detector; every user must end
// offline with its last-seen time written.
func TestConcurrentChurn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *core.PresenceConfig) {
		c.Grace = time.Millisecond
		c.AfterFunc = nil
		c.Now = nil
	}, nil)
	watcher := e.connect(t, "w", "watcher")
	var ids []string
	for i := range 8 {
		ids = append(ids, fmt.Sprint("u", i))
	}
	subscribe(t, watcher, []string{"room"}, ids)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			for j := range 20 {
				sid := fmt.Sprintf("%s-%d", id, j)
				c, err := e.ns.Connect(sid, map[string]string{"userId": id, "name": id})
				if err != nil {
					t.Error(err)
					return
				}
				ch := e.chatConnect(t, "chat-"+sid, id, "room")
				_, _ = namespacestest.Call(c, events.SetStatus, events.SetStatusRequest{Status: events.UserAway})
				if (i+j)%3 == 0 {
					_, _ = namespacestest.Call(watcher, events.Subscribe, events.WatchRequest{UserIDs: []string{id}})
				}
				ch.Close("transport close")
				c.Close("transport close")
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range ids {
		for {
			if _, ok := e.store.get(id); ok && e.presence.Connections(id) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never went offline", id)
			}
			time.Sleep(time.Millisecond) // polling a deadline, as NATS checkFor
		}
	}
}
