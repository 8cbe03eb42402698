package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type echoReq struct {
	Text string `json:"text"`
}

func (r echoReq) Validate() error {
	switch r.Text {
	case "invalid-plain":
		return errors.New("text is odd")
	case "invalid-coded":
		return NewError(CodeTooLarge, "text too large")
	}
	return nil
}

type echoResp struct {
	Text string `json:"text"`
}

var (
	testEcho = ClientEvent[echoReq, echoResp]("/handletest", "echo")
	testNote = ClientEventNoAck[echoReq]("/handletest", "note")
	testPush = ServerEvent[echoResp]("/handletest", "push")
)

// fakeRecv is a Receiver and Disconnecter that records its handlers.
type fakeRecv struct {
	handlers     map[string]RawHandler
	disconnected bool
}

func newFakeRecv() *fakeRecv { return &fakeRecv{handlers: map[string]RawHandler{}} }

func (r *fakeRecv) On(ev string, h RawHandler) { r.handlers[ev] = h }
func (r *fakeRecv) Disconnect()                { r.disconnected = true }

// receiverOnly cannot disconnect.
type receiverOnly struct{ r *fakeRecv }

func (r receiverOnly) On(ev string, h RawHandler) { r.r.On(ev, h) }

// ackRecorder is an AckFunc that keeps the first call's arguments.
type ackRecorder struct {
	calls int
	args  []any
}

func (a *ackRecorder) ack(args ...any) error {
	a.calls++
	if a.calls == 1 {
		a.args = args
	}
	return nil
}

func (a *ackRecorder) result(t *testing.T) Result[echoResp] {
	t.Helper()
	if a.calls != 1 || len(a.args) != 1 {
		t.Fatalf("ack called %d times with %d args, want once with 1", a.calls, len(a.args))
	}
	b, err := json.Marshal(a.args[0])
	if err != nil {
		t.Fatal(err)
	}
	var res Result[echoResp]
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("ack %s: %v", b, err)
	}
	return res
}

// logBuffer is a debug-level JSON logger writing to a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func raw(ss ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(ss))
	for i, s := range ss {
		out[i] = json.RawMessage(s)
	}
	return out
}

