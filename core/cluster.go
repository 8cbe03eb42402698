package core

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/parley-rt/parley/events"
)

// Replica replicates this node's presence records to the other nodes of a
// cluster (redisadapter.Records is one): one record per user with a
// connection here. The other nodes' records come back through
// Presence.LoadNode, PutRecord, DeleteRecord and NodeGone. Put and Delete
// are called under the presence lock: they must not block.
type Replica interface {
	// Node is this node's id, as the other nodes' calls name it.
	Node() string
	Put(userID string, record []byte)
	Delete(userID string)
}

// Feed carries what the chat announces (messages, joins, leaves) to the
// other nodes of a cluster, whose Chat.Relay hands it to their Cluster
// observers (SSE streams). Publish must not block; it is called under a
// room lock for joins and leaves.
type Feed interface {
	Publish(payload []byte)
}

// nodeRecord is one node's part of a user's presence, as replicated.
type nodeRecord struct {
	Name     string            `json:"n"`
	Conns    int               `json:"c"`
	Status   events.UserStatus `json:"s"`
	StatusAt int64             `json:"t,omitempty"` // Unix ms of the setStatus, 0 for none
	Rooms    []string          `json:"r,omitempty"` // chat rooms the user's sockets are in, sorted
	LeftAt   int64             `json:"l,omitempty"` // Unix ms the last connection here ended (grace)
	// JoinSkipped lists the rooms whose userJoined this update did not
	// announce, the user being in them on another node as far as this one
	// knew: a node that announced the user's userLeft from such a room
	// meanwhile (its last socket there left at the same moment) announces
	// the join.
	JoinSkipped []string `json:"j,omitempty"`
	// Skipped lists the rooms whose userLeft this update did not announce,
	// the user being in them on another node as far as this one knew.
	// When two nodes skipped (their last sockets left at once), each learns
	// of the other's skip, and the one with the smaller id announces.
	Skipped []string `json:"k,omitempty"`
	// Left lists the rooms whose userLeft this update announced. It
	// settles the other nodes' skips of those rooms (Skipped). A room
	// that merely disappears from a record settles nothing: the record
	// may have been published between the socket's leaving and the
	// decision, which a later update carries.
	Left []string `json:"e,omitempty"`
}

// recordNews is what an update of a record says besides the state: the
// announcements made or skipped with it (see nodeRecord).
type recordNews struct {
	skipped, left, joinSkipped []string
}

func (n recordNews) empty() bool {
	return len(n.skipped) == 0 && len(n.left) == 0 && len(n.joinSkipped) == 0
}

// feedMsg is one entry of the chat feed.
type feedMsg struct {
	Message *events.ChatMessage `json:"m,omitempty"`
	Joined  *events.RoomUser    `json:"j,omitempty"`
	Left    *events.RoomUser    `json:"l,omitempty"`
}

// deadPrefix keys the records of a dead node kept for the grace period.
const deadPrefix = "\x00dead:"

type roomUser struct{ room, user string }

// feedMessage, feedJoined and feedLeft take their argument by value, so
// that the caller's variable does not escape to the heap on the
// single-node path, where they are not called.
func (ch *Chat) feedMessage(m events.ChatMessage) { ch.publish(feedMsg{Message: &m}) }
func (ch *Chat) feedJoined(ru events.RoomUser)    { ch.publish(feedMsg{Joined: &ru}) }
func (ch *Chat) feedLeft(ru events.RoomUser)      { ch.publish(feedMsg{Left: &ru}) }

// publish hands a feed entry to the other nodes.
func (ch *Chat) publish(m feedMsg) {
	b, err := json.Marshal(m)
	if err != nil {
		ch.cfg.Logger.Error("chat feed: encode", "err", err)
		return
	}
	ch.cfg.Feed.Publish(b)
}

// Relay hands an entry of another node's feed to the Cluster observers.
// The feed's receiving goroutine calls it; a malformed entry is logged.
func (ch *Chat) Relay(payload []byte) {
	var m feedMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		ch.cfg.Logger.Warn("chat feed: bad entry", "err", err)
		return
	}
	ch.obsMu.RLock()
	defer ch.obsMu.RUnlock()
	for _, o := range ch.observers {
		switch {
		case !o.Cluster:
		case m.Message != nil && o.Message != nil:
			o.Message(*m.Message)
		case m.Joined != nil && o.Joined != nil:
			o.Joined(*m.Joined)
		case m.Left != nil && o.Left != nil:
			o.Left(*m.Left)
		}
	}
}

