package core

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
)

// Defaults for the zero values of PresenceConfig fields.
const (
	DefaultGrace      = 5 * time.Second
	DefaultRemembered = 100_000
	// DefaultWriteTimeout bounds one last-seen write.
	DefaultWriteTimeout = 5 * time.Second
	// DefaultMaxWatchedUsers and DefaultMaxWatchedRooms bound what one
	// watcher follows in all (one request names at most
	// events.MaxWatchItems of each).
	DefaultMaxWatchedUsers = 1000
	DefaultMaxWatchedRooms = 100
)

// ErrClosed is returned by Presence methods called after Close.
var ErrClosed = errors.New("core: presence closed")

// PresenceStore is durable last-seen state; StorePresence adapts package
// store's Presence to it.
type PresenceStore interface {
	// SetLastSeen records that the user went offline at ms (Unix ms).
	SetLastSeen(ctx context.Context, userID, name string, ms int64) error
	// LastSeen returns the records of the users that have one.
	LastSeen(ctx context.Context, userIDs []string) (map[string]StoredSeen, error)
}

// StoredSeen is a user's durable last-seen record: its name then and when
// it went offline (Unix ms).
type StoredSeen struct {
	Name string
	At   int64
}

// PresenceConfig configures a Presence. NewPresence copies it.
type PresenceConfig struct {
	// Store keeps last-seen times. Required.
	Store PresenceStore
	// Chat, when set, is the chat whose sockets count as connections
	// (Chat.Open tracks them) and whose rooms can be watched. NewPresence
	// attaches itself to it; a Chat takes one Presence.
	Chat *Chat
	// MaxConnectionsPerUser caps one user's tracked connections: Track
	// disconnects a connection beyond it. Zero means no cap.
	MaxConnectionsPerUser int
	// MaxWatchedUsers and MaxWatchedRooms bound what one Watch follows;
	// Subscribe beyond them fails with forbidden. Zero means
	// DefaultMaxWatchedUsers and DefaultMaxWatchedRooms.
	MaxWatchedUsers int
	MaxWatchedRooms int
	// Grace is how long a user without a connection stays online. Zero
	// means DefaultGrace; negative means none (offline at once).
	Grace time.Duration
	// AfterFunc starts the grace timers: it calls f once after d unless the
	// returned stop function is called first (stop reports whether it
	// prevented the call, as time.Timer.Stop does). nil means
	// time.AfterFunc; tests inject a manual clock.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Now is the clock of last-seen times. nil means time.Now.
	Now func() time.Time
	// Remembered is how many recently offline users the tracker keeps in
	// memory (name and last-seen time) besides the Store, which keeps no
	// names. Zero means DefaultRemembered.
	Remembered int
	// WriteTimeout bounds one last-seen write. Zero means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger receives failed last-seen writes. nil discards.
	Logger *slog.Logger
	// Replica, when set, makes presence cluster-wide: this node's records
	// (one per user with a connection here) are replicated to the other
	// nodes, and theirs come back through LoadNode, PutRecord,
	// DeleteRecord and NodeGone; a user's state, its connections, its
	// rooms and MaxConnectionsPerUser are then the cluster's. nil: a
	// single node.
	Replica Replica
}

// Presence is the presence state of every user with a connection, and the
// index of watchers by user and by room. See the package documentation.
type Presence struct {
	cfg PresenceConfig

	mu     sync.Mutex
	users  map[string]*user // connected or within the grace period
	gone   map[string]goneUser
	order  []string // gone ids, oldest first, for eviction
	byUser map[string]map[*Watch]struct{}
	byRoom map[string]map[*Watch]struct{}
	closed bool
	// Cluster state (Replica set), guarded by mu: the other nodes'
	// records by user and node, the users in each room on other nodes
	// (room -> user -> nodes), the last state delivered of each online
	// user, this node's records as they came back, the last userLeft per
	// room and user, the last record put per user, and the grace timers
	// of dead nodes' users.
	remote      map[string]map[string]*nodeRecord
	remoteRooms map[string]map[string]int
	shown       map[string]events.PresenceState
	// echoRooms and echoNames: this node's records as they came back
	// through the replication (the rooms, by user), and leftBy: who
	// announced a userLeft lately; see transitionsLocked.
	echoRooms map[string][]string
	echoNames map[string]string
	leftBy    map[roomUser]leftMark
	sent      map[string]string
	dead      map[string]*graceTimer
	// writes counts last-seen writes in flight; Add only under mu while
	// !closed, so that Close can wait for them.
	writes sync.WaitGroup
}