func TestHandle(t *testing.T) {
	t.Parallel()
	secret := errors.New("db password is hunter2")
	tests := []struct {
		name   string
		args   []json.RawMessage
		h      func(context.Context, echoReq) (echoResp, error)
		opts   []Option
		want   Result[echoResp]
		logs   []string // substrings of the log
		called bool
	}{
		{
			name:   "ok",
			args:   raw(`{"text":"hi"}`),
			h:      func(_ context.Context, r echoReq) (echoResp, error) { return echoResp{Text: r.Text + "!"}, nil },
			want:   Result[echoResp]{OK: true, Data: echoResp{Text: "hi!"}},
			called: true,
		},
		{
			name: "no arguments",
			args: nil,
			want: Result[echoResp]{Error: NewError(CodeBadRequest, "invalid payload: expected exactly 1 argument, got 0")},
			logs: []string{`"event":"echo"`, "payload rejected"},
		},
		{
			name: "two arguments",
			args: raw(`{"text":"a"}`, `{"text":"b"}`),
			want: Result[echoResp]{Error: NewError(CodeBadRequest, "invalid payload: expected exactly 1 argument, got 2")},
		},
		{
			name: "unknown field",
			args: raw(`{"text":"a","x":1}`),
			want: Result[echoResp]{Error: NewError(CodeBadRequest, `invalid payload: unknown field "x"`)},
		},
		{
			name: "missing field",
			args: raw(`{}`),
			want: Result[echoResp]{Error: NewError(CodeBadRequest, `invalid payload: missing required field "text"`)},
		},
		{
			name: "validate plain error",
			args: raw(`{"text":"invalid-plain"}`),
			want: Result[echoResp]{Error: NewError(CodeBadRequest, "text is odd")},
		},
		{
			name: "validate coded error",
			args: raw(`{"text":"invalid-coded"}`),
			want: Result[echoResp]{Error: NewError(CodeTooLarge, "text too large")},
		},
		{
			name: "client error as written",
			args: raw(`{"text":"a"}`),
			h: func(context.Context, echoReq) (echoResp, error) {
				return echoResp{}, NewError(CodeForbidden, "not in room a")
			},
			want:   Result[echoResp]{Error: NewError(CodeForbidden, "not in room a")},
			called: true,
		},
		{
			name: "wrapped client error with cause",
			args: raw(`{"text":"a"}`),
			h: func(context.Context, echoReq) (echoResp, error) {
				return echoResp{}, WrapError(CodeUnavailable, "history unavailable", secret)
			},
			want:   Result[echoResp]{Error: NewError(CodeUnavailable, "history unavailable")},
			logs:   []string{"handler failed", "hunter2"},
			called: true,
		},
		{
			name:   "other error is internal",
			args:   raw(`{"text":"a"}`),
			h:      func(context.Context, echoReq) (echoResp, error) { return echoResp{}, secret },
			want:   Result[echoResp]{Error: NewError(CodeInternal, "internal server error")},
			logs:   []string{`"level":"ERROR"`, "handler failed", "hunter2", `"event":"echo"`},
			called: true,
		},
		{
			name:   "panic is internal",
			args:   raw(`{"text":"a"}`),
			h:      func(context.Context, echoReq) (echoResp, error) { panic("boom") },
			want:   Result[echoResp]{Error: NewError(CodeInternal, "internal server error")},
			logs:   []string{"handler panicked", `"panic":"boom"`, `"event":"echo"`, "stack"},
			called: true,
		},
		{
			name: "timeout is unavailable",
			args: raw(`{"text":"a"}`),
			h: func(ctx context.Context, _ echoReq) (echoResp, error) {
				<-ctx.Done()
				return echoResp{}, ctx.Err()
			},
			opts:   []Option{WithTimeout(time.Millisecond)},
			want:   Result[echoResp]{Error: NewError(CodeUnavailable, "request timed out")},
			logs:   []string{"handler timed out"},
			called: true,
		},
		{
			name: "default timeout is set",
			args: raw(`{"text":"a"}`),
			h: func(ctx context.Context, _ echoReq) (echoResp, error) {
				d, ok := ctx.Deadline()
				if !ok || time.Until(d) > DefaultTimeout || time.Until(d) < DefaultTimeout-time.Minute {
					return echoResp{}, errors.New("no default deadline")
				}
				return echoResp{Text: "ok"}, nil
			},
			want:   Result[echoResp]{OK: true, Data: echoResp{Text: "ok"}},
			called: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			recv := newFakeRecv()
			called := false
			h := tt.h
			if h == nil {
				h = func(context.Context, echoReq) (echoResp, error) { return echoResp{}, nil }
			}
			Handle(recv, testEcho, func(ctx context.Context, r echoReq) (echoResp, error) {
				called = true
				return h(ctx, r)
			}, append([]Option{WithLogger(logs.logger())}, tt.opts...)...)
			var ack ackRecorder
			recv.handlers["echo"](context.Background(), tt.args, ack.ack)
			got := ack.result(t)
			if got.OK != tt.want.OK || got.Data != tt.want.Data ||
				(got.Error == nil) != (tt.want.Error == nil) ||
				(got.Error != nil && (got.Error.Code != tt.want.Error.Code || got.Error.Message != tt.want.Error.Message)) {
				t.Fatalf("ack = %+v (error %+v), want %+v (error %+v)", got, got.Error, tt.want, tt.want.Error)
			}
			if called != tt.called {
				t.Fatalf("handler called = %v, want %v", called, tt.called)
			}
			for _, s := range tt.logs {
				if !strings.Contains(logs.String(), s) {
					t.Errorf("log lacks %q:\n%s", s, logs.String())
				}
			}
		})
	}
}

func TestHandleNoAckCallbackDropped(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	recv := newFakeRecv()
	Handle(recv, testEcho, func(context.Context, echoReq) (echoResp, error) {
		t.Error("handler ran without an ack callback")
		return echoResp{}, nil
	}, WithLogger(logs.logger()))
	recv.handlers["echo"](context.Background(), raw(`{"text":"a"}`), nil)
	if !strings.Contains(logs.String(), "needs an ack callback") {
		t.Fatalf("log: %s", logs.String())
	}
}

func TestHandleSocketContext(t *testing.T) {
	t.Parallel()
	recv := newFakeRecv()
	ctx, cancel := context.WithCancel(context.Background())
	Handle(recv, testEcho, func(hctx context.Context, _ echoReq) (echoResp, error) {
		cancel() // the socket disconnects while the handler runs
		<-hctx.Done()
		return echoResp{}, hctx.Err()
	})
	var ack ackRecorder
	recv.handlers["echo"](ctx, raw(`{"text":"a"}`), ack.ack)
	if res := ack.result(t); res.Error == nil || res.Error.Code != CodeInternal {
		t.Fatalf("ack = %+v", res)
	}
}

