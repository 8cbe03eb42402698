package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashEnv names the database the crash child appends to; set only in the
// child process that TestCrashSafety starts.
const crashEnv = "PARLEY_STORE_CRASH_DB"

// TestCrashChild is the child process of TestCrashSafety, not a test of its
// own: it appends from several goroutines and prints every acked id until it
// is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	s, err := OpenSQLite(SQLiteConfig{Path: path})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	const (
		writers = 8
		each    = 20000 // bounds the child should the parent fail to kill it
	)
	var (
		mu sync.Mutex // one line per write on stdout
		wg sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m, _, err := s.Append(context.Background(), Message{
					Room: "crash", SenderID: fmt.Sprint(w), SenderName: "n", Content: fmt.Sprint(i),
				})
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				// Unbuffered: the line is in the pipe before the next Append.
				_, err = fmt.Fprintf(os.Stdout, "acked %s\n", m.ID)
				mu.Unlock()
				if err != nil {
					t.Errorf("print: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestCrashSafety runs TestCrashChild in a child process, SIGKILLs it in the
// middle of its appends, and checks that every id it printed (that is, every
// Append that returned) is in the database after reopening. It does so three
// times on the same file, so that later rounds also crash a database that
// recovered from a crash. A kill leaves the OS page cache intact, so this
// checks that an ack follows the commit; power loss, which synchronous=FULL
// guards against, cannot be simulated here.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the crash child")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "crash.db")
	var acked []string
	for _, killAfter := range []int{500, 1, 2000} {
		acked = append(acked, crashChild(t, path, killAfter)...)

		s, err := OpenSQLite(SQLiteConfig{Path: path})
		if err != nil {
			t.Fatalf("reopen after the crash: %v", err)
		}
		var check string
		if err := s.r.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("integrity_check = %q, %v", check, err)
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
}

// crashChild runs TestCrashChild on path, SIGKILLs it once it has printed
// killAfter acks, and returns every id it printed.
func crashChild(t *testing.T, path string, killAfter int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
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
