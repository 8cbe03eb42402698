package sse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/commalist"
	"github.com/parley-rt/parley/internal/httpapi"
)

const (
	// sseWriteTimeout bounds one write to a stream, so that a reader that
	// stopped reading releases its handler.
	sseWriteTimeout = 10 * time.Second
	// feedReadTimeout bounds one store read of a room feed.
	feedReadTimeout = 5 * time.Second
)

// errFeedsClosed reports a stream opened during shutdown.
var errFeedsClosed = errors.New("sse: feeds are closed")

// Pager reads a room's history; *core.Chat is one. Page's contract is
// core.History.Page's: an error that wraps core.ErrNotFound or is a
// not_found *events.Error means the cursor names no message of the room.
type Pager interface {
	Page(ctx context.Context, room, before, after string, limit int) (msgs []events.ChatMessage, hasMore bool, err error)
}

func isNotFound(err error) bool {
	var e *events.Error
	return errors.Is(err, core.ErrNotFound) || errors.As(err, &e) && e.Code == events.CodeNotFound
}

// sseEvent is one event of a stream.
type sseEvent struct {
	name string
	id   string // empty for events without an id
	data []byte // one line of JSON
}

func newSSEEvent(name, id string, payload any) (sseEvent, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return sseEvent{}, fmt.Errorf("encode %s: %w", name, err)
	}
	return sseEvent{name: name, id: id, data: data}, nil
}

// sseReader is one stream's queue.
type sseReader struct {
	ch      chan sseEvent
	gone    chan struct{} // closed when dropped
	dropped atomic.Bool
}

func newSSEReader(size int) *sseReader {
	return &sseReader{ch: make(chan sseEvent, size), gone: make(chan struct{})}
}

// offer queues ev without waiting; a reader whose queue is full is dropped.
func (r *sseReader) offer(ev sseEvent) {
	if r.dropped.Load() {
		return
	}
	select {
	case r.ch <- ev:
	default:
		if r.dropped.CompareAndSwap(false, true) {
			close(r.gone)
		}
	}
}

// roomFeeds is the set of room feeds with readers.
type roomFeeds struct {
	hist Pager
	size int
	log  *slog.Logger
	stop chan struct{} // closed by shutdown: ends every stream and feed

	mu       sync.Mutex
	rooms    map[string]*roomFeed
	stopped  bool
	feedsRun sync.WaitGroup // feed goroutines; Add only under mu while !stopped
}

// roomFeed is the readers of one room and the goroutine that reads its new
// messages from the store.
type roomFeed struct {
	room    string
	readers map[*sseReader]struct{} // guarded by roomFeeds.mu
	wake    chan struct{}           // capacity 1: "new messages"
	done    chan struct{}           // closed when the last reader leaves
	lastID  string                  // the feed goroutine's own
}

func newRoomFeeds(h Pager, size int, log *slog.Logger) *roomFeeds {
	return &roomFeeds{hist: h, size: size, log: log, stop: make(chan struct{}), rooms: map[string]*roomFeed{}}
}

// join registers a new reader of room, starting the room's feed when it is
// the first. release unregisters it; the last reader's release stops the
// feed.
func (f *roomFeeds) join(ctx context.Context, room string) (r *sseReader, release func(), err error) {
	var (
		last     string
		haveLast bool
		feed     *roomFeed
	)
	for {
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			return nil, nil, errFeedsClosed
		}
		if feed = f.rooms[room]; feed != nil || haveLast {
			break // with f.mu held
		}
		f.mu.Unlock()
		// A new feed starts after the room's latest message; a message
		// committed from here on is read by its first wake (below).
		msgs, _, err := f.hist.Page(ctx, room, "", "", 1)
		if err != nil {
			return nil, nil, err
		}
		if len(msgs) == 1 {
			last = msgs[0].ID
		}
		haveLast = true
	}
	defer f.mu.Unlock()
	if feed == nil {
		feed = &roomFeed{room: room, readers: map[*sseReader]struct{}{}, wake: make(chan struct{}, 1), done: make(chan struct{}), lastID: last}
		f.rooms[room] = feed
		feed.wake <- struct{}{}
		f.feedsRun.Add(1)
		go f.run(feed)
	}
	r = newSSEReader(f.size)
	feed.readers[r] = struct{}{}
	release = func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(feed.readers, r)
		if len(feed.readers) == 0 && f.rooms[room] == feed {
			delete(f.rooms, room)
			close(feed.done)
		}
	}
	return r, release, nil
}

