package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/canary-guard/canary-guard/policy"
)

// shippedGuard is a guard on the shipped bundle and the default settings.
func shippedGuard(t testing.TB, opts ...policy.GuardOption) *policy.Guard {
	t.Helper()
	p, cfg, err := policy.Loader{}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := policy.NewGuard(p, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// testHandler serves both webhooks with the shipped bundle and defaults.
func testHandler(t testing.TB) http.Handler {
	t.Helper()
	g := shippedGuard(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	obs := Observers{Log: log, Metrics: NewMetrics(prometheus.NewRegistry()), Decisions: NewDecisionLog(log, true, 0)}
	mux := http.NewServeMux()
	mux.Handle(MutatePath, NewMutator(g, obs))
	mux.Handle(ValidatePath, NewValidator(g, obs))
	return mux
}

const (
	isvcV1 = `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"my-model","namespace":"models"},
	"spec":{"predictor":{"model":{"modelFormat":{"name":"tensorflow"},"storageUri":"gs://models/flowers"}}}}`
	isvcV2 = `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"my-model","namespace":"models"},
	"spec":{"predictor":{"model":{"modelFormat":{"name":"tensorflow"},"storageUri":"gs://models/flowers-2"}}}}`
	isvcV2At10 = `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"my-model","namespace":"models"},
	"spec":{"predictor":{"canaryTrafficPercent":10,"model":{"modelFormat":{"name":"tensorflow"},"storageUri":"gs://models/flowers-2"}}},
	"status":{"components":{"predictor":{"latestReadyRevision":"my-model-predictor-00002","latestCreatedRevision":"my-model-predictor-00002","latestRolledoutRevision":"my-model-predictor-00001"}}}}`
	isvcV2Promoted = `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"my-model","namespace":"models"},
	"spec":{"predictor":{"model":{"modelFormat":{"name":"tensorflow"},"storageUri":"gs://models/flowers-2"}}}}`
)

// review builds an AdmissionReview v1 body.
func review(op, kind, object, oldObject string) string {
	r := map[string]any{
		"uid":       "uid-1",
		"kind":      map[string]string{"group": "serving.kserve.io", "version": "v1beta1", "kind": kind},
		"resource":  map[string]string{"group": "serving.kserve.io", "version": "v1beta1", "resource": "inferenceservices"},
		"namespace": "models", "name": "my-model", "operation": op,
		"userInfo": map[string]any{"username": "alice", "groups": []string{"ml-engineers"}},
	}
	if object != "" {
		r["object"] = json.RawMessage(object)
	}
	if oldObject != "" {
		r["oldObject"] = json.RawMessage(oldObject)
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": r})
	return string(b)
}

// post sends a body to a webhook path and decodes the AdmissionReview answer.
func post(t testing.TB, h http.Handler, path, contentType, body string) *admissionv1.AdmissionResponse {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, rec.Body.String())
	}
	if out.Response == nil {
		t.Fatalf("AdmissionReview without response: %s", rec.Body.String())
	}
	return out.Response
}

func TestHandlers_BadInputGetsAClearErrorAndTheServerKeepsServing(t *testing.T) {
	h := testHandler(t)
	noImpl := `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"my-model"},"spec":{"predictor":{}}}`
	tests := []struct {
		name        string
		contentType string
		body        string
		wantAllowed bool
		wantCode    int32
		wantMessage string
	}{
		{name: "garbage JSON", body: "{not json", wantCode: 400, wantMessage: "not valid JSON"},
		{name: "empty body", body: "", wantCode: 400, wantMessage: "the request body is empty"},
		{name: "AdmissionReview without request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantCode: 400, wantMessage: "no request"},
		{name: "wrong content type", contentType: "text/plain", body: review("CREATE", "InferenceService", isvcV1, ""), wantCode: 400, wantMessage: "contentType"},
		{name: "not an InferenceService", body: review("CREATE", "Deployment", `{"kind":"Deployment"}`, ""), wantCode: 400, wantMessage: "InferenceService objects only"},
		{name: "UPDATE without oldObject", body: review("UPDATE", "InferenceService", isvcV2, ""), wantCode: 400, wantMessage: "no oldObject"},
		{name: "UPDATE without object", body: review("UPDATE", "InferenceService", "", isvcV1), wantCode: 400, wantMessage: "no object"},
		{name: "object that is not JSON of an InferenceService", body: review("CREATE", "InferenceService", `{"spec":{"predictor":"x"}}`, ""), wantCode: 400, wantMessage: "decoding object"},
		{name: "object without a predictor implementation", body: review("UPDATE", "InferenceService", noImpl, noImpl), wantAllowed: true},
		{name: "DELETE needs no decision", body: review("DELETE", "InferenceService", "", isvcV1), wantAllowed: true},
	}
	for _, path := range []string{MutatePath, ValidatePath} {
		for _, tc := range tests {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				ct := tc.contentType
				if ct == "" {
					ct = "application/json"
				}
				resp := post(t, h, path, ct, tc.body)
				if resp.Allowed != tc.wantAllowed {
					t.Errorf("allowed = %v, want %v (%+v)", resp.Allowed, tc.wantAllowed, resp.Result)
				}
				if tc.wantCode != 0 && (resp.Result == nil || resp.Result.Code != tc.wantCode) {
					t.Errorf("result = %+v, want code %d", resp.Result, tc.wantCode)
				}
				if tc.wantMessage != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tc.wantMessage)) {
					t.Errorf("result = %+v, want message containing %q", resp.Result, tc.wantMessage)
				}
				// The server still answers a good request after a bad one.
				good := post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10))
				if !good.Allowed {
					t.Errorf("good request after bad input was not admitted: %+v", good.Result)
				}
			})
		}
	}
}

