package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// crashEnv names the database the crash child appends to, and
// crashBackendEnv the backend's name; set only in the child process that
// TestCrashSafety starts.
const (
	crashEnv        = "PARLEY_STORE_CRASH_DB"
	crashBackendEnv = "PARLEY_STORE_CRASH_BACKEND"
)

// runCrashChild is the child process of TestCrashSafety, entered from
// TestMain when crashEnv is set: it appends from several goroutines and
// prints every acked id until it is killed. It returns the exit code.
func runCrashChild(backendName, db string) int {
	b, ok := backendNamed(backendName)
	if !ok {
		fmt.Fprintf(os.Stderr, "no backend %q in this build\n", backendName)
		return 1
	}
	s, err := b.open(db, storeOpts{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "open: %v\n", err)
		return 1
	}
	s.start()
	const (
		writers = 8
		each    = 20000 // bounds the child should the parent fail to kill it
	)
	var (
		mu     sync.Mutex // one line per write on stdout
		wg     sync.WaitGroup
		failed atomic.Bool
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m, _, err := s.Append(context.Background(), Message{
					Room: "crash", SenderID: fmt.Sprint(w), SenderName: "n", Content: fmt.Sprint(i),
				})
				if err != nil {
					fmt.Fprintf(os.Stderr, "Append: %v\n", err)
					failed.Store(true)
					return
				}
				mu.Lock()
				// Unbuffered: the line is in the pipe before the next Append.
				_, err = fmt.Fprintf(os.Stdout, "acked %s\n", m.ID)
				mu.Unlock()
				if err != nil {
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil || failed.Load() {
		return 1
	}
	return 0
}

// TestCrashSafety runs runCrashChild in a child process, SIGKILLs it in the
// middle of its appends, and checks that every id it printed (that is, every
// Append that returned) is in the database after reopening. It does so three
// times on the same database, so that later rounds also crash a database
// that recovered from a crash. For SQLite a kill leaves the OS page cache
// intact, so this checks that an ack follows the commit; power loss, which
// synchronous=FULL guards against, cannot be simulated here. For PostgreSQL
// the server lives on while its client dies mid-batch: acked means
// committed, and a transaction cut off is rolled back whole.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.newDB(t)
		var acked []string
		for _, killAfter := range []int{500, 1, 2000} {
			acked = append(acked, crashChild(t, b, db, killAfter)...)

			s, err := b.open(db, storeOpts{})
			if err != nil {
				t.Fatalf("reopen after the crash: %v", err)
			}
			s.start()
			if sq, ok := s.(*SQLite); ok {
				var check string
				if err := sq.r.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
					t.Fatalf("integrity_check = %q, %v", check, err)
				}
			}
			stored := map[string]bool{}
			for _, m := range walkBefore(t, s, "crash", MaxLimit) {
				stored[m.ID] = true
			}
			for _, id := range acked {
				if !stored[id] {
					t.Fatalf("acked %s is missing after the crash (%d stored, %d acked)", id, len(stored), len(acked))
				}
			}
			t.Logf("killed after %d acks: %d acked in all, %d stored", killAfter, len(acked), len(stored))
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	})
}

// crashChild runs runCrashChild on db, SIGKILLs it once it has printed
// killAfter acks, and returns every id it printed.
func crashChild(t *testing.T, b backend, db string, killAfter int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), crashEnv+"="+db, crashBackendEnv+"="+b.name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}

	var acked []string
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "acked ")
		if !ok {
			continue
		}
		// Lines still in the pipe after the kill were acked before it:
		// they count too.
		acked = append(acked, id)
		if len(acked) == killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill child: %v", err)
			}
			killed = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read child: %v", err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !killed || !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v after %d acks, want SIGKILL after %d\nstderr:\n%s", err, len(acked), killAfter, stderr.String())
	}
	return acked
}
