package webhook

import (
	"testing"

	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/canary-guard/canary-guard/policy"
)

// The API server puts each admission warning in an HTTP Warning header
// (utilnet.NewWarningHeader) and drops, without a word, one it refuses.
func TestWarnings_ReachTheClientAsOneLine(t *testing.T) {
	d := &policy.Decision{Allowed: true, Enforcement: policy.EnforcementWarn, Warnings: []policy.Violation{
		{Rule: "team-bucket", Msg: "model gs://scratch/x is outside the platform buckets:\n\t- gs://acme-models/\n\t- s3://acme-models/"},
		{Rule: "policy-error", Msg: "(warn mode, not enforced) the policy could not be evaluated (evaluating policy: pol/oops.rego:5: eval_conflict_error: rule data.canary_guard.oops_ns produced conflicting values:\n  \"staging-a\" at pol/oops.rego:3\n  \"other\" at pol/oops.rego:5). Retry."},
		{Rule: "max-step", Msg: "unchanged text"},
	}}
	want := []string{
		"canary-guard: [team-bucket] model gs://scratch/x is outside the platform buckets: - gs://acme-models/ - s3://acme-models/",
		"canary-guard: [policy-error] (warn mode, not enforced) the policy could not be evaluated (evaluating policy: pol/oops.rego:5: eval_conflict_error: rule data.canary_guard.oops_ns produced conflicting values: \"staging-a\" at pol/oops.rego:3 \"other\" at pol/oops.rego:5). Retry.",
		"canary-guard: [max-step] unchanged text",
	}
	got := validationResponse(d).Warnings
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %q", got, want)
	}
	for i, w := range got {
		if w != want[i] {
			t.Errorf("warning %d: %q, want %q", i, w, want[i])
		}
		if _, err := utilnet.NewWarningHeader(299, "", w); err != nil {
			t.Errorf("warning %q: the API server would drop it: %v", w, err)
		}
	}
}
