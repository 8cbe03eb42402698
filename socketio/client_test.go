package socketio_test

// Integration tests with an independent client: the zishang520 Go port of
// socket.io-client. It has races of its own: it subscribes to its engine's
// "open" and to the probe's "3probe" only after starting them, and a socket
// connecting while its manager opens sends CONNECT twice. dialZ and
// dialReady work around them (and log when they had to); its polling
// transport's limits are described at zConfig and zModes.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/socketio"
	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// zConfig is the server configuration for the zishang client. Its polling
// transport runs GETs and POSTs on one sequential queue, so it cannot send
// while its long-poll is held: a short ping interval keeps the poll cycling.
func zConfig() socketio.Config {
	return socketio.Config{Engine: engineio.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 5 * time.Second}}
}

type dialOpts struct {
	nsp        string
	transports []string // "polling", "websocket"; nil means both, upgrading
	auth       map[string]any
}

// zclient is a zishang client socket with its events on channels.
type zclient struct {
	t    *testing.T
	sock *client.Socket

	connected chan struct{}
	connErr   chan error
	disc      chan string
}

// dialZ connects a zishang client. It is closed at the end of the test,
// before the server.
func dialZ(t *testing.T, url string, o dialOpts) *zclient {
	t.Helper()
	opts := client.DefaultOptions()
	set := types.NewSet[transports.TransportCtor]()
	switch {
	case slices.Equal(o.transports, []string{"polling"}):
		set.Add(client.Polling)
	case slices.Equal(o.transports, []string{"websocket"}):
		set.Add(client.WebSocket)
	default:
		set.Add(client.Polling, client.WebSocket)
	}
	opts.SetTransports(set)
	opts.SetForceNew(true)
	opts.SetAutoConnect(false)
	// A short connect timeout bounds a missed open event (see below);
	// reconnection brings the client back after a dropped connection, as
	// socket.io-client does by default.
	opts.SetReconnection(true)
	opts.SetReconnectionDelay(20)
	opts.SetReconnectionDelayMax(100)
	opts.SetRandomizationFactor(0)
	opts.SetTimeout(2 * time.Second)
	if o.auth != nil {
		opts.SetAuth(o.auth)
	}
	sock, err := client.Connect(url+o.nsp, opts)
	if err != nil {
		t.Fatalf("client.Connect: %v", err)
	}
	c := &zclient{
		t:         t,
		sock:      sock,
		connected: make(chan struct{}, 16),
		connErr:   make(chan error, 16),
		disc:      make(chan string, 16),
	}
	// The client's events are offered, not sent: a reconnecting client
	// keeps reporting after the test has looked.
	_ = sock.On("connect", func(...any) { offer(c.connected, struct{}{}) })
	_ = sock.On("connect_error", func(args ...any) {
		err, _ := args[0].(error)
		if err == nil {
			err = errors.New("connect_error without an error")
		}
		offer(c.connErr, err)
	})
	_ = sock.On("disconnect", func(args ...any) {
		reason, _ := args[0].(string)
		offer(c.disc, reason)
	})
	t.Cleanup(func() { sock.Disconnect() })
	// Open the connection first and only then the namespace socket: the
	// client subscribes to its engine's open event after starting it, and
	// a socket connecting while its manager opens can send CONNECT twice.
	// Both races are the client's; opening in two steps, retrying a missed
	// open, avoids them.
	for attempt := 1; ; attempt++ {
		opened := make(chan error, 1)
		sock.Io().Open(func(err error) {
			select {
			case opened <- err:
			default:
			}
		})
		err := recv(t, opened, "connection open")
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("connection not opened after %d attempts: %v", attempt, err)
		}
		t.Logf("connection open failed (%v); retrying", err)
	}
	sock.Connect()
	return c
}

// waitConnected waits for the namespace connection and returns the id.
func (c *zclient) waitConnected() string {
	c.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case <-c.connected:
			return c.sock.Id()
		case err := <-c.connErr:
			if err.Error() != "timeout" {
				c.t.Fatalf("connect_error: %v", err)
			}
			// The client missed its engine's open event and retries.
			c.t.Logf("client connect attempt timed out; it retries")
		case <-deadline:
			c.t.Fatal("timed out waiting for connect")
		}
	}
}