type user struct {
	ref    events.UserRef
	conns  map[*conn]struct{}
	status events.UserStatus
	// statusAt is when status was chosen (Unix ms; 0 for the default),
	// so that the latest choice wins across the cluster.
	statusAt int64
	// shown is the last state delivered (LastSeen aside); a change is
	// delivered only when the public state differs from it.
	shown events.PresenceState
	// grace is the pending offline timer, set while conns is empty.
	grace  *graceTimer
	leftAt int64 // Unix ms when the last connection ended
}

type conn struct{ c namespaces.Conn }

type graceTimer struct{ stop func() bool }

type goneUser struct {
	name     string
	lastSeen int64
}

// seen is a last-seen write.
type seen struct {
	user events.UserRef
	ms   int64
}

// NewPresence returns a Presence, attached to cfg.Chat when set; it starts
// no goroutine.
func NewPresence(cfg PresenceConfig) (*Presence, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("core: PresenceConfig.Store is nil")
	case cfg.Remembered < 0, cfg.WriteTimeout < 0, cfg.MaxConnectionsPerUser < 0, cfg.MaxWatchedUsers < 0, cfg.MaxWatchedRooms < 0:
		return nil, errors.New("core: a PresenceConfig bound is negative")
	case cfg.Chat != nil && cfg.Chat.presence != nil:
		return nil, errors.New("core: the chat has a Presence already")
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.MaxWatchedUsers == 0 {
		cfg.MaxWatchedUsers = DefaultMaxWatchedUsers
	}
	if cfg.MaxWatchedRooms == 0 {
		cfg.MaxWatchedRooms = DefaultMaxWatchedRooms
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Remembered == 0 {
		cfg.Remembered = DefaultRemembered
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Presence{
		cfg:    cfg,
		users:  map[string]*user{},
		gone:   map[string]goneUser{},
		byUser: map[string]map[*Watch]struct{}{},
		byRoom: map[string]map[*Watch]struct{}{},
	}
	if cfg.Replica != nil {
		t.remote = map[string]map[string]*nodeRecord{}
		t.remoteRooms = map[string]map[string]int{}
		t.shown = map[string]events.PresenceState{}
		t.echoRooms = map[string][]string{}
		t.echoNames = map[string]string{}
		t.leftBy = map[roomUser]leftMark{}
		t.sent = map[string]string{}
		t.dead = map[string]*graceTimer{}
	}
	if cfg.Chat != nil {
		cfg.Chat.presence = t
	}
	return t, nil
}

// roomsOf returns the chat rooms c is in (none for a socket of another
// namespace).
func (t *Presence) roomsOf(c namespaces.Conn) []string {
	if t.cfg.Chat == nil {
		return nil
	}
	return t.cfg.Chat.roomsOf(c)
}

// roomMembers returns the ids of the users present in a chat room.
func (t *Presence) roomMembers(room string) []string {
	if t.cfg.Chat == nil {
		return nil
	}
	var ids []string
	for _, u := range t.cfg.Chat.localMembers(room) {
		ids = append(ids, u.ID)
	}
	if t.cfg.Replica != nil {
		for _, u := range t.remoteMembersLocked(room) {
			if !slices.Contains(ids, u.ID) {
				ids = append(ids, u.ID)
			}
		}
	}
	return ids
}

func (t *Presence) nowMS() int64 { return t.cfg.Now().UnixMilli() }

// Track counts c as a connection of u until c disconnects (untracking it).
// The first connection makes the user online (or ends its grace period);
// the change is delivered to the user's watchers. A connection beyond
// MaxConnectionsPerUser is disconnected (the handshake refuses most of
// them; this catches the ones that raced) and Track returns
// ErrTooManyConnections. After Close it does nothing.
func (t *Presence) Track(c namespaces.Conn, u events.UserRef) error {
	entry := &conn{c: c}
	// Registered first: a socket that disconnects while Connect runs either
	// runs this function or has a done context, checked below.
	c.OnDisconnect(func(string) { t.disconnect(u.ID, entry) })
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	st := t.users[u.ID]
	if st == nil {
		st = &user{ref: u, conns: map[*conn]struct{}{}, status: events.UserOnline}
		t.users[u.ID] = st
		if t.cfg.Replica != nil {
			// The user may be online on other nodes, or in a grace period
			// there: the status chosen there is the user's, and must
			// outlive the records that carry it now.
			t.adoptStatusLocked(st)
		}
	}
	st.ref.Name = u.Name // the latest name wins
	t.stopGraceLocked(st)
	st.conns[entry] = struct{}{}
	t.changedLocked(st)
	n := t.connectionsLocked(u.ID)
	t.mu.Unlock()
	if c.Context().Err() != nil {
		t.disconnect(u.ID, entry) // idempotent
		return nil
	}
	if max := t.cfg.MaxConnectionsPerUser; max > 0 && n > max {
		t.cfg.Logger.Info("too many connections; disconnecting", "user", u.ID, "nsp", c.Namespace(), "socket", c.ID())
		c.Disconnect()
		return ErrTooManyConnections
	}
	return nil
}

// ErrTooManyConnections is returned by Track for a connection beyond
// PresenceConfig.MaxConnectionsPerUser.
var ErrTooManyConnections = errors.New("core: too many connections for one user")

// Online returns how many users are online now with a connection (or a
// grace period) on this node; in a cluster, each node counts its own.
func (t *Presence) Online() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.users)
}

