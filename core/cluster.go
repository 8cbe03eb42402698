package core

import (
	"context"
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
	// Wait returns once the changes put so far are ordered among the
	// cluster's (written), or with ctx's error. Joins and leaves wait for
	// it before they are acknowledged, so that a client's later action on
	// another node comes after them in the cluster's order.
	Wait(ctx context.Context) error
}

// Feed carries what the chat announces (messages, joins, leaves) to the
// other nodes of a cluster, whose Chat.Relay hands it to their Cluster
// observers (SSE streams). Publish must not block; for joins and leaves
// it is called from a room's announcement queue, in transition order.
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
	// JoinBy lists the rooms this update added without announcing the
	// user's userJoined, with the node to announce it if the update turns
	// out to bring the user into the room (in the records' order; see
	// transitionsLocked): the node that announced the user's userLeft
	// lately, so that the room hears the two in order; "" when this node
	// skipped the announcement because another node had the user in the
	// room, in which case the node whose record took it out announces.
	JoinBy map[string]string `json:"b,omitempty"`
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

// clustered reports whether room announcements are the cluster's (see
// announceCluster): presence replicated with a Replica.
func (ch *Chat) clustered() bool {
	return ch.presence != nil && ch.presence.cfg.Replica != nil
}

// joinedHere tells presence (clustered, under the room lock) that u's
// first socket on this node joined room, and reports whether this node
// announces userJoined now: not when another node has the user in the
// room already, nor when another node announced the user's departure
// lately (that node announces the join, after its userLeft, when it sees
// this node's record). Two first joins on two nodes within the
// replication delay may both announce (a member list is a set).
func (ch *Chat) joinedHere(room string, u events.UserRef) bool {
	return ch.presence.roomJoined(room, u.ID)
}

// leftHere tells presence (clustered, under the room lock) that u's last
// socket on this node left room: the record says so, and the cluster's
// order of records decides who announces userLeft (transitionsLocked).
func (ch *Chat) leftHere(room string, u events.UserRef) {
	t := ch.presence
	t.mu.Lock()
	defer t.mu.Unlock()
	if lu := t.users[u.ID]; lu != nil {
		t.publishLocked(lu, nil)
	}
}

// roomJoined: see Chat.joinedHere. The room's watchers here see the user's
// state unless another node has it in the room already.
func (t *Presence) roomJoined(room, userID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[userID]
	if u == nil {
		return false // closed
	}
	k := roomUser{room, userID}
	if t.remoteRooms[room][userID] > 0 {
		t.publishLocked(u, map[string]string{room: ""})
		return false
	}
	if m, ok := t.leftBy[k]; ok && m.node != "" && m.node != t.cfg.Replica.Node() && t.cfg.Now().Sub(m.at) < recentLeave {
		t.publishLocked(u, map[string]string{room: m.node})
	} else {
		t.publishLocked(u, nil)
		delete(t.leftBy, k)
		return true // announceJoined delivers to the watchers
	}
	if ws := t.byRoom[room]; len(ws) > 0 {
		st, _ := t.aggregateLocked(userID)
		for w := range ws {
			w.deliver(st) // a user entering a watched room becomes watched
		}
	}
	return false
}

// announcement is a userJoined or userLeft this node makes for the
// cluster (see announceCluster).
type announcement struct {
	room   string
	user   events.UserRef
	joined bool
}

// announceCluster makes the announcements that fell to this node, in the
// order of the records that decided them.
func (ch *Chat) announceCluster(as []announcement) {
	for _, a := range as {
		key := roomKey(a.room)
		mu := ch.roomLock(key)
		mu.Lock()
		if a.joined {
			ch.queueJoined(mu, ch.cfg.Rooms.To(key), a.room, a.user)
		} else {
			ch.queueLeft(mu, a.room, key, a.user)
		}
		mu.Unlock()
		mu.drain()
	}
}

// replicated waits (without a lock) until the user's records of this
// node are ordered among the cluster's: see Replica.Wait.
func (ch *Chat) replicated(ctx context.Context, log interface{ Warn(string, ...any) }) {
	if !ch.clustered() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, maxReplicatedWait)
	defer cancel()
	if err := ch.presence.cfg.Replica.Wait(ctx); err != nil {
		log.Warn("presence records not replicated before the ack", "err", err)
	}
}

