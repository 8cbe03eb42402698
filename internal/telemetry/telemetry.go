// Package telemetry is Parley's operational surface: the Prometheus
// metrics (names in Metrics' documentation, stable for dashboards), the
// connection lifecycle log lines, and net/http/pprof. The packages that do
// the work know nothing of Prometheus: they take plain hooks (OnCommit,
// OnLimited, OnRefused, observers) or expose counts that the collectors
// read at scrape time, so the hot path pays at most an atomic add.
//
// Concurrency: a Metrics is safe for concurrent use; its hooks may be
// called from any goroutine and never block. The package starts no
// goroutine: gauges are computed when Prometheus scrapes.
package telemetry

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/socketio"
)

// Sources are the counts the gauges read at scrape time. A nil function
// reads as zero.
type Sources struct {
	// Transports returns the open Engine.IO sessions per transport.
	Transports func() map[string]int
	// SlowConsumers returns how many connections were closed for not
	// reading fast enough (their queue overflowed).
	SlowConsumers func() uint64
	// Namespaces are the Socket.IO namespaces whose sockets are counted.
	Namespaces []*socketio.Namespace
	// SSEStreams returns the open SSE streams.
	SSEStreams func() int
	// OnlineUsers returns the users online (or in their grace period).
	OnlineUsers func() int
}

// Metrics holds Parley's collectors:
//
//	parley_connected_clients{transport}       gauge: Engine.IO connections
//	parley_sockets{namespace}                 gauge: Socket.IO sockets
//	parley_packets_received_total{namespace}  counter: events and acks in
//	parley_packets_sent_total{namespace}      counter: packets queued to sockets
//	parley_broadcast_deliveries_total         counter: sockets reached by broadcasts
//	parley_slow_consumer_disconnects_total    counter
//	parley_sse_streams                        gauge
//	parley_presence_online_users              gauge
//	parley_rate_limited_total{event}          counter
//	parley_auth_failures_total{reason}        counter
//	parley_messages_persisted_total           counter
//	parley_store_commit_seconds               histogram: one group commit
//	parley_store_batch_size                   histogram: writes per commit
//
// and, on a cluster, the parley_redis_* counters (Redis) and
// parley_forwarded_requests_total{transport} and
// parley_forward_failures_total{reason} (Forwarding),
// plus the Go runtime and process collectors.
type Metrics struct {
	reg          *prometheus.Registry
	rateLimited  *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	persisted    prometheus.Counter
	commitTime   prometheus.Histogram
	batchSize    prometheus.Histogram
}

// New returns the metrics reading src. The functions in src are read at
// scrape time, so a caller may fill them in after New.
func New(src *Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_rate_limited_total", Help: "Client events refused or dropped over their per-socket rate limit.",
	}, []string{"event"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_auth_failures_total", Help: "Refused tokens, by the check that failed.",
	}, []string{"reason"})
	m.persisted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "parley_messages_persisted_total", Help: "Chat messages durably stored (a deduplicated resend is not counted).",
	})
	m.commitTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "parley_store_commit_seconds", Help: "Duration of one group commit of the store.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. 3.3 s
	})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "parley_store_batch_size", Help: "Writes committed in one group commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 .. 512
	})
	m.reg.MustRegister(m.rateLimited, m.authFailures, m.persisted, m.commitTime, m.batchSize)
	m.reg.MustRegister(gaugeVec("parley_connected_clients", "Open Engine.IO connections, by transport.", "transport", func() map[string]int {
		if src.Transports == nil {
			return nil
		}
		return src.Transports()
	}))
	m.reg.MustRegister(gaugeVec("parley_sockets", "Connected Socket.IO sockets, by namespace.", "namespace", func() map[string]int {
		out := make(map[string]int, len(src.Namespaces))
		for _, n := range src.Namespaces {
			out[n.Name()] = len(n.Sockets())
		}
		return out
	}))
	perNamespace := func(f func(socketio.NamespaceStats) uint64) func() map[string]float64 {
		return func() map[string]float64 {
			out := make(map[string]float64, len(src.Namespaces))
			for _, n := range src.Namespaces {
				out[n.Name()] = float64(f(n.Stats()))
			}
			return out
		}
	}
	m.reg.MustRegister(
		funcMetric("parley_packets_received_total", "Events and acks received by sockets, by namespace.", prometheus.CounterValue, "namespace",
			perNamespace(func(st socketio.NamespaceStats) uint64 { return st.PacketsReceived })),
		funcMetric("parley_packets_sent_total", "Packets queued to sockets (one per socket a broadcast reached), by namespace.", prometheus.CounterValue, "namespace",
			perNamespace(func(st socketio.NamespaceStats) uint64 { return st.PacketsSent })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_broadcast_deliveries_total", Help: "Sockets reached by broadcasts on this node."}, func() float64 {
			var sum uint64
			for _, n := range src.Namespaces {
				sum += n.Stats().BroadcastDeliveries
			}
			return float64(sum)
		}),
	)
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "parley_slow_consumer_disconnects_total", Help: "Connections closed because they did not read fast enough (their send queue overflowed).",
	}, func() float64 {
		if src.SlowConsumers == nil {
			return 0
		}
		return float64(src.SlowConsumers())
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_sse_streams", Help: "Open server-sent event streams."}, func() float64 {
		if src.SSEStreams == nil {
			return 0
		}
		return float64(src.SSEStreams())
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_presence_online_users", Help: "Users online, including those in their grace period."}, func() float64 {
		if src.OnlineUsers == nil {
			return 0
		}
		return float64(src.OnlineUsers())
	}))
	return m
}

