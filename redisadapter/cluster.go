package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-rt/parley/socketio"
)

// Sentinel errors.
var (
	// ErrTimeout reports a request to other nodes that did not get every
	// answer in time.
	ErrTimeout = errors.New("redisadapter: request timed out")
	// ErrUnavailable reports that Redis cannot be reached.
	ErrUnavailable = errors.New("redisadapter: redis unavailable")
	// ErrClosed reports use of a closed Cluster.
	ErrClosed = errors.New("redisadapter: closed")
)

// Config configures a Cluster. The zero value of every field but URL means
// its documented default.
type Config struct {
	// URL locates Redis: redis://[user:password@]host:port/db, rediss://
	// for TLS, or unix:///path/to/socket. Required.
	URL string
	// Prefix starts every channel name, as the key option of Node's
	// adapter. Default "socket.io".
	Prefix string
	// RequestTimeout bounds requests to other nodes (fetchSockets,
	// allRooms, serverSideEmit and broadcasts with acks) whose context has
	// no deadline. Default 5s, as Node's requestsTimeout.
	RequestTimeout time.Duration
	// PublishQueue is how many messages may wait to be published; beyond
	// it, and while Redis is unreachable, messages are dropped and
	// counted. Default 8192.
	PublishQueue int
	// SpecificResponseChannel publishes answers on the requesting node's
	// own response channel instead of the shared one, as Node's
	// publishOnSpecificResponseChannel. Default off, as Node's.
	SpecificResponseChannel bool
	// HealthInterval is how long the subscription may stay quiet before
	// the subscriber sends a PING; when the PING is not answered within as
	// long again, the connection is taken for dead (a host gone without a
	// reset) and replaced. Default 10s.
	HealthInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, which doubles from one to the other. Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// NodeTTL is the lifetime of this node's registry entry
	// (<prefix>-node#<uid>), renewed every NodeTTL/5: the cluster's node
	// heartbeat (LiveNodes, OnNodeDown, Records) and where other nodes look
	// up the address to forward requests to. Default 10s (DefaultNodeTTL).
	NodeTTL time.Duration
	// OnceTTL is how long the gate of a broadcast decided once per key
	// (PublishOnce: the chat's messages, keyed by id) stays in Redis: a
	// resend of a message can broadcast it, when its original could not,
	// until half of OnceTTL after its commit. Default 1m (DefaultOnceTTL).
	OnceTTL time.Duration
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
}

// Stats are the cluster's counters since New.
type Stats struct {
	// Published counts messages Redis accepted (a gated broadcast's
	// script whether or not it published: see Gated).
	Published uint64
	// Received counts messages from Redis, including other nodes' messages
	// this node had no use for.
	Received uint64
	// Dropped counts messages never published: the queue was full or
	// Redis was unreachable. Broadcasts in it reached this node's sockets
	// only.
	Dropped uint64
	// Errors counts failed publishes, failed reads of the subscription and
	// malformed messages.
	Errors uint64
	// Reconnects counts subscriptions restored after a broken connection.
	Reconnects uint64
	// Gated counts broadcasts decided once per key (PublishOnce) that were
	// not sent: their key's broadcast had gone out before, or a resend came
	// too late to tell.
	Gated uint64
}

// Cluster is this node's link to the other nodes through Redis: one
// connection subscribed to every namespace's channels, and a publisher. Its
// Adapter method is the socketio.AdapterFactory.
type Cluster struct {
	cfg    Config
	uid    string
	pub    *redis.Client
	sub    *redis.Client
	psMu   sync.Mutex // guards ps, which a dead connection makes the subscriber replace
	ps     *redis.PubSub
	log    *slog.Logger
	queue  chan outMsg
	stop   chan struct{}
	ctx    context.Context // cancelled by Close; bounds Redis calls of the goroutines
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{} // bounds server-side emit handlers running at once
	kick   chan struct{} // asks the heartbeat to renew the registry entry now

	nodeMu  sync.Mutex // guards addr and downFns (nodes.go)
	addr    string
	downFns []func(uid string)
	lostFns []func() // onEntryLost

	startOnce, closeOnce sync.Once
	closed               atomic.Bool

	mu        sync.RWMutex
	byChannel map[string]*adapter
	byPattern map[string]*adapter
	handlers  map[string]func([]byte) // channels of Handle (channels.go)
	restored  []func()                // OnRestore hooks (channels.go)

	subscribed atomic.Bool
	pubDown    atomic.Bool

	published, received, dropped, errs, reconnects, gated atomic.Uint64

	uidArg, ttlArg any // onceScript's arguments, boxed once
}

