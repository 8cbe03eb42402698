package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/commalist"
	"github.com/parley-rt/parley/namespaces"
)

// RateLimit is a token bucket: Rate events a second on average, in bursts
// of up to Burst. A zero Rate turns the limit off.
type RateLimit struct {
	Rate  float64
	Burst int
}

// String formats the limit as ParseRateLimits reads it: "10:20".
func (l RateLimit) String() string {
	return strconv.FormatFloat(l.Rate, 'g', -1, 64) + ":" + strconv.Itoa(l.Burst)
}

// DefaultRateLimits returns the per-socket limits of client events, by
// event name: what a chat needs, and far below what a script can send.
func DefaultRateLimits() map[string]RateLimit {
	return map[string]RateLimit{
		events.SendChatMessage.Name(): {Rate: 10, Burst: 20},
		events.Typing.Name():          {Rate: 5, Burst: 10},
		// Reconnecting clients join all their rooms again at once.
		events.JoinRoom.Name():     {Rate: 5, Burst: 20},
		events.LeaveRoom.Name():    {Rate: 5, Burst: 20},
		events.FetchHistory.Name(): {Rate: 5, Burst: 10},
		events.SetStatus.Name():    {Rate: 2, Burst: 5},
		events.Subscribe.Name():    {Rate: 5, Burst: 10},
		events.Unsubscribe.Name():  {Rate: 5, Burst: 10},
		// The same name in /chat and /presence.
		events.ChatRefreshToken.Name(): {Rate: 1, Burst: 3},
	}
}

// ParseRateLimits reads "event=rate:burst" entries separated by commas
// ("chatMessage=10:20,typing=5:10"); a rate of 0 turns that event's limit
// off.
func ParseRateLimits(s string) (map[string]RateLimit, error) {
	out := map[string]RateLimit{}
	for _, entry := range commalist.Split(s) {
		name, spec, ok := strings.Cut(entry, "=")
		rate, burst, ok2 := strings.Cut(spec, ":")
		r, err1 := strconv.ParseFloat(rate, 64)
		b, err2 := strconv.Atoi(burst)
		if !ok || !ok2 || name == "" || err1 != nil || err2 != nil || r < 0 || b < 1 && r > 0 {
			return nil, fmt.Errorf("rate limit %q: want event=rate:burst, e.g. chatMessage=10:20", entry)
		}
		out[name] = RateLimit{Rate: r, Burst: b}
	}
	return out, nil
}

// Config configures a Limiter.
type Config struct {
	// Limits overrides DefaultRateLimits by client event name; a zero Rate
	// turns an event's limit off.
	Limits map[string]RateLimit
	// AbuseFactor and AbuseWindow define persistent abuse: a socket sending
	// an event at AbuseFactor times its limit for about AbuseWindow is
	// disconnected. Defaults 10 and 10s.
	AbuseFactor int
	AbuseWindow time.Duration
	// Logger receives abuse disconnections. nil discards.
	Logger *slog.Logger
	// OnLimited, when set, is called with the event name of each event
	// refused or dropped over its limit (metrics). It must return at once.
	OnLimited func(event string)
}

// Limiter applies per-socket token buckets to client events: over the
// limit an event is answered rate_limited (or dropped when it has no ack),
// and a socket that keeps sending at AbuseFactor times a limit for about
// AbuseWindow is disconnected. It keeps no goroutine: a bucket is refilled
// from the time elapsed when an event arrives.
type Limiter struct {
	limits map[string]RateLimit
	factor float64
	window time.Duration
	now    func() time.Time
	log    *slog.Logger
	// onLimited counts refusals.
	onLimited func(event string)
}

