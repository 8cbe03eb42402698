package socketio_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-rt/parley/engineio"
	"github.com/parley-rt/parley/socketio"
)

var rawTransports = []string{"polling", "websocket"}

// TestRawProtocol drives the server with a hand-written client over both
// transports, packet by packet: acks both ways, binary both ways,
// namespaces multiplexed on one connection, disconnects both ways. It
// covers over polling what the zishang client cannot do there.
func TestRawProtocol(t *testing.T) {
	t.Parallel()
	for _, tr := range rawTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			sockets := make(chan *socketio.Socket, 4)
			got := make(chan []byte, 4)
			srv := newServer(t, socketio.Config{}, func(io *socketio.Server) {
				io.Of("/").OnConnection(func(s *socketio.Socket) {
					s.On("sum", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
						var a, b int
						_ = args.Decode(0, &a) // a wrong sum fails the test
						_ = args.Decode(1, &b)
						_ = ack(a + b) // a missing ack fails the test
					})
					s.On("upload", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
						var b []byte
						if err := args.Decode(0, &b); err != nil {
							t.Errorf("Decode: %v", err)
						}
						send(t, got, b)
						_ = ack(b) // echoed as an attachment
					})
					send(t, sockets, s)
				})
				chat := io.Of("/chat")
				chat.Use(func(s *socketio.Socket) error {
					if !strings.Contains(string(s.Auth()), `"token":"t"`) {
						return &socketio.ConnectError{Message: "no token", Data: map[string]any{"code": 401}}
					}
					return nil
				})
				chat.OnConnection(func(s *socketio.Socket) {
					s.On("echo", echoHandler("echo"))
					send(t, sockets, s)
				})
			})
			srv.track(srv.io.Of("/"))
			srv.track(srv.io.Of("/chat"))

			c := dialRaw(t, srv, tr)
			id := c.connect("/", "")
			s := recv(t, sockets, "server socket")
			if s.ID() != id || s.Transport() != tr {
				t.Fatalf("server socket %s on %s, client %s on %s", s.ID(), s.Transport(), id, tr)
			}

			// Client event with ack.
			c.send(`421["sum",2,3]`)
			if p := c.next(); p != `431[5]` {
				t.Fatalf("sum ack %q", p)
			}

			// Binary from the client, acked with the same bytes.
			payload := []byte{0, 1, 2, 0xff}
			b64 := "b" + base64.StdEncoding.EncodeToString(payload)
			c.send(`451-7["upload",{"_placeholder":true,"num":0}]`, b64)
			if b := recv(t, got, "upload"); !bytes.Equal(b, payload) {
				t.Fatalf("server got %v", b)
			}
			if p := c.next(); p != `461-7[{"_placeholder":true,"num":0}]` {
				t.Fatalf("binary ack %q", p)
			}
			if p := c.next(); p != b64 {
				t.Fatalf("attachment %q, want %q", p, b64)
			}

			// Server EmitWithAck, answered with an attachment.
			type result struct {
				a   *socketio.Args
				err error
			}
			res := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				a, err := s.EmitWithAck(ctx, "question", "q", []byte{9})
				res <- result{a, err}
			}()
			p := c.next()
			rest, ok := strings.CutPrefix(p, "451-")
			if !ok {
				t.Fatalf("question %q, want a binary event with an ack id", p)
			}
			i := strings.IndexByte(rest, '[')
			ackID, err := strconv.Atoi(rest[:i])
			if err != nil || rest[i:] != `["question","q",{"_placeholder":true,"num":0}]` {
				t.Fatalf("question %q", p)
			}
			if att := c.next(); att != "b"+base64.StdEncoding.EncodeToString([]byte{9}) {
				t.Fatalf("question attachment %q", att)
			}
			c.send(fmt.Sprintf(`461-%d["answer",{"_placeholder":true,"num":0}]`, ackID), "bBQY=")
			r := recv(t, res, "EmitWithAck")
			var word string
			var bin []byte
			if r.err != nil || r.a.Len() != 2 || r.a.Decode(0, &word) != nil || r.a.Decode(1, &bin) != nil {
				t.Fatalf("EmitWithAck = %v, %v", r.a, r.err)
			}
			if word != "answer" || !bytes.Equal(bin, []byte{5, 6}) {
				t.Fatalf("ack %q %v", word, bin)
			}
			// A late or unknown ack is ignored.
			c.send(fmt.Sprintf(`43%d["again"]`, ackID), `4399["nobody asked"]`)

			// Server emit with nested binary.
			if err := s.Emit("files", map[string]any{"list": []any{"a", []byte{1}}}); err != nil {
				t.Fatal(err)
			}
			if p := c.next(); p != `451-["files",{"list":["a",{"_placeholder":true,"num":0}]}]` {
				t.Fatalf("files %q", p)
			}
			if p := c.next(); p != "bAQ==" {
				t.Fatalf("files attachment %q", p)
			}

			// A second namespace on the same connection, with auth.
			c.send(`40/chat,{"token":"no"}`)
			if p := c.next(); p != `44/chat,{"data":{"code":401},"message":"no token"}` && p != `44/chat,{"message":"no token","data":{"code":401}}` {
				t.Fatalf("refused CONNECT answered %q", p)
			}
			chatID := c.connect("/chat", `{"token":"t"}`)
			chat := recv(t, sockets, "chat socket")
			if chat.ID() != chatID || chatID == id {
				t.Fatalf("chat socket %s, client %s, main %s", chat.ID(), chatID, id)
			}
			c.send(`42/chat,["echo","x",{"y":1}]`)
			if p := c.next(); p != `42/chat,["echo","x",{"y":1}]` {
				t.Fatalf("chat echo %q", p)
			}

			// Server-side disconnect of /chat leaves / connected.
			chat.Disconnect(false)
			if p := c.next(); p != "41/chat," {
				t.Fatalf("server disconnect sent %q", p)
			}
			if reason := srv.disconnectReason(t, chatID); reason != socketio.ReasonServerNamespaceDisconnect {
				t.Fatalf("chat disconnect reason %q", reason)
			}
			c.send(`422["sum",1,1]`)
			if p := c.next(); p != `432[2]` {
				t.Fatalf("sum after chat disconnect %q", p)
			}

			// Client-side disconnect of /.
			c.send("41")
			if reason := srv.disconnectReason(t, id); reason != socketio.ReasonClientNamespaceDisconnect {
				t.Fatalf("disconnect reason %q", reason)
			}
			if s.Connected() {
				t.Fatal("socket still connected")
			}
			if err := s.Emit("late"); !errors.Is(err, socketio.ErrNotConnected) {
				t.Fatalf("Emit after disconnect = %v", err)
			}
		})
	}
}

