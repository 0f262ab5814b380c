package policy

import "testing"

func TestClosest_NamesACandidateWithinTwoEdits(t *testing.T) {
	candidates := []string{"components", "componentAdded", "componentRemoved", "raised", "stopped"}
	tests := []struct {
		name, want string
	}{
		{"component", "components"},           // a letter missing
		{"compnents", "components"},           // a letter dropped inside
		{"rasied", "raised"},                  // two letters swapped
		{"stoped", "stopped"},                 // a doubled letter
		{"componentsAdded", "componentAdded"}, // one letter too many, nearer than components
		{"review", ""},
		{"components", ""}, // itself is no suggestion
	}
	for _, tc := range tests {
		if got, _ := closest(tc.name, candidates); got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