// joinedHere tells presence that u's first socket on this node joined
// room (under the room lock): it reports whether u is in the room on
// another node already, in which case userJoined was announced there.
func (ch *Chat) joinedHere(room string, u events.UserRef) (elsewhere bool) {
	if ch.presence == nil || ch.presence.cfg.Replica == nil {
		return false
	}
	return ch.presence.roomJoined(room, u)
}

// leftHere tells presence that u's last socket on this node left room
// (under the room lock) and reports whether userLeft is to be announced:
// not while u is in the room on another node.
func (ch *Chat) leftHere(room string, u events.UserRef) bool {
	if ch.presence == nil || ch.presence.cfg.Replica == nil {
		return true
	}
	return ch.presence.roomLeft(room, u)
}

// remoteLeft announces userLeft for u in room unless u is in it on any
// node: the leader's duty for the users of a dead node (from ""), and the
// resolution of a leave node from skipped, which falls to this node when
// it skipped too and its id is the smaller.
func (ch *Chat) remoteLeft(room string, u events.UserRef, from string) {
	key := roomKey(room)
	mu := ch.roomLock(key)
	mu.Lock()
	defer mu.Unlock()
	if ch.userPresent(key, u.ID, "") {
		return
	}
	if !ch.presence.takeLeave(room, u.ID, from) {
		return
	}
	ch.announceLeft(room, key, u)
}

// remoteJoined announces userJoined for u in room on behalf of another
// node, which skipped it while this node announced u's userLeft.
func (ch *Chat) remoteJoined(room string, u events.UserRef) {
	key := roomKey(room)
	mu := ch.roomLock(key)
	mu.Lock()
	defer mu.Unlock()
	ch.announceJoined(ch.cfg.Rooms.To(key), room, u)
}

// roomJoined: see Chat.joinedHere. Called under the room lock.
func (t *Presence) roomJoined(room string, u events.UserRef) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := roomUser{room, u.ID}
	delete(t.pending, k)
	delete(t.announcedLeft, k)
	elsewhere := t.remoteRooms[room][u.ID] > 0
	if lu := t.users[u.ID]; lu != nil {
		var news recordNews
		if elsewhere {
			news.joinSkipped = []string{room}
		}
		t.publishLocked(lu, news)
	}
	return elsewhere
}

// recentLeave is how long a node remembers a userLeft it announced, for a
// join skipped at the same moment on another node (the replication delay
// is about a millisecond; this is generous).
const recentLeave = 10 * time.Second

// leftAnnouncedLocked remembers that this node announced u's departure
// from room, forgetting the old ones.
func (t *Presence) leftAnnouncedLocked(room, userID string) {
	now := t.cfg.Now()
	for k, at := range t.announcedLeft {
		if now.Sub(at) > recentLeave {
			delete(t.announcedLeft, k)
		}
	}
	t.announcedLeft[roomUser{room, userID}] = now
}

// roomLeft: see Chat.leftHere. Called under the room lock.
func (t *Presence) roomLeft(room string, u events.UserRef) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	elsewhere := t.remoteRooms[room][u.ID] > 0
	var news recordNews
	if elsewhere {
		t.pending[roomUser{room, u.ID}] = struct{}{}
		news.skipped = []string{room}
	} else {
		t.leftAnnouncedLocked(room, u.ID)
		news.left = []string{room}
	}
	if lu := t.users[u.ID]; lu != nil {
		t.publishLocked(lu, news)
	} else if elsewhere {
		// The user has no record here any more (offline at once, no
		// grace): tell the others of the skip with an empty record that
		// is deleted right after.
		b, _ := json.Marshal(nodeRecord{Name: u.Name, Skipped: news.skipped}) // a struct of strings and ints always encodes
		t.cfg.Replica.Put(u.ID, b)
		t.cfg.Replica.Delete(u.ID)
	}
	return !elsewhere
}

// takeLeave reports whether the announcement of u's departure from room
// falls to this node: u is in the room on no other node, and, for a skip
// of node from, this node skipped too and has the smaller id. It forgets
// this node's skip.
func (t *Presence) takeLeave(room, userID, from string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.remoteRooms[room][userID] > 0 {
		return false
	}
	k := roomUser{room, userID}
	_, pending := t.pending[k]
	delete(t.pending, k)
	if from == "" {
		return true
	}
	return pending && t.cfg.Replica.Node() < from
}