// Register adds collectors.
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// RedisCounts are the cluster adapter's counters (redisadapter.Stats).
type RedisCounts struct {
	Published, Received, Dropped, Errors, Reconnects uint64
}

// Redis exports the cluster's counters, read at scrape time:
// parley_redis_published_total, parley_redis_received_total,
// parley_redis_dropped_total (never published: Redis unreachable or the
// queue full), parley_redis_errors_total and parley_redis_reconnects_total.
func (m *Metrics) Redis(f func() RedisCounts) {
	counter := func(name, help string, pick func(RedisCounts) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(pick(f())) })
	}
	m.reg.MustRegister(
		counter("parley_redis_published_total", "Cluster messages Redis accepted.", func(c RedisCounts) uint64 { return c.Published }),
		counter("parley_redis_received_total", "Cluster messages received from Redis.", func(c RedisCounts) uint64 { return c.Received }),
		counter("parley_redis_dropped_total", "Cluster messages never published (Redis unreachable or the queue full): their broadcasts reached this node only.", func(c RedisCounts) uint64 { return c.Dropped }),
		counter("parley_redis_errors_total", "Failed publishes, failed subscription reads and malformed cluster messages.", func(c RedisCounts) uint64 { return c.Errors }),
		counter("parley_redis_reconnects_total", "Subscriptions restored after a broken Redis connection.", func(c RedisCounts) uint64 { return c.Reconnects }),
	)
}

// ForwardCounts are the forwarding counters of a cluster node
// (forward.Stats).
type ForwardCounts struct {
	Polling, WebSocket, Unknown, Failed uint64
}

// Forwarding exports the counters of requests relayed to the node that
// owns their session, read at scrape time:
// parley_forwarded_requests_total{transport} (polling requests and
// WebSocket upgrades relayed) and parley_forward_failures_total{reason}
// (unknown_owner: no live node has the sid's tag; unreachable: the owner
// did not answer).
func (m *Metrics) Forwarding(f func() ForwardCounts) {
	m.reg.MustRegister(
		funcMetric("parley_forwarded_requests_total", "Polling requests and WebSocket upgrades relayed to the node that owns their session, by transport.", prometheus.CounterValue, "transport",
			func() map[string]float64 {
				c := f()
				return map[string]float64{"polling": float64(c.Polling), "websocket": float64(c.WebSocket)}
			}),
		funcMetric("parley_forward_failures_total", "Requests for another node's session that could not be relayed: unknown_owner (no live node has the sid's tag) or unreachable (the owner did not answer).", prometheus.CounterValue, "reason",
			func() map[string]float64 {
				c := f()
				return map[string]float64{"unknown_owner": float64(c.Unknown), "unreachable": float64(c.Failed)}
			}),
	)
}

// RateLimited counts an event over its limit (ratelimit.Config.OnLimited).
func (m *Metrics) RateLimited(event string) { m.rateLimited.WithLabelValues(event).Inc() }

// AuthFailure counts a refused token (auth.Config.OnRefused).
func (m *Metrics) AuthFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }

// StoreCommit records a group commit (store.SQLiteConfig.OnCommit).
func (m *Metrics) StoreCommit(size int, took time.Duration) {
	m.commitTime.Observe(took.Seconds())
	m.batchSize.Observe(float64(size))
}

// MessagePersisted counts a stored message (a core.Observer's Message).
func (m *Metrics) MessagePersisted(events.ChatMessage) { m.persisted.Inc() }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Mux serves /metrics and, with withPprof, net/http/pprof under
// /debug/pprof/: the dedicated metrics listener's handler.
func (m *Metrics) Mux(withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// gaugeVec is a gauge with one label whose values f computes at scrape
// time.
func gaugeVec(name, help, label string, f func() map[string]int) prometheus.Collector {
	return funcMetric(name, help, prometheus.GaugeValue, label, func() map[string]float64 {
		out := map[string]float64{}
		for k, v := range f() {
			out[k] = float64(v)
		}
		return out
	})
}

// funcMetric is a metric with one label whose values f computes at scrape
// time: a gauge, or a counter whose source keeps the count.
func funcMetric(name, help string, kind prometheus.ValueType, label string, f func() map[string]float64) prometheus.Collector {
	return &funcVec{desc: prometheus.NewDesc(name, help, []string{label}, nil), kind: kind, f: f}
}

type funcVec struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	f    func() map[string]float64
}

func (v *funcVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

func (v *funcVec) Collect(ch chan<- prometheus.Metric) {
	for label, n := range v.f() {
		ch <- prometheus.MustNewConstMetric(v.desc, v.kind, n, label)
	}
}

// LogConnections logs one info line when a socket of n connects and one
// when it disconnects: socket id, Engine.IO session id, namespace, user,
// transport, remote address and (on disconnect) the reason. Tokens, keys
// and handshake auth are never logged. Register it after the namespace's
// middleware, so the identity is known.
func LogConnections(n *socketio.Namespace, log *slog.Logger) {
	n.OnConnection(func(s *socketio.Socket) {
		hs := s.Handshake()
		user, _ := namespaces.User(s.AsConn())
		attrs := []any{"socket", s.ID(), "sid", s.SessionID(), "nsp", n.Name(), "user", user.ID, "remote", hs.RemoteAddr}
		log.Info("connected", append(attrs, "transport", s.Transport())...)
		s.OnDisconnect(func(reason string) {
			// The transport of the moment: an upgrade happens after connect.
			log.Info("disconnected", append(attrs, "transport", s.Transport(), "reason", reason)...)
		})
	})
}
