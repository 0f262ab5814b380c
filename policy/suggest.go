package policy

import "slices"

// maxSuggestDistance is how far a misspelt name may be from the one it
// meant for a "did you mean" to name it.
const maxSuggestDistance = 2

// closest returns the candidate nearest to name by edit distance, when
// one is within maxSuggestDistance; of equally near ones, the first in
// sorted order, so the suggestion does not vary between runs.
func closest(name string, candidates []string) (string, bool) {
	best, bestDist := "", maxSuggestDistance+1
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		if d := editDistance(name, c); d < bestDist && c != name {
			best, bestDist = c, d
		}
	}
	return best, best != ""
}

// editDistance is the Levenshtein distance between a and b, by byte (ids
// and input keys are ASCII). It is ten lines: not worth a dependency.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