// Connections returns how many connections the user has now (on every
// node of a cluster).
func (t *Presence) Connections(userID string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.connectionsLocked(userID)
}

func (t *Presence) connectionsLocked(userID string) int {
	n := 0
	if u := t.users[userID]; u != nil {
		n = len(u.conns)
	}
	for _, r := range t.remote[userID] {
		n += r.Conns
	}
	return n
}

func (t *Presence) disconnect(userID string, entry *conn) {
	var write *seen
	t.mu.Lock()
	u := t.users[userID]
	if t.closed || u == nil {
		t.mu.Unlock()
		return
	}
	if _, ok := u.conns[entry]; !ok {
		t.mu.Unlock()
		return
	}
	delete(u.conns, entry)
	switch {
	case len(u.conns) > 0:
		t.changedLocked(u)
	case t.cfg.Grace < 0:
		u.leftAt = t.nowMS()
		w := t.offlineLocked(u)
		write = &w
		t.writes.Add(1)
	default:
		u.leftAt = t.nowMS()
		g := &graceTimer{}
		g.stop = t.cfg.AfterFunc(t.cfg.Grace, func() { t.graceExpired(userID, g) })
		u.grace = g
		if t.cfg.Replica != nil {
			t.publishLocked(u, nil)
			t.refreshLocked(userID)
		}
	}
	t.mu.Unlock()
	if write != nil {
		defer t.writes.Done()
		t.write(*write)
	}
}

func (t *Presence) stopGraceLocked(u *user) {
	if u.grace != nil {
		u.grace.stop()
		u.grace = nil
	}
}

// graceExpired runs on the timer's goroutine.
func (t *Presence) graceExpired(userID string, g *graceTimer) {
	t.mu.Lock()
	u := t.users[userID]
	if t.closed || u == nil || u.grace != g {
		t.mu.Unlock()
		return // stopped or replaced after it fired
	}
	w := t.offlineLocked(u)
	t.writes.Add(1)
	t.mu.Unlock()
	defer t.writes.Done()
	t.write(w)
}

