package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/server"
)

// gqlError is one GraphQL error as /graphql answers it.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code        events.Code `json:"code"`
		GraphQLCode string      `json:"graphqlCode"`
	} `json:"extensions"`
}

// gqlResponse is a GraphQL response.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// gqlPost sends one operation over HTTP with the bearer token (none when
// empty) and returns the status and the response.
func gqlPost(t *testing.T, base, token, query string, vars map[string]any) (int, gqlResponse) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	status, text, _ := do(t, http.MethodPost, base+"/graphql", token, string(body))
	var r gqlResponse
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		t.Fatalf("response %d %q: %v", status, text, err)
	}
	return status, r
}

// code is the contract code of the response's only error.
func (r gqlResponse) code(t *testing.T) events.Code {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want one error, got %+v (data %s)", r.Errors, r.Data)
	}
	return r.Errors[0].Extensions.Code
}

const sendMutation = `mutation($room: String!, $content: String!, $id: String) {
  sendMessage(room: $room, content: $content, clientMsgId: $id) { id room content timestamp clientMsgId sender { id name } }
}`

func TestGraphQLQueriesAndMutations(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret, PrivateRooms: []string{"private:*"}})
	tok := hs256(t, secret, claims("ann", time.Hour, nil))

	status, r := gqlPost(t, ts.URL, tok, sendMutation, map[string]any{"room": "lobby", "content": " hello ", "id": "c1"})
	var sent struct {
		SendMessage events.ChatMessage `json:"sendMessage"`
	}
	if status != http.StatusOK || len(r.Errors) > 0 || json.Unmarshal(r.Data, &sent) != nil {
		t.Fatalf("sendMessage: %d %+v %s", status, r.Errors, r.Data)
	}
	if m := sent.SendMessage; m.ID == "" || m.Content != "hello" || m.ClientMsgID != "c1" || m.Sender.ID != "ann" || m.Timestamp < 1e12 {
		t.Fatalf("sendMessage returned %+v", m)
	}
	// A resend with the same clientMsgId is the stored original.
	_, r = gqlPost(t, ts.URL, tok, sendMutation, map[string]any{"room": "lobby", "content": "hello again", "id": "c1"})
	var again struct {
		SendMessage events.ChatMessage `json:"sendMessage"`
	}
	if json.Unmarshal(r.Data, &again) != nil || again.SendMessage.ID != sent.SendMessage.ID {
		t.Fatalf("resend: %+v %s", r.Errors, r.Data)
	}

	_, r = gqlPost(t, ts.URL, tok, `{ messages(room: "lobby", limit: 10) { hasMore messages { id content clientMsgId sender { id } } } }`, nil)
	var page struct {
		Messages events.FetchHistoryResult `json:"messages"`
	}
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &page) != nil || len(page.Messages.Messages) != 1 ||
		page.Messages.Messages[0].ID != sent.SendMessage.ID || page.Messages.HasMore {
		t.Fatalf("messages: %+v %s", r.Errors, r.Data)
	}

	_, r = gqlPost(t, ts.URL, tok, `{ presence(userIds: ["ann", "nobody"]) { userId isOnline status lastSeen connections } }`, nil)
	var pres struct {
		Presence []events.PresenceState `json:"presence"`
	}
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &pres) != nil || len(pres.Presence) != 2 ||
		pres.Presence[0].UserID != "ann" || pres.Presence[0].Status != events.StatusOffline {
		t.Fatalf("presence: %+v %s", r.Errors, r.Data)
	}

	// Errors carry the contract's codes.
	for _, c := range []struct {
		name, token, query string
		vars               map[string]any
		status             int
		want               events.Code
	}{
		{"no token", "", `{ messages(room: "lobby") { hasMore } }`, nil, http.StatusUnauthorized, events.CodeUnauthorized},
		{"bad token", "nope", `{ messages(room: "lobby") { hasMore } }`, nil, http.StatusUnauthorized, events.CodeUnauthorized},
		{"private room", tok, `{ messages(room: "private:x") { hasMore } }`, nil, http.StatusOK, events.CodeForbidden},
		{"private post", tok, sendMutation, map[string]any{"room": "private:x", "content": "x"}, http.StatusOK, events.CodeForbidden},
		{"bad room", tok, `{ messages(room: "no spaces") { hasMore } }`, nil, http.StatusOK, events.CodeBadRequest},
		{"bad limit", tok, `{ messages(room: "lobby", limit: 1000) { hasMore } }`, nil, http.StatusOK, events.CodeBadRequest},
		{"unknown cursor", tok, `{ messages(room: "lobby", before: "nope") { hasMore } }`, nil, http.StatusOK, events.CodeNotFound},
		{"empty content", tok, sendMutation, map[string]any{"room": "lobby", "content": "  "}, http.StatusOK, events.CodeBadRequest},
		{"clientMsgId reused in another room", tok, sendMutation, map[string]any{"room": "other", "content": "x", "id": "c1"}, http.StatusOK, events.CodeConflict},
		{"setStatus over HTTP without a connection", tok, `mutation { setStatus(status: away) { status } }`, nil, http.StatusOK, events.CodeNotFound},
		{"not GraphQL", tok, `{ messages(`, nil, http.StatusUnprocessableEntity, events.CodeBadRequest},
		{"unknown field", tok, `{ nothing }`, nil, http.StatusUnprocessableEntity, events.CodeBadRequest},
		{"too complex", tok, `{ messages(room: "lobby") {` + aliases("hasMore", 1000) + "} }", nil, http.StatusOK, events.CodeBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, r := gqlPost(t, ts.URL, c.token, c.query, c.vars)
			if got := r.code(t); got != c.want || status != c.status {
				t.Fatalf("got %d %q (%s), want %d %q", status, got, r.Errors[0].Message, c.status, c.want)
			}
		})
	}
}