func TestMutate_ModelChangeGetsInitialCanaryAndTagRouting(t *testing.T) {
	h := testHandler(t)
	resp := post(t, h, MutatePath, "application/json", review("UPDATE", "InferenceService", isvcV2, isvcV1))
	if !resp.Allowed {
		t.Fatalf("not allowed: %+v", resp.Result)
	}
	var patch []map[string]any
	if err := json.Unmarshal(resp.Patch, &patch); err != nil {
		t.Fatalf("patch: %v", err)
	}
	want := map[string]any{
		"/spec/predictor/canaryTrafficPercent": float64(10),
		"/metadata/annotations":                map[string]any{"serving.kserve.io/enable-tag-routing": "true"},
	}
	if len(patch) != len(want) {
		t.Fatalf("patch = %v, want %v", patch, want)
	}
	for _, op := range patch {
		w, ok := want[op["path"].(string)]
		if !ok || op["op"] != "add" {
			t.Errorf("unexpected patch op %v", op)
			continue
		}
		got, _ := json.Marshal(op["value"])
		exp, _ := json.Marshal(w)
		if !bytes.Equal(got, exp) {
			t.Errorf("%s = %s, want %s", op["path"], got, exp)
		}
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "canaryTrafficPercent set to 10") {
		t.Errorf("warnings = %q, want the injection explained", resp.Warnings)
	}
}

func TestMutate_UnrelatedUpdateIsNotPatched(t *testing.T) {
	h := testHandler(t)
	// Setting the percent on an update that creates no revision would send
	// traffic back to the previous model: nothing may be injected.
	resp := post(t, h, MutatePath, "application/json", review("UPDATE", "InferenceService", isvcV2Promoted, isvcV2Promoted))
	if !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("allowed=%v patch=%s, want allowed with no patch", resp.Allowed, resp.Patch)
	}
}

func TestValidate_JumpAboveStepIsDeniedWithTheNextStep(t *testing.T) {
	h := testHandler(t)
	to100 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":100`, 1)
	resp := post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", to100, isvcV2At10))
	if resp.Allowed {
		t.Fatal("10 → 100 was admitted")
	}
	want := "[max-step] spec.predictor.canaryTrafficPercent 10 → 100 rises by 90; at most 25 per update. Set 35 now, or 0 to roll back."
	if resp.Result == nil || resp.Result.Code != http.StatusForbidden || !strings.Contains(resp.Result.Message, want) {
		t.Errorf("result = %+v, want 403 with %q", resp.Result, want)
	}
}

