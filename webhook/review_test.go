package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/canary-guard/canary-guard/policy"
)

// withRequestFields sets fields of a review body's request.
func withRequestFields(t *testing.T, body string, fields map[string]any) string {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	req := r["request"].(map[string]any)
	for k, v := range fields {
		req[k] = v
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestDecodeReview_ReadsTheRequestAsTheWebhooksDo(t *testing.T) {
	body := withRequestFields(t, review("UPDATE", "InferenceService", isvcV2, isvcV1), map[string]any{"dryRun": true})
	r, err := DecodeReview([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Operation != policy.OperationUpdate || r.Namespace != "models" || r.Name != "my-model" || !r.DryRun {
		t.Errorf("operation=%s namespace=%s name=%s dryRun=%v", r.Operation, r.Namespace, r.Name, r.DryRun)
	}
	if r.User.Username != "alice" || len(r.User.Groups) != 1 || r.User.Groups[0] != "ml-engineers" {
		t.Errorf("user = %+v", r.User)
	}
	if got := *r.Object.Spec.Predictor.Model.StorageURI; got != "gs://models/flowers-2" {
		t.Errorf("object storageUri = %s", got)
	}
	if got := *r.OldObject.Spec.Predictor.Model.StorageURI; got != "gs://models/flowers" {
		t.Errorf("oldObject storageUri = %s", got)
	}
	if !json.Valid(r.ObjectJSON) || !strings.Contains(string(r.ObjectJSON), "flowers-2") || !strings.Contains(string(r.OldObjectJSON), `flowers"`) {
		t.Errorf("raw objects not kept: %s / %s", r.ObjectJSON, r.OldObjectJSON)
	}
}

func TestDecodeReview_RefusesWhatTheWebhooksRefuseOrSkip(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "garbage JSON", body: "{not json", wantErr: "the AdmissionReview is not valid JSON"},
		{name: "not an AdmissionReview", body: `{"apiVersion":"v1","kind":"ConfigMap"}`, wantErr: `not an AdmissionReview v1: apiVersion "v1", kind "ConfigMap"`},
		{name: "no request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantErr: "has no request"},
		{name: "another kind", body: review("CREATE", "Deployment", `{"kind":"Deployment"}`, ""), wantErr: "InferenceService objects only"},
		{name: "UPDATE without oldObject", body: review("UPDATE", "InferenceService", isvcV2, ""), wantErr: "has no oldObject"},
		{name: "an object that is not an InferenceService", body: review("CREATE", "InferenceService", `{"spec":{"predictor":"x"}}`, ""), wantErr: "decoding object"},
		{name: "DELETE is admitted unevaluated", body: review("DELETE", "InferenceService", "", isvcV1), wantErr: "nothing to evaluate: the webhooks admit DELETE requests unevaluated"},
		{name: "a status update is admitted unevaluated", body: withRequestFields(t, review("UPDATE", "InferenceService", isvcV2, isvcV1), map[string]any{"subResource": "status"}),
			wantErr: "nothing to evaluate: the webhooks admit UPDATE of the status subresource unevaluated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeReview([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestDecodeReview_AcceptsV1beta1Reviews(t *testing.T) {
	body := strings.Replace(review("CREATE", "InferenceService", isvcV1, ""), `"admission.k8s.io/v1"`, `"admission.k8s.io/v1beta1"`, 1)
	if _, err := DecodeReview([]byte(body)); err != nil {
		t.Errorf("v1beta1 review: %v", err)
	}
}

// The validating webhook and a Guard fed by DecodeReview reach the same
// answer on the same review.
func TestDecodeReview_GivesTheValidatingWebhooksDecision(t *testing.T) {
	h := testHandler(t)
	g := shippedGuard(t)
	to100 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":100`, 1)
	to0 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":0`, 1)
	tests := []struct {
		name string
		body string
	}{
		{name: "a jump", body: review("UPDATE", "InferenceService", to100, isvcV2At10)},
		{name: "a rollback", body: review("UPDATE", "InferenceService", to0, isvcV2At10)},
		{name: "a model change without canary", body: review("UPDATE", "InferenceService", isvcV2, isvcV1)},
		{name: "a create", body: review("CREATE", "InferenceService", isvcV1, "")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, h, ValidatePath, "application/json", tc.body)
			r, err := DecodeReview([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			d, err := g.Validate(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != resp.Allowed {
				t.Errorf("DecodeReview + Validate: allowed=%v; webhook: allowed=%v (%+v)", d.Allowed, resp.Allowed, resp.Result)
			}
			if !d.Allowed && !strings.Contains(resp.Result.Message, d.Message()) {
				t.Errorf("webhook message %q lacks %q", resp.Result.Message, d.Message())
			}
		})
	}
}
