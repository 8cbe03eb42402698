package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// recordSeparator joins Engine.IO v4 packets in one polling body.
const recordSeparator = 0x1e

// maxPollingClients bounds the polling clients of one loadgen process: each
// may hold two TCP connections (a long GET and a POST), and a process may
// hold 20000 files.
const maxPollingClients = 9500

// Errors of the polling transport.
var (
	errPollStatus     = errors.New("loadgen: polling request failed")
	errTooManyPolling = fmt.Errorf("loadgen: more than %d polling clients (2 connections each, 20000 files per process)", maxPollingClients)
)

// pollDialer holds the HTTP transports every polling client of a run shares:
// one per source address, each keeping a pool of keep-alive connections to
// the server.
type pollDialer struct {
	rts  []*http.Transport
	gets atomic.Int64 // cache-busting counter for the t= query parameter
}

func newPollDialer(cfg dialConfig) *pollDialer {
	ips := cfg.srcIPs
	if len(ips) == 0 {
		ips = []net.IP{nil}
	}
	pd := &pollDialer{}
	for _, ip := range ips {
		nd := &net.Dialer{Timeout: cfg.timeout}
		if ip != nil {
			nd.LocalAddr = &net.TCPAddr{IP: ip}
		}
		pd.rts = append(pd.rts, &http.Transport{
			DialContext:         nd.DialContext,
			MaxConnsPerHost:     0, // no limit: every client has its own GET in flight
			MaxIdleConns:        0, // no limit
			MaxIdleConnsPerHost: 2 * maxPollingClients,
			// Below Node's 5 s keepAliveTimeout, so that the client, not
			// the server, retires an idle connection and a POST never
			// races the server closing the connection it was sent on.
			IdleConnTimeout:    4 * time.Second,
			DisableCompression: true, // see POLLING.md: no Accept-Encoding, no gzip
			ForceAttemptHTTP2:  false,
		})
	}
	return pd
}

// closeIdle closes the keep-alive connections no client is using.
func (pd *pollDialer) closeIdle() {
	for _, rt := range pd.rts {
		rt.CloseIdleConnections()
	}
}

// handshake is the JSON of the Engine.IO open packet.
type handshake struct {
	SID          string `json:"sid"`
	PingInterval int64  `json:"pingInterval"` // ms
	PingTimeout  int64  `json:"pingTimeout"`  // ms
	MaxPayload   int    `json:"maxPayload"`   // bytes
}

// pollConn is the HTTP long-polling transport of one client, as
// socket.io-client drives it with transports: ["polling"]: a loop of GETs,
// each held by the server until it has packets (readLoop, on the client's
// read goroutine), and POSTs for outgoing packets, one in flight at a time;
// packets queued meanwhile leave together in the next POST (postLoop, started
// on demand by send).
type pollConn struct {
	rt       *http.Transport
	pd       *pollDialer
	url      string        // .../socket.io/?EIO=4&transport=polling&sid=SID
	pingWait time.Duration // longest a GET may be held: pingInterval + pingTimeout
	ctx      context.Context
	cancel   context.CancelFunc
	posts    sync.WaitGroup // the postLoop goroutine, when running

	mu         sync.Mutex
	q          outQueue // packets waiting for the next POST
	posting    bool     // a postLoop is running
	stopped    bool     // readLoop returned: no new postLoop
	postErr    error    // why the last POST failed, reported by readLoop
	maxPayload int
	pending    []byte // records of the handshake body after the open packet
}

// dial does the polling handshake and returns the transport; the namespace
// CONNECT is sent by the caller.
func (pd *pollDialer) dial(ctx context.Context, cfg dialConfig, id int) (*pollConn, error) {
	base := "http://" + cfg.addr + "/socket.io/?EIO=4&transport=polling"
	rt := pd.rts[id%len(pd.rts)]
	body, err := pd.get(ctx, rt, base, nil)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	open, rest, _ := bytes.Cut(body, []byte{recordSeparator})
	if len(open) < 2 || open[0] != '0' {
		return nil, errBadOpen
	}
	var hs handshake
	if err := json.Unmarshal(open[1:], &hs); err != nil || hs.SID == "" {
		return nil, errBadOpen
	}
	pc := &pollConn{
		rt:         rt,
		pd:         pd,
		url:        base + "&sid=" + hs.SID,
		pingWait:   time.Duration(hs.PingInterval+hs.PingTimeout)*time.Millisecond + 5*time.Second,
		maxPayload: hs.MaxPayload,
		pending:    rest,
	}
	if cfg.deadline.IsZero() {
		pc.ctx, pc.cancel = context.WithCancel(context.Background())
	} else {
		pc.ctx, pc.cancel = context.WithDeadline(context.Background(), cfg.deadline)
	}
	return pc, nil
}