// localRoomsLocked returns the chat rooms of the user's connections here,
// sorted.
func (t *Presence) localRoomsLocked(u *user) []string {
	var rooms []string
	for e := range u.conns {
		for _, r := range t.roomsOf(e.c) {
			if !slices.Contains(rooms, r) {
				rooms = append(rooms, r)
			}
		}
	}
	slices.Sort(rooms)
	return rooms
}

// publishLocked replicates u's record, unless unchanged and without news.
func (t *Presence) publishLocked(u *user, news recordNews) {
	rec := nodeRecord{
		Name: u.ref.Name, Conns: len(u.conns), Status: u.status, StatusAt: u.statusAt,
		Rooms: t.localRoomsLocked(u), Skipped: news.skipped, Left: news.left, JoinSkipped: news.joinSkipped,
	}
	if len(u.conns) == 0 {
		rec.LeftAt = u.leftAt
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.cfg.Logger.Error("presence: encode record", "err", err)
		return
	}
	if news.empty() && t.sent[u.ref.ID] == string(b) {
		return
	}
	t.sent[u.ref.ID] = string(b)
	t.cfg.Replica.Put(u.ref.ID, b)
}

// unpublishLocked deletes the user's record.
func (t *Presence) unpublishLocked(userID string) {
	delete(t.sent, userID)
	t.cfg.Replica.Delete(userID)
}

// aggregateLocked is the user's state across the cluster: online while it
// has a connection, or is within a grace period, on any node.
func (t *Presence) aggregateLocked(id string) (events.PresenceState, bool) {
	u, recs := t.users[id], t.remote[id]
	if u == nil && len(recs) == 0 {
		return events.PresenceState{}, false
	}
	st := events.PresenceState{UserID: id, IsOnline: true, LastSeen: t.nowMS()}
	status, at := events.UserOnline, int64(-1)
	if u != nil {
		st.Name, st.Connections, status, at = u.ref.Name, len(u.conns), u.status, u.statusAt
	}
	for _, node := range slices.Sorted(maps.Keys(recs)) {
		r := recs[node]
		st.Connections += r.Conns
		if st.Name == "" {
			st.Name = r.Name
		}
		if r.StatusAt > at {
			status, at = r.Status, r.StatusAt
		}
	}
	st.Status = events.PresenceStatus(status)
	return st, true
}

// adoptStatusLocked takes the user's latest status from the other nodes'
// records when it is newer than u's.
func (t *Presence) adoptStatusLocked(u *user) {
	for _, r := range t.remote[u.ref.ID] {
		if r.StatusAt > u.statusAt {
			u.status, u.statusAt = r.Status, r.StatusAt
		}
	}
}

// userRoomsLocked returns the rooms the user is in on any node.
func (t *Presence) userRoomsLocked(id string) []string {
	var rooms []string
	if u := t.users[id]; u != nil {
		rooms = t.localRoomsLocked(u)
	}
	for _, r := range t.remote[id] {
		for _, room := range r.Rooms {
			if !slices.Contains(rooms, room) {
				rooms = append(rooms, room)
			}
		}
	}
	return rooms
}

// refreshLocked delivers the user's cluster-wide state when it changed:
// online states while it has a connection somewhere (not during a grace
// period), its offline state once it has none and no grace runs.
func (t *Presence) refreshLocked(id string) {
	st, online := t.aggregateLocked(id)
	prev, shown := t.shown[id]
	if !online {
		if shown {
			delete(t.shown, id)
			g := t.gone[id]
			name := g.name
			if name == "" {
				name = prev.Name
			}
			t.deliverLocked(id, nil, offlineState(id, name, g.lastSeen))
		}
		return
	}
	if st.Connections == 0 {
		return // a grace period: nothing until it ends or the user is back
	}
	cur := st
	cur.LastSeen = prev.LastSeen
	if shown && cur == prev {
		return
	}
	t.shown[id] = st
	t.deliverLocked(id, t.userRoomsLocked(id), st)
}

// rememberGoneLocked records a user who went offline, for later snapshots.
func (t *Presence) rememberGoneLocked(id, name string, lastSeen int64) {
	if _, ok := t.gone[id]; !ok {
		t.order = append(t.order, id)
		for len(t.order) > t.cfg.Remembered {
			delete(t.gone, t.order[0])
			t.order = t.order[1:]
		}
	}
	t.gone[id] = goneUser{name: name, lastSeen: lastSeen}
}

