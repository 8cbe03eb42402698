package commalist_test

import (
	"slices"
	"testing"

	"github.com/parley-rt/parley/internal/commalist"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"a", []string{"a"}},
		{" a , b,,c ", []string{"a", "b", "c"}},
		{"b,a,b, a", []string{"b", "a"}},
	}
	for _, c := range cases {
		if got := commalist.Split(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
