package engineio

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// fastUpgradeInterval bounds how long a GET is held while the session
// upgrades to WebSocket.
const fastUpgradeInterval = 100 * time.Millisecond

// servePolling answers one long-polling request of the session.
func (s *Session) servePolling(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.servePoll(w, r)
	case http.MethodPost:
		s.serveData(w, r)
	default:
		writeError(w, CodeBadRequest, "")
	}
}

// servePoll holds a GET until frames are queued, then writes them all.
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	canPark := s.srv.parkable(w, r) // before s.mu: it reads Server.mu
	s.mu.Lock()
	if now := time.Now(); s.state == stateOpen && s.timer != nil && !now.Before(s.due) {
		// The heartbeat is due but its timer has not run yet (a busy
		// machine runs timers late): do its work now, so that this GET
		// finds the session as the deadline has it, pinged or gone.
		s.runDueLocked(now)
		s.mu.Lock()
	}
	if s.transport != transportPolling {
		s.mu.Unlock()
		writeError(w, CodeBadRequest, "")
		return
	}
	if s.state == stateClosed && !(s.peerClosed && !s.noopSent) {
		s.mu.Unlock()
		writeError(w, CodeUnknownSID, "")
		return
	}
	if s.pollWaiting || s.pollSettling {
		s.mu.Unlock()
		s.srv.cfg.Logger.Debug("engineio: overlapping poll", "sid", s.id)
		writeError(w, CodeBadRequest, "")
		s.closeNow(ReasonTransportError)
		return
	}
	if s.handled < s.queued && s.state == stateOpen {
		s.settleLocked(r.Context())
	}
	if len(s.queue) == 0 && s.state == stateOpen {
		if s.pollWake == nil {
			s.pollWake = make(chan struct{}, 1)
		}
		s.pollWaiting = true
		wake := s.pollWake
		// During an upgrade a GET is held only briefly, then answered
		// with a noop (Node's "fast upgrade" check): answering at once
		// would spin a client that keeps polling in a request loop.
		var fast <-chan time.Time
		if s.upgrading {
			t := time.NewTimer(fastUpgradeInterval)
			defer t.Stop()
			fast = t.C
		}
		// A GET that stays idle for ParkDelay is parked (park.go): its
		// goroutine, buffers and request are let go until there is
		// something to answer.
		var park <-chan time.Time
		if canPark && !s.upgrading {
			t := time.NewTimer(s.srv.cfg.ParkDelay)
			defer t.Stop()
			park = t.C
		}
		s.mu.Unlock()
	wait:
		for {
			select {
			case <-wake:
				break wait
			case <-fast:
				break wait
			case <-park:
				if s.park(w, r) {
					return // answered by whoever wakes it
				}
				park = nil
			case <-r.Context().Done():
				s.mu.Lock()
				s.pollWaiting = false
				s.mu.Unlock()
				s.closeNow(ReasonTransportError)
				return
			}
		}
		s.mu.Lock()
		s.pollWaiting = false
	}
	resp, final := s.pollResponseLocked()
	h := w.Header()
	resp.setHeaders(h)
	w.WriteHeader(resp.status)
	_, err := w.Write(resp.body)
	if final {
		s.closeNow(s.closingReason())
		return
	}
	if err != nil {
		s.closeNow(ReasonTransportError)
	}
}

// pollResponse is the answer to a GET: status, Content-Type and body. Both
// the handler's writer (servePoll) and a parked GET's raw connection
// (answerParked) send it, with setHeaders.
type pollResponse struct {
	status      int
	contentType string
	body        []byte
}

// setHeaders sets the headers that describe the response's body.
func (p *pollResponse) setHeaders(h http.Header) {
	h.Set("Content-Type", p.contentType)
	h.Set("Content-Length", strconv.Itoa(len(p.body)))
}

// pollResponseLocked takes what a GET released now answers with: the
// queued frames, the close packet or a noop; or a 400 when the session
// upgraded meanwhile. final reports that the close packet goes out, after
// which the session closes. s.mu is held on entry and released on return.
func (s *Session) pollResponseLocked() (resp pollResponse, final bool) {
	if s.transport != transportPolling {
		// The upgrade completed while the GET was held: the session is no
		// longer polling's, and the GET is refused like any that arrives
		// after the upgrade packet.
		s.mu.Unlock()
		return errorResponse(CodeBadRequest, ""), false
	}
	batch := s.queue
	s.queue = nil
	// The close packet travels alone, in the response after the last
	// frames: socket.io-client handles packets a tick after the transport,
	// so a close in the same payload would overtake them.
	if i := slices.Index(batch, frameClose); i > 0 {
		s.queue = append(s.queue, frameClose)
		batch = batch[:i]
	}
	closed := s.state == stateClosed
	peerClosed := s.peerClosed
	if closed && peerClosed && len(batch) == 0 {
		s.noopSent = true
	}
	s.mu.Unlock()

	size := 0
	for _, f := range batch {
		if !s.v3 {
			size += len(f.pollBytes()) + 1
		}
		final = final || f == frameClose
	}
	var body []byte
	switch {
	case len(batch) > 0:
		if s.v3 {
			break // encoded below
		}
		body = make([]byte, 0, size)
		for i, f := range batch {
			if i > 0 {
				body = append(body, recordSeparator)
			}
			body = append(body, f.pollBytes()...)
		}
	case closed && peerClosed:
		// The client closed the session by POST: as in Node, the held GET
		// is released with a noop, the client needs no close packet back.
		// Only one GET gets it; the next is refused as unknown.
		batch = []*Frame{frameNoop}
	case closed:
		batch = []*Frame{frameClose}
	default:
		batch = []*Frame{frameNoop} // released for an upgrade
	}
	contentType := "text/plain; charset=UTF-8"
	switch {
	case s.v3:
		var isBinary bool
		if body, isBinary = encodeV3Payload(batch, !s.b64); isBinary {
			contentType = "application/octet-stream"
		}
	case body == nil:
		body = batch[0].pollBytes()
	}
	return pollResponse{status: http.StatusOK, contentType: contentType, body: body}, final
}

// serveData reads a POST body of packets and delivers them.
func (s *Session) serveData(w http.ResponseWriter, r *http.Request) {
	max := s.srv.cfg.MaxPayload
	if r.ContentLength > max {
		// As in Node, the session survives; socket.io-client closes it
		// when it sees the 413.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	s.mu.Lock()
	if s.transport != transportPolling {
		s.mu.Unlock()
		writeError(w, CodeBadRequest, "")
		return
	}
	if s.posting {
		s.mu.Unlock()
		writeError(w, CodeBadRequest, "")
		s.closeNow(ReasonTransportError)
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return // as above; the request's connection is closed
		}
		s.closeNow(ReasonTransportError)
		return
	}
	receive := func(p packet) error { s.receive(p); return nil }
	switch {
	case !s.v3:
		err = decodePayload(body, receive)
	case r.Header.Get("Content-Type") == "application/octet-stream":
		err = decodeV3BinaryPayload(body, receive)
	default:
		err = decodeV3Payload(body, receive)
	}
	if err != nil {
		// As in Node, the POST is answered "ok" all the same: the payload
		// was read, and what it held closes the session.
		s.closeNow(ReasonParseError)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok") // the client may be gone; its next request tells
}
