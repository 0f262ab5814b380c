package webhook

import (
	"strings"
	"testing"
	"unicode/utf8"

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

// Past 4096 characters of warnings in all the API server cuts each to
// 256, losing every next step: canary-guard's own stay within a budget.
func TestWarnings_StayWithinTheBudgetTheAPIServerCutsAt(t *testing.T) {
	long := func(rule string, n int) policy.Violation {
		return policy.Violation{Rule: rule, Msg: strings.Repeat("x", n-3) + " 35"}
	}
	tests := []struct {
		name      string
		vs        []policy.Violation
		wantKept  []string // the rules of the warnings kept whole, in order
		wantLast  string   // in the last warning
		wantCount int
	}{
		{name: "within the budget all are kept", vs: []policy.Violation{long("a", 800), long("b", 800), long("c", 800)},
			wantKept: []string{"a", "b", "c"}, wantCount: 3},
		{name: "the ones that do not fit make way for one naming their rules",
			vs:       []policy.Violation{long("a", 900), long("b", 900), long("c", 900), long("d", 900), long("c", 500)},
			wantKept: []string{"a", "b"}, wantLast: "[warnings-left-out] 3 more warnings, of c, d, are left out", wantCount: 3},
		{name: "one longer than the budget is cut short", vs: []policy.Violation{long("huge", 5000), long("b", 100)},
			wantLast: "[warnings-left-out] 1 more warnings, of b, are left out", wantCount: 2},
		{name: "a single one longer than the budget is cut short alone", vs: []policy.Violation{long("huge", 5000)},
			wantLast: "…", wantCount: 1},
		{name: "just within the budget all are kept", vs: []policy.Violation{long("a", 1200), long("b", 1250)},
			wantKept: []string{"a", "b"}, wantCount: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := warningStrings(tc.vs, validateWarningBudget)
			if len(got) != tc.wantCount {
				t.Fatalf("%d warnings, want %d", len(got), tc.wantCount)
			}
			total := 0
			for i, w := range got {
				total += utf8.RuneCountInString(w)
				if _, err := utilnet.NewWarningHeader(299, "", w); err != nil {
					t.Errorf("warning %d: the API server would drop it: %v", i, err)
				}
			}
			if total > validateWarningBudget {
				t.Errorf("%d characters in all, over the budget of %d", total, validateWarningBudget)
			}
			for i, rule := range tc.wantKept {
				if !strings.HasPrefix(got[i], "canary-guard: ["+rule+"] ") || !strings.HasSuffix(got[i], " 35") {
					t.Errorf("warning %d is not %s's, whole: %.60q", i, rule, got[i])
				}
			}
			if last := got[len(got)-1]; tc.wantLast != "" && !strings.Contains(last, tc.wantLast) {
				t.Errorf("last warning %.80q, want it to contain %q", last, tc.wantLast)
			}
			if tc.wantLast == "…" && strings.Contains(strings.Join(got, ""), "warnings-left-out") {
				t.Errorf("a notice of none left out: %q", got[len(got)-1])
			}
		})
	}
}

// A model change in the predictor, the transformer and the explainer: each
// gets its canary-injected warning, within the mutating webhook's budget.
func TestWarnings_TheMutatingWebhookKeepsOneInjectionPerComponent(t *testing.T) {
	injected := func(path string) policy.Violation {
		return policy.Violation{Rule: "canary-injected", Msg: path + ": the model changes from s3://acme-ml-models/fraud-detection/xgboost/2026-11-01/model to s3://acme-ml-models/fraud-detection/xgboost/2026-11-20/model; " +
			path + ".canaryTrafficPercent set to 10 (was absent) so it enters as a canary. Raise it step by step (at most 25 per update), remove the field to promote, or set 0 to roll back."}
	}
	m := &policy.Mutation{Warnings: []policy.Violation{injected("spec.predictor"), injected("spec.transformer"), injected("spec.explainer")}}
	got := mutationResponse(m).Warnings
	if len(got) != 3 || strings.Contains(strings.Join(got, ""), "warnings-left-out") {
		t.Errorf("warnings %q, want the three injections", got)
	}
}
