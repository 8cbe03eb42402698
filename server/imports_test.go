package server_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/parley-rt/parley"

// TestImportBoundaries enforces the dependency direction of STYLE.md §1
// (with one amendment: rooms -> events, for the contract's room-name rule):
// leaves stay leaves, the application core and the transport adapters
// never see the engine or gin, only server imports gin.
func TestImportBoundaries(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps=false", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Imports    []string
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	// allowed lists, per package, the packages of this module it may
	// import; "gin" and "ws" name the two third-party libraries that are
	// fenced. events and internal/commalist are leaves; rooms imports it for the room-name
	// rule, which the contract declares once (events/limits.go).
	allowed := map[string][]string{
		"events":               {},
		"internal/commalist":   {},
		"rooms":                {"events"},
		"store":                {},
		"engineio":             {"ws"},
		"internal/auth":        {"events"},
		"namespaces":           {"events", "internal/auth"},
		"core":                 {"namespaces", "rooms", "events", "internal/auth", "store"},
		"namespaces/chat":      {"namespaces", "core", "events", "internal/auth"},
		"namespaces/presence":  {"namespaces", "core", "events", "internal/auth"},
		"namespaces/ratelimit": {"namespaces", "events", "internal/commalist"},
		"internal/httpapi":     {"core", "events", "internal/auth", "internal/commalist"},
		"internal/sse":         {"core", "events", "internal/auth", "internal/httpapi", "internal/commalist"},
		"socketio":             {"engineio", "rooms", "namespaces", "events"},
		"internal/wsapi":       {"socketio", "engineio", "namespaces", "events", "ws"},
		"internal/admin":       {"socketio", "golang.org/x/crypto/bcrypt"},
		"internal/graphql": {"core", "events", "internal/auth", "namespaces", "socketio", "engineio", "internal/graphql/schema",
			"github.com/99designs/gqlgen/graphql", "github.com/99designs/gqlgen/graphql/handler",
			"github.com/99designs/gqlgen/graphql/handler/extension", "github.com/99designs/gqlgen/graphql/handler/lru",
			"github.com/99designs/gqlgen/graphql/handler/transport", "github.com/99designs/gqlgen/graphql/playground",
			"github.com/coder/websocket", "github.com/vektah/gqlparser/v2/ast", "github.com/vektah/gqlparser/v2/gqlerror"},
		"internal/graphql/schema": {"github.com/99designs/gqlgen/graphql", "github.com/99designs/gqlgen/graphql/introspection",
			"github.com/vektah/gqlparser/v2", "github.com/vektah/gqlparser/v2/ast"},
		"redisadapter":     {"socketio", "github.com/redis/go-redis/v9"},
		"internal/forward": {},
	}
	seen := 0
	for _, p := range pkgs {
		rel, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			if strings.Contains(imp, "gin-gonic/gin") && !strings.HasPrefix(rel, "server") && !strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s imports gin; only server may", rel)
			}
		}
		rules, ok := allowed[rel]
		if !ok {
			continue
		}
		seen++
		for _, imp := range p.Imports {
			name := ""
			switch {
			case strings.HasPrefix(imp, module+"/"):
				name = strings.TrimPrefix(imp, module+"/")
				if strings.HasPrefix(name, rel+"/internal/") {
					continue // a package's own internals
				}
			case strings.Contains(imp, "gobwas/ws"):
				name = "ws"
			case strings.Contains(imp, "."):
				if rel == "store" || rel == "events" || rel == "internal/auth" || rel == "core" || strings.HasPrefix(rel, "namespaces") {
					continue // leaves may use small libraries (uuid, sqlite, jwt); not the engine or gin
				}
				name = imp
			default:
				continue // standard library
			}
			if !contains(rules, name) {
				t.Errorf("%s imports %s; allowed: %v", rel, name, rules)
			}
		}
	}
	if seen < 13 {
		t.Fatalf("only %d of the fenced packages found; go list output changed?", seen)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
