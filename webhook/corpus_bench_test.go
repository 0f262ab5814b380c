package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/canary-guard/canary-guard/bench/load"
	"github.com/canary-guard/canary-guard/policy"
)

// benchCorpus runs each over the load corpus (bench/load: full stored
// InferenceServices with managed fields and status), one review per
// iteration, round robin.
func benchCorpus(b *testing.B, each func(b *testing.B, c *load.Case)) {
	cases, err := load.Corpus(load.CorpusOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		each(b, &cases[i%len(cases)])
		i++
	}
}

// BenchmarkCorpus sends the load corpus through both handlers in
// process: the server's cost per review without TLS and HTTP.
func BenchmarkCorpus(b *testing.B) {
	h := testHandler(b)
	benchCorpus(b, func(b *testing.B, c *load.Case) {
		req := httptest.NewRequest(http.MethodPost, c.Path, bytes.NewReader(c.Body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: status %d", c.Name, rec.Code)
		}
	})
}

// BenchmarkDecodeCorpus decodes the load corpus's reviews: the share of
// the server's cost per review that is JSON decoding.
func BenchmarkDecodeCorpus(b *testing.B) {
	benchCorpus(b, func(b *testing.B, c *load.Case) {
		if _, err := decodeReview(c.Body); err != nil {
			b.Fatalf("%s: %v", c.Name, err)
		}
	})
}

// BenchmarkFactsCorpus computes the rollout facts of the load corpus's
// decoded updates, with the raw specs as the webhooks have them (raw) and
// without (decoded), which compares every component field by field.
func BenchmarkFactsCorpus(b *testing.B) {
	cases, err := load.Corpus(load.CorpusOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var reqs []*policy.Request
	for _, c := range cases {
		review, err := decodeReview(c.Body)
		if err != nil {
			b.Fatalf("%s: %v", c.Name, err)
		}
		if r, err := decode(review.Request); err == nil && r.OldObject != nil {
			reqs = append(reqs, r)
		}
	}
	settings := policy.DefaultSettings()
	opts := policy.FactsOptions{Settings: &settings, Now: time.Now()}
	for _, raw := range []bool{true, false} {
		name := "decoded"
		if raw {
			name = "raw"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := *reqs[i%len(reqs)]
				if !raw {
					r.SpecJSON, r.OldSpecJSON = nil, nil
				}
				if _, err := policy.BuildFacts(&r, opts); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