// offlineLocked forgets the user, remembers it as gone and delivers its
// offline state. It returns the last-seen write to make after unlocking.
func (t *Presence) offlineLocked(u *user) seen {
	delete(t.users, u.ref.ID)
	if t.cfg.Replica != nil {
		// Offline here; the user may be online on another node still.
		t.unpublishLocked(u.ref.ID)
		t.rememberGoneLocked(u.ref.ID, u.ref.Name, u.leftAt)
		t.refreshLocked(u.ref.ID)
		return seen{user: u.ref, ms: u.leftAt}
	}
	if _, ok := t.gone[u.ref.ID]; !ok {
		t.order = append(t.order, u.ref.ID)
		for len(t.order) > t.cfg.Remembered {
			delete(t.gone, t.order[0])
			t.order = t.order[1:]
		}
	}
	t.gone[u.ref.ID] = goneUser{name: u.ref.Name, lastSeen: u.leftAt}
	st := offlineState(u.ref.ID, u.ref.Name, u.leftAt)
	// Its chat sockets are gone, so only its direct watchers remain.
	t.deliverLocked(u.ref.ID, nil, st)
	return seen{user: u.ref, ms: u.leftAt}
}

func (t *Presence) write(w seen) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.WriteTimeout)
	defer cancel()
	if err := t.cfg.Store.SetLastSeen(ctx, w.user.ID, w.user.Name, w.ms); err != nil {
		t.cfg.Logger.Warn("presence: last-seen write failed", "user", w.user.ID, "err", err)
	}
}

// SetStatus sets the chosen status of a connected user and returns its
// state; the change is delivered to its watchers.
func (t *Presence) SetStatus(userID string, s events.UserStatus) (events.PresenceState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return events.PresenceState{}, ErrClosed
	}
	u := t.users[userID]
	if u == nil {
		return events.PresenceState{}, errors.New("core: SetStatus for a user without a connection")
	}
	u.status = s
	u.statusAt = t.nowMS()
	t.changedLocked(u)
	return t.onlineState(u), nil
}

// joined tells presence that a user's first socket joined a chat room:
// the room's watchers now watch the user and receive its state. Chat calls
// it under the room's lock.
func (t *Presence) joined(room, userID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ws := t.byRoom[room]
	u := t.users[userID]
	if len(ws) == 0 || u == nil {
		return
	}
	st := t.onlineState(u)
	for w := range ws {
		w.deliver(st)
	}
}

// Close stops the grace timers, writes the last-seen time of every user
// still tracked (when its last connection ended, or now for a connected
// user) and waits for the writes in flight. It waits for the writes even
// past ctx's deadline, each bounded by WriteTimeout, since a time lost at
// shutdown would show users as seen long before; it then returns ctx.Err()
// if ctx ended. Later calls return nil at once.
func (t *Presence) Close(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	for _, g := range t.dead {
		g.stop()
	}
	now := t.nowMS()
	var writes []seen
	for _, u := range t.users {
		ms := now
		if u.grace != nil {
			t.stopGraceLocked(u)
			ms = u.leftAt
		}
		writes = append(writes, seen{user: u.ref, ms: ms})
	}
	t.users = map[string]*user{}
	t.mu.Unlock()

	// Concurrent writes share the store's group commits.
	var wg sync.WaitGroup
	for _, w := range writes {
		wg.Go(func() { t.write(w) })
	}
	wg.Wait()
	t.writes.Wait()
	return ctx.Err()
}

