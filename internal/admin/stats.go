package admin

import (
	"time"

	"github.com/parley-rt/parley/socketio"
)

// maxBufferedEvents bounds the aggregated events kept between two stats:
// one entry per second, type and subtype, so a few per second in practice.
const maxBufferedEvents = 4096

// eventBuffer aggregates events per second, type and subtype until the
// next server_stats takes them. Its owner guards it.
type eventBuffer struct {
	list []AggregatedEvent
}

func (b *eventBuffer) push(now time.Time, typ, subType string, count int) {
	ts := now.Truncate(time.Second).UnixMilli()
	for i := len(b.list) - 1; i >= 0; i-- {
		e := &b.list[i]
		if e.Timestamp != ts {
			break // entries are in time order; older seconds cannot match
		}
		if e.Type == typ && e.SubType == subType {
			e.Count += count
			return
		}
	}
	if len(b.list) >= maxBufferedEvents {
		return
	}
	b.list = append(b.list, AggregatedEvent{Timestamp: ts, Type: typ, SubType: subType, Count: count})
}

// take returns the events and empties the buffer.
func (b *eventBuffer) take() []AggregatedEvent {
	out := b.list
	b.list = nil
	if out == nil {
		out = []AggregatedEvent{}
	}
	return out
}

// stats returns this node's server_stats; with take, the aggregated events
// since the last ones, which only the ticker takes (a UI's greeting gets
// none, so that no other UI misses them).
func (a *Admin) stats(take bool) ServerStats {
	counts := a.cfg.IO.Engine().CountByTransport()
	st := ServerStats{
		ServerID:            a.cfg.ServerID,
		Hostname:            a.hostname,
		PID:                 a.pid,
		Uptime:              a.now().Sub(a.started).Seconds(),
		ClientsCount:        counts["polling"] + counts["websocket"],
		PollingClientsCount: counts["polling"],
		AggregatedEvents:    []AggregatedEvent{},
		Namespaces:          []NamespaceDetails{},
	}
	if take {
		a.mu.Lock()
		st.AggregatedEvents = a.events.take()
		a.mu.Unlock()
	}
	for _, n := range a.cfg.IO.Namespaces() {
		st.Namespaces = append(st.Namespaces, NamespaceDetails{Name: n.Name(), SocketsCount: n.SocketCount()})
	}
	return st
}

// startTicker starts the stats goroutine unless it runs or Close ran.
func (a *Admin) startTicker() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ticking || a.closed {
		return
	}
	a.ticking = true
	a.stop = make(chan struct{})
	a.done = make(chan struct{})
	go a.tick(a.stop, a.done)
}

// tick emits server_stats every StatsInterval, and socket_updated for the
// sockets whose transport changed (an upgrade) since the last tick.
func (a *Admin) tick(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(a.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		a.emit(evServerStats, a.stats(true))
		for _, u := range a.upgraded() {
			a.emit(evSocketUpdated, u)
		}
	}
}

// upgraded returns the sockets whose transport changed since the last
// call and records their new transport.
func (a *Admin) upgraded() []socketUpdate {
	a.mu.Lock()
	list := make([]*socketio.Socket, 0, len(a.transports))
	for s := range a.transports {
		list = append(list, s)
	}
	a.mu.Unlock()
	var out []socketUpdate
	for _, s := range list {
		tr := s.Transport() // takes the session's lock: not under a.mu
		a.mu.Lock()
		prev, ok := a.transports[s]
		if ok && prev != tr {
			a.transports[s] = tr
			out = append(out, socketUpdate{ID: s.ID(), Nsp: s.Namespace().Name(), Transport: tr})
		}
		a.mu.Unlock()
	}
	return out
}
