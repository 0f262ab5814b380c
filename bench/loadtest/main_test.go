package main

import (
	"testing"
	"time"
)

func TestMemoryFlat(t *testing.T) {
	// series returns one sample every 10 s for 5 minutes with heap and
	// goroutines from level(i).
	series := func(level func(i int) (heapMiB, goroutines float64)) []memorySample {
		var out []memorySample
		for i := 1; i <= 30; i++ {
			h, g := level(i)
			out = append(out, memorySample{at: time.Duration(i) * 10 * time.Second, rss: 90 << 20, liveHeap: h * (1 << 20), goroutines: g})
		}
		return out
	}
	tests := []struct {
		name    string
		samples []memorySample
		want    bool
	}{
		{"steady", series(func(i int) (float64, float64) { return 16 + float64(i%3), 50 + float64(i%5) }), true},
		{
			"a burst of requests in flight at the last sample",
			series(func(i int) (float64, float64) {
				if i == 30 {
					return 19, 80
				}
				return 16, 45
			}),
			true,
		},
		{"heap leak", series(func(i int) (float64, float64) { return 10 + float64(i), 45 }), false},
		{"goroutine leak", series(func(i int) (float64, float64) { return 16, 40 + 3*float64(i) }), false},
		{"too few samples", series(func(int) (float64, float64) { return 16, 45 })[:2], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, detail := memoryFlat(tt.samples)
			if got != tt.want {
				t.Errorf("memoryFlat = %v (%s), want %v", got, detail, tt.want)
			}
		})
	}
}
