package store

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// afterTests run once all tests have run, before the leak check:
// postgres_test.go stops the server it started.
var afterTests []func() error

// TestMain fails the run if a test leaves a goroutine behind: the writer
// goroutine, database/sql's connection openers and the PostgreSQL pool's
// goroutines must all stop in Close. In the child process of
// TestCrashSafety it runs the child instead.
func TestMain(m *testing.M) {
	if db := os.Getenv(crashEnv); db != "" {
		os.Exit(runCrashChild(os.Getenv(crashBackendEnv), db))
	}
	code := m.Run()
	for _, f := range afterTests {
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
