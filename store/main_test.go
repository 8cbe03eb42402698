package store

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: the writer
// goroutine and database/sql's connection openers must all stop in Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