// message tells the room's feed, if any, that m was committed. It never
// waits.
func (f *roomFeeds) message(m events.ChatMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if feed := f.rooms[m.Room]; feed != nil {
		select {
		case feed.wake <- struct{}{}:
		default: // a wake is pending; it reads this message too
		}
	}
}

// event hands an event without an id (userJoined, userLeft) to the room's
// readers. It never waits.
func (f *roomFeeds) event(room, name, id string, payload any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	feed := f.rooms[room]
	if feed == nil {
		return
	}
	ev, err := newSSEEvent(name, id, payload)
	if err != nil {
		f.log.Error("sse: encode", "room", room, "err", err)
		return
	}
	for r := range feed.readers {
		r.offer(ev)
	}
}

// run is a feed's goroutine: on each wake it delivers the messages after
// the last one delivered, in id order.
func (f *roomFeeds) run(feed *roomFeed) {
	defer f.feedsRun.Done()
	for {
		select {
		case <-feed.done:
			return
		case <-f.stop:
			return
		case <-feed.wake:
		}
		if err := f.deliverNew(feed); err != nil {
			// The messages stay in the store: the next wake reads them.
			f.log.Warn("sse: read new messages", "room", feed.room, "err", err)
		}
	}
}

func (f *roomFeeds) deliverNew(feed *roomFeed) error {
	ctx, cancel := context.WithTimeout(context.Background(), feedReadTimeout)
	defer cancel()
	var msgs []events.ChatMessage
	if feed.lastID == "" {
		// The room had no message when the feed started: everything is new.
		// The latest page comes first; older pages are read backwards.
		page, more, err := f.hist.Page(ctx, feed.room, "", "", events.MaxHistoryLimit)
		if err != nil {
			return err
		}
		msgs = page
		for more && len(msgs) > 0 {
			page, more, err = f.hist.Page(ctx, feed.room, msgs[0].ID, "", events.MaxHistoryLimit)
			if err != nil {
				return err
			}
			msgs = append(page, msgs...)
		}
		return f.deliver(feed, msgs)
	}
	for {
		page, more, err := f.hist.Page(ctx, feed.room, "", feed.lastID, events.MaxHistoryLimit)
		if err != nil {
			return err
		}
		if err := f.deliver(feed, page); err != nil {
			return err
		}
		if !more || len(page) == 0 {
			return nil
		}
	}
}

func (f *roomFeeds) deliver(feed *roomFeed, msgs []events.ChatMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	evs := make([]sseEvent, len(msgs))
	for i, m := range msgs {
		ev, err := newSSEEvent(events.NewChatMessage.Name(), m.ID, m)
		if err != nil {
			return err
		}
		evs[i] = ev
	}
	f.mu.Lock()
	for r := range feed.readers {
		for _, ev := range evs {
			r.offer(ev)
		}
	}
	f.mu.Unlock()
	feed.lastID = msgs[len(msgs)-1].ID
	return nil
}

// shutdown ends every stream and feed; it is safe to call more than once
// and does not wait.
func (f *roomFeeds) shutdown() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		close(f.stop)
	}
}