func TestHandleDisconnect(t *testing.T) {
	t.Parallel()
	t.Run("disconnecter", func(t *testing.T) {
		t.Parallel()
		var logs logBuffer
		recv := newFakeRecv()
		Handle(recv, testEcho, func(context.Context, echoReq) (echoResp, error) {
			return echoResp{}, Disconnect{Reason: "flood"}
		}, WithLogger(logs.logger()))
		var ack ackRecorder
		recv.handlers["echo"](context.Background(), raw(`{"text":"a"}`), ack.ack)
		if !recv.disconnected || ack.calls != 0 {
			t.Fatalf("disconnected = %v, acks = %d", recv.disconnected, ack.calls)
		}
		if !strings.Contains(logs.String(), `"reason":"flood"`) {
			t.Fatalf("log: %s", logs.String())
		}
	})
	t.Run("receiver cannot disconnect", func(t *testing.T) {
		t.Parallel()
		fr := newFakeRecv()
		recv := receiverOnly{fr}
		Handle(recv, testEcho, func(context.Context, echoReq) (echoResp, error) {
			return echoResp{}, &Disconnect{Reason: "flood"}
		})
		var ack ackRecorder
		fr.handlers["echo"](context.Background(), raw(`{"text":"a"}`), ack.ack)
		if res := ack.result(t); res.Error == nil || res.Error.Code != CodeInternal {
			t.Fatalf("ack = %+v", res)
		}
	})
}

func TestHandleNoAck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []json.RawMessage
		err    error
		panics bool
		called bool
		logs   []string
	}{
		{name: "ok", args: raw(`{"text":"a"}`), called: true},
		{name: "bad payload dropped", args: raw(`{"text":1}`), logs: []string{`"level":"DEBUG"`, "payload dropped", `"event":"note"`}},
		{name: "invalid dropped", args: raw(`{"text":"invalid-coded"}`), logs: []string{"payload dropped"}},
		{name: "two args dropped", args: raw(`{"text":"a"}`, `{}`), logs: []string{"payload dropped"}},
		{name: "client error logged at debug", args: raw(`{"text":"a"}`), err: NewError(CodeForbidden, "nope"), called: true, logs: []string{`"level":"DEBUG"`, "handler refused"}},
		{name: "other error logged", args: raw(`{"text":"a"}`), err: errors.New("kaput"), called: true, logs: []string{`"level":"ERROR"`, "kaput"}},
		{name: "panic recovered", args: raw(`{"text":"a"}`), panics: true, called: true, logs: []string{"handler panicked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			recv := newFakeRecv()
			called := false
			HandleNoAck(recv, testNote, func(context.Context, echoReq) error {
				called = true
				if tt.panics {
					panic("boom")
				}
				return tt.err
			}, WithLogger(logs.logger()))
			var ack ackRecorder
			recv.handlers["note"](context.Background(), tt.args, ack.ack)
			if called != tt.called {
				t.Fatalf("called = %v, want %v", called, tt.called)
			}
			if ack.calls != 0 {
				t.Fatal("an ack-less event was acked")
			}
			for _, s := range tt.logs {
				if !strings.Contains(logs.String(), s) {
					t.Errorf("log lacks %q:\n%s", s, logs.String())
				}
			}
		})
	}
}

type emitRecorder struct {
	event string
	args  []any
	err   error
}

func (e *emitRecorder) Emit(event string, args ...any) error {
	e.event, e.args = event, args
	return e.err
}

func TestEmit(t *testing.T) {
	t.Parallel()
	var rec emitRecorder
	if err := Emit(&rec, testPush, echoResp{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if rec.event != "push" || len(rec.args) != 1 || rec.args[0] != (echoResp{Text: "x"}) {
		t.Fatalf("emitted %q %v", rec.event, rec.args)
	}
	rec.err = errors.New("queue full")
	if err := Emit(&rec, testPush, echoResp{}); err == nil || !errors.Is(err, rec.err) || !strings.Contains(err.Error(), "emit push") {
		t.Fatalf("Emit error = %v", err)
	}
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  Result[JoinRoomResult]
		want string
	}{
		{"ok", Result[JoinRoomResult]{OK: true, Data: JoinRoomResult{Room: "r", Members: []UserRef{}, History: []ChatMessage{}}},
			`{"ok":true,"data":{"room":"r","members":[],"history":[]}}`},
		{"error", Result[JoinRoomResult]{Error: NewError(CodeNotFound, "no")}, `{"ok":false,"error":{"code":"not_found","message":"no"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.res)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("marshal = %s, want %s", b, tt.want)
			}
			var back Result[JoinRoomResult]
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.OK != tt.res.OK || back.Data.Room != tt.res.Data.Room || (back.Error == nil) != (tt.res.Error == nil) {
				t.Fatalf("round trip = %+v", back)
			}
		})
	}
	if _, err := json.Marshal(Result[echoResp]{}); err == nil {
		t.Fatal("a failed Result without an Error must not marshal")
	}
	for _, bad := range []string{`{}`, `{"ok":true}`, `{"ok":false}`, `{"ok":true,"data":{"text":"a"},"error":{"code":"internal","message":""}}`, `{"ok":true,"data":{"Text":"a"}}`} {
		var r Result[echoResp]
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}
