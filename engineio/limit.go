package engineio

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// RateLimit is a token bucket: Burst handshakes at once, refilled at Rate
// per second. The zero value (Rate 0) is no limit.
type RateLimit struct {
	// Rate is the refill rate, in handshakes per second.
	Rate float64
	// Burst is the bucket size; with a positive Rate it must be at least 1.
	Burst int
}

// maxBuckets bounds the handshake limiter's memory: about 100 bytes a
// bucket, 10 MB at most. When every bucket is busy, an arbitrary one is
// dropped for a new address (that address starts with a full bucket again):
// under a spread-out attack the limit then fails open for some addresses
// rather than growing without bound or locking newcomers out.
const maxBuckets = 100_000

// sweepEvery is how often the limiter drops buckets that have refilled:
// a full bucket is the same as none.
const sweepEvery = time.Minute

// addrLimiter limits handshakes per client address. It is safe for
// concurrent use; handshakes are rare next to messages, so one mutex does.
type addrLimiter struct {
	limit RateLimit

	mu        sync.Mutex
	buckets   map[netip.Prefix]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newAddrLimiter(l RateLimit) *addrLimiter {
	return &addrLimiter{limit: l, buckets: make(map[netip.Prefix]*bucket)}
}

// addrKey is the bucket key of a request's TCP peer: the IPv4 address, or
// the /64 of an IPv6 address (one host usually holds a whole /64). An
// address that does not parse shares one bucket with all such.
func addrKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits) // cannot fail: bits fits the address family
	return p
}

// allow takes a token for key at now. When none is left it returns false
// and how long until one is.
func (l *addrLimiter) allow(key netip.Prefix, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweepLocked(now)
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweepLocked(now)
			for k := range l.buckets { // still full: drop an arbitrary one
				if len(l.buckets) < maxBuckets {
					break
				}
				delete(l.buckets, k)
			}
		}
		b = &bucket{tokens: float64(l.limit.Burst), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.limit.Burst), b.tokens+now.Sub(b.last).Seconds()*l.limit.Rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.limit.Rate * float64(time.Second))
	return false, wait
}

// sweepLocked drops the buckets that have refilled since their last use.
func (l *addrLimiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.limit.Rate >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
}

// size returns the number of buckets held.
func (l *addrLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
