package admin

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/parley-rt/parley/socketio"
)

// redacted replaces a secret the UI must not show.
const redacted = "[redacted]"

// secretHeaders are the request headers whose values are redacted. Node's
// instrument shows them; Parley's logs never hold a token, and neither
// does its admin UI.
var secretHeaders = map[string]bool{"authorization": true, "cookie": true, "proxy-authorization": true}

// serialize describes a local socket as the UI shows it.
func (a *Admin) serialize(s *socketio.Socket) Socket {
	// Chat rooms are adapter rooms of their plain names (package core), so
	// the UI shows them as they are, as it shows a Node node's.
	rooms := s.Rooms()
	return Socket{
		ID:        s.ID(),
		ClientID:  clientID(s),
		Transport: s.Transport(),
		Nsp:       s.Namespace().Name(),
		Data:      dataJSON(s.Data()),
		Handshake: handshakeOf(s, a.cfg.Path),
		Rooms:     rooms,
	}
}

// clientID is the UI's client id: the first 12 characters of the Engine.IO
// session id, as Node's instrument shortens it. Sockets of one connection
// share it.
func clientID(s *socketio.Socket) string {
	id := s.SessionID()
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// dataJSON returns the socket's data as a JSON object: each value that
// marshals, under its key; the others are left out.
func dataJSON(data map[string]any) json.RawMessage {
	out := make(map[string]json.RawMessage, len(data))
	for k, v := range data {
		if k == adminKey {
			continue
		}
		if b, err := json.Marshal(v); err == nil {
			out[k] = b
		}
	}
	b, _ := json.Marshal(out) // raw messages from Marshal always marshal
	return b
}

// request is what the engine recorded of the HTTP request that opened a
// connection, and the socket's CONNECT auth.
type request struct {
	Header     http.Header
	RawQuery   string
	RemoteAddr string
	Secure     bool
	Time       time.Time
	Auth       json.RawMessage
}

// handshakeOf describes a socket's handshake; path is the engine's path.
func handshakeOf(s *socketio.Socket, path string) Handshake {
	h := s.Handshake()
	return handshake(request{
		Header: h.Header, RawQuery: h.RawQuery, RemoteAddr: h.RemoteAddr,
		Secure: h.Secure, Time: h.Time, Auth: s.Auth(),
	}, path)
}

// handshake builds Node's socket.handshake object.
func handshake(h request, path string) Handshake {
	headers := make(map[string]string, len(h.Header))
	for k, v := range h.Header {
		k = strings.ToLower(k)
		if secretHeaders[k] {
			headers[k] = redacted
			continue
		}
		headers[k] = strings.Join(v, ", ")
	}
	query := make(map[string]any)
	q, _ := url.ParseQuery(h.RawQuery) // the engine parsed it once already
	for k, v := range q {
		if len(v) == 1 {
			query[k] = v[0]
		} else {
			query[k] = v
		}
	}
	address := remoteIP(h.RemoteAddr)
	// Node's instrument prefers the proxy's view of the client.
	if v := h.Header.Get("Cf-Connecting-Ip"); v != "" {
		address = v
	} else if v := h.Header.Get("X-Forwarded-For"); v != "" {
		address = v
	}
	url := path
	if h.RawQuery != "" {
		url += "?" + h.RawQuery
	}
	return Handshake{
		Headers: headers,
		Time:    h.Time.UTC().Format("Mon Jan 02 2006 15:04:05 GMT+0000 (Coordinated Universal Time)"),
		Address: address,
		XDomain: h.Header.Get("Origin") != "",
		Secure:  h.Secure,
		Issued:  h.Time.UnixMilli(),
		URL:     url,
		Query:   query,
		Auth:    redact(h.Auth),
	}
}

// remoteIP returns the host part of a host:port address.
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// secretKey reports whether an auth field holds a credential: Parley's
// token, the admin UI's own password and session id, and any key naming a
// token, password, secret or key.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"token", "password", "secret", "session", "key"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// redact returns the handshake auth object with the values of secret keys
// replaced, at any depth. Auth that is not a JSON object shows as {}.
func redact(auth json.RawMessage) json.RawMessage {
	var obj map[string]any
	if err := json.Unmarshal(auth, &obj); err != nil || obj == nil {
		return json.RawMessage("{}")
	}
	redactMap(obj)
	b, err := json.Marshal(obj)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

func redactMap(m map[string]any) {
	for k, v := range m {
		if secretKey(k) {
			m[k] = redacted
			continue
		}
		redactValue(v)
	}
}

func redactValue(v any) {
	switch t := v.(type) {
	case map[string]any:
		redactMap(t)
	case []any:
		for _, e := range t {
			redactValue(e)
		}
	}
}

// sortSockets orders sockets by namespace, then id, so that listings are
// stable.
func sortSockets(list []Socket) {
	sort.Slice(list, func(i, j int) bool {
		if list[i].Nsp != list[j].Nsp {
			return list[i].Nsp < list[j].Nsp
		}
		return list[i].ID < list[j].ID
	})
}