// New returns the Limiter of cfg.
func New(cfg Config) *Limiter {
	limits := DefaultRateLimits()
	maps.Copy(limits, cfg.Limits)
	if cfg.AbuseFactor == 0 {
		cfg.AbuseFactor = 10
	}
	if cfg.AbuseWindow == 0 {
		cfg.AbuseWindow = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnLimited == nil {
		cfg.OnLimited = func(string) {}
	}
	return &Limiter{limits: limits, factor: float64(cfg.AbuseFactor), window: cfg.AbuseWindow, now: time.Now, log: cfg.Logger, onLimited: cfg.OnLimited}
}

// Namespace returns ns whose connection handlers see rate-limited sockets.
func (l *Limiter) Namespace(ns namespaces.Namespace) namespaces.Namespace {
	return limitedNamespace{Namespace: ns, l: l}
}

type limitedNamespace struct {
	namespaces.Namespace
	l *Limiter
}

func (n limitedNamespace) OnConnection(fn func(c namespaces.Conn)) {
	n.Namespace.OnConnection(func(c namespaces.Conn) { fn(n.l.wrap(c)) })
}

// limitsKey is the Conn.Get key of a socket's *socketLimits, shared by
// every wrapper of the socket.
const limitsKey = "ratelimit.buckets"

// socketLimits is one socket's buckets. The engine runs a socket's event
// handlers one at a time, so it needs no lock.
type socketLimits struct {
	buckets map[string]*bucket
	abuse   map[string]*bucket
}

func (l *Limiter) wrap(c namespaces.Conn) namespaces.Conn {
	v, _ := c.Get(limitsKey)
	st, ok := v.(*socketLimits)
	if !ok {
		st = &socketLimits{buckets: map[string]*bucket{}, abuse: map[string]*bucket{}}
		c.Set(limitsKey, st)
	}
	return limitedConn{Conn: c, l: l, st: st}
}

type limitedConn struct {
	namespaces.Conn
	l  *Limiter
	st *socketLimits
}

// rejected is the ack of an event over its limit.
var rejected = events.Result[struct{}]{Error: events.NewError(events.CodeRateLimited, "too many requests; slow down")}

// On installs h behind the event's bucket.
func (c limitedConn) On(event string, h events.RawHandler) {
	lim, ok := c.l.limits[event]
	if !ok || lim.Rate <= 0 {
		c.Conn.On(event, h)
		return
	}
	// The abuse bucket fills by one per rejected event and drains at the
	// event's rate; it overflows after AbuseWindow of sending at
	// AbuseFactor times the rate.
	abuseCap := max(c.l.factor-2, 1) * lim.Rate * c.l.window.Seconds()
	c.Conn.On(event, func(ctx context.Context, args []json.RawMessage, ack events.AckFunc) {
		now := c.l.now()
		b := c.st.buckets[event]
		if b == nil {
			b = &bucket{level: float64(lim.Burst), at: now}
			c.st.buckets[event] = b
		}
		if b.take(now, lim.Rate, float64(lim.Burst)) {
			h(ctx, args, ack)
			return
		}
		c.l.onLimited(event)
		if ack != nil {
			_ = ack(rejected) // a closed socket needs no answer
		}
		a := c.st.abuse[event]
		if a == nil {
			a = &bucket{at: now}
			c.st.abuse[event] = a
		}
		if a.fill(now, lim.Rate) > abuseCap {
			c.l.log.Warn("rate limit abused; disconnecting", "nsp", c.Namespace(), "socket", c.ID(), "event", event)
			c.Disconnect()
		}
	})
}

// bucket is a token bucket (take) or a leaky counter (fill), refilled or
// drained from the time elapsed.
type bucket struct {
	level float64
	at    time.Time
}

// take spends a token if there is one; tokens come back at rate a second
// up to burst.
func (b *bucket) take(now time.Time, rate, burst float64) bool {
	b.level = min(burst, b.level+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.level >= 1 {
		b.level--
		return true
	}
	return false
}

// fill adds one and drains at rate a second; it returns the level.
func (b *bucket) fill(now time.Time, rate float64) float64 {
	b.level = max(0, b.level-now.Sub(b.at).Seconds()*rate) + 1
	b.at = now
	return b.level
}