// changedLocked delivers the user's state when it differs from the last
// one delivered. Nothing is delivered while the user has no connection
// (the grace period).
func (t *Presence) changedLocked(u *user) {
	if t.cfg.Replica != nil {
		t.publishLocked(u, nil)
		t.refreshLocked(u.ref.ID)
		return
	}
	if len(u.conns) == 0 {
		return
	}
	st := t.onlineState(u)
	cur := st
	cur.LastSeen = u.shown.LastSeen
	if cur == u.shown {
		return
	}
	u.shown = st
	var rooms []string
	for e := range u.conns {
		rooms = append(rooms, t.roomsOf(e.c)...)
	}
	t.deliverLocked(u.ref.ID, rooms, st)
}

// deliverLocked hands st to the watchers of the user and of the rooms, each
// once.
func (t *Presence) deliverLocked(userID string, rooms []string, st events.PresenceState) {
	direct := t.byUser[userID]
	for w := range direct {
		w.deliver(st)
	}
	if len(rooms) == 0 {
		return
	}
	done := map[*Watch]bool{}
	for _, r := range rooms {
		for w := range t.byRoom[r] {
			if _, ok := direct[w]; ok || done[w] {
				continue
			}
			done[w] = true
			w.deliver(st)
		}
	}
}

// onlineState is the state of a tracked user (connected or within its grace
// period).
func (t *Presence) onlineState(u *user) events.PresenceState {
	if t.cfg.Replica != nil {
		st, _ := t.aggregateLocked(u.ref.ID) // u is tracked: online
		return st
	}
	return events.PresenceState{
		UserID:      u.ref.ID,
		Name:        u.ref.Name,
		IsOnline:    true,
		Status:      events.PresenceStatus(u.status),
		LastSeen:    t.nowMS(),
		Connections: len(u.conns),
	}
}

func offlineState(id, name string, lastSeen int64) events.PresenceState {
	return events.PresenceState{UserID: id, Name: name, Status: events.StatusOffline, LastSeen: lastSeen}
}

// stateLocked is the state of any user: stored is its last-seen time from
// the Store, if any.
func (t *Presence) stateLocked(id string, stored map[string]StoredSeen) events.PresenceState {
	if t.cfg.Replica != nil {
		if st, ok := t.aggregateLocked(id); ok {
			return st
		}
	} else if u := t.users[id]; u != nil {
		return t.onlineState(u)
	}
	g, rec := t.gone[id], stored[id]
	name := g.name
	if name == "" || rec.At > g.lastSeen {
		name = rec.Name // a user not seen since the server started
	}
	return offlineState(id, name, max(g.lastSeen, rec.At))
}

// Watch is one subscriber's set of watched users and rooms. Its methods are
// safe for concurrent use.
type Watch struct {
	t       *Presence
	deliver func(events.PresenceState)
	self    string
	// users and rooms are guarded by t.mu.
	users  map[string]struct{}
	rooms  map[string]struct{}
	closed bool
}

// Watch registers a watcher. deliver receives each state change of the
// watched users, under the presence lock: it must not block and must not
// call the tracker. self, when not empty, is a user watched for the
// watcher's whole life whose current state is delivered at once (a
// /presence socket watches its own user, so that a status set in one tab
// reaches the others).
func (t *Presence) Watch(self string, deliver func(events.PresenceState)) (*Watch, error) {
	w := &Watch{t: t, deliver: deliver, self: self, users: map[string]struct{}{}, rooms: map[string]struct{}{}}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	if self != "" {
		index(t.byUser, self, w)
		deliver(t.stateLocked(self, nil))
	}
	return w, nil
}

// Counts returns how many users (self aside) and rooms w watches.
func (w *Watch) Counts() (users, rooms int) {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	return len(w.users), len(w.rooms)
}