// close is shutdown, then waits for the feed goroutines.
func (f *roomFeeds) close(ctx context.Context) error {
	f.shutdown()
	done := make(chan struct{})
	go func() {
		f.feedsRun.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Config configures a Server.
type Config struct {
	// Chat is the application core whose rooms are streamed. Required.
	Chat *core.Chat
	// Presence is the presence core for /sse/presence. Required.
	Presence *core.Presence
	// Verifier authenticates readers. Required.
	Verifier *auth.Verifier
	// Heartbeat is the interval of the comment lines that keep an idle
	// stream open through proxies. Default 15s.
	Heartbeat time.Duration
	// Retry is the reconnection delay streams suggest (retry:). Default 2s.
	Retry time.Duration
	// Buffer is how many events a stream queues for a slow reader; beyond
	// it the stream is closed and the client resumes. Default 256.
	Buffer int
	// Logger receives dropped readers and store failures. nil discards.
	Logger *slog.Logger
}

// Server serves the SSE streams. It observes the chat core (New registers
// the observer) and reads history through it.
type Server struct {
	cfg     Config
	feeds   *roomFeeds
	streams atomic.Int64 // open streams, rooms and presence
}

// Streams returns how many streams are open now.
func (s *Server) Streams() int { return int(s.streams.Load()) }

// New returns the SSE server of cfg and subscribes it to the chat. It
// starts no goroutine: a room's feed goroutine runs while the room has
// readers, and Close waits for them.
func New(cfg Config) *Server {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, feeds: newRoomFeeds(cfg.Chat, cfg.Buffer, cfg.Logger)}
	f := s.feeds
	cfg.Chat.Observe(core.Observer{
		Message: f.message,
		Joined:  func(ru events.RoomUser) { f.event(ru.Room, events.UserJoined.Name(), "", ru) },
		Left:    func(ru events.RoomUser) { f.event(ru.Room, events.UserLeft.Name(), "", ru) },
		Cluster: true, // a stream on any node shows what is posted on every node
	})
	return s
}

// Shutdown ends every stream; it does not wait and is safe to call more
// than once (http.Server.RegisterOnShutdown takes it).
func (s *Server) Shutdown() { s.feeds.shutdown() }

// Close ends every stream and waits for the feed goroutines.
func (s *Server) Close(ctx context.Context) error { return s.feeds.close(ctx) }

// sseStream writes one stream.
type sseStream struct {
	open *atomic.Int64 // the server's count of open streams
	w    http.ResponseWriter
	path string
	rc   *http.ResponseController
	buf  bytes.Buffer
}

// startStream writes the headers and the retry hint.
func (s *Server) startStream(w http.ResponseWriter, r *http.Request) (*sseStream, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.streams.Add(1) // until end, which every caller defers
	st := &sseStream{w: w, path: r.URL.Path, rc: http.NewResponseController(w), open: &s.streams}
	st.buf.WriteString("retry: " + strconv.FormatInt(s.cfg.Retry.Milliseconds(), 10) + "\n\n")
	return st, st.flush()
}

// end lifts the write deadline (the connection may serve later requests)
// and uncounts the stream.
func (st *sseStream) end() {
	st.open.Add(-1)
	_ = st.rc.SetWriteDeadline(time.Time{}) // nothing to do when unsupported
}

func (st *sseStream) add(ev sseEvent) {
	st.buf.WriteString("event: " + ev.name + "\n")
	if ev.id != "" {
		st.buf.WriteString("id: " + ev.id + "\n")
	}
	st.buf.WriteString("data: ")
	st.buf.Write(ev.data)
	st.buf.WriteString("\n\n")
}

func (st *sseStream) comment(text string) {
	st.buf.WriteString(": " + text + "\n\n")
}

// flush writes what was added, within sseWriteTimeout.
func (st *sseStream) flush() error {
	if err := st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	_, err := st.w.Write(st.buf.Bytes())
	st.buf.Reset()
	if err != nil {
		return err
	}
	return st.rc.Flush()
}

// pump writes the reader's events until the client leaves, the reader is
// dropped, the reader's token expires (exp, zero for none) or the server
// shuts down; skip drops events already written.
func (s *Server) pump(ctx context.Context, st *sseStream, r *sseReader, exp time.Time, skip func(sseEvent) bool) {
	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	var expired <-chan time.Time
	if !exp.IsZero() {
		t := time.NewTimer(time.Until(exp))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case ev := <-r.ch:
			if skip(ev) {
				continue
			}
			st.add(ev)
			// Write what else is queued in the same flush.
			for more := true; more; {
				select {
				case ev := <-r.ch:
					if !skip(ev) {
						st.add(ev)
					}
				default:
					more = false
				}
			}
		case <-tick.C:
			st.comment("heartbeat")
		case <-r.gone:
			s.cfg.Logger.Info("sse: slow reader dropped", "path", st.path)
			return
		case <-ctx.Done():
			return
		case <-s.feeds.stop:
			return
		case <-expired:
			return // the client reconnects with a new token
		}
		if err := st.flush(); err != nil {
			s.cfg.Logger.Debug("sse: write failed", "path", st.path, "err", err)
			return
		}
	}
}

