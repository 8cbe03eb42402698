package store

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: the writer
// goroutine and database/sql's connection openers must all stop in Close.
// In the child process of TestCrashSafety it runs the child instead.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		os.Exit(runCrashChild(path))
	}
	goleak.VerifyTestMain(m)
}
