package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canary-guard/canary-guard/bench/load"
	"github.com/canary-guard/canary-guard/bench/procs"
	"github.com/canary-guard/canary-guard/internal/testpki"
)

func TestMemoryFlat(t *testing.T) {
	// series returns one sample every 10 s for 5 minutes with heap and
	// goroutines from level(i), and 10 open sockets.
	series := func(level func(i int) (heapMiB, goroutines float64)) []memorySample {
		var out []memorySample
		for i := 1; i <= 30; i++ {
			h, g := level(i)
			out = append(out, memorySample{at: time.Duration(i) * 10 * time.Second, rss: 90 << 20, liveHeap: h * (1 << 20), goroutines: g, sockets: 10})
		}
		return out
	}
	// withConnections has the generator open connections over the run,
	// from 10 sockets to 70, and goroutines follow them one for one.
	withConnections := func(leakPerSample float64) []memorySample {
		out := series(func(i int) (float64, float64) { return 16, 0 })
		for i := range out {
			sockets := 10 + float64(min(2*i, 60))
			out[i].sockets = sockets
			out[i].goroutines = 30 + sockets + leakPerSample*float64(i)
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
		{"connections opened during the run, a goroutine each", withConnections(0), true},
		{"connections opened and goroutines leaked beyond them", withConnections(2), false},
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

func TestPool(t *testing.T) {
	ms := []measurement{
		{
			res: &load.Result{Requests: 3, Errors: 1, Elapsed: 10 * time.Second, ErrorSamples: []string{"reset"},
				Latencies: []time.Duration{1 * time.Millisecond, 2 * time.Millisecond, 9 * time.Millisecond}, Codes: map[int]int{500: 1}},
			cpuCores: 0.4, generatorCores: 0.2, stealCores: 0.0, peakRSS: 100,
		},
		{
			res: &load.Result{Requests: 2, Wrong: 1, Missed: 1, Elapsed: 30 * time.Second, ErrorSamples: []string{"reset", "wrong"},
				Latencies: []time.Duration{3 * time.Millisecond, 4 * time.Millisecond}, Codes: map[int]int{500: 2}},
			cpuCores: 0.8, generatorCores: 0.4, stealCores: 0.4, peakRSS: 90,
		},
	}
	p := pool(ms)
	r := p.res
	if r.Requests != 5 || r.Errors != 1 || r.Wrong != 1 || r.Missed != 1 || r.Elapsed != 40*time.Second {
		t.Errorf("counts: got %d requests, %d errors, %d wrong, %d missed over %v", r.Requests, r.Errors, r.Wrong, r.Missed, r.Elapsed)
	}
	if want := []time.Duration{1, 2, 3, 4, 9}; len(r.Latencies) != len(want) || r.Latencies[4] != 9*time.Millisecond || r.Latencies[2] != 3*time.Millisecond {
		t.Errorf("latencies are not merged and sorted: %v", r.Latencies)
	}
	if len(r.ErrorSamples) != 2 || r.Codes[500] != 3 {
		t.Errorf("error samples %v, codes %v", r.ErrorSamples, r.Codes)
	}
	// Weighted by time: 0.4 for 10 s and 0.8 for 30 s average 0.7.
	if p.cpuCores < 0.699 || p.cpuCores > 0.701 || p.generatorCores < 0.349 || p.generatorCores > 0.351 || p.stealCores < 0.299 || p.stealCores > 0.301 {
		t.Errorf("cores: server %.3f, generator %.3f, steal %.3f; want 0.7, 0.35, 0.3", p.cpuCores, p.generatorCores, p.stealCores)
	}
	if p.peakRSS != 100 {
		t.Errorf("peak RSS %d, want the highest (100)", p.peakRSS)
	}
}

// TestMeasure_AFailureInTheWarmUpFailsTheRun: the warm-up is not
// measured, but a request that fails in it fails the run.
func TestMeasure_AFailureInTheWarmUpFailsTheRun(t *testing.T) {
	ca, err := testpki.NewCA("warm-up test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ca.WriteServingCert(dir, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not now", http.StatusServiceUnavailable)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()

	s := &procs.Server{Name: "failing", URL: srv.URL, CA: ca}
	cases := []load.Case{{Name: "step", Path: "/validate-inferenceservice", UID: "u", Body: []byte(`{}`), Expect: load.Expect{Allowed: true}}}
	_, err = measure(context.Background(), s, cases, load.Config{Workers: 1, Duration: 100 * time.Millisecond}, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "warm-up:") || !strings.Contains(err.Error(), "requests failed") {
		t.Errorf("err = %v, want the warm-up's failed requests", err)
	}
}