func TestValidate_RollbackIsAdmitted(t *testing.T) {
	h := testHandler(t)
	to0 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":0`, 1)
	resp := post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", to0, isvcV2At10))
	if !resp.Allowed {
		t.Errorf("rollback denied: %+v", resp.Result)
	}
}

func TestDecisionTimeout_LeavesTimeToAnswer(t *testing.T) {
	tests := []struct {
		query string
		want  time.Duration
	}{
		{"timeout=10s", 9500 * time.Millisecond},
		{"timeout=1s", 800 * time.Millisecond},
		{"dryRun=All&timeout=2s", 1600 * time.Millisecond},
		{"timeout=30s", 29500 * time.Millisecond},
		// No readable timeout: the API server's default, never unbounded.
		{"", 9500 * time.Millisecond},
		{"dryRun=All", 9500 * time.Millisecond},
		{"timeout=soon", 9500 * time.Millisecond},
		{"timeout=0s", 9500 * time.Millisecond},
		{"timeout=-1s", 9500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := decisionTimeout(tt.query); got != tt.want {
			t.Errorf("decisionTimeout(%q) = %v, want %v", tt.query, got, tt.want)
		}
	}
}

func TestHandlers_DecideWithinTheAPIServersTimeout(t *testing.T) {
	var deadline time.Time
	var hasDeadline bool
	h := newReviewHandler("validate", &Observers{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(prometheus.NewRegistry())},
		func(ctx context.Context, _ *wireRequest, _ func() ([]byte, []byte, error)) *admissionv1.AdmissionResponse {
			deadline, hasDeadline = ctx.Deadline()
			return allowedResponse()
		})
	start := time.Now()
	post(t, h, ValidatePath+"?timeout=2s", "application/json", review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10))
	if !hasDeadline || deadline.Sub(start) > 1700*time.Millisecond || deadline.Sub(start) < time.Second {
		t.Errorf("deadline %v after the request (set: %v), want 1.6 s for the API server's 2 s", deadline.Sub(start), hasDeadline)
	}
	// Without ?timeout= (no API server sends that), the API server's
	// default bounds the request: a wait for an evaluation slot under
	// --eval-timeout 0 would otherwise never end.
	start = time.Now()
	post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10))
	if !hasDeadline || deadline.Sub(start) > 9600*time.Millisecond || deadline.Sub(start) < 9*time.Second {
		t.Errorf("deadline %v after a request without ?timeout= (set: %v), want 9.5 s for the API server's default 10 s", deadline.Sub(start), hasDeadline)
	}
}

// A server-side apply (Flux, Argo CD's ServerSideApply) that owns the
// percent keeps it: the managedFields the API server sends say so, and
// injecting over it would be set back by the next sync.
func TestMutate_PercentOwnedByAServerSideApplyIsNotInjectedOver(t *testing.T) {
	h := testHandler(t)
	const managed = `"managedFields":[{"manager":"kserve-manager","operation":"Update","time":"2026-11-25T12:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:finalizers":{}}}},` +
		`{"manager":"kustomize-controller","operation":"Apply","time":"2026-11-25T12:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:predictor":{"f:canaryTrafficPercent":{},"f:model":{"f:storageUri":{}}}}}}]`
	withPercent := func(obj, pct string) string {
		obj = strings.Replace(obj, `"namespace":"models"}`, `"namespace":"models",`+managed+`}`, 1)
		return strings.Replace(obj, `"predictor":{`, `"predictor":{"canaryTrafficPercent":`+pct+`,`, 1)
	}
	resp := post(t, h, MutatePath, "application/json", review("UPDATE", "InferenceService", withPercent(isvcV2, "100"), withPercent(isvcV1, "100")))
	if !resp.Allowed {
		t.Fatalf("not allowed: %+v", resp.Result)
	}
	if strings.Contains(string(resp.Patch), "canaryTrafficPercent") {
		t.Errorf("patch %s injects a percent the server-side apply owns", resp.Patch)
	}
	resp = post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", withPercent(isvcV2, "100"), withPercent(isvcV1, "100")))
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "[initial-percent]") {
		t.Errorf("validation %+v, want the initial-percent denial", resp.Result)
	}
}
