package socketio

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/parley-rt/parley/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The zishang520 engine client, imported by the integration tests,
		// starts a network-status poller in its package init and offers no
		// exported way to stop it.
		goleak.IgnoreTopFunction("github.com/zishang520/socket.io/v3/pkg/utils.SetInterval.func1"),
	)
}

// waitTimeout bounds every wait of these tests; nothing waits for it when
// the condition holds.
const waitTimeout = testutil.Timeout

// waitFor is the shared helper (internal/testutil).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, cond)
}