// Add starts watching the users and the rooms (names already validated)
// and returns the snapshot: the current state of those users and of the
// users present in those rooms, sorted by user id. Registration and
// snapshot are one step under the presence lock, so every state delivered
// afterwards is newer than the snapshot. It fails only when the Store
// cannot be read (the watch is unchanged) or the tracker is closed.
func (w *Watch) Add(ctx context.Context, userIDs, rooms []string) ([]events.PresenceState, error) {
	stored, err := w.t.cfg.Store.LastSeen(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	t := w.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || w.closed {
		return nil, ErrClosed
	}
	ids := map[string]struct{}{}
	for _, id := range userIDs {
		ids[id] = struct{}{}
		if _, ok := w.users[id]; !ok {
			w.users[id] = struct{}{}
			index(t.byUser, id, w)
		}
	}
	for _, r := range rooms {
		if _, ok := w.rooms[r]; !ok {
			w.rooms[r] = struct{}{}
			index(t.byRoom, r, w)
		}
		for _, id := range t.roomMembers(r) {
			ids[id] = struct{}{}
		}
	}
	snap := make([]events.PresenceState, 0, len(ids))
	for id := range ids {
		snap = append(snap, t.stateLocked(id, stored))
	}
	slices.SortFunc(snap, func(a, b events.PresenceState) int { return cmp.Compare(a.UserID, b.UserID) })
	return snap, nil
}

// Subscribe is Add behind the contract's checks, as every transport needs
// them: room names must be valid and the identity allowed to join each
// room (the chat's room policy), and the watch must stay within
// MaxWatchedUsers and MaxWatchedRooms. Errors are *events.Error values.
func (w *Watch) Subscribe(ctx context.Context, id auth.Identity, req events.WatchRequest) (events.PresenceSnapshot, error) {
	for _, r := range req.Rooms {
		if err := checkRoom(r); err != nil {
			return events.PresenceSnapshot{}, err
		}
		if c := w.t.cfg.Chat; c != nil {
			if err := c.Authorize(id, r); err != nil {
				return events.PresenceSnapshot{}, err
			}
		}
	}
	users, rms := w.Counts()
	if users+len(req.UserIDs) > w.t.cfg.MaxWatchedUsers || rms+len(req.Rooms) > w.t.cfg.MaxWatchedRooms {
		return events.PresenceSnapshot{}, events.Errorf(events.CodeForbidden,
			"a connection may watch at most %d users and %d rooms", w.t.cfg.MaxWatchedUsers, w.t.cfg.MaxWatchedRooms)
	}
	snap, err := w.Add(ctx, req.UserIDs, req.Rooms)
	if err != nil {
		return events.PresenceSnapshot{}, events.WrapError(events.CodeUnavailable, "presence is unavailable", err)
	}
	return events.PresenceSnapshot{Users: snap}, nil
}

// Unsubscribe is Remove behind the room-name check.
func (w *Watch) Unsubscribe(req events.WatchRequest) error {
	for _, r := range req.Rooms {
		if err := checkRoom(r); err != nil {
			return err
		}
	}
	w.Remove(req.UserIDs, req.Rooms)
	return nil
}

// Remove stops watching the users (never self) and the rooms.
func (w *Watch) Remove(userIDs, rooms []string) {
	t := w.t
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range userIDs {
		if _, ok := w.users[id]; ok {
			delete(w.users, id)
			if id != w.self {
				unindex(t.byUser, id, w)
			}
		}
	}
	for _, r := range rooms {
		if _, ok := w.rooms[r]; ok {
			delete(w.rooms, r)
			unindex(t.byRoom, r, w)
		}
	}
}

// Close stops every watch of w; nothing is delivered after it returns.
func (w *Watch) Close() {
	t := w.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	for id := range w.users {
		unindex(t.byUser, id, w)
	}
	if w.self != "" {
		unindex(t.byUser, w.self, w)
	}
	for r := range w.rooms {
		unindex(t.byRoom, r, w)
	}
	w.users, w.rooms = nil, nil
}

func index(m map[string]map[*Watch]struct{}, key string, w *Watch) {
	set := m[key]
	if set == nil {
		set = map[*Watch]struct{}{}
		m[key] = set
	}
	set[w] = struct{}{}
}

func unindex(m map[string]map[*Watch]struct{}, key string, w *Watch) {
	set := m[key]
	delete(set, w)
	if len(set) == 0 {
		delete(m, key)
	}
}