// outMsg is a message for the publisher: a PUBLISH or, with gate set, an
// EVALSHA of onceScript whose outcome then (when not nil) is told.
type outMsg struct {
	channel string
	payload []byte
	gate    string
	then    func(sent bool, err error)
}

// New checks cfg and returns a Cluster. It connects to nothing and starts
// no goroutine: Start does.
func New(cfg Config) (*Cluster, error) {
	if cfg.URL == "" {
		return nil, errors.New("redisadapter: URL is required")
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redisadapter: %w", err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "socket.io"
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.PublishQueue <= 0 {
		cfg.PublishQueue = 8192
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.NodeTTL <= 0 {
		cfg.NodeTTL = DefaultNodeTTL
	}
	if cfg.OnceTTL <= 0 {
		cfg.OnceTTL = DefaultOnceTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Fail fast: the adapter retries on its own schedule, and a broadcast
	// must not wait behind go-redis's retries while Redis is down.
	opt.MaxRetries = -1
	if opt.DialerRetries == 0 {
		opt.DialerRetries = 1 // go-redis would otherwise dial 5 times per command
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 2 * time.Second
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = 3 * time.Second
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = 3 * time.Second
	}
	subOpt := *opt
	subOpt.PoolSize = 1
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{
		cfg:       cfg,
		uid:       newUID(),
		pub:       redis.NewClient(opt),
		sub:       redis.NewClient(&subOpt),
		log:       cfg.Logger,
		queue:     make(chan outMsg, cfg.PublishQueue),
		stop:      make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
		sem:       make(chan struct{}, 64),
		kick:      make(chan struct{}, 1),
		byChannel: make(map[string]*adapter),
		byPattern: make(map[string]*adapter),
		handlers:  make(map[string]func([]byte)),
	}
	c.uidArg, c.ttlArg = c.uid, ttlMillis(cfg.OnceTTL)
	c.ps = c.sub.Subscribe(context.Background()) // no channel yet: no connection
	return c, nil
}

// newUID returns a random id like Node's uid2(6).
func newUID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])[:6]
}

// UID returns this node's id on the wire.
func (c *Cluster) UID() string { return c.uid }

// Start starts the subscriber, the publisher and the heartbeat (the
// node's registry entry). Later calls do nothing.
func (c *Cluster) Start() {
	c.startOnce.Do(func() {
		if c.closed.Load() {
			return
		}
		c.wg.Add(3)
		go c.receive()
		go c.publisher()
		go c.heartbeat()
	})
}

// Close unsubscribes, stops the goroutines and closes the connections. It
// returns ctx.Err() if they do not stop in time. It is safe to call more
// than once.
func (c *Cluster) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.stop)
		c.psMu.Lock()
		_ = c.ps.Close() // unblocks the subscriber; its error is ErrClosed on a second close
		c.psMu.Unlock()
	})
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		c.cancel() // abandons the publisher's last flush
		return ctx.Err()
	}
	c.cancel()
	return errors.Join(ignoreClosed(c.pub.Close()), ignoreClosed(c.sub.Close()))
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}

// Stats returns the counters.
func (c *Cluster) Stats() Stats {
	return Stats{
		Published:  c.published.Load(),
		Received:   c.received.Load(),
		Dropped:    c.dropped.Load(),
		Errors:     c.errs.Load(),
		Reconnects: c.reconnects.Load(),
		Gated:      c.gated.Load(),
	}
}

// Ready reports whether the subscription is up and the last publish
// succeeded: whether this node takes part in the cluster right now.
func (c *Cluster) Ready() bool {
	return c.subscribed.Load() && !c.pubDown.Load() && !c.closed.Load()
}

// Ping checks that Redis answers and that the subscription is up.
func (c *Cluster) Ping(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if err := c.pub.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !c.subscribed.Load() {
		return fmt.Errorf("%w: subscription is down", ErrUnavailable)
	}
	return nil
}