func TestRawInvalidNamespace(t *testing.T) {
	t.Parallel()
	srv := newServer(t, socketio.Config{}, nil)
	c := dialRaw(t, srv, "websocket")
	c.send("40/nope,")
	if p := c.next(); p != `44/nope,{"message":"Invalid namespace"}` {
		t.Fatalf("CONNECT to an unknown namespace answered %q", p)
	}
	// The connection stays usable.
	c.connect("/", "")
}

func TestRawConnectTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, socketio.Config{ConnectTimeout: 50 * time.Millisecond}, nil)
	c := dialRaw(t, srv, "websocket")
	// No CONNECT: the server closes the connection.
	c.waitClosed()
}

type malformed struct {
	name    string
	packets []string
	// reason is the server socket's disconnect reason; "" means the
	// reason the Socket.IO layer gives a packet it cannot decode.
	reason string
	only   string // a transport the case applies to
}

// malformedPackets are sent, each on its own connection, after a valid
// CONNECT to "/".
var malformedPackets = []malformed{
	{name: "unknown Socket.IO type", packets: []string{"49"}},
	{name: "event not an array", packets: []string{`42{"a":1}`}},
	{name: "event with broken JSON", packets: []string{`42["m",`}},
	{name: "event without a name", packets: []string{`42[]`}},
	{name: "event with an object name", packets: []string{`42[{}]`}},
	{name: "reserved event name", packets: []string{`42["disconnect"]`}},
	{name: "ack without id", packets: []string{`43["x"]`}},
	{name: "too many attachments", packets: []string{`4511-["m"]`}},
	{name: "attachment count without dash", packets: []string{`451["m"]`}},
	{name: "binary without a packet", packets: []string{"bAQID"}},
	{name: "text while attachments are pending", packets: []string{`451-["m",{"_placeholder":true,"num":0}]`, `42["x"]`}},
	{name: "placeholder out of range", packets: []string{`451-["m",{"_placeholder":true,"num":3}]`, "bAQ=="}},
	{name: "placeholder without num", packets: []string{`451-["m",{"_placeholder":true}]`, "bAQ=="}},
	{name: "connect_error from the client", packets: []string{`44{"message":"x"}`}},
	{name: "connect with an array", packets: []string{`40/chat,[]`}},
	{name: "disconnect with a payload", packets: []string{`41{}`}},
	{name: "NUL bytes", packets: []string{"42\x00\x00"}},
	{name: "engine: unknown type", packets: []string{"9x"}, reason: engineio.ReasonParseError},
	{name: "engine: open from the client", packets: []string{"0"}, reason: engineio.ReasonParseError},
	{name: "engine: empty packet", packets: []string{""}, reason: engineio.ReasonParseError, only: "websocket"},
	{name: "engine: bad base64", packets: []string{"b!!!"}, reason: engineio.ReasonParseError, only: "polling"},
}