// get does one GET of url (plus a t= cache buster, as the real client adds)
// and returns the body, appended to buf.
func (pd *pollDialer) get(ctx context.Context, rt *http.Transport, url string, buf []byte) ([]byte, error) {
	u := url + "&t=" + strconv.FormatInt(pd.gets.Add(1), 36)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return buf, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return buf, err
	}
	defer func() { _ = resp.Body.Close() }() // read to EOF below; the close only recycles the connection
	b := bytes.NewBuffer(buf[:0])
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return b.Bytes(), err
	}
	if resp.StatusCode != http.StatusOK {
		return b.Bytes(), fmt.Errorf("%w: GET %d %q", errPollStatus, resp.StatusCode, truncate(b.Bytes(), 80))
	}
	return b.Bytes(), nil
}

// readLoop is the long-polling loop: one GET at a time, each answer split
// into packets for c.onPacket.
func (p *pollConn) readLoop(c *client) error {
	defer func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		p.cancel()
		p.posts.Wait()
	}()
	if err := splitPayload(p.pending, c.onPacket); err != nil {
		return err
	}
	p.pending = nil
	var body []byte
	for {
		ctx, cancel := context.WithTimeout(p.ctx, p.pingWait)
		var err error
		body, err = p.pd.get(ctx, p.rt, p.url, body)
		cancel()
		if err != nil {
			p.mu.Lock()
			if p.postErr != nil {
				err = p.postErr
			}
			p.mu.Unlock()
			return err
		}
		if err := splitPayload(body, c.onPacket); err != nil {
			return err
		}
	}
}

// send queues p for the next POST and starts a postLoop if none runs.
func (p *pollConn) send(pkt []byte) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return errClosed
	}
	p.q.push(pkt)
	start := !p.posting
	if start {
		p.posting = true
		p.posts.Add(1)
	}
	p.mu.Unlock()
	if start {
		go p.postLoop()
	}
	return nil
}

// postLoop POSTs the queued packets until the queue is empty. A failed POST
// ends the connection, as in socket.io-client.
func (p *pollConn) postLoop() {
	defer p.posts.Done()
	for {
		p.mu.Lock()
		body := p.q.take(p.maxPayload)
		if body == nil {
			p.posting = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if err := p.post(body); err != nil {
			p.mu.Lock()
			p.posting = false
			p.postErr = err
			p.q = outQueue{}
			p.mu.Unlock()
			p.cancel() // readLoop's GET fails and reports the connection gone
			return
		}
	}
}

// post sends one body; the body is not reused afterwards, since the HTTP
// transport may still be writing it when RoundTrip returns.
func (p *pollConn) post(body []byte) error {
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := p.rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // read to EOF below; the close only recycles the connection
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: POST %d", errPollStatus, resp.StatusCode)
	}
	return nil
}

// close aborts the requests in flight; the server sees the GET go away and
// closes the session.
func (p *pollConn) close() {
	p.cancel()
}

// outQueue is the packets waiting for the next POST, already joined with the
// record separator, with the end offset of each.
type outQueue struct {
	buf  []byte
	ends []int
}

func (q *outQueue) push(pkt []byte) {
	if len(q.buf) > 0 {
		q.buf = append(q.buf, recordSeparator)
	}
	q.buf = append(q.buf, pkt...)
	q.ends = append(q.ends, len(q.buf))
}

// take removes and returns the longest run of whole packets whose body fits
// max bytes (at least one packet; max ≤ 0 means no limit), or nil when the
// queue is empty. socket.io-client splits its write buffer the same way
// (maxPayload from the handshake). The returned slice is the caller's.
func (q *outQueue) take(max int) []byte {
	if len(q.ends) == 0 {
		return nil
	}
	n := len(q.ends)
	if max > 0 && q.ends[n-1] > max {
		n = 1
		for n < len(q.ends) && q.ends[n] <= max {
			n++
		}
	}
	if n == len(q.ends) {
		body := q.buf
		*q = outQueue{ends: q.ends[:0]}
		return body
	}
	cut := q.ends[n-1]
	body := bytes.Clone(q.buf[:cut])
	rest := q.buf[cut+1:] // skip the separator
	q.buf = append(q.buf[:0], rest...)
	k := 0
	for _, e := range q.ends[n:] {
		q.ends[k] = e - cut - 1
		k++
	}
	q.ends = q.ends[:k]
	return body
}

// splitPayload calls fn for every packet of a polling body, in order.
// Engine.IO v4 joins packets with \x1e; a packet cannot contain one (binary
// packets travel as "b" + base64).
func splitPayload(body []byte, fn func(p []byte) error) error {
	for len(body) > 0 {
		rec, rest, _ := bytes.Cut(body, []byte{recordSeparator})
		if err := fn(rec); err != nil {
			return err
		}
		body = rest
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
