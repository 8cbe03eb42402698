//go:build !unix

package main

import "time"

// raiseNofile does nothing where there is no RLIMIT_NOFILE.
func raiseNofile() {}

// cpuTime reports 0 (unknown) where getrusage does not exist; the report
// then shows no CPU figures for the load generator.
func cpuTime() time.Duration { return 0 }