// TestMalformedPackets sends malformed packets, each on its own connection:
// that connection is closed and its socket disconnected, while a
// well-behaved client on the same server keeps echoing throughout.
func TestMalformedPackets(t *testing.T) {
	t.Parallel()
	for _, tr := range rawTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			errs := make(chan error, 64)
			srv := newServer(t, socketio.Config{}, func(io *socketio.Server) {
				io.Of("/").OnConnection(func(s *socketio.Socket) {
					s.On("echo", echoHandler("echo"))
					s.OnError(func(err error) { send(t, errs, err) })
				})
				io.Of("/chat")
			})
			srv.track(srv.io.Of("/"))

			good := dialRaw(t, srv, tr)
			good.connect("/", "")
			echo := func(i int) {
				t.Helper()
				msg := fmt.Sprintf(`42["echo","still here",%d]`, i)
				good.send(msg)
				if p := good.next(); p != msg {
					t.Fatalf("echo %d = %q", i, p)
				}
			}
			echo(-1)
			for i, m := range malformedPackets {
				if m.only != "" && m.only != tr {
					continue
				}
				t.Run(m.name, func(t *testing.T) {
					bad := dialRaw(t, srv, tr)
					id := bad.connect("/", "")
					// The server may close before a later packet is sent.
					_ = bad.trySend(m.packets...)
					bad.waitClosed()
					want := m.reason
					if want == "" {
						// Node's Client.onerror: the error handlers hear
						// of it, the connection is closed ("forced close").
						want = engineio.ReasonForcedClose
						err := recv(t, errs, "error handler")
						if !errors.Is(err, socketio.ErrParse) {
							t.Fatalf("error handler got %v, want ErrParse", err)
						}
					}
					if reason := srv.disconnectReason(t, id); reason != want {
						t.Fatalf("disconnect reason %q, want %q", reason, want)
					}
				})
				echo(i)
			}
			none(t, errs, "error")
			if good.isClosed() {
				t.Fatal("the well-behaved client was disconnected")
			}
		})
	}
}

// TestInvalidStatePackets sends well-formed packets that make no sense on
// the connection: Node closes the connection from the Socket.IO layer.
func TestInvalidStatePackets(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, packet string }{
		{"event for a namespace not joined", `42/chat,["m"]`},
		{"ack for a namespace not joined", `43/chat,1[]`},
		{"second CONNECT", `40`},
	}
	for _, tr := range rawTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, socketio.Config{}, func(io *socketio.Server) { io.Of("/chat") })
			srv.track(srv.io.Of("/"))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := dialRaw(t, srv, tr)
					id := c.connect("/", "")
					_ = c.trySend(tc.packet) // the server may close before the answer
					c.waitClosed()
					want := engineio.ReasonForcedClose
					if tr == "polling" {
						want = socketio.ReasonForcedServerClose
					}
					if reason := srv.disconnectReason(t, id); reason != want {
						t.Fatalf("disconnect reason %q, want %q", reason, want)
					}
				})
			}
		})
	}
}

// TestRawServerDisconnectReason has the client drop its connection as soon
// as the server's DISCONNECT arrives, as socket.io-client does when its
// last namespace is gone: the socket's reason is still the server's.
func TestRawServerDisconnectReason(t *testing.T) {
	t.Parallel()
	srv := newServer(t, socketio.Config{Recovery: &socketio.RecoveryConfig{}}, func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			s.On("kick me", func(s *socketio.Socket, _ *socketio.Args, _ socketio.AckFunc) { s.Disconnect(false) })
		})
	})
	srv.track(srv.io.Of("/"))
	for i := range 30 {
		c := dialRaw(t, srv, "websocket")
		id := c.connect("/", "")
		c.send(`42["kick me"]`)
		if p := c.next(); p != "41" {
			t.Fatalf("round %d: got %q", i, p)
		}
		c.close()
		if reason := srv.disconnectReason(t, id); reason != socketio.ReasonServerNamespaceDisconnect {
			t.Fatalf("round %d: reason %q, want %q", i, reason, socketio.ReasonServerNamespaceDisconnect)
		}
	}
}

// TestKickedNamespaceInFlightPackets checks that events a client sent
// before it heard of the server's DISCONNECT are dropped, not treated as a
// protocol violation: the connection survives and can join again.
func TestKickedNamespaceInFlightPackets(t *testing.T) {
	t.Parallel()
	for _, tr := range rawTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, socketio.Config{}, func(io *socketio.Server) {
				io.Of("/").OnConnection(func(s *socketio.Socket) {
					s.On("kick me", func(s *socketio.Socket, _ *socketio.Args, _ socketio.AckFunc) { s.Disconnect(false) })
				})
			})
			c := dialRaw(t, srv, tr)
			c.connect("/", "")
			c.send(`42["kick me"]`)
			if p := c.next(); p != "41" {
				t.Fatalf("got %q, want the DISCONNECT packet", p)
			}
			// What a client sent while the DISCONNECT was on its way
			// reaches the server after the kick.
			c.send(`42["in flight",1]`, `42["in flight",2]`)
			c.connect("/", "") // fails the test if the connection was closed
			if c.isClosed() {
				t.Fatal("the connection was closed over packets in flight")
			}
		})
	}
}
