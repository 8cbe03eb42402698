package admin

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The event names and features here must be those the npm package
// declares (dist/typed-events.d.ts), which the UI is built against. The
// file is there after npm ci; without it the test is skipped.
func TestContractMatchesPackage(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../node_modules/@socket.io/admin-ui/dist/typed-events.d.ts")
	if os.IsNotExist(err) {
		t.Skip("node_modules/@socket.io/admin-ui not installed (npm ci)")
	}
	if err != nil {
		t.Fatal(err)
	}
	block := func(header string) string {
		_, rest, ok := strings.Cut(string(src), header)
		if !ok {
			t.Fatalf("%q not in typed-events.d.ts", header)
		}
		body, _, _ := strings.Cut(rest, "}")
		return body
	}
	names := func(body string, re *regexp.Regexp) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	member := regexp.MustCompile(`(?m)^\s*(\w+): \(`)
	server := names(block("export interface ServerEvents {"), member)
	for _, ev := range []string{evSession, evConfig, evServerStats, evAllSockets, evSocketConnected, evSocketUpdated, evSocketDisconnected, evRoomJoined, evRoomLeft} {
		if !slices.Contains(server, ev) {
			t.Errorf("server event %q is not in the package's ServerEvents %v", ev, server)
		}
	}
	client := names(block("export interface ClientEvents {"), member)
	if want := []string{evEmit, evJoin, evLeave, evDisconnect}; !slices.Equal(client, want) {
		t.Errorf("the package's ClientEvents are %v, Parley handles %v", client, want)
	}
	features := names(block("export declare enum Feature {"), regexp.MustCompile(`(\w+) = "`))
	for _, f := range []Feature{FeatureEmit, FeatureJoin, FeatureLeave, FeatureDisconnect, FeatureMJoin, FeatureMLeave, FeatureMDisconnect, FeatureAggregatedEvents, FeatureAllEvents} {
		if !slices.Contains(features, string(f)) {
			t.Errorf("feature %q is not in the package's Feature %v", f, features)
		}
	}
	stats := names(block("interface ServerStats {"), regexp.MustCompile(`(?m)^\s*(\w+): `))
	for _, f := range []string{"serverId", "hostname", "pid", "uptime", "clientsCount", "pollingClientsCount", "namespaces"} {
		if !slices.Contains(stats, f) {
			t.Errorf("ServerStats field %q is not in the package's %v", f, stats)
		}
	}
}