// maxReplicatedWait bounds replicated: with Redis away, a join or leave is
// acknowledged after it without the cluster's order (the records are
// written whole when Redis answers).
const maxReplicatedWait = 2 * time.Second

// recentLeave is how long the cluster remembers which node announced a
// user's departure from a room: a join that follows within it is
// announced by the same node, after its userLeft (the replication delay
// is about a millisecond; this is generous).
const recentLeave = 10 * time.Second

// leftMark is who announced a userLeft, and when this node learned of it.
type leftMark struct {
	node string // "" when unknown (a dead node's users, on a node that is not the leader)
	at   time.Time
}

// holdersLocked counts the nodes that have the user in the room as the
// records applied so far say, this one included (by its echoed records).
func (t *Presence) holdersLocked(room, userID string) int {
	n := t.remoteRooms[room][userID]
	if slices.Contains(t.echoRooms[userID], room) {
		n++
	}
	return n
}

// transitionsLocked applies what node's record of a user did to the
// user's rooms (added, removed; the state is updated already; joinBy from
// the record) and returns the announcements that fall to this node.
// Every node applies the same records in the same order (the
// replication's channel orders them, a node's own included), so every
// node decides alike: a room a record empties of the user is announced
// (userLeft) by that record's node, once, even when the user's last
// sockets on two nodes leave at once or the nodes have not heard of each
// other's joins yet. A join the record's node left to this one (JoinBy)
// (or skipped, the room emptied by this node's record before) is
// announced here. quiet (records read whole, their order lost)
// announces nothing.
func (t *Presence) transitionsLocked(node string, u events.UserRef, added, removed []string, joinBy map[string]string, quiet bool) []announcement {
	self := t.cfg.Replica.Node()
	now := t.cfg.Now()
	var out []announcement
	for _, r := range removed {
		if t.holdersLocked(r, u.ID) > 0 {
			continue
		}
		t.markLeftLocked(roomUser{r, u.ID}, node, now)
		if !quiet && node == self {
			out = append(out, announcement{room: r, user: u})
		}
	}
	for _, r := range added {
		k := roomUser{r, u.ID}
		by, skipped := joinBy[r]
		if by == "" {
			by = t.leftBy[k].node
		}
		delete(t.leftBy, k)
		if !quiet && skipped && by == self && t.holdersLocked(r, u.ID) == 1 {
			out = append(out, announcement{room: r, user: u, joined: true})
		}
	}
	return out
}

// markLeftLocked remembers that node announced k's departure, forgetting
// the marks older than recentLeave.
func (t *Presence) markLeftLocked(k roomUser, node string, now time.Time) {
	for o, m := range t.leftBy {
		if now.Sub(m.at) > recentLeave {
			delete(t.leftBy, o)
		}
	}
	t.leftBy[k] = leftMark{node: node, at: now}
}

// echoLocked applies this node's own record of a user as it came back
// through the replication (nil: deleted), in the cluster's order.
func (t *Presence) echoLocked(id string, rec *nodeRecord, quiet bool) []announcement {
	old := t.echoRooms[id]
	var cur []string
	name := ""
	if rec != nil {
		cur, name = rec.Rooms, rec.Name
	}
	if len(cur) == 0 {
		delete(t.echoRooms, id)
	} else {
		t.echoRooms[id] = cur
	}
	if u := t.users[id]; u != nil && name == "" {
		name = u.ref.Name
	}
	if name == "" {
		name = t.echoNames[id]
	}
	if rec != nil {
		t.echoNames[id] = name
	} else {
		delete(t.echoNames, id)
	}
	added, removed := diffRooms(old, cur)
	return t.transitionsLocked(t.cfg.Replica.Node(), events.UserRef{ID: id, Name: name}, added, removed, nil, quiet)
}