// remoteMembersLocked returns the users in room on other nodes.
func (t *Presence) remoteMembersLocked(room string) []events.UserRef {
	var out []events.UserRef
	for id := range t.remoteRooms[room] {
		name := ""
		for _, r := range t.remote[id] {
			if slices.Contains(r.Rooms, room) {
				name = r.Name
				break
			}
		}
		out = append(out, events.UserRef{ID: id, Name: name})
	}
	return out
}

func (t *Presence) remoteMembers(room string) []events.UserRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remoteMembersLocked(room)
}

// setRemoteLocked sets (rec != nil) or removes node's record of user id,
// keeping the room index, and returns the rooms the user entered and left
// on that node.
func (t *Presence) setRemoteLocked(node, id string, rec *nodeRecord) (added, removed []string) {
	var old []string
	if r := t.remote[id][node]; r != nil {
		old = r.Rooms
	}
	var cur []string
	if rec != nil {
		cur = rec.Rooms
		if t.remote[id] == nil {
			t.remote[id] = map[string]*nodeRecord{}
		}
		t.remote[id][node] = rec
		if u := t.users[id]; u != nil && rec.StatusAt > u.statusAt {
			u.status, u.statusAt = rec.Status, rec.StatusAt // the user's latest choice, from any tab
		}
	} else if recs := t.remote[id]; recs != nil {
		delete(recs, node)
		if len(recs) == 0 {
			delete(t.remote, id)
		}
	}
	for _, r := range old {
		if !slices.Contains(cur, r) {
			removed = append(removed, r)
			if m := t.remoteRooms[r]; m != nil {
				if m[id]--; m[id] <= 0 {
					delete(m, id)
				}
				if len(m) == 0 {
					delete(t.remoteRooms, r)
				}
			}
		}
	}
	for _, r := range cur {
		if !slices.Contains(old, r) {
			added = append(added, r)
			if t.remoteRooms[r] == nil {
				t.remoteRooms[r] = map[string]int{}
			}
			t.remoteRooms[r][id]++
		}
	}
	return added, removed
}

// applyLocked applies node's new record of id (nil: deleted; loaded: read
// whole from its table, its news lost), delivers the changes and returns
// the skipped leaves to resolve and the skipped joins this node must
// announce.
func (t *Presence) applyLocked(node, id string, rec *nodeRecord, loaded bool) (skips, joins []roomUser) {
	old := t.remote[id][node]
	added, removed := t.setRemoteLocked(node, id, rec)
	if rec == nil && old != nil {
		if _, online := t.aggregateLocked(id); !online {
			last := old.LeftAt
			if last == 0 {
				last = t.nowMS()
			}
			t.rememberGoneLocked(id, old.Name, last)
		}
	}
	t.refreshLocked(id)
	if st, ok := t.aggregateLocked(id); ok && st.Connections > 0 {
		for _, r := range added {
			for w := range t.byRoom[r] {
				w.deliver(st) // a user entering a watched room becomes watched
			}
		}
	}
	// This node's skips are settled by the other node's announcement
	// (Left), by its skip (resolved below), or, with no news to go by, by
	// the user's leaving that node altogether (a deleted record, or a
	// room missing from a record read whole).
	settled := removed
	if rec != nil && !loaded {
		settled = rec.Left
	}
	for _, r := range settled {
		if t.remoteRooms[r][id] == 0 {
			delete(t.pending, roomUser{r, id})
		}
	}
	for _, r := range added {
		k := roomUser{r, id}
		if _, ok := t.announcedLeft[k]; !ok {
			continue
		}
		delete(t.announcedLeft, k)
		if slices.Contains(rec.JoinSkipped, r) {
			joins = append(joins, k) // the room heard userLeft from here last
		}
	}
	if rec != nil {
		for _, r := range rec.Skipped {
			skips = append(skips, roomUser{r, id})
		}
	}
	return skips, joins
}

func (t *Presence) decode(node, id string, val []byte) (*nodeRecord, bool) {
	var rec nodeRecord
	if err := json.Unmarshal(val, &rec); err != nil {
		t.cfg.Logger.Warn("presence: bad record", "node", node, "user", id, "err", err)
		return nil, false
	}
	return &rec, true
}