// connectError waits for a connect_error other than the client's own
// connect timeout (after which it retries).
func (c *zclient) connectError() error {
	c.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case err := <-c.connErr:
			if err.Error() != "timeout" {
				return err
			}
			c.t.Logf("client connect attempt timed out; it retries")
		case <-c.connected:
			c.t.Fatal("connected, want connect_error")
		case <-deadline:
			c.t.Fatal("timed out waiting for connect_error")
		}
	}
}

// transport returns the client engine's current transport.
func (c *zclient) transport() string {
	e := c.sock.Io().Engine()
	if e == nil || e.Transport() == nil {
		return ""
	}
	return e.Transport().Name()
}

// zModes are the client setups the feature tests run under. Polling-only
// is left to TestClientTransports: the zishang polling transport queues
// its POSTs behind its held GET, so a write (a pong included) waits for
// the server's next packet, which can deadlock an exchange; raw_test.go
// covers the features over polling.
var zModes = []struct {
	name       string
	transports []string
}{
	{"websocket", []string{"websocket"}},
	{"upgrade", nil},
}

// dialReady connects and, when the client may upgrade, waits until it has.
// The client subscribes to its probe's answer only after sending the probe,
// so now and then it misses the server's 3probe and stays on polling for
// good: then it is closed and dialled again.
func dialReady(t *testing.T, url string, o dialOpts) (*zclient, string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c := dialZ(t, url, o)
		id := c.waitConnected()
		deadline := time.Now().Add(3 * time.Second)
		for c.transport() != "websocket" && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
		}
		if c.transport() == "websocket" {
			return c, id
		}
		if attempt == 3 {
			t.Fatalf("no upgrade after %d attempts", attempt)
		}
		t.Logf("client did not upgrade (it missed the probe answer); dialling again")
		c.sock.Disconnect()
	}
}