// Adapter is the socketio.AdapterFactory: the namespace's Redis adapter.
// A dynamic namespace's parent, which has no sockets, gets the in-memory
// adapter.
func (c *Cluster) Adapter(n *socketio.Namespace) socketio.Adapter {
	if n.Name() == "" {
		return socketio.NewMemoryAdapter(n)
	}
	a := newAdapter(c, n)
	c.mu.Lock()
	c.byPattern[a.channel+"*"] = a
	c.byChannel[a.requestChannel] = a
	c.byChannel[a.responseChannel] = a
	c.byChannel[a.specificChannel] = a
	c.mu.Unlock()
	// A failed subscription is kept by the client and made again when the
	// subscriber reconnects.
	ctx, cancel := context.WithTimeout(c.ctx, min(c.cfg.RequestTimeout, time.Second))
	defer cancel()
	c.psMu.Lock()
	defer c.psMu.Unlock()
	if err := c.ps.PSubscribe(ctx, a.channel+"*"); err != nil {
		c.log.Warn("redisadapter: subscribe", "nsp", n.Name(), "err", err)
	}
	if err := c.ps.Subscribe(ctx, a.requestChannel, a.responseChannel, a.specificChannel); err != nil {
		c.log.Warn("redisadapter: subscribe", "nsp", n.Name(), "err", err)
	}
	return a
}

// enqueue hands a message to the publisher without blocking; it is
// dropped, and counted, when the queue is full or Redis is down.
func (c *Cluster) enqueue(channel string, payload []byte) bool {
	return c.enqueueMsg(outMsg{channel: channel, payload: payload})
}

// enqueueMsg is enqueue for any message; a gated message that it drops
// is not answered (the caller tells from false).
func (c *Cluster) enqueueMsg(m outMsg) bool {
	if c.closed.Load() || c.pubDown.Load() {
		c.dropped.Add(1)
		return false
	}
	select {
	case c.queue <- m:
		return true
	default:
		c.dropped.Add(1)
		return false
	}
}