// Room streams a chat room: the messages after Last-Event-ID (or
// ?lastEventId=) from history, then live newChatMessage, userJoined and
// userLeft. The reader authenticates with a bearer token (Authorization or
// ?token=; optional in dev mode) and needs the right to join the room.
func (s *Server) Room(w http.ResponseWriter, r *http.Request, room string) {
	if err := core.CheckRoom(room); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	id, ok := httpapi.BearerIdentity(w, r, s.cfg.Verifier)
	if !ok {
		return
	}
	if err := s.cfg.Chat.Authorize(id, room); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	ctx := r.Context()
	rd, release, err := s.feeds.join(ctx, room)
	if errors.Is(err, errFeedsClosed) {
		httpapi.WriteError(w, events.NewError(events.CodeUnavailable, "the server is shutting down"))
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	defer release()
	pos := last
	var (
		page []events.ChatMessage
		more bool
	)
	if last != "" {
		// The first page is read before the headers are written, so that an
		// unknown id is still an HTTP error.
		page, more, err = s.feeds.hist.Page(ctx, room, "", last, events.MaxHistoryLimit)
		if isNotFound(err) {
			httpapi.WriteError(w, events.NewError(events.CodeBadRequest, "Last-Event-ID names no message of this room"))
			return
		}
		if err != nil {
			s.fail(w, err)
			return
		}
	}
	st, err := s.startStream(w, r)
	defer st.end()
	if err != nil {
		return
	}
	for len(page) > 0 {
		for _, m := range page {
			ev, err := newSSEEvent(events.NewChatMessage.Name(), m.ID, m)
			if err != nil {
				s.cfg.Logger.Error("sse: encode", "room", room, "err", err)
				return
			}
			st.add(ev)
		}
		if err := st.flush(); err != nil {
			return
		}
		pos = page[len(page)-1].ID
		if !more {
			break
		}
		page, more, err = s.feeds.hist.Page(ctx, room, "", pos, events.MaxHistoryLimit)
		if err != nil {
			s.cfg.Logger.Warn("sse: replay", "room", room, "err", err)
			return // the client resumes from pos
		}
	}
	// Ids are UUIDv7 strings, whose order is commit order.
	s.pump(ctx, st, rd, id.Exp, func(ev sseEvent) bool { return ev.id != "" && pos != "" && ev.id <= pos })
}

// fail answers a store error: an *events.Error as written, anything else as
// unavailable (logged), nothing when the caller left.
func (s *Server) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	var e *events.Error
	if !errors.As(err, &e) {
		s.cfg.Logger.Error("sse: store", "err", err)
		e = events.NewError(events.CodeUnavailable, "the message store is unavailable; retry later")
	}
	httpapi.WriteError(w, e)
}

// Presence streams status events: first the snapshot of the users named
// by ?userIds= and present in the chat rooms named by ?rooms= (comma
// lists), then their changes. Rooms follow the room policy.
func (s *Server) Presence(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := events.WatchRequest{Rooms: commalist.Split(q.Get("rooms")), UserIDs: commalist.Split(q.Get("userIds"))}
	if err := req.Validate(); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	for _, room := range req.Rooms {
		if err := core.CheckRoom(room); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	id, ok := httpapi.BearerIdentity(w, r, s.cfg.Verifier)
	if !ok {
		return
	}
	for _, room := range req.Rooms {
		if err := s.cfg.Chat.Authorize(id, room); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	rd := newSSEReader(s.cfg.Buffer)
	wt, err := s.cfg.Presence.Watch("", func(st events.PresenceState) {
		ev, err := newSSEEvent(events.Status.Name(), "", st)
		if err != nil {
			s.cfg.Logger.Error("sse: encode", "err", err)
			return
		}
		rd.offer(ev)
	})
	if err != nil {
		httpapi.WriteError(w, events.NewError(events.CodeUnavailable, "shutting down"))
		return
	}
	defer wt.Close()
	ctx := r.Context()
	snap, err := wt.Add(ctx, req.UserIDs, req.Rooms)
	if err != nil {
		s.fail(w, err)
		return
	}
	st, err := s.startStream(w, r)
	defer st.end()
	if err != nil {
		return
	}
	// Everything queued meanwhile is newer than the snapshot.
	for _, p := range snap {
		ev, err := newSSEEvent(events.Status.Name(), "", p)
		if err != nil {
			s.cfg.Logger.Error("sse: encode", "err", err)
			return
		}
		st.add(ev)
	}
	if err := st.flush(); err != nil {
		return
	}
	s.pump(ctx, st, rd, id.Exp, func(sseEvent) bool { return false })
}
