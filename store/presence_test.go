package store

import (
	"fmt"
	"maps"
	"testing"
)

func TestLastSeen(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		type set struct {
			user, name string
			ms         int64
		}
		tests := []struct {
			name  string
			sets  []set
			query []string
			want  map[string]int64
			names map[string]string // stored names to check, if any
		}{
			{name: "empty query", sets: []set{{"a", "A", 1}}, query: nil, want: map[string]int64{}},
			{name: "unknown user", query: []string{"nobody"}, want: map[string]int64{}},
			{name: "one", sets: []set{{"a", "A", 10}}, query: []string{"a"}, want: map[string]int64{"a": 10}},
			{
				name:  "several, some unknown, duplicates in query",
				sets:  []set{{"a", "A", 10}, {"b", "B", 20}, {"c", "C", 30}},
				query: []string{"a", "c", "zz", "a"},
				want:  map[string]int64{"a": 10, "c": 30},
			},
			{
				name:  "later time overwrites, with the name",
				sets:  []set{{"a", "A", 10}, {"a", "Ann", 20}},
				query: []string{"a"},
				want:  map[string]int64{"a": 20},
				names: map[string]string{"a": "Ann"},
			},
			{
				name:  "older time is ignored",
				sets:  []set{{"a", "Ann", 20}, {"a", "Old", 10}},
				query: []string{"a"},
				want:  map[string]int64{"a": 20},
				names: map[string]string{"a": "Ann"},
			},
			{name: "ids that need quoting", sets: []set{{`q"u'o\te`, "Q", 5}}, query: []string{`q"u'o\te`}, want: map[string]int64{`q"u'o\te`: 5}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				s := b.openTest(t, storeOpts{})
				ctx := t.Context()
				for _, st := range tt.sets {
					if err := s.SetLastSeen(ctx, st.user, st.name, st.ms); err != nil {
						t.Fatalf("SetLastSeen: %v", err)
					}
				}
				got, err := s.LastSeen(ctx, tt.query)
				if err != nil {
					t.Fatalf("LastSeen: %v", err)
				}
				times := map[string]int64{}
				for id, r := range got {
					times[id] = r.At
				}
				if got == nil || !maps.Equal(times, tt.want) {
					t.Fatalf("LastSeen(%q) = %v, want %v", tt.query, got, tt.want)
				}
				for user, want := range tt.names {
					if got[user].Name != want {
						t.Fatalf("name of %s = %q, want %q", user, got[user].Name, want)
					}
				}
			})
		}
	})
}

// TestLastSeenMany asks for more ids than SQLite binds parameters by
// default, and writes them concurrently.
func TestLastSeenMany(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		const n = 40000
		s := b.openTest(t, storeOpts{})
		ctx := t.Context()
		ids := make([]string, n)
		errs := make(chan error, 100)
		for w := range 100 {
			go func() {
				for i := w; i < n; i += 100 {
					if i%2 == 0 {
						if err := s.SetLastSeen(ctx, fmt.Sprint(i), "n", int64(i)); err != nil {
							errs <- err
							return
						}
					}
				}
				errs <- nil
			}()
		}
		for range 100 {
			if err := recv(t, errs); err != nil {
				t.Fatalf("SetLastSeen: %v", err)
			}
		}
		for i := range ids {
			ids[i] = fmt.Sprint(i)
		}
		got, err := s.LastSeen(ctx, ids)
		if err != nil {
			t.Fatalf("LastSeen: %v", err)
		}
		if len(got) != n/2 {
			t.Fatalf("LastSeen returned %d users, want %d", len(got), n/2)
		}
		for id, r := range got {
			if id != fmt.Sprint(r.At) || r.Name != "n" {
				t.Fatalf("LastSeen[%s] = %+v", id, r)
			}
		}
	})
}