// serverSocket waits for the socket id of namespace n.
func serverSocket(t *testing.T, n *socketio.Namespace, id string) *socketio.Socket {
	t.Helper()
	var found *socketio.Socket
	waitFor(t, "server socket "+id, func() bool {
		for _, s := range n.Sockets() {
			if s.ID() == id {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// on forwards an event's arguments to a channel.
func (c *zclient) on(event string) <-chan []any {
	ch := make(chan []any, 16)
	_ = c.sock.On(types.EventName(event), func(args ...any) { send(c.t, ch, args) })
	return ch
}

// asBytes returns binary data as the client hands it over.
func asBytes(v any) ([]byte, bool) {
	switch b := v.(type) {
	case []byte:
		return b, true
	case interface{ Bytes() []byte }:
		return b.Bytes(), true
	}
	return nil, false
}

func TestClientTransports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		transports []string
		want       string
	}{
		{"polling only", []string{"polling"}, "polling"},
		{"websocket only", []string{"websocket"}, "websocket"},
		{"polling upgraded to websocket", nil, "websocket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			serverTransport := make(chan string, 4)
			srv := newServer(t, zConfig(), func(io *socketio.Server) {
				io.Of("/").OnConnection(func(s *socketio.Socket) {
					s.On("echo", echoHandler("echo"))
					s.On("transport", func(s *socketio.Socket, _ *socketio.Args, ack socketio.AckFunc) {
						send(t, serverTransport, s.Transport())
						if ack != nil {
							_ = ack(s.Transport()) // a missing ack fails the test
						}
					})
				})
			})
			var c *zclient
			if tt.transports == nil {
				c, _ = dialReady(t, srv.url, dialOpts{})
			} else {
				c = dialZ(t, srv.url, dialOpts{transports: tt.transports})
				c.waitConnected()
			}
			echo := c.on("echo")
			for i := range 5 {
				if err := c.sock.Emit("echo", "hello", i, map[string]any{"k": "v"}); err != nil {
					t.Fatal(err)
				}
				got := recv(t, echo, "echo")
				if len(got) != 3 || got[0] != "hello" || got[1] != float64(i) {
					t.Fatalf("echo %d = %#v", i, got)
				}
			}
			if err := c.sock.Emit("transport"); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, serverTransport, "server transport"); got != tt.want {
				t.Fatalf("server sees %q, want %q", got, tt.want)
			}
			if got := c.transport(); got != tt.want {
				t.Fatalf("client uses %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClientNamespaceAuth(t *testing.T) {
	t.Parallel()
	type conn struct {
		nsp, token string
	}
	conns := make(chan conn, 4)
	srv := newServer(t, zConfig(), func(io *socketio.Server) {
		chat := io.Of("/chat")
		chat.Use(func(s *socketio.Socket) error {
			var auth struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(s.Auth(), &auth); err != nil || auth.Token == "" {
				return &socketio.ConnectError{Message: "no token", Data: map[string]any{"code": "E_AUTH"}}
			}
			s.Set("token", auth.Token)
			return nil
		})
		chat.OnConnection(func(s *socketio.Socket) {
			tok, _ := s.Get("token")
			tokStr, _ := tok.(string)
			send(t, conns, conn{s.Namespace().Name(), tokStr})
			s.On("whoami", func(s *socketio.Socket, _ *socketio.Args, ack socketio.AckFunc) {
				v, _ := s.Get("token")
				_ = ack(s.Namespace().Name(), v) // a missing ack fails the test
			})
		})
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			send(t, conns, conn{"/", ""})
		})
	})

	c := dialZ(t, srv.url, dialOpts{nsp: "/chat", auth: map[string]any{"token": "x"}, transports: []string{"websocket"}})
	c.waitConnected()
	if got := recv(t, conns, "connection"); got != (conn{"/chat", "x"}) {
		t.Fatalf("server saw %+v", got)
	}
	res := make(chan []any, 1)
	c.sock.EmitWithAck("whoami")(func(args []any, err error) {
		if err != nil {
			t.Errorf("ack error: %v", err)
		}
		send(t, res, args)
	})
	if got := recv(t, res, "ack"); len(got) != 2 || got[0] != "/chat" || got[1] != "x" {
		t.Fatalf("whoami = %#v", got)
	}
	// Only /chat was joined: the main namespace saw no connection.
	none(t, conns, "connection")

	// An unknown namespace is refused.
	bad := dialZ(t, srv.url, dialOpts{nsp: "/nope"})
	// The server sends {"message":"Invalid namespace"}, as Node does (see
	// TestRawInvalidNamespace); this client insists on a data field and
	// reports its absence instead.
	err := bad.connectError()
	if err.Error() != "Invalid namespace" && err.Error() != "missing 'data' field" {
		t.Fatalf("unknown namespace: %v", err)
	}
}

func TestClientMiddlewareRejection(t *testing.T) {
	t.Parallel()
	srv := newServer(t, zConfig(), func(io *socketio.Server) {
		io.Of("/private").Use(func(s *socketio.Socket) error {
			return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": "E_FORBIDDEN", "retry": false}}
		})
		io.Of("/private").OnConnection(func(s *socketio.Socket) {
			t.Error("a rejected socket connected")
		})
	})
	c := dialZ(t, srv.url, dialOpts{nsp: "/private"})
	err := c.connectError()
	var ext *types.ExtendedError
	if !errors.As(err, &ext) {
		t.Fatalf("connect_error %T %v, want *types.ExtendedError", err, err)
	}
	data, _ := ext.Data.(map[string]any)
	if ext.Message != "not authorized" || data["code"] != "E_FORBIDDEN" || data["retry"] != false {
		t.Fatalf("connect_error = %q %#v", ext.Message, ext.Data)
	}
	none(t, c.connected, "connect")
}

func TestClientAcks(t *testing.T) {
	t.Parallel()
	srv := newServer(t, zConfig(), func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			s.On("sum", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
				var a, b int
				if args.Decode(0, &a) != nil || args.Decode(1, &b) != nil || ack == nil {
					t.Errorf("bad sum call: %v", args.RawAll())
					return
				}
				_ = ack(a+b, "done") // a missing ack fails the test
				_ = ack("second ack is dropped")
			})
		})
	})
	for _, m := range zModes {
		t.Run(m.name, func(t *testing.T) {
			c, id := dialReady(t, srv.url, dialOpts{transports: m.transports})
			s := serverSocket(t, srv.io.Of("/"), id)

			// Client asks, server acks.
			res := make(chan []any, 2)
			c.sock.EmitWithAck("sum", 2, 3)(func(args []any, err error) {
				if err != nil {
					t.Errorf("ack error: %v", err)
				}
				send(t, res, args)
			})
			if got := recv(t, res, "ack"); len(got) != 2 || got[0] != float64(5) || got[1] != "done" {
				t.Fatalf("sum ack = %#v", got)
			}

			// Server asks, client acks.
			_ = c.sock.On("question", func(args ...any) {
				ack, ok := args[len(args)-1].(func([]any, error))
				if !ok {
					t.Errorf("no ack function in %#v", args)
					return
				}
				ack([]any{"answer to", args[0], []byte{4, 2}}, nil)
			})
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			a, err := s.EmitWithAck(ctx, "question", "life")
			if err != nil {
				t.Fatalf("EmitWithAck: %v", err)
			}
			var what, about string
			var bin []byte
			if a.Len() != 3 || a.Decode(0, &what) != nil || a.Decode(1, &about) != nil || a.Decode(2, &bin) != nil {
				t.Fatalf("client ack = %v", a.RawAll())
			}
			if what != "answer to" || about != "life" || !bytes.Equal(bin, []byte{4, 2}) || !a.Binary() {
				t.Fatalf("client ack = %q %q %v", what, about, bin)
			}

			// A client that never acks times out.
			_ = c.sock.On("ignored", func(...any) {})
			short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel2()
			if _, err := s.EmitWithAck(short, "ignored"); !errors.Is(err, socketio.ErrAckTimeout) {
				t.Fatalf("EmitWithAck without an ack = %v, want ErrAckTimeout", err)
			}
		})
	}
}

