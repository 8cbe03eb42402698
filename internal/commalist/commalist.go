// Package commalist parses the comma-separated lists Parley reads from
// flags, query strings and rate-limit specs, so every one of them treats
// blanks, spaces and repeats the same way.
package commalist

import (
	"slices"
	"strings"
)

// Split returns the non-blank items of the comma list s, trimmed of
// spaces, in order, each once. It returns nil for a blank list.
func Split(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" && !slices.Contains(out, part) {
			out = append(out, part)
		}
	}
	return out
}
