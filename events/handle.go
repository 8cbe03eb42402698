package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// DefaultTimeout bounds a handler run by Handle unless WithTimeout says
// otherwise.
const DefaultTimeout = 10 * time.Second

// Option modifies one Handle or HandleNoAck call.
type Option func(*options)

type options struct {
	timeout time.Duration
	logger  *slog.Logger
}

// WithTimeout bounds the handler's context to d instead of DefaultTimeout.
// A non-positive d means DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithLogger sets the logger for rejected payloads, handler errors and
// panics; records carry an "event" attribute. Pass a logger that already
// carries the socket id and namespace. nil (the default) discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

func newOptions(name string, opts []Option) options {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	o.logger = o.logger.With("event", name)
	return o
}

// Result is the ack of an Inbound event: {ok: true, data} or
// {ok: false, error: {code, message}}, the TypeScript Result<T>.
type Result[T any] struct {
	OK    bool
	Data  T      // set when OK
	Error *Error // set when !OK
}

// MarshalJSON writes {"ok":true,"data":...} or {"ok":false,"error":...}.
func (r Result[T]) MarshalJSON() ([]byte, error) {
	if r.OK {
		return json.Marshal(struct {
			OK   bool `json:"ok"`
			Data T    `json:"data"`
		}{true, r.Data})
	}
	if r.Error == nil {
		return nil, errors.New("events: failed Result without an Error")
	}
	return json.Marshal(struct {
		OK    bool   `json:"ok"`
		Error *Error `json:"error"`
	}{false, r.Error})
}

