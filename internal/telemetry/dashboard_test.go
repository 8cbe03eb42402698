package telemetry_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/telemetry"
	"github.com/parley-rt/parley/socketio"
)

// The Grafana dashboard in deploy/ may only query metrics Parley exports:
// a renamed metric fails here instead of leaving an empty panel.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../deploy/grafana/parley.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	sio, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sio.Close(context.Background()) }() // nothing connected
	m := telemetry.New(&telemetry.Sources{
		Transports: sio.Engine().CountByTransport,
		Namespaces: []*socketio.Namespace{sio.Of("/chat")},
	})
	// Every labelled family appears once it has a sample.
	m.RateLimited("chatMessage")
	m.AuthFailure("bad signature")
	m.MessagePersisted(events.ChatMessage{})
	m.StoreCommit(3, time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	exported := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(name)
			exported[f[0]] = true
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[f[0]+suffix] = true
			}
		}
	}
	metric := regexp.MustCompile(`\b(parley|go|process)_[a-z_]+\b`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				if !exported[name] {
					t.Errorf("panel %q queries %s, which Parley does not export", p.Title, name)
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("only %d queries found; did the dashboard's shape change?", queries)
	}
}
