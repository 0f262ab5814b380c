package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkHandler measures a whole admission request in process:
// decoding the AdmissionReview, deciding, and encoding the answer.
func BenchmarkHandler(b *testing.B) {
	h := testHandler(b)
	to100 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":100`, 1)
	to35 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":35`, 1)
	cases := []struct{ name, path, body string }{
		{"validate/jump denied", ValidatePath, review("UPDATE", "InferenceService", to100, isvcV2At10)},
		{"validate/step admitted", ValidatePath, review("UPDATE", "InferenceService", to35, isvcV2At10)},
		{"mutate/model change injected", MutatePath, review("UPDATE", "InferenceService", isvcV2, isvcV1)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
