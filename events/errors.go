package events

import (
	"errors"
	"fmt"
	"slices"
)

// Code is the machine-readable kind of an Error. The set is closed: the
// client's ErrorCode union is generated from Codes, so adding a code is a
// contract change (add it here and to Codes, then run go generate ./events).
type Code string

// The codes an Error may carry. They are the whole range reserved for
// application errors; no other value reaches a client.
const (
	// CodeBadRequest: the payload is malformed or fails validation.
	CodeBadRequest Code = "bad_request"
	// CodeUnauthorized: the connection has no valid identity.
	CodeUnauthorized Code = "unauthorized"
	// CodeForbidden: the identity may not do this (for example, post to a
	// room it has not joined).
	CodeForbidden Code = "forbidden"
	// CodeNotFound: the thing named does not exist (for example, a paging
	// cursor).
	CodeNotFound Code = "not_found"
	// CodeRateLimited: the client sends too much; retry later.
	CodeRateLimited Code = "rate_limited"
	// CodeTooLarge: a field is longer than allowed.
	CodeTooLarge Code = "too_large"
	// CodeConflict: the request conflicts with the current state.
	CodeConflict Code = "conflict"
	// CodeUnavailable: a dependency (the store) is down or timed out;
	// retrying may succeed.
	CodeUnavailable Code = "unavailable"
	// CodeInternal: a server bug. The message is always generic.
	CodeInternal Code = "internal"
)

var codes = []Code{
	CodeBadRequest, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeRateLimited,
	CodeTooLarge, CodeConflict, CodeUnavailable, CodeInternal,
}

// Codes returns every Code, in declaration order.
func Codes() []Code { return slices.Clone(codes) }

// Valid reports whether c is one of the declared codes.
func (c Code) Valid() bool { return slices.Contains(codes, c) }

// Error is an error that reaches the client exactly as written, as
// {code, message} in a failed ack or a refused connection. Any other error a
// handler returns stays on the server: it is logged, and the client sees
// CodeInternal with a generic message. Message is read by people, so it
// must not carry server internals.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`

	// cause is logged by Handle, never sent.
	cause error
}

// NewError returns an *Error with the code and message.
func NewError(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf returns an *Error whose message is formatted as by fmt.Sprintf.
// It does not wrap: %w is formatted like %v, and nothing is kept as a cause.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error that sends code and message to the client and
// keeps cause on the server: Handle logs the cause with the event, and
// errors.Is and errors.As see it through Unwrap.
func WrapError(code Code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, cause: cause}
}

// Error implements error.
func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("events: %s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("events: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause given to WrapError, or nil.
func (e *Error) Unwrap() error { return e.cause }

// internalError is what the client sees for any error that is not an *Error.
func internalError() *Error {
	return NewError(CodeInternal, "internal server error")
}

// Disconnect is an error that closes the socket: a handler returns it when
// the client broke the protocol badly enough that the connection must end.
// Handle logs Reason and disconnects the socket when the Receiver also
// implements Disconnecter; no ack is sent. The client sees the standard
// "io server disconnect" reason, never Reason.
type Disconnect struct {
	Reason string
}

// Error implements error.
func (d Disconnect) Error() string { return "events: disconnect: " + d.Reason }

// Disconnecter is implemented by a Receiver that can close its socket
// (namespaces.Conn does).
type Disconnecter interface {
	Disconnect()
}

// ErrInvalidPayload is matched (errors.Is) by every *PayloadError.
var ErrInvalidPayload = errors.New("events: invalid payload")

// PayloadError reports why a payload failed strict decoding. Path locates
// the offending value ("sender.id", "members[2]"), empty for the payload as
// a whole; Problem says what is wrong. Both are safe to show the client.
type PayloadError struct {
	Path    string
	Problem string
}

// Error implements error.
func (e *PayloadError) Error() string { return "events: " + e.detail() }

// Is makes errors.Is(err, ErrInvalidPayload) true.
func (e *PayloadError) Is(target error) bool { return target == ErrInvalidPayload }

func (e *PayloadError) detail() string {
	if e.Path == "" {
		return "invalid payload: " + e.Problem
	}
	return "invalid payload: " + e.Path + ": " + e.Problem
}
