package policy

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// The benchmarks decide realistic requests: KServe's rollout samples
// (docs/samples/v1beta1/rollout) as the API server sends them, with the
// status the controller writes.
var benchCases = []struct {
	name     string
	old, new string
}{
	{name: "model change without canary (denied)", old: stableV1, new: newModelNoCanary},
	{name: "step 10 to 35 (admitted)", old: canaryAt(10, true), new: canaryAt(35, true)},
	{name: "jump 10 to 100 (denied)", old: canaryAt(10, true), new: canaryAt(100, true)},
	{name: "rollback to 0 (admitted)", old: canaryAt(35, true), new: canaryAt(0, true)},
}

// servedUpdate builds an UPDATE request as the webhooks decode one: with
// the raw specs, written the same way for both objects as the API server
// writes them.
func servedUpdate(b *testing.B, oldManifest, newManifest string) *Request {
	req := update(b, oldManifest, newManifest)
	var err error
	if req.SpecJSON, err = json.Marshal(&req.Object.Spec); err != nil {
		b.Fatal(err)
	}
	if req.OldSpecJSON, err = json.Marshal(&req.OldObject.Spec); err != nil {
		b.Fatal(err)
	}
	return req
}

func BenchmarkValidate(b *testing.B) {
	g := newGuard(b, "")
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			req := servedUpdate(b, bc.old, bc.new)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Validate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMutate(b *testing.B) {
	g := newGuard(b, "")
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			req := servedUpdate(b, bc.old, bc.new)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Mutate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEval evaluates the shipped policy alone, on inputs built
// beforehand: the OPA part of a validate decision.
func BenchmarkEval(b *testing.B) {
	g := newGuard(b, "")
	st := g.state.Load()
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			req := update(b, bc.old, bc.new)
			settings, config := st.settingsFor(req.Namespace)
			facts, err := BuildFacts(req, FactsOptions{Settings: settings, Now: testNow})
			if err != nil {
				b.Fatal(err)
			}
			input, err := buildInput(g.keys, req, facts, config, st.policy.readsObjects)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.policy.Eval(ctx, input, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBuildFacts(b *testing.B) {
	s := DefaultSettings()
	req := servedUpdate(b, canaryAt(10, true), canaryAt(35, true))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildFacts(req, FactsOptions{Settings: &s, Now: testNow}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateLatency reports the median and 99th percentile of one
// validate decision (p50-ns, p99-ns) over a realistic mix of requests.
func BenchmarkValidateLatency(b *testing.B) {
	g := newGuard(b, "")
	ctx := context.Background()
	reqs := make([]*Request, len(benchCases))
	for i, bc := range benchCases {
		reqs[i] = servedUpdate(b, bc.old, bc.new)
	}
	samples := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, err := g.Validate(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		i++
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
}