// UnmarshalJSON reads either shape; data is decoded strictly, as by Decode.
func (r *Result[T]) UnmarshalJSON(b []byte) error {
	var env struct {
		OK    *bool           `json:"ok"`
		Data  json.RawMessage `json:"data"`
		Error *Error          `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return fmt.Errorf("events: decode result: %w", err)
	}
	switch {
	case env.OK == nil:
		return errors.New("events: decode result: missing ok")
	case *env.OK && env.Error == nil && env.Data != nil:
		data, err := Decode[T](env.Data)
		if err != nil {
			return err
		}
		*r = Result[T]{OK: true, Data: data}
	case !*env.OK && env.Error != nil && env.Data == nil:
		*r = Result[T]{Error: env.Error}
	default:
		return errors.New("events: decode result: ok does not match data and error")
	}
	return nil
}

// Handle installs on recv the handler of the client event ev. For each
// event it:
//   - drops it, logging a warning, when the client sent no ack callback
//     (there is nothing to answer);
//   - acks bad_request unless there is exactly one argument that decodes
//     strictly (see Decode) and passes Validate when Req has it;
//   - runs h under a context that ends when the socket disconnects or the
//     timeout (DefaultTimeout, or WithTimeout) expires;
//   - acks {ok: true, data} with h's response, or {ok: false, error} when
//     h fails. An *Error (found with errors.As) reaches the client as
//     written; a timeout acks unavailable; any other error, and a panic, is
//     logged and acks internal with a generic message. A Disconnect error
//     closes the socket (see Disconnect) and acks nothing.
//
// h must honour ctx: Handle does not abandon a handler that overruns, since
// the engine calls a socket's handlers one at a time.
func Handle[Req, Resp any](recv Receiver, ev Inbound[Req, Resp], h func(ctx context.Context, req Req) (Resp, error), opts ...Option) {
	info := mustInfo(ev.info)
	o := newOptions(info.Name, opts)
	recv.On(info.Name, func(ctx context.Context, args []json.RawMessage, ack AckFunc) {
		if ack == nil {
			o.logger.WarnContext(ctx, "event needs an ack callback; dropped")
			return
		}
		defer func() {
			if p := recover(); p != nil {
				logPanic(ctx, o.logger, p)
				sendAck(ctx, o.logger, ack, Result[Resp]{Error: internalError()})
			}
		}()
		req, err := decodeArgs[Req](args)
		if err != nil {
			o.logger.DebugContext(ctx, "payload rejected", "err", err)
			sendAck(ctx, o.logger, ack, Result[Resp]{Error: rejection(err)})
			return
		}
		hctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		resp, err := h(hctx, req)
		if err == nil {
			sendAck(ctx, o.logger, ack, Result[Resp]{OK: true, Data: resp})
			return
		}
		if cerr := handlerError(ctx, hctx, o.logger, recv, err); cerr != nil {
			sendAck(ctx, o.logger, ack, Result[Resp]{Error: cerr})
		}
	})
}

// HandleNoAck installs on recv the handler of the ack-less client event ev.
// A payload that fails decoding or Validate is dropped and logged at debug
// level; an ack callback, if the client sent one anyway, is ignored. h runs
// as under Handle; its *Error is logged at debug level, any other error and
// a panic at error level, and a Disconnect error closes the socket.
func HandleNoAck[Req any](recv Receiver, ev InboundNoAck[Req], h func(ctx context.Context, req Req) error, opts ...Option) {
	info := mustInfo(ev.info)
	o := newOptions(info.Name, opts)
	recv.On(info.Name, func(ctx context.Context, args []json.RawMessage, _ AckFunc) {
		defer func() {
			if p := recover(); p != nil {
				logPanic(ctx, o.logger, p)
			}
		}()
		req, err := decodeArgs[Req](args)
		if err != nil {
			o.logger.DebugContext(ctx, "payload dropped", "err", err)
			return
		}
		hctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		if err := h(hctx, req); err != nil {
			_ = handlerError(ctx, hctx, o.logger, recv, err) // there is no ack to carry the client error
		}
	})
}

// Emit sends the server event ev with payload to target: a namespaces.Conn,
// a Broadcaster or a Namespace. A payload of the wrong type does not
// compile.
func Emit[T any](target Emitter, ev Outbound[T], payload T) error {
	info := mustInfo(ev.info)
	if err := target.Emit(info.Name, payload); err != nil {
		return fmt.Errorf("emit %s: %w", info.Name, err)
	}
	return nil
}

func decodeArgs[Req any](args []json.RawMessage) (Req, error) {
	var req Req
	if len(args) != 1 {
		return req, &PayloadError{Problem: fmt.Sprintf("expected exactly 1 argument, got %d", len(args))}
	}
	if err := decodeInto(args[0], &req); err != nil {
		return req, err
	}
	if v, ok := any(&req).(Validator); ok {
		if err := v.Validate(); err != nil {
			return req, err
		}
	}
	return req, nil
}

// rejection turns a decode or Validate error into the client's error.
func rejection(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var pe *PayloadError
	if errors.As(err, &pe) {
		return NewError(CodeBadRequest, pe.detail())
	}
	return NewError(CodeBadRequest, err.Error())
}

// handlerError logs err and returns the error for the client, or nil when
// the socket was disconnected instead.
func handlerError(ctx, hctx context.Context, log *slog.Logger, recv Receiver, err error) *Error {
	if reason, ok := disconnectReason(err); ok {
		log.InfoContext(ctx, "handler disconnects socket", "reason", reason)
		if d, ok := recv.(Disconnecter); ok {
			d.Disconnect()
			return nil
		}
		log.ErrorContext(ctx, "receiver cannot disconnect; acking internal")
		return internalError()
	}
	var e *Error
	if errors.As(err, &e) {
		if e.cause != nil {
			log.WarnContext(ctx, "handler failed", "code", e.Code, "err", e.cause)
		} else {
			log.DebugContext(ctx, "handler refused", "code", e.Code, "message", e.Message)
		}
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) && errors.Is(context.Cause(hctx), context.DeadlineExceeded) && ctx.Err() == nil {
		log.WarnContext(ctx, "handler timed out", "err", err)
		return NewError(CodeUnavailable, "request timed out")
	}
	if ctx.Err() != nil {
		log.DebugContext(ctx, "handler ended by disconnect", "err", err)
		return internalError()
	}
	log.ErrorContext(ctx, "handler failed", "err", err)
	return internalError()
}

func disconnectReason(err error) (string, bool) {
	var d Disconnect
	if errors.As(err, &d) {
		return d.Reason, true
	}
	var dp *Disconnect
	if errors.As(err, &dp) && dp != nil {
		return dp.Reason, true
	}
	return "", false
}

func logPanic(ctx context.Context, log *slog.Logger, p any) {
	log.ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
}

func sendAck[T any](ctx context.Context, log *slog.Logger, ack AckFunc, res Result[T]) {
	if err := ack(res); err != nil {
		log.WarnContext(ctx, "ack failed", "err", err)
	}
}