// diffRooms returns the rooms of cur not in old and those of old not in
// cur.
func diffRooms(old, cur []string) (added, removed []string) {
	for _, r := range old {
		if !slices.Contains(cur, r) {
			removed = append(removed, r)
		}
	}
	for _, r := range cur {
		if !slices.Contains(old, r) {
			added = append(added, r)
		}
	}
	return added, removed
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

// publishLocked replicates u's record, unless unchanged.
func (t *Presence) publishLocked(u *user, joinBy map[string]string) {
	rec := nodeRecord{
		Name: u.ref.Name, Conns: len(u.conns), Status: u.status, StatusAt: u.statusAt,
		Rooms: t.localRoomsLocked(u), JoinBy: joinBy,
	}
	if len(u.conns) == 0 {
		rec.LeftAt = u.leftAt
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.cfg.Logger.Error("presence: encode record", "err", err)
		return
	}
	if t.sent[u.ref.ID] == string(b) {
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

// applyLocked applies node's new record of id (nil: deleted; quiet: read
// whole from its table, out of the records' order), delivers the changes
// and returns the announcements that fall to this node.
func (t *Presence) applyLocked(node, id string, rec *nodeRecord, quiet bool) []announcement {
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
	name := ""
	var joinBy map[string]string
	switch {
	case rec != nil:
		name, joinBy = rec.Name, rec.JoinBy
	case old != nil:
		name = old.Name
	}
	return t.transitionsLocked(node, events.UserRef{ID: id, Name: name}, added, removed, joinBy, quiet)
}

func (t *Presence) decode(node, id string, val []byte) (*nodeRecord, bool) {
	var rec nodeRecord
	if err := json.Unmarshal(val, &rec); err != nil {
		t.cfg.Logger.Warn("presence: bad record", "node", node, "user", id, "err", err)
		return nil, false
	}
	return &rec, true
}

// PutRecord applies a node's record of a user (its Replica's Put), this
// node's own included: the records come back in the cluster's order,
// which decides the room announcements.
func (t *Presence) PutRecord(node, userID string, val []byte) {
	rec, ok := t.decode(node, userID, val)
	if !ok {
		return
	}
	t.record(node, userID, rec)
}

// DeleteRecord applies the deletion of a node's record of a user, this
// node's own included.
func (t *Presence) DeleteRecord(node, userID string) { t.record(node, userID, nil) }

func (t *Presence) record(node, userID string, rec *nodeRecord) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	var as []announcement
	if node == t.cfg.Replica.Node() {
		as = t.echoLocked(userID, rec, false)
	} else {
		as = t.applyLocked(node, userID, rec, false)
	}
	t.mu.Unlock()
	if t.cfg.Chat != nil {
		t.cfg.Chat.announceCluster(as)
	}
}

// LoadNode replaces every record of node by recs (this node's own: its
// table as written whole again), out of the records' order: it announces
// nothing.
func (t *Presence) LoadNode(node string, recs map[string][]byte) {
	parsed := map[string]*nodeRecord{}
	for id, val := range recs {
		if rec, ok := t.decode(node, id, val); ok {
			parsed[id] = rec
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if node == t.cfg.Replica.Node() {
		for id := range t.echoRooms {
			if parsed[id] == nil {
				t.echoLocked(id, nil, true)
			}
		}
		for id, rec := range parsed {
			t.echoLocked(id, rec, true)
		}
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
	var leaves []announcement
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
		_, removed := t.setRemoteLocked(node, id, nil)
		mark := ""
		if leader {
			mark = t.cfg.Replica.Node()
		}
		for _, r := range removed {
			if t.holdersLocked(r, id) > 0 {
				continue
			}
			t.markLeftLocked(roomUser{r, id}, mark, t.cfg.Now())
			if leader {
				leaves = append(leaves, announcement{room: r, user: events.UserRef{ID: id, Name: rec.Name}})
			}
		}
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
	for k, m := range t.leftBy {
		if m.node == node {
			delete(t.leftBy, k) // a dead node announces no join
		}
	}
	if len(moved) > 0 {
		g := &graceTimer{}
		g.stop = t.cfg.AfterFunc(t.cfg.Grace, func() { t.deadExpired(dead, g, leader) })
		t.dead[dead] = g
	}
	t.mu.Unlock()
	if t.cfg.Chat != nil {
		t.cfg.Chat.announceCluster(leaves)
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
