package engineio

import (
	"encoding/json"
	"net/http"
)

// Code is an Engine.IO HTTP error code, sent as {"code":N,"message":"..."}.
type Code int

// The standard Engine.IO error codes.
const (
	CodeUnknownTransport   Code = 0
	CodeUnknownSID         Code = 1
	CodeBadHandshakeMethod Code = 2
	CodeBadRequest         Code = 3
	CodeForbidden          Code = 4
	CodeUnsupportedVersion Code = 5
)

// Parley's own codes, apart from Node's range so that a code Node adds
// later cannot collide.
const (
	// CodeTooManySessions refuses a handshake over Config.MaxSessions (503).
	CodeTooManySessions Code = 100
	// CodeTooManyHandshakes refuses a handshake over Config.HandshakeRate
	// (429).
	CodeTooManyHandshakes Code = 101
)

var codeMessages = [...]string{
	CodeUnknownTransport:   "Transport unknown",
	CodeUnknownSID:         "Session ID unknown",
	CodeBadHandshakeMethod: "Bad handshake method",
	CodeBadRequest:         "Bad request",
	CodeForbidden:          "Forbidden",
	CodeUnsupportedVersion: "Unsupported protocol version",
}

// String returns the standard message of the code.
func (c Code) String() string {
	switch {
	case c >= 0 && int(c) < len(codeMessages):
		return codeMessages[c]
	case c == CodeTooManySessions:
		return "Too many sessions"
	case c == CodeTooManyHandshakes:
		return "Too many handshakes"
	}
	return "Unknown error"
}

// writeError answers a request with the code's JSON body: 403 for
// CodeForbidden, 503 for CodeTooManySessions, 429 for
// CodeTooManyHandshakes, 400 otherwise. message overrides the standard
// text when not empty.
func writeError(w http.ResponseWriter, c Code, message string) {
	resp := errorResponse(c, message)
	w.Header().Set("Content-Type", resp.contentType)
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body) // the client may be gone; nothing left to tell it
}

// errorResponse is the error answer writeError sends, for the writers that
// have no http.ResponseWriter (a parked GET, park.go).
func errorResponse(c Code, message string) pollResponse {
	if message == "" {
		message = c.String()
	}
	status := http.StatusBadRequest
	switch c {
	case CodeForbidden:
		status = http.StatusForbidden
	case CodeTooManySessions:
		status = http.StatusServiceUnavailable
	case CodeTooManyHandshakes:
		status = http.StatusTooManyRequests
	}
	body, _ := json.Marshal(struct {
		Code    Code   `json:"code"`
		Message string `json:"message"`
	}{c, message}) // cannot fail: a struct of an int and a string
	return pollResponse{status: status, contentType: "application/json", body: body}
}

// Close reasons reported to Handler.OnClose. They match the reasons Node's
// engine.io reports.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	ReasonServerShutdown = "server shutting down"
	// ReasonSlowConsumer is Parley's own: the session's send queue overflowed.
	ReasonSlowConsumer = "slow consumer"
)
