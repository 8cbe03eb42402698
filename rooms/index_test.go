package rooms

import (
	"slices"
	"testing"
)

func ids(vs []string) []string { slices.Sort(vs); return vs }

func TestIndex(t *testing.T) {
	t.Parallel()
	x := NewIndex[string]()
	if got := x.Add("a", "a", "r1", "r2", "r1"); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Fatalf("Add a joined %v", got)
	}
	x.Add("b", "b", "r1")
	x.Add("c", "c")
	if got := x.Add("a", "a", "r1"); got != nil {
		t.Fatalf("re-adding a to r1 joined %v", got)
	}

	cases := []struct {
		name       string
		in, except []string
		want       []string
	}{
		{"everyone", nil, nil, []string{"a", "b", "c"}},
		{"one room", []string{"r1"}, nil, []string{"a", "b"}},
		{"union dedupes", []string{"r1", "r2", "a"}, nil, []string{"a", "b"}},
		{"own room", []string{"c"}, nil, []string{"c"}},
		{"except room", nil, []string{"r2"}, []string{"b", "c"}},
		{"except own room", []string{"r1"}, []string{"a"}, []string{"b"}},
		{"unknown room", []string{"nope"}, nil, nil},
	}
	for _, c := range cases {
		if got := ids(x.Select(nil, c.in, c.except)); !slices.Equal(got, c.want) {
			t.Errorf("%s: Select(%v, %v) = %v; want %v", c.name, c.in, c.except, got, c.want)
		}
	}
	if !x.Has("a", "a") || !x.Has("a", "r2") || x.Has("b", "r2") || x.Has("z", "z") {
		t.Error("Has is wrong")
	}
	if x.Size("r1") != 2 || x.Size("a") != 1 || x.Size("nope") != 0 {
		t.Errorf("Size r1=%d a=%d", x.Size("r1"), x.Size("a"))
	}
	if got := x.RoomsOf("a"); !slices.Equal(got, []string{"a", "r1", "r2"}) {
		t.Errorf("RoomsOf(a) = %v", got)
	}
	if x.RoomsOf("z") != nil {
		t.Error("RoomsOf of a non-member must be nil")
	}
	if !x.Remove("a", "r2") || x.Remove("a", "r2") || x.Remove("a", "a") {
		t.Error("Remove is wrong")
	}
	if got := ids(x.RemoveAll("a")); !slices.Equal(got, []string{"a", "r1"}) {
		t.Errorf("RemoveAll(a) = %v", got)
	}
	if got := ids(x.Select(nil, []string{"r1"}, nil)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after RemoveAll, r1 = %v", got)
	}
	if got := x.RemoveAllIf("b", "other"); got != nil || !x.Has("b", "r1") {
		t.Errorf("RemoveAllIf with another value removed %v", got)
	}
	if got := x.RemoveAllIf("b", "b"); !slices.Equal(ids(got), []string{"b", "r1"}) {
		t.Errorf("RemoveAllIf(b, b) = %v", got)
	}
	x.RemoveAll("c")
	if len(x.self) != 0 || len(x.rooms) != 0 || len(x.joined) != 0 {
		t.Errorf("index not empty after removing everyone: %v %v %v", x.self, x.rooms, x.joined)
	}
}

// A room may be named like a member's id: To(id) reaches that member, and
// anyone who joined a room of that name.
func TestIndexRoomNamedLikeMember(t *testing.T) {
	t.Parallel()
	x := NewIndex[string]()
	x.Add("a", "a")
	x.Add("b", "b", "a")
	if got := ids(x.Select(nil, []string{"a"}, nil)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Select(a) = %v", got)
	}
	if x.Size("a") != 2 {
		t.Errorf("Size(a) = %d", x.Size("a"))
	}
}

// TestIndexTakeOver: a member that rejoins under the id of one still
// leaving (a recovered socket before the old one's cleanup ran) takes its
// rooms, and the old value can no longer remove the id from any room.
func TestIndexTakeOver(t *testing.T) {
	t.Parallel()
	x := NewIndex[string]()
	x.Add("s1", "old", "red", "blue")
	x.Add("s1", "new", "red")
	if got := x.Select(nil, []string{"red", "blue"}, nil); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("after the take-over, red and blue select %v; want [new]", got)
	}
	if x.RemoveIf("s1", "old", "red") || !x.Has("s1", "red") {
		t.Fatal("the old value removed the new member from red")
	}
	if !x.RemoveIf("s1", "new", "blue") || x.Has("s1", "blue") || x.RemoveIf("s1", "new", "blue") {
		t.Fatal("RemoveIf with the current value is wrong")
	}
	if got := x.RemoveAllIf("s1", "old"); got != nil || !x.Has("s1", "red") {
		t.Fatalf("RemoveAllIf with the old value removed %v", got)
	}
}