func TestClientBinary(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 4)
	srv := newServer(t, zConfig(), func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			s.On("upload", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
				var file []byte
				var meta struct {
					Name  string `json:"name"`
					Thumb []byte `json:"thumb"`
				}
				if err := args.Decode(0, &file); err != nil {
					t.Errorf("Decode file: %v", err)
				}
				if err := args.Decode(1, &meta); err != nil {
					t.Errorf("Decode meta: %v", err)
				}
				send(t, got, file)
				send(t, got, meta.Thumb)
				_ = s.Emit("download", meta.Name, map[string]any{"parts": []any{file, meta.Thumb}}) // the test sees a missing reply
			})
		})
	})
	for _, m := range zModes {
		t.Run(m.name, func(t *testing.T) {
			c, _ := dialReady(t, srv.url, dialOpts{transports: m.transports})
			down := c.on("download")
			file := bytes.Repeat([]byte{0, 0xff, 7}, 1000)
			thumb := []byte{1, 2, 3}
			if err := c.sock.Emit("upload", file, map[string]any{"name": "pic.png", "thumb": thumb}); err != nil {
				t.Fatal(err)
			}
			if b := recv(t, got, "file"); !bytes.Equal(b, file) {
				t.Fatalf("server got a %d-byte file", len(b))
			}
			if b := recv(t, got, "thumb"); !bytes.Equal(b, thumb) {
				t.Fatalf("server got thumb %v", b)
			}
			args := recv(t, down, "download")
			if len(args) != 2 || args[0] != "pic.png" {
				t.Fatalf("download = %#v", args)
			}
			m, _ := args[1].(map[string]any)
			parts, _ := m["parts"].([]any)
			if len(parts) != 2 {
				t.Fatalf("download parts %#v", m)
			}
			for i, want := range [][]byte{file, thumb} {
				b, ok := asBytes(parts[i])
				if !ok || !bytes.Equal(b, want) {
					t.Fatalf("part %d = %T (%d bytes)", i, parts[i], len(b))
				}
			}
		})
	}
}

