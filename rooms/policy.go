package rooms

import (
	"regexp"
	"slices"
	"strings"
)

// PrivatePrefix marks the rooms that are always private: "private:*".
const PrivatePrefix = "private:"

// Policy decides which rooms need a claim. A room is private when it
// starts with PrivatePrefix or matches one of the configured patterns; a
// private room may be joined, watched or streamed only by an identity whose
// rooms claim holds its name or a pattern matching it. Every other valid
// room is open to any authenticated user. A Policy is immutable and safe for
// concurrent use; the zero value treats only "private:*" as private.
type Policy struct {
	private []*regexp.Regexp
}

// NewPolicy returns the policy with the extra private room patterns (a "*"
// matches any run of characters, everything else itself).
func NewPolicy(patterns ...string) *Policy {
	p := &Policy{}
	for _, pat := range patterns {
		p.private = append(p.private, Glob(pat))
	}
	return p
}

// Glob compiles a room pattern: "*" matches any run of characters,
// everything else itself.
func Glob(pattern string) *regexp.Regexp {
	parts := strings.Split(pattern, "*")
	for i, s := range parts {
		parts[i] = regexp.QuoteMeta(s)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// Private reports whether room needs a claim.
func (p *Policy) Private(room string) bool {
	if strings.HasPrefix(room, PrivatePrefix) {
		return true
	}
	return p != nil && slices.ContainsFunc(p.private, func(re *regexp.Regexp) bool { return re.MatchString(room) })
}

// Allows reports whether an identity with the rooms claim may join room.
func (p *Policy) Allows(claim []string, room string) bool {
	if !p.Private(room) {
		return true
	}
	for _, c := range claim {
		if c == room || (strings.Contains(c, "*") && Glob(c).MatchString(room)) {
			return true
		}
	}
	return false
}
