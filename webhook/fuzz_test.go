package webhook

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/canary-guard/canary-guard/bench/load"
	"github.com/canary-guard/canary-guard/policy"
)

// fuzzSeeds are real AdmissionReviews: KServe's rollout sample as it goes
// through a canary rollout, plus a few bad ones.
func fuzzSeeds() []string {
	to100 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":100`, 1)
	to0 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":0`, 1)
	// A model change keeping 100 that an apply declares: the mutating
	// webhook reads the managed fields from the raw object
	// (Request.LoadObjects) and kubectl's last-applied-configuration.
	at100 := func(obj, metadata string) string {
		obj = strings.Replace(obj, `"namespace":"models"}`, `"namespace":"models",`+metadata+`}`, 1)
		return strings.Replace(obj, `"predictor":{`, `"predictor":{"canaryTrafficPercent":100,`, 1)
	}
	const ssa = `"managedFields":[{"manager":"kustomize-controller","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:predictor":{"f:canaryTrafficPercent":{}}}}}]`
	const csa = `"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"spec\":{\"predictor\":{\"canaryTrafficPercent\":100}}}"}`
	return []string{
		review("UPDATE", "InferenceService", at100(isvcV2, ssa), at100(isvcV1, ssa)),
		review("UPDATE", "InferenceService", at100(isvcV2, csa), at100(isvcV1, csa)),
		review("CREATE", "InferenceService", isvcV1, ""),
		review("UPDATE", "InferenceService", isvcV2, isvcV1),
		review("UPDATE", "InferenceService", isvcV2At10, isvcV1),
		review("UPDATE", "InferenceService", to100, isvcV2At10),
		review("UPDATE", "InferenceService", to0, isvcV2At10),
		review("UPDATE", "InferenceService", isvcV2Promoted, isvcV2At10),
		review("UPDATE", "InferenceService", isvcV2, ""),
		review("DELETE", "InferenceService", "", isvcV1),
		review("CREATE", "Deployment", `{"kind":"Deployment"}`, ""),
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		"{not json",
		"",
	}
}

// serveFuzz posts body to path and checks what every answer must be: an
// AdmissionReview with a response, a 400 for input that is not JSON, no
// recovered panic, and never an admission of input that is not JSON.
func serveFuzz(t *testing.T, h http.Handler, path string, body []byte) *admissionv1.AdmissionResponse {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, rec.Body.String())
	}
	resp := out.Response
	if resp == nil {
		t.Fatalf("AdmissionReview without response: %s", rec.Body.String())
	}
	if resp.Result != nil && resp.Result.Code == http.StatusInternalServerError {
		t.Fatalf("internal error (panic?): %s", resp.Result.Message)
	}
	// The mutating webhook answers a panic or a failed mutation with an
	// admission and this warning.
	for _, w := range resp.Warnings {
		if strings.Contains(w, "so none were made") {
			t.Fatalf("mutation failed (panic?): %s", w)
		}
	}
	if !json.Valid(body) {
		if resp.Allowed {
			t.Fatalf("body that is not JSON was admitted: %q", body)
		}
		if resp.Result == nil || resp.Result.Code != http.StatusBadRequest {
			t.Fatalf("body that is not JSON: result %+v, want 400", resp.Result)
		}
	}
	if !resp.Allowed && (resp.Result == nil || resp.Result.Message == "") {
		t.Fatalf("denied without a message: %+v", resp)
	}
	return resp
}

func FuzzValidateHandler(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	h := testHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		serveFuzz(t, h, ValidatePath, body)
	})
}

func FuzzMutateHandler(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	h := testHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := serveFuzz(t, h, MutatePath, body)
		if len(resp.Patch) == 0 {
			return
		}
		if !resp.Allowed {
			t.Fatalf("a patch on a denied request: %s", resp.Patch)
		}
		// The patch applies to the object it was computed for, when the
		// object has the metadata every object from the API server has.
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("patched a request that does not decode: %v", err)
		}
		var obj map[string]any
		if json.Unmarshal(in.Request.Object.Raw, &obj) != nil {
			return
		}
		if _, ok := obj["metadata"].(map[string]any); !ok {
			return
		}
		p, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("patch is not a JSON patch: %v\n%s", err, resp.Patch)
		}
		if _, err := p.Apply(in.Request.Object.Raw); err != nil {
			t.Fatalf("patch does not apply to the object: %v\npatch %s\nobject %s", err, resp.Patch, in.Request.Object.Raw)
		}
	})
}

// FuzzRawSpecFacts checks the facts of every review that decodes against
// the same review's facts computed without the raw specs: settling a step
// on the raw specs must never give other facts than comparing the decoded
// specs field by field.
func FuzzRawSpecFacts(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte(review("UPDATE", "InferenceService",
		strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":35`, 1), isvcV2At10)))
	cases, err := load.Corpus(load.CorpusOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add(c.Body)
	}
	settings := policy.DefaultSettings()
	opts := policy.FactsOptions{Settings: &settings, Now: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, body []byte) {
		decodedReview, err := decodeReview(body)
		if err != nil {
			return
		}
		r, err := decode(decodedReview.Request)
		if err != nil {
			return
		}
		got, err := policy.BuildFacts(r, opts)
		if err != nil {
			return
		}
		decoded := *r
		decoded.SpecJSON, decoded.OldSpecJSON = nil, nil
		want, err := policy.BuildFacts(&decoded, opts)
		if err != nil {
			t.Fatalf("facts fail only without the raw specs: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("facts with the raw specs differ:\n got  %+v\n want %+v\nbody %s", got, want, body)
		}
	})
}
