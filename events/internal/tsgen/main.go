// Command tsgen writes the TypeScript contract generated from the events
// registry. go generate ./events runs it:
//
//	go run ./internal/tsgen -o ../client-js/src/generated/events.ts
//
// It reads the registry from the compiled package and the limits from the
// source of events/limits.go (-events names the package directory; the
// default, ".", is where go generate runs it).
//
// The output is deterministic, and formatted as prettier would format it,
// so regenerating an up-to-date file changes nothing.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", "", "output file (required)")
	dir := flag.String("events", ".", "directory of package events, whose limits.go is read")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: tsgen [-events DIR] -o FILE")
		os.Exit(2)
	}
	if err := run(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "tsgen:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	src, err := generate(dir)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, src) {
		return nil // leave the file, and its mtime, alone
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}