// TestGraphQLSetStatusOverHTTP: over HTTP, setStatus sets the status of
// the caller's connections elsewhere (here a /presence socket).
func TestGraphQLSetStatusOverHTTP(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret})
	tok := hs256(t, secret, claims("gus", time.Hour, nil))
	sock := mustDial(t, ts.URL, "/presence", tokenAuth(tok))
	defer sock.close()
	_, r := gqlPost(t, ts.URL, tok, `mutation { setStatus(status: busy) { userId status isOnline } }`, nil)
	var got struct {
		SetStatus events.PresenceState `json:"setStatus"`
	}
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &got) != nil || got.SetStatus.UserID != "gus" ||
		got.SetStatus.Status != events.StatusBusy || !got.SetStatus.IsOnline {
		t.Fatalf("setStatus over HTTP: %+v %s", r.Errors, r.Data)
	}
	// The socket's own user hears of it, as of a setStatus it sent.
	var st events.PresenceState
	for st.Status != events.StatusBusy {
		sock.next(waitCtx(t), "status", &st)
	}
}

// aliases selects field n times under distinct aliases.
func aliases(field string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, field)
	}
	return b.String()
}

func TestGraphQLDevMode(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	// Without a token a dev server reads as the anonymous user: queries
	// are answered, posts refused.
	if _, r := gqlPost(t, ts.URL, "", `{ messages(room: "lobby") { hasMore } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("anonymous query: %+v", r.Errors)
	}
	if _, r := gqlPost(t, ts.URL, "", sendMutation, map[string]any{"room": "lobby", "content": "x"}); r.code(t) != events.CodeUnauthorized {
		t.Fatalf("anonymous post: %+v", r.Errors)
	}
	if status, body, _ := do(t, http.MethodGet, ts.URL+"/graphiql", "", ""); status != http.StatusOK || !strings.Contains(body, "graphiql") {
		t.Fatalf("GraphiQL page: %d", status)
	}
}

func TestGraphiQLOnlyInDevMode(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret})
	if status, _, _ := do(t, http.MethodGet, ts.URL+"/graphiql", "", ""); status != http.StatusNotFound {
		t.Fatalf("GraphiQL with a secret: %d, want 404", status)
	}
}

// gqlWS is a graphql-transport-ws client. Its reader goroutine answers
// pings and queues every other message; it ends when the connection
// closes (at the test's cleanup at the latest).
type gqlWS struct {
	t    *testing.T
	nc   net.Conn
	msgs chan gqlMessage
	end  chan error // the read error that ended the reader
}

// gqlMessage is one graphql-transport-ws message.
type gqlMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialGQL opens /graphql with the graphql-transport-ws subprotocol and
// sends connection_init with payload.
func dialGQL(t *testing.T, base string, payload any) *gqlWS {
	t.Helper()
	d := ws.Dialer{Protocols: []string{"graphql-transport-ws"}}
	nc, br, hs, err := d.Dial(waitCtx(t), "ws"+strings.TrimPrefix(base, "http")+"/graphql")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if hs.Protocol != "graphql-transport-ws" {
		t.Fatalf("subprotocol %q", hs.Protocol)
	}
	var r io.Reader = nc
	if br != nil {
		r = io.MultiReader(br, nc)
	}
	c := &gqlWS{t: t, nc: nc, msgs: make(chan gqlMessage, 256), end: make(chan error, 1)}
	done := make(chan struct{})
	t.Cleanup(func() { _ = nc.Close(); <-done })
	go func() {
		defer close(done)
		rw := struct {
			io.Reader
			io.Writer
		}{r, nc}
		for {
			b, err := wsutil.ReadServerText(rw)
			if err != nil {
				c.end <- err
				return
			}
			var m gqlMessage
			if err := json.Unmarshal(b, &m); err != nil {
				c.end <- fmt.Errorf("message %s: %w", b, err)
				return
			}
			if m.Type == "ping" {
				pong, _ := json.Marshal(gqlMessage{Type: "pong"})
				_ = wsutil.WriteClientText(nc, pong) // a failed write ends the reader next
				continue
			}
			c.msgs <- m
		}
	}()
	p, _ := json.Marshal(payload)
	c.send(gqlMessage{Type: "connection_init", Payload: p})
	return c
}

func (c *gqlWS) send(m gqlMessage) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	if err := wsutil.WriteClientText(c.nc, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next message, or the error that ended the connection.
func (c *gqlWS) read() (gqlMessage, error) {
	select {
	case m := <-c.msgs:
		return m, nil
	default:
	}
	select {
	case m := <-c.msgs:
		return m, nil
	case err := <-c.end:
		c.end <- err // for the next read
		return gqlMessage{}, err
	case <-waitCtx(c.t).Done():
		return gqlMessage{}, errors.New("timed out")
	}
}

// next reads until a message of type typ (and id, when given) arrives.
func (c *gqlWS) next(typ, id string) gqlMessage {
	c.t.Helper()
	for {
		m, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for %s %s: %v", typ, id, err)
		}
		if (typ == "" || m.Type == typ) && (id == "" || m.ID == id) {
			return m
		}
	}
}

// subscribe starts an operation and returns nothing; its results arrive
// as next/error/complete messages with id.
func (c *gqlWS) subscribe(id, query string) {
	p, _ := json.Marshal(map[string]any{"query": query})
	c.send(gqlMessage{ID: id, Type: "subscribe", Payload: p})
}

// data decodes the data of a next message of id into v.
func (c *gqlWS) data(id string, v any) {
	c.t.Helper()
	m := c.next("next", id)
	var r gqlResponse
	if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 {
		c.t.Fatalf("next %s: %s (%v)", id, m.Payload, err)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		c.t.Fatalf("next %s data %s: %v", id, r.Data, err)
	}
}

// inRoom polls the presence query until user is in room: a room
// subscription's join completes after the subscribe message, and nothing
// tells the client when. A subscription's listener is registered before
// its join, so the user in the room means its subscription is live.
func inRoom(t *testing.T, base, token, room, user string) {
	t.Helper()
	ctx := waitCtx(t)
	for ctx.Err() == nil {
		_, r := gqlPost(t, base, token, `query($room: String!) { presence(rooms: [$room]) { userId } }`, map[string]any{"room": room})
		var d struct {
			Presence []events.PresenceState `json:"presence"`
		}
		if len(r.Errors) > 0 || json.Unmarshal(r.Data, &d) != nil {
			t.Fatalf("presence: %+v", r.Errors)
		}
		for _, st := range d.Presence {
			if st.UserID == user {
				return
			}
		}
	}
	t.Fatalf("%s never joined %s", user, room)
}

// subscribed dials a dev-mode connection for user and starts one room
// subscription, live when it returns.
func subscribed(t *testing.T, base, user, room, query string) *gqlWS {
	t.Helper()
	c := dialGQL(t, base, map[string]string{"userId": user, "name": user})
	c.next("connection_ack", "")
	c.subscribe("s", query)
	inRoom(t, base, "", room, user)
	return c
}

func TestGraphQLSubscriptionsWithSocketIOUser(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	gina := dialGQL(t, ts.URL, map[string]string{"userId": "gina", "name": "Gina"})
	var who struct {
		UserID   string `json:"userId"`
		Protocol int    `json:"protocol"`
	}
	if m := gina.next("connection_ack", ""); json.Unmarshal(m.Payload, &who) != nil || who.UserID != "gina" || who.Protocol != events.ContractVersion {
		t.Fatalf("connection_ack %s", m.Payload)
	}
	gina.subscribe("m", `subscription { newChatMessage(room: "lobby") { id content sender { id } } }`)
	inRoom(t, ts.URL, "", "lobby", "gina")
	jay := subscribed(t, ts.URL, "jay", "lobby", `subscription { userJoined(room: "lobby") { room user { id name } } }`)
	lee := subscribed(t, ts.URL, "lee", "lobby", `subscription { userLeft(room: "lobby") { user { id } } }`)

	// The subscriptions joined the room: a socket.io user sees them there.
	bob := mustDial(t, ts.URL, "/chat", map[string]string{"userId": "bob", "name": "Bob"})
	var res events.JoinRoomResult
	bob.callInto("joinRoom", map[string]string{"room": "lobby"}, &res)
	if len(res.Members) != 4 || res.Members[1].ID != "gina" {
		t.Fatalf("members %+v", res.Members)
	}
	var joined struct {
		UserJoined events.RoomUser `json:"userJoined"`
	}
	for joined.UserJoined.User.ID != "bob" { // lee's join came first
		jay.data("s", &joined)
	}
	if joined.UserJoined.Room != "lobby" || joined.UserJoined.User.Name != "Bob" {
		t.Fatalf("userJoined %+v", joined)
	}

	// socket.io -> the subscription
	bob.call("chatMessage", map[string]string{"room": "lobby", "content": "hi from socket.io"})
	var msg struct {
		NewChatMessage events.ChatMessage `json:"newChatMessage"`
	}
	if gina.data("m", &msg); msg.NewChatMessage.Content != "hi from socket.io" || msg.NewChatMessage.Sender.ID != "bob" {
		t.Fatalf("newChatMessage %+v", msg)
	}
	// A mutation over the socket -> socket.io
	p, _ := json.Marshal(map[string]any{"query": sendMutation, "variables": map[string]any{"room": "lobby", "content": "hi from graphql"}})
	gina.send(gqlMessage{ID: "send", Type: "subscribe", Payload: p})
	var got events.ChatMessage
	bob.next(waitCtx(t), "newChatMessage", &got)
	if got.Content != "hi from graphql" || got.Sender.ID != "gina" {
		t.Fatalf("bob got %+v", got)
	}

	bob.call("leaveRoom", map[string]string{"room": "lobby"})
	var left struct {
		UserLeft events.RoomUser `json:"userLeft"`
	}
	if lee.data("s", &left); left.UserLeft.User.ID != "bob" {
		t.Fatalf("userLeft %+v", left)
	}

	// A room the user may not join is refused with the contract's code
	// (a result with errors, as gqlgen answers a failed subscription
	// resolver), and the subscription completes.
	gina.subscribe("bad", `subscription { newChatMessage(room: "no spaces") { id } }`)
	m := gina.next("next", "bad")
	var r gqlResponse
	if json.Unmarshal(m.Payload, &r) != nil || r.code(t) != events.CodeBadRequest {
		t.Fatalf("error %s", m.Payload)
	}
	gina.next("complete", "bad")
}

func TestGraphQLStatus(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	w := dialGQL(t, ts.URL, map[string]string{"userId": "w", "name": "W"})
	w.next("connection_ack", "")
	w.subscribe("st", `subscription { status(userIds: ["erin"]) { userId status isOnline } }`)
	var st struct {
		Status events.PresenceState `json:"status"`
	}
	if w.data("st", &st); st.Status.UserID != "erin" || st.Status.IsOnline {
		t.Fatalf("snapshot %+v", st)
	}
	erin := dialGQL(t, ts.URL, map[string]string{"userId": "erin", "name": "Erin"})
	erin.next("connection_ack", "")
	for st.Status.Status != events.StatusOnline {
		w.data("st", &st)
	}
	p, _ := json.Marshal(map[string]any{"query": `mutation { setStatus(status: busy) { userId status } }`})
	erin.send(gqlMessage{ID: "set", Type: "subscribe", Payload: p})
	var set struct {
		SetStatus events.PresenceState `json:"setStatus"`
	}
	if erin.data("set", &set); set.SetStatus.Status != events.StatusBusy || set.SetStatus.UserID != "erin" {
		t.Fatalf("setStatus %+v", set)
	}
	for st.Status.Status != events.StatusBusy {
		w.data("st", &st)
	}
}

func TestGraphQLRefusedToken(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret})
	bad := dialGQL(t, ts.URL, map[string]string{"token": "not-a-token"})
	for {
		m, err := bad.read()
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			if ce.Code != 4403 || !strings.HasPrefix(ce.Reason, "unauthorized: ") {
				t.Fatalf("close %d %q, want 4403 unauthorized", ce.Code, ce.Reason)
			}
			break
		}
		if err != nil {
			t.Fatalf("want a close frame, got %v", err)
		}
		if m.Type == "connection_ack" {
			t.Fatalf("a refused token was acknowledged")
		}
	}
	good := dialGQL(t, ts.URL, map[string]string{"token": hs256(t, secret, claims("dave", time.Hour, nil))})
	var who struct {
		UserID string `json:"userId"`
	}
	if m := good.next("connection_ack", ""); json.Unmarshal(m.Payload, &who) != nil || who.UserID != "dave" {
		t.Fatalf("connection_ack %s", m.Payload)
	}
}

func TestGraphQLRoomRefcount(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{JWTSecret: secret, PrivateRooms: []string{"private:*"}})
	tok := hs256(t, secret, claims("gina", time.Hour, nil))
	gql := dialGQL(t, ts.URL, map[string]string{"token": tok})
	gql.next("connection_ack", "")
	bob := mustDial(t, ts.URL, "/chat", tokenAuth(hs256(t, secret, claims("bob", time.Hour, nil))))
	bob.call("joinRoom", map[string]string{"room": "lobby"})
	carl := mustDial(t, ts.URL, "/chat", tokenAuth(hs256(t, secret, claims("carl", time.Hour, nil))))

	// Two subscriptions of one room: one join, and the room is left only
	// when the second ends.
	gql.subscribe("a", `subscription { newChatMessage(room: "lobby") { id } }`)
	inRoom(t, ts.URL, tok, "lobby", "gina")
	var joined events.RoomUser
	bob.next(waitCtx(t), "userJoined", &joined)
	if joined.User.ID != "gina" {
		t.Fatalf("userJoined %+v", joined)
	}
	gql.subscribe("b", `subscription { userLeft(room: "lobby") { user { id } } }`)
	// b is live once it sees carl leave: carl joins and leaves until it
	// does (a second subscription of a room sends nothing the client sees).
	var left struct {
		UserLeft events.RoomUser `json:"userLeft"`
	}
	carlLeaves := func() {
		carl.call("joinRoom", map[string]string{"room": "lobby"})
		carl.call("leaveRoom", map[string]string{"room": "lobby"})
	}
	ctx := waitCtx(t)
	for ready := false; !ready; {
		carlLeaves()
		select {
		case m := <-gql.msgs:
			if m.ID != "b" || m.Type != "next" {
				t.Fatalf("unexpected %+v", m)
			}
			ready = true
		default:
			if ctx.Err() != nil {
				t.Fatal("subscription b never saw carl leave")
			}
		}
	}
	gql.send(gqlMessage{ID: "a", Type: "complete"})
	// Still in the room after a ended: b receives carl's next leave.
	carlLeaves()
	for left.UserLeft.User.ID != "carl" {
		gql.data("b", &left)
	}
	gql.send(gqlMessage{ID: "b", Type: "complete"})
	var gone events.RoomUser
	for gone.User.ID != "gina" { // carl's leaves came first
		bob.next(waitCtx(t), "userLeft", &gone)
	}

	// A private room needs the token's claim, as joinRoom does.
	gql.subscribe("p", `subscription { userJoined(room: "private:x") { room } }`)
	var r gqlResponse
	if m := gql.next("next", "p"); json.Unmarshal(m.Payload, &r) != nil || r.code(t) != events.CodeForbidden {
		t.Fatalf("private room: %s", m.Payload)
	}
	gql.subscribe("s", `subscription { status(rooms: ["private:x"]) { userId } }`)
	if m := gql.next("next", "s"); json.Unmarshal(m.Payload, &r) != nil || r.code(t) != events.CodeForbidden {
		t.Fatalf("status of a private room: %s", m.Payload)
	}

	// At most 100 subscriptions per connection: each status subscription
	// answers its snapshot once live; the 101st is refused.
	for i := range 100 {
		id := fmt.Sprintf("w%d", i)
		gql.subscribe(id, `subscription { status(userIds: ["bob"]) { userId } }`)
		gql.next("next", id)
	}
	gql.subscribe("over", `subscription { status(userIds: ["bob"]) { userId } }`)
	if m := gql.next("next", "over"); json.Unmarshal(m.Payload, &r) != nil || r.code(t) != events.CodeForbidden {
		t.Fatalf("subscription 101: %s", m.Payload)
	}
}

func TestGraphQLDevTokenPosts(t *testing.T) {
	t.Parallel()
	_, ts := start(t, server.Config{})
	_, body, _ := do(t, http.MethodGet, ts.URL+"/api/dev/token?name=Dora", "", "")
	var dt struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &dt); err != nil {
		t.Fatal(err)
	}
	_, r := gqlPost(t, ts.URL, dt.Token, sendMutation, map[string]any{"room": "lobby", "content": "hi"})
	var sent struct {
		SendMessage events.ChatMessage `json:"sendMessage"`
	}
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &sent) != nil || sent.SendMessage.Sender != (events.UserRef{ID: "dora", Name: "Dora"}) {
		t.Fatalf("sendMessage with a dev token: %+v %s", r.Errors, r.Data)
	}
}

func TestGraphQLShutdownClosesConnections(t *testing.T) {
	t.Parallel()
	srv, ts := start(t, server.Config{})
	gql := dialGQL(t, ts.URL, map[string]string{"userId": "sam", "name": "Sam"})
	gql.next("connection_ack", "")
	gql.subscribe("st", `subscription { status(userIds: ["sam"]) { userId } }`)
	gql.next("next", "st") // live
	if err := srv.Shutdown(waitCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for {
		m, err := gql.read()
		if err != nil {
			var ce wsutil.ClosedError
			if !errors.As(err, &ce) || ce.Code != ws.StatusNormalClosure {
				t.Fatalf("after Shutdown: %v, want a close frame 1000", err)
			}
			return
		}
		if m.Type == "connection_ack" {
			t.Fatalf("unexpected %+v", m)
		}
	}
}
