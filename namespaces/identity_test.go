package namespaces_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/namespacestest"
)

// legacyConn is a Conn of a socket.io-client 2.x client, or of a current
// client when ok is false.
type legacyConn struct {
	namespaces.Conn
	query json.RawMessage
	ok    bool
}

func (c legacyConn) LegacyQuery() (json.RawMessage, bool) { return c.query, c.ok }

func TestIdentifyLegacyQuery(t *testing.T) {
	t.Parallel()
	v, err := auth.New(auth.Config{}) // dev mode: {userId, name} identifies
	if err != nil {
		t.Fatal(err)
	}
	identify := namespaces.Identify(v, 0, nil)
	query := json.RawMessage(`{"EIO":"3","transport":"polling","userId":"u1","name":"Ann"}`)
	ns := namespacestest.NewNamespace("/chat")
	n := 0
	conn := func(a any) namespaces.Conn {
		n++
		c, err := ns.Connect(string(rune('a'+n)), a)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		c       namespaces.Conn
		want    events.UserRef
		wantErr bool
	}{
		{"2.x client, empty auth: the handshake query", legacyConn{conn(nil), query, true}, events.UserRef{ID: "u1", Name: "Ann"}, false},
		{"2.x client with a namespace query: that, not the handshake's", legacyConn{conn(map[string]string{"userId": "u2", "name": "Bob"}), query, true}, events.UserRef{ID: "u2", Name: "Bob"}, false},
		{"current client, empty auth: no fallback", legacyConn{conn(nil), query, false}, events.UserRef{}, true},
		{"a Conn without LegacyQuery", conn(nil), events.UserRef{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := identify(tt.c)
			if tt.wantErr {
				var e *events.Error
				if !errors.As(err, &e) || e.Code != events.CodeUnauthorized {
					t.Fatalf("err = %v, want unauthorized", err)
				}
				return
			}
			if err != nil || id.User != tt.want {
				t.Fatalf("identity %+v, %v; want %+v", id.User, err, tt.want)
			}
		})
	}
}