func TestClientRoomBroadcast(t *testing.T) {
	t.Parallel()
	srv := newServer(t, zConfig(), func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			s.On("join", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
				var room string
				_ = args.Decode(0, &room) // an empty room fails the test later
				s.Join(room)
				_ = ack(s.Rooms()) // a missing ack fails the test
			})
			s.On("say", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
				var room, text string
				_ = args.Decode(0, &room) // checked by what arrives
				_ = args.Decode(1, &text)
				_ = s.To(room).Emit("said", text) // the test sees a missing broadcast
				_ = s.Emit("marker")              // ordered after the broadcast
			})
		})
	})
	a, _ := dialReady(t, srv.url, dialOpts{transports: []string{"websocket"}})
	b, _ := dialReady(t, srv.url, dialOpts{})
	outsider, _ := dialReady(t, srv.url, dialOpts{transports: []string{"websocket"}})
	join := func(c *zclient, room string) {
		t.Helper()
		res := make(chan []any, 1)
		c.sock.EmitWithAck("join", room)(func(args []any, _ error) { send(t, res, args) })
		rooms, _ := recv(t, res, "join ack")[0].([]any)
		if !slices.Contains(rooms, any(room)) {
			t.Fatalf("rooms after join %v", rooms)
		}
	}
	join(a, "lobby")
	join(b, "lobby")
	saidA, saidB, saidOut := a.on("said"), b.on("said"), outsider.on("said")
	markerA, markerOut := a.on("marker"), outsider.on("marker")

	if err := a.sock.Emit("say", "lobby", "hi all"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, saidB, "broadcast"); len(got) != 1 || got[0] != "hi all" {
		t.Fatalf("b got %#v", got)
	}
	// The sender is excluded: its marker, sent after the broadcast, comes
	// with no broadcast before it.
	recv(t, markerA, "marker")
	none(t, saidA, "broadcast to the sender")

	// The sender need not be in the room: a broadcast from outside reaches
	// the members, not the sender.
	if err := outsider.sock.Emit("say", "lobby", "from outside"); err != nil {
		t.Fatal(err)
	}
	recv(t, markerOut, "marker")
	none(t, saidOut, "broadcast to the sender")
	for _, ch := range []<-chan []any{saidA, saidB} {
		if got := recv(t, ch, "broadcast from outside"); got[0] != "from outside" {
			t.Fatalf("got %#v", got)
		}
	}
	// Namespace-wide emit reaches everyone once.
	if err := srv.io.Of("/").To("lobby").Except("nobody").Emit("said", "server"); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan []any{saidA, saidB} {
		if got := recv(t, ch, "server broadcast"); got[0] != "server" {
			t.Fatalf("got %#v", got)
		}
	}
}

func TestClientServerDisconnect(t *testing.T) {
	t.Parallel()
	var srv *testServer
	srv = newServer(t, zConfig(), func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			s.On("kick me", func(s *socketio.Socket, _ *socketio.Args, _ socketio.AckFunc) {
				s.Disconnect(false)
			})
		})
	})
	srv.track(srv.io.Of("/"))
	for _, m := range zModes {
		t.Run(m.name, func(t *testing.T) {
			c, id := dialReady(t, srv.url, dialOpts{transports: m.transports})
			if err := c.sock.Emit("kick me"); err != nil {
				t.Fatal(err)
			}
			if reason := recv(t, c.disc, "client disconnect"); reason != "io server disconnect" {
				t.Fatalf("client saw %q, want io server disconnect", reason)
			}
			if reason := srv.disconnectReason(t, id); reason != socketio.ReasonServerNamespaceDisconnect {
				t.Fatalf("server saw %q", reason)
			}
			// The client does not reconnect after a server disconnect.
			none(t, c.connected, "reconnect")
		})
	}
}

func TestClientDisconnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t, zConfig(), nil)
	srv.track(srv.io.Of("/"))
	for _, m := range zModes {
		t.Run(m.name, func(t *testing.T) {
			c, id := dialReady(t, srv.url, dialOpts{transports: m.transports})
			c.sock.Disconnect()
			if reason := recv(t, c.disc, "disconnect"); reason != "io client disconnect" {
				t.Fatalf("client saw %q", reason)
			}
			reason := srv.disconnectReason(t, id)
			// The DISCONNECT packet and the transport close race to the
			// server; either reason is a client-side close.
			if reason != socketio.ReasonClientNamespaceDisconnect && reason != engineio.ReasonTransportClose {
				t.Fatalf("server saw %q", reason)
			}
		})
	}
}

func TestClientServerClose(t *testing.T) {
	t.Parallel()
	srv := newServer(t, zConfig(), nil)
	srv.track(srv.io.Of("/"))
	c := dialZ(t, srv.url, dialOpts{transports: []string{"websocket"}})
	id := c.waitConnected()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := srv.io.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if reason := srv.disconnectReason(t, id); reason != socketio.ReasonServerShuttingDown {
		t.Fatalf("server saw %q", reason)
	}
	reason := recv(t, c.disc, "client disconnect")
	if reason == "io server disconnect" {
		t.Fatalf("client saw %q: it would not reconnect to a restarted server", reason)
	}
}
