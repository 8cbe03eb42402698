package namespacestest

import (
	"testing"

	"github.com/parley-rt/parley/events"
)

// MustCall runs a client event and fails the test unless it acked.
func MustCall[Req, Resp any](t testing.TB, c *Conn, ev events.Inbound[Req, Resp], req Req) events.Result[Resp] {
	t.Helper()
	res, err := Call(c, ev, req)
	if err != nil {
		t.Fatalf("%s: %v", ev.Name(), err)
	}
	return res
}

// MustOK runs a client event and fails the test unless it succeeded.
func MustOK[Req, Resp any](t testing.TB, c *Conn, ev events.Inbound[Req, Resp], req Req) Resp {
	t.Helper()
	res := MustCall(t, c, ev, req)
	if !res.OK {
		t.Fatalf("%s(%+v) failed: %+v", ev.Name(), req, res.Error)
	}
	return res.Data
}

// MustFail runs a client event and fails the test unless it failed with
// code.
func MustFail[Req, Resp any](t testing.TB, c *Conn, ev events.Inbound[Req, Resp], req Req, code events.Code) *events.Error {
	t.Helper()
	res := MustCall(t, c, ev, req)
	if res.OK || res.Error.Code != code {
		t.Fatalf("%s(%+v) = %+v (error %+v), want %s", ev.Name(), req, res, res.Error, code)
	}
	return res.Error
}
