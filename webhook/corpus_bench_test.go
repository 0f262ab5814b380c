package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/canary-guard/canary-guard/bench/load"
)

// BenchmarkCorpus sends the load corpus (bench/load: full stored
// InferenceServices with managed fields and status) through both
// handlers in process, round robin: the server's cost per review
// without TLS and HTTP.
func BenchmarkCorpus(b *testing.B) {
	h := testHandler(b)
	cases, err := load.Corpus(load.CorpusOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := &cases[i%len(cases)]
		i++
		req := httptest.NewRequest(http.MethodPost, c.Path, bytes.NewReader(c.Body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: status %d", c.Name, rec.Code)
		}
	}
}

// BenchmarkDecodeCorpus decodes the load corpus's reviews: the share of
// the server's cost per review that is JSON decoding.
func BenchmarkDecodeCorpus(b *testing.B) {
	cases, err := load.Corpus(load.CorpusOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := &cases[i%len(cases)]
		i++
		if _, err := decodeReview(c.Body); err != nil {
			b.Fatalf("%s: %v", c.Name, err)
		}
	}
}