// resolve announces the leaves node skipped that fall to this node.
func (t *Presence) resolve(node string, skips []roomUser, names map[string]string) {
	for _, s := range skips {
		t.cfg.Chat.remoteLeft(s.room, events.UserRef{ID: s.user, Name: names[s.user]}, node)
	}
}

// PutRecord applies another node's record of a user (its Replica's Put).
func (t *Presence) PutRecord(node, userID string, val []byte) {
	rec, ok := t.decode(node, userID, val)
	if !ok {
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	skips, joins := t.applyLocked(node, userID, rec, false)
	t.mu.Unlock()
	if t.cfg.Chat != nil {
		t.resolve(node, skips, map[string]string{userID: rec.Name})
		for _, j := range joins {
			t.cfg.Chat.remoteJoined(j.room, events.UserRef{ID: userID, Name: rec.Name})
		}
	}
}

// DeleteRecord applies the deletion of another node's record of a user.
func (t *Presence) DeleteRecord(node, userID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.applyLocked(node, userID, nil, false)
	}
}

// LoadNode replaces every record of node by recs.
func (t *Presence) LoadNode(node string, recs map[string][]byte) {
	parsed := map[string]*nodeRecord{}
	for id, val := range recs {
		if rec, ok := t.decode(node, id, val); ok {
			rec.Skipped, rec.Left, rec.JoinSkipped = nil, nil, nil // old news
			parsed[id] = rec
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for id, r := range t.remote {
		if _, ok := r[node]; ok && parsed[id] == nil {
			t.applyLocked(node, id, nil, true)
		}
	}
	for id, rec := range parsed {
		t.applyLocked(node, id, rec, true)
	}
}

// NodeGone drops the records of a dead node. Its users stay online for the
// grace period (they may be reconnecting to another node), then go
// offline; they leave their rooms at once. The leader (one live node)
// announces their userLeft and writes their last-seen times.
func (t *Presence) NodeGone(node string, leader bool) {
	type left struct {
		room string
		user events.UserRef
	}
	var leaves []left
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	dead := deadPrefix + node
	now := t.nowMS()
	var moved []string
	for id, recs := range t.remote {
		rec := recs[node]
		if rec == nil {
			continue
		}
		for _, r := range rec.Rooms {
			leaves = append(leaves, left{r, events.UserRef{ID: id, Name: rec.Name}})
		}
		t.setRemoteLocked(node, id, nil)
		if t.cfg.Grace > 0 {
			last := rec.LeftAt
			if last == 0 {
				last = now
			}
			t.setRemoteLocked(dead, id, &nodeRecord{Name: rec.Name, Status: rec.Status, StatusAt: rec.StatusAt, LeftAt: last})
			moved = append(moved, id)
		} else {
			t.rememberGoneLocked(id, rec.Name, now)
		}
		t.refreshLocked(id)
	}
	for _, l := range leaves {
		if t.remoteRooms[l.room][l.user.ID] == 0 && !leader {
			delete(t.pending, roomUser{l.room, l.user.ID})
		}
	}
	if len(moved) > 0 {
		g := &graceTimer{}
		g.stop = t.cfg.AfterFunc(t.cfg.Grace, func() { t.deadExpired(dead, g, leader) })
		t.dead[dead] = g
	}
	t.mu.Unlock()
	if leader && t.cfg.Chat != nil {
		for _, l := range leaves {
			t.cfg.Chat.remoteLeft(l.room, l.user, "")
		}
	}
}

// deadExpired ends the grace period of a dead node's users.
func (t *Presence) deadExpired(dead string, g *graceTimer, leader bool) {
	var writes []seen
	t.mu.Lock()
	if t.closed || t.dead[dead] != g {
		t.mu.Unlock()
		return
	}
	delete(t.dead, dead)
	for id, recs := range t.remote {
		rec := recs[dead]
		if rec == nil {
			continue
		}
		t.setRemoteLocked(dead, id, nil)
		if _, online := t.aggregateLocked(id); !online {
			t.rememberGoneLocked(id, rec.Name, rec.LeftAt)
			if leader {
				writes = append(writes, seen{user: events.UserRef{ID: id, Name: rec.Name}, ms: rec.LeftAt})
			}
		}
		t.refreshLocked(id)
	}
	t.writes.Add(len(writes))
	t.mu.Unlock()
	for _, w := range writes {
		t.write(w)
		t.writes.Done()
	}
}