// publisher sends queued messages in order, pipelined in batches. When a
// batch fails, it is dropped, the queue is emptied, and new messages are
// dropped until PING succeeds again.
func (c *Cluster) publisher() {
	defer c.wg.Done()
	c.loadScripts()
	batch := make([]outMsg, 0, 256)
	for {
		select {
		case m := <-c.queue:
			batch = append(batch[:0], m)
		case <-c.stop:
			c.flush()
			return
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case m := <-c.queue:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		err := c.send(c.ctx, batch)
		clear(batch)
		if err == nil {
			continue
		}
		if c.closed.Load() {
			c.drain()
			return
		}
		c.errs.Add(1)
		c.log.Warn("redisadapter: publish failed; dropping messages until redis answers", "err", err)
		c.pubDown.Store(true)
		c.drain()
		if !c.waitForRedis() {
			return
		}
		c.pubDown.Store(false)
		c.log.Info("redisadapter: publishing again")
	}
}

// flush publishes what is still queued when the cluster closes (the last
// broadcasts of sockets disconnecting at shutdown), within a second.
func (c *Cluster) flush() {
	if c.pubDown.Load() || len(c.queue) == 0 {
		c.drain()
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	var batch []outMsg
	for len(c.queue) > 0 {
		batch = append(batch, <-c.queue)
	}
	_ = c.send(ctx, batch) // counted; nothing is left to retry at close
	c.drain()
}

// drain drops every queued message (a gated one is answered: not sent).
func (c *Cluster) drain() {
	for {
		select {
		case m := <-c.queue:
			c.dropped.Add(1)
			m.answer(false, fmt.Errorf("%w: dropped from the queue", ErrUnavailable))
		default:
			return
		}
	}
}

// waitForRedis pings with backoff until Redis answers; false when the
// cluster closes first.
func (c *Cluster) waitForRedis() bool {
	backoff := c.cfg.MinBackoff
	for {
		if !c.sleep(backoff) {
			return false
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
		err := c.pub.Ping(ctx).Err()
		cancel()
		if err == nil {
			c.drain() // anything queued meanwhile is stale
			c.loadScripts()
			return true
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

func (c *Cluster) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// receive reads the subscription until Close, dispatching each message.
// After an error it waits (with backoff) and reads again, which makes
// go-redis reconnect and subscribe to every channel again.
func (c *Cluster) receive() {
	defer c.wg.Done()
	backoff := c.cfg.MinBackoff
	broken := false
	pinged := false
	for {
		c.psMu.Lock()
		ps := c.ps
		c.psMu.Unlock()
		msg, err := ps.ReceiveTimeout(c.ctx, c.cfg.HealthInterval)
		if c.closed.Load() {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !broken {
				if !pinged {
					// Quiet: check the connection is alive.
					pinged = true
					_ = ps.Ping(c.ctx) // a connection that fails shows in the next read
					continue
				}
				// The PING went unanswered: the connection is dead
				// without having been reset.
				c.log.Warn("redisadapter: redis is silent; reconnecting")
				broken, pinged = true, false
				c.subscribed.Store(false)
				c.errs.Add(1)
				c.replacePubSub()
				continue
			}
			pinged = false
			if !broken {
				c.log.Warn("redisadapter: subscription lost; reconnecting", "err", err)
			}
			broken = true
			c.subscribed.Store(false)
			c.errs.Add(1)
			if !c.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, c.cfg.MaxBackoff)
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" || m.Kind == "psubscribe" {
				if broken {
					broken = false
					c.reconnects.Add(1)
					c.log.Info("redisadapter: subscription restored")
					c.runRestored()
				}
				backoff = c.cfg.MinBackoff
				c.subscribed.Store(true)
			}
		case *redis.Message:
			c.received.Add(1)
			c.dispatch(m)
		}
	}
}

// replacePubSub closes the subscription's connection and starts a new
// one with the same channels; the subscriber's next read connects it.
func (c *Cluster) replacePubSub() {
	c.mu.RLock()
	var patterns, channels []string
	for p := range c.byPattern {
		patterns = append(patterns, p)
	}
	for ch := range c.byChannel {
		channels = append(channels, ch)
	}
	for ch := range c.handlers {
		channels = append(channels, ch)
	}
	c.mu.RUnlock()
	c.psMu.Lock()
	defer c.psMu.Unlock()
	if c.closed.Load() {
		return
	}
	old := c.ps
	c.ps = c.sub.Subscribe(context.Background()) // no channel yet: no connection
	ctx, cancel := context.WithTimeout(c.ctx, min(c.cfg.RequestTimeout, time.Second))
	defer cancel()
	// Failures are expected here (Redis is unreachable): the channels are
	// recorded all the same, and subscribed again on connection.
	if len(patterns) > 0 {
		_ = c.ps.PSubscribe(ctx, patterns...)
	}
	if len(channels) > 0 {
		_ = c.ps.Subscribe(ctx, channels...)
	}
	_ = old.Close() // a dead connection has nothing more to say
}

// dispatch routes a message to its namespace's adapter.
func (c *Cluster) dispatch(m *redis.Message) {
	c.mu.RLock()
	var a *adapter
	if h := c.handlers[m.Channel]; h != nil && m.Pattern == "" {
		c.mu.RUnlock()
		h([]byte(m.Payload))
		return
	}
	if m.Pattern != "" {
		a = c.byPattern[m.Pattern]
	} else {
		a = c.byChannel[m.Channel]
	}
	c.mu.RUnlock()
	if a == nil {
		return
	}
	var err error
	switch {
	case m.Pattern != "":
		err = a.onBroadcast(m.Channel, []byte(m.Payload))
	case m.Channel == a.requestChannel:
		err = a.onRequest([]byte(m.Payload))
	case strings.HasPrefix(m.Channel, a.responseChannel):
		err = a.onResponse([]byte(m.Payload))
	}
	if err != nil {
		c.errs.Add(1)
		c.log.Debug("redisadapter: message ignored", "channel", m.Channel, "err", err)
	}
}

// goHandler runs fn on a goroutine the cluster owns; false when too many
// already run.
func (c *Cluster) goHandler(fn func()) bool {
	select {
	case c.sem <- struct{}{}:
	default:
		return false
	}
	c.wg.Add(1)
	go func() {
		defer func() {
			<-c.sem
			c.wg.Done()
		}()
		fn()
	}()
	return true
}

// serverCount is PUBSUB NUMSUB of a request channel: the nodes serving
// the namespace, this one included when its subscription is up.
func (c *Cluster) serverCount(ctx context.Context, channel string) (int, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	res, err := c.pub.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		return 0, fmt.Errorf("%w: server count: %w", ErrUnavailable, err)
	}
	return int(res[channel]), nil
}
