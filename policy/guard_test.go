package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
)

// promotedOverV0 is stableV1 rolled out over a revision before it: a
// percent below 100 sends traffic back there (with none, KServe splits
// 00001 with itself).
var promotedOverV0 = strings.Replace(stableV1, "latestRolledoutRevision: my-model-predictor-00001}",
	"latestRolledoutRevision: my-model-predictor-00001, previousRolledoutRevision: my-model-predictor-00000}", 1)

// Manifests of one Knative rollout, with the status KServe writes.
const (
	stableV1 = `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1"}
status:
  components:
    predictor: {latestReadyRevision: my-model-predictor-00001, latestCreatedRevision: my-model-predictor-00001, latestRolledoutRevision: my-model-predictor-00001}
`
	newModelNoCanary = `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v2"}
`
	newModelAt10 = `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    canaryTrafficPercent: 10
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v2"}
`
	newModelAt50 = `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    canaryTrafficPercent: 50
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v2"}
`
)

// canaryAt returns the rollout of v2 at percent p (p < 0: field absent),
// with status saying whether the canary revision is ready.
func canaryAt(p int, ready bool) string {
	pct := ""
	if p >= 0 {
		pct = "canaryTrafficPercent: " + itoa(p)
	}
	readyRev := "my-model-predictor-00002"
	if !ready {
		readyRev = "my-model-predictor-00001"
	}
	return `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    ` + pct + `
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v2"}
status:
  components:
    predictor: {latestReadyRevision: ` + readyRev + `, latestCreatedRevision: my-model-predictor-00002, latestRolledoutRevision: my-model-predictor-00001}
`
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	if neg {
		s = "-" + s
	}
	return s
}

func rules(vs []Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Rule
	}
	return out
}

func hasRule(vs []Violation, rule string) bool {
	for _, v := range vs {
		if v.Rule == rule {
			return true
		}
	}
	return false
}

func TestValidate_RolloutSteps(t *testing.T) {
	tests := []struct {
		name        string
		config      string
		old, new    string
		wantAllowed bool
		wantDeny    string
		wantWarn    string
	}{
		{name: "model change without canary is denied", old: stableV1, new: newModelNoCanary, wantDeny: "canary-required"},
		{name: "model change at the initial percent is admitted", old: stableV1, new: newModelAt10, wantAllowed: true},
		{name: "model change above the initial percent is denied", old: stableV1, new: newModelAt50, wantDeny: "initial-percent"},
		{name: "10 to 35 is admitted", old: canaryAt(10, true), new: canaryAt(35, true), wantAllowed: true},
		{name: "10 to 100 is denied", old: canaryAt(10, true), new: canaryAt(100, true), wantDeny: "max-step"},
		{name: "promotion by removing the field from 10 is denied", old: canaryAt(10, true), new: canaryAt(-1, true), wantDeny: "max-step"},
		{name: "promotion by removing the field from 75 is admitted", old: canaryAt(75, true), new: canaryAt(-1, true), wantAllowed: true},
		{name: "rollback to 0 from 85 is admitted", old: canaryAt(85, true), new: canaryAt(0, true), wantAllowed: true},
		{name: "lowering 60 to 35 is admitted", old: canaryAt(60, true), new: canaryAt(35, true), wantAllowed: true},
		{name: "a rise while the canary is not ready is denied", old: canaryAt(10, false), new: canaryAt(35, false), wantDeny: "canary-not-ready"},
		{name: "a rise while not ready is admitted when readiness is not required", config: "requireReadyCanary: false", old: canaryAt(10, false), new: canaryAt(35, false), wantAllowed: true},
		{name: "a rise with no status is admitted with a warning", old: newModelAt10, new: strings.Replace(newModelAt10, "10", "35", 1), wantAllowed: true, wantWarn: "canary-ready-unknown"},
		{name: "percent above 100 is denied", old: canaryAt(10, true), new: canaryAt(150, true), wantDeny: "percent-range"},
		{name: "a larger step cap admits 10 to 60", config: "maxStepPercent: 50", old: canaryAt(10, true), new: canaryAt(60, true), wantAllowed: true},
		{name: "a new model mid-rollout restarts with a warning", old: canaryAt(35, true), new: strings.Replace(canaryAt(10, true), "gs://models/v2", "gs://models/v3", 1), wantAllowed: true, wantWarn: "mid-rollout-restart"},
		{name: "a new model mid-rollout is denied in deny mode", config: "midRolloutModelChange: deny", old: canaryAt(35, true), new: strings.Replace(canaryAt(10, true), "gs://models/v2", "gs://models/v3", 1), wantDeny: "mid-rollout"},
		{name: "a percent below 100 after full promotion warns of the previous model", old: promotedOverV0, new: strings.Replace(stableV1, "    model:", "    canaryTrafficPercent: 20\n    model:", 1), wantAllowed: true, wantWarn: "traffic-to-previous"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, tc.config)
			d, err := g.Validate(context.Background(), update(t, tc.old, tc.new))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v; denials %v", d.Allowed, tc.wantAllowed, d.Denials)
			}
			if tc.wantDeny != "" && !hasRule(d.Denials, tc.wantDeny) {
				t.Errorf("denials %v, want rule %s", rules(d.Denials), tc.wantDeny)
			}
			if tc.wantWarn != "" && !hasRule(d.Warnings, tc.wantWarn) {
				t.Errorf("warnings %v, want rule %s", rules(d.Warnings), tc.wantWarn)
			}
		})
	}
}

func TestValidate_EnforcementModes(t *testing.T) {
	config := `
namespaces:
- match: "staging-*"
  enforcement: warn
- match: "sandbox"
  enforcement: audit
`
	tests := []struct {
		namespace    string
		wantAllowed  bool
		wantWarnings bool
	}{
		{namespace: "models", wantAllowed: false},
		{namespace: "staging-eu", wantAllowed: true, wantWarnings: true},
		{namespace: "sandbox", wantAllowed: true, wantWarnings: false},
	}
	for _, tc := range tests {
		t.Run(tc.namespace, func(t *testing.T) {
			g := newGuard(t, config)
			req := update(t, canaryAt(10, true), canaryAt(100, true))
			req.Namespace = tc.namespace
			d, err := g.Validate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v", d.Allowed, tc.wantAllowed)
			}
			if got := hasRule(d.Warnings, "max-step"); got != tc.wantWarnings {
				t.Errorf("max-step among warnings = %v, want %v (%v)", got, tc.wantWarnings, d.Warnings)
			}
			if !hasRule(d.Denials, "max-step") {
				t.Errorf("the decision must still record the denial for logs and metrics: %v", d.Denials)
			}
		})
	}
}

func TestValidate_Override(t *testing.T) {
	withOverride := func(manifest, reason string) string {
		return strings.Replace(manifest, "metadata: {name: my-model, namespace: models}",
			"metadata: {name: my-model, namespace: models, annotations: {canary-guard.dev/override: \""+reason+"\"}}", 1)
	}
	tests := []struct {
		name        string
		groups      []string
		old, new    string
		wantAllowed bool
		wantWarn    string
		wantMsg     string // in the wantWarn warning
		config      string // added to the override groups
	}{
		{name: "an allowed group lifts the rules for this update", groups: []string{"sre"},
			old: canaryAt(10, true), new: withOverride(canaryAt(100, true), "INC-42 hotfix"), wantAllowed: true, wantWarn: "override"},
		{name: "a user outside the groups is ignored", groups: []string{"ml-engineers"},
			old: canaryAt(10, true), new: withOverride(canaryAt(100, true), "please"), wantWarn: "override-ignored"},
		// Left from an earlier update (an annotate of its own): the
		// refusal says so, and how to override it.
		{name: "a stale override does nothing and says how to override", groups: []string{"sre"},
			old: withOverride(canaryAt(10, true), "INC-42 hotfix"), new: withOverride(canaryAt(100, true), "INC-42 hotfix"),
			wantWarn: "override-stale", wantMsg: `the annotation canary-guard.dev/override ("INC-42 hotfix") was set by an earlier update and lifts nothing now`},
		{name: "a stale override of a user outside the groups says whom to ask", groups: []string{"ml-engineers"},
			old: withOverride(canaryAt(10, true), "INC-42 hotfix"), new: withOverride(canaryAt(100, true), "INC-42 hotfix"),
			wantWarn: "override-stale", wantMsg: "and only from members of sre. To override this refusal, ask one of them to set a new reason in the update that makes this change."},
		{name: "an override where ruleEnforcement lets every denial through says it lifted nothing", groups: []string{"sre"},
			old: canaryAt(10, true), new: withOverride(canaryAt(100, true), "INC-42 hotfix"), wantAllowed: true, config: "ruleEnforcement: {max-step: warn}\n",
			wantWarn: "override", wantMsg: "lifted nothing: nothing in this update is refused here"},
		// kubectl annotate on its own: the rules refuse nothing there.
		{name: "an override set alone says it lifted nothing", groups: []string{"sre"},
			old: canaryAt(10, true), new: withOverride(canaryAt(10, true), "INC-42 hotfix"), wantAllowed: true,
			wantWarn: "override", wantMsg: `lifted nothing: nothing in this update is refused here (no rule refuses it, or ruleEnforcement lets what they deny through), and the next update is checked again. An override lifts the rules only for the update that sets or changes it: put it in the same update as the change it is for: kubectl patch inferenceservice my-model -n models --type merge -p '{"metadata":{"annotations":{"canary-guard.dev/override":"<reason>"}},"spec":{...the change...}}'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, "override: {groups: [sre]}\n"+tc.config)
			req := update(t, tc.old, tc.new)
			req.User.Groups = tc.groups
			d, err := g.Validate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v (%v)", d.Allowed, tc.wantAllowed, d.Denials)
			}
			if tc.wantWarn != "" && !hasRule(d.Warnings, tc.wantWarn) {
				t.Errorf("warnings %v, want %s", rules(d.Warnings), tc.wantWarn)
			}
			for _, w := range d.Warnings {
				if w.Rule == tc.wantWarn && !strings.Contains(w.Msg, tc.wantMsg) {
					t.Errorf("[%s] %s\nwant it to contain %s", w.Rule, w.Msg, tc.wantMsg)
				}
			}
			if tc.wantWarn != "override-stale" && hasRule(d.Warnings, "override-stale") {
				t.Errorf("warnings %v: a fresh override or none is not stale", rules(d.Warnings))
			}
		})
	}
}

func TestValidate_ExemptUsersPassUnevaluated(t *testing.T) {
	g := newGuard(t, "exempt: {users: [system:serviceaccount:kserve:kserve-controller-manager], groups: [break-glass]}")
	for _, user := range []UserInfo{
		{Username: "system:serviceaccount:kserve:kserve-controller-manager"},
		{Username: "bob", Groups: []string{"break-glass"}},
	} {
		req := update(t, canaryAt(10, true), canaryAt(100, true))
		req.User = user
		d, err := g.Validate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Reason != "exempt" || d.Facts != nil {
			t.Errorf("%v: allowed=%v reason=%q, want exempt and unevaluated", user, d.Allowed, d.Reason)
		}
	}
}

func TestValidate_RollbackIsAdmittedWhateverCustomRulesSay(t *testing.T) {
	custom := Source{Name: "custom/deny_all.rego", Content: []byte(`package canary_guard

deny contains {"rule": "deny-everything", "msg": "no"} if true
`)}
	g := guardWith(t, custom)
	tests := []struct {
		name     string
		old, new string
		want     bool
	}{
		{name: "rollback to 0", old: canaryAt(35, true), new: canaryAt(0, true), want: true},
		{name: "lowering", old: canaryAt(35, true), new: canaryAt(10, true), want: true},
		{name: "finalizer update by the controller", old: canaryAt(35, true), new: strings.Replace(canaryAt(35, true), "namespace: models}", "namespace: models, finalizers: [inferenceservice.finalizers]}", 1), want: true},
		{name: "a rise is up to the rules", old: canaryAt(10, true), new: canaryAt(35, true), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := g.Validate(context.Background(), update(t, tc.old, tc.new))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.want {
				t.Errorf("allowed = %v, want %v (reason %q, denials %v)", d.Allowed, tc.want, d.Reason, d.Denials)
			}
		})
	}
}

func TestValidate_SlowCustomRuleStopsAtTheDeadline(t *testing.T) {
	loop := Source{Name: "custom/slow.rego", Content: []byte(`package canary_guard

deny contains {"rule": "slow", "msg": "never"} if {
	some i in numbers.range(1, 100000000)
	i < 0
}
`)}
	g := guardWith(t, loop)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	d, err := g.Validate(ctx, update(t, canaryAt(10, true), canaryAt(35, true)))
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("evaluation ran for %v past its deadline", time.Since(start))
	}
	if d.Allowed || d.Error == "" || !hasRule(d.Denials, "policy-error") {
		t.Errorf("enforce mode must deny when the policy cannot decide: allowed=%v error=%q denials=%v", d.Allowed, d.Error, d.Denials)
	}

	// A rollback is still admitted when evaluation fails.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	d, err = g.Validate(ctx2, update(t, canaryAt(35, true), canaryAt(0, true)))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed {
		t.Errorf("rollback denied after an evaluation error: %v", d.Denials)
	}
}

func TestValidate_EvalTimeoutBoundsEvaluationWithoutADeadlineFromTheCaller(t *testing.T) {
	slow := Source{Name: "custom/slow.rego", Content: []byte(`package canary_guard

deny contains {"rule": "slow", "msg": "never"} if {
	some i in numbers.range(1, 1000)
	some j in numbers.range(1, 1000)
	some k in numbers.range(1, 1000)
	i * j * k < 0
}
`)}
	g, err := NewGuard(policyWith(t, slow), DefaultConfig(), WithEvalTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, err := g.Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true)))
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("evaluation ran for %v with a 50ms evaluation timeout", time.Since(start))
	}
	if d.Allowed || d.Error == "" || !hasRule(d.Denials, "policy-error") {
		t.Errorf("enforce mode must deny when the policy runs out of time: allowed=%v error=%q denials=%v", d.Allowed, d.Error, d.Denials)
	}
	if msg := d.Denials[0].Msg; !strings.Contains(msg, "could not be evaluated in time") || !strings.Contains(msg, "Retry") {
		t.Errorf("a policy out of time must say so and that a retry may pass: %q", msg)
	}
	// The timeout survives a policy swap (a reload).
	if err := g.Update(policyWith(t, slow), nil); err != nil {
		t.Fatal(err)
	}
	if d, err = g.Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true))); err != nil || !hasRule(d.Denials, "policy-error") {
		t.Errorf("after Update: err=%v denials=%v, want [policy-error]", err, d.Denials)
	}
}

// TestValidate_NoFreeEvaluationSlotIsDecidedAsRunningOutOfTime: under a
// flood, a request that waits for an evaluation slot until its deadline
// gets the answer of an evaluation out of time: refused only in enforce
// namespaces, and never a rollback.
func TestValidate_NoFreeEvaluationSlotIsDecidedAsRunningOutOfTime(t *testing.T) {
	cfg, err := ParseConfig([]byte("namespaces:\n- match: staging\n  enforcement: warn\n- match: sandbox\n  enforcement: audit\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGuard(shippedPolicy(t), cfg, WithConcurrencyLimit(1), WithEvalTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Hold the only slot, as a slow evaluation would.
	g.slots <- struct{}{}
	tests := []struct {
		name, namespace string
		old, new        string
		wantAllowed     bool
		wantWarning     bool
	}{
		{name: "a step in enforce mode", namespace: "models", old: canaryAt(10, true), new: canaryAt(35, true)},
		{name: "a rollback in enforce mode", namespace: "models", old: canaryAt(35, true), new: canaryAt(0, true), wantAllowed: true, wantWarning: true},
		{name: "a step in warn mode", namespace: "staging", old: canaryAt(10, true), new: canaryAt(35, true), wantAllowed: true, wantWarning: true},
		{name: "a step in audit mode", namespace: "sandbox", old: canaryAt(10, true), new: canaryAt(35, true), wantAllowed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := update(t, tc.old, tc.new)
			req.Namespace = tc.namespace
			start := time.Now()
			// No deadline from the caller: the evaluation timeout bounds the wait.
			d, err := g.Validate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited > 5*time.Second {
				t.Errorf("waited %v for a slot with a 50ms evaluation timeout", waited)
			}
			if !d.NoSlot || !hasRule(d.Denials, "policy-error") {
				t.Fatalf("noSlot=%v denials=%v, want a policy-error for want of a slot", d.NoSlot, d.Denials)
			}
			if d.Allowed != tc.wantAllowed || hasRule(d.ClientWarnings(), "policy-error") != tc.wantWarning {
				t.Errorf("allowed=%v warnings=%v, want allowed=%v and a policy-error warning: %v", d.Allowed, d.ClientWarnings(), tc.wantAllowed, tc.wantWarning)
			}
			if msg := d.Denials[0].Msg; !strings.Contains(msg, "evaluation slot") || !strings.Contains(msg, "Retry") {
				t.Errorf("the denial must say every slot was busy and that a retry may pass: %q", msg)
			}
		})
	}
	<-g.slots
	d, err := g.Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true)))
	if err != nil || !d.Allowed || d.NoSlot {
		t.Errorf("with a free slot: err=%v allowed=%v noSlot=%v denials=%v, want the step admitted", err, d.Allowed, d.NoSlot, d.Denials)
	}
}

// TestValidate_APolicyFaultIsNotOfferedARetry: a rule that fails on every
// evaluation (conflicting values) fails the retry too; the denial sends
// the user to the platform team instead.
func TestValidate_APolicyFaultIsNotOfferedARetry(t *testing.T) {
	conflict := Source{Name: "custom/team.rego", Content: []byte(`package canary_guard

team_owner := "a" if input.rollout.raised == true

team_owner := "b" if input.rollout.raised == true

deny contains {"rule": "team-owner", "msg": team_owner} if team_owner == "c"
`)}
	g, err := NewGuard(policyWith(t, conflict), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	d, err := g.Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || !hasRule(d.Denials, "policy-error") {
		t.Fatalf("allowed=%v denials=%v, want a policy-error denial", d.Allowed, d.Denials)
	}
	msg := d.Denials[0].Msg
	for _, want := range []string{"eval_conflict_error", "retrying gives the same answer", "ask the platform team to fix the rule named"} {
		if !strings.Contains(msg, want) {
			t.Errorf("denial lacks %q: %q", want, msg)
		}
	}
	if strings.Contains(msg, "Retry;") {
		t.Errorf("denial offers a retry that cannot pass: %q", msg)
	}
}

func TestMutate_InjectsOnlyOnModelChanges(t *testing.T) {
	tests := []struct {
		name        string
		config      string
		op          string
		old, new    string
		wantPercent bool
		wantTag     bool
	}{
		{name: "model change without a percent", old: stableV1, new: newModelNoCanary, wantPercent: true, wantTag: true},
		{name: "model change with 100", old: stableV1, new: strings.Replace(newModelAt10, "10", "100", 1), wantPercent: true, wantTag: true},
		{name: "model change keeping the old percent", old: canaryAt(35, true), new: strings.Replace(canaryAt(35, true), "gs://models/v2", "gs://models/v3", 1), wantPercent: true, wantTag: true},
		// A percent left at or below the initial one is kept: injecting
		// would raise the new model's traffic (0 after a rollback).
		{name: "model change keeping 0 after a rollback", old: canaryAt(0, true), new: strings.Replace(canaryAt(0, true), "gs://models/v2", "gs://models/v3", 1), wantTag: true},
		{name: "model change keeping a percent below the initial one", old: canaryAt(5, true), new: strings.Replace(canaryAt(5, true), "gs://models/v2", "gs://models/v3", 1), wantTag: true},
		{name: "model change with the user's own percent", old: stableV1, new: newModelAt50, wantTag: true},
		{name: "percent-only update", old: canaryAt(10, true), new: canaryAt(35, true)},
		{name: "unrelated update that creates no revision", old: stableV1, new: strings.Replace(stableV1, "namespace: models}", "namespace: models, finalizers: [x]}", 1)},
		{name: "deny mode never rewrites", config: "onModelChange: deny", old: stableV1, new: newModelNoCanary, wantTag: true},
		// Refused by mid-rollout, the model change gets no patch; with
		// mid-rollout relaxed it is admitted and must enter as a canary.
		{name: "a new model mid-rollout where mid-rollout refuses", config: "midRolloutModelChange: deny",
			old: canaryAt(35, true), new: strings.Replace(canaryAt(35, true), "gs://models/v2", "gs://models/v3", 1), wantTag: true},
		{name: "a new model mid-rollout where mid-rollout is relaxed", config: "midRolloutModelChange: deny\nruleEnforcement: {mid-rollout: audit}",
			old: canaryAt(35, true), new: strings.Replace(canaryAt(35, true), "gs://models/v2", "gs://models/v3", 1), wantPercent: true, wantTag: true},
		// The validating webhook refuses a new model mid-rollout there.
		{name: "mid-rollout model change where that is refused", config: "midRolloutModelChange: deny",
			old: canaryAt(35, true), new: strings.Replace(canaryAt(35, true), "gs://models/v2", "gs://models/v3", 1), wantTag: true},
		{name: "tag routing off", config: "tagRouting: \"off\"", old: stableV1, new: newModelNoCanary, wantPercent: true},
		// KServe deleted the Knative Service: on resume the model takes
		// all traffic whatever the percent (stopped-model-change warns).
		{name: "model change while stopped", old: strings.Replace(stableV1, "namespace: models}", "namespace: models, annotations: {serving.kserve.io/stop: \"true\"}}", 1),
			new: strings.Replace(newModelNoCanary, "namespace: models}", "namespace: models, annotations: {serving.kserve.io/stop: \"true\"}}", 1), wantTag: true},
		// The route names a revision of a service KServe deleted at a stop
		// of the predictor alone: nothing serves, and a percent keeps it so.
		{name: "model change where the route names a deleted revision",
			old: strings.Replace(strings.Replace(stableV1, "latestReadyRevision: my-model-predictor-00001, latestCreatedRevision: my-model-predictor-00001, latestRolledoutRevision: my-model-predictor-00001}",
				"latestReadyRevision: my-model-predictor-00001, latestCreatedRevision: my-model-predictor-00001, latestRolledoutRevision: my-model-predictor-00003}", 1),
				"  predictor:\n", "  predictor:\n    canaryTrafficPercent: 35\n", 1),
			new: newModelNoCanary, wantTag: true},
		{name: "CREATE gets tag routing only", op: OperationCreate, new: newModelNoCanary, wantTag: true},
		{name: "Standard mode is not mutated", old: strings.Replace(stableV1, "namespace: models}", "namespace: models, annotations: {serving.kserve.io/deploymentMode: Standard}}", 1),
			new: strings.Replace(newModelNoCanary, "namespace: models}", "namespace: models, annotations: {serving.kserve.io/deploymentMode: Standard}}", 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, tc.config)
			var req *Request
			if tc.op == OperationCreate {
				req = &Request{Operation: OperationCreate, Namespace: "models", Name: "my-model", Object: isvc(t, tc.new)}
			} else {
				req = update(t, tc.old, tc.new)
			}
			m, err := g.Mutate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var gotPercent, gotTag bool
			for _, p := range m.Patches {
				switch {
				case p.Path == "/spec/predictor/canaryTrafficPercent":
					gotPercent = p.Value == int64(10)
				case strings.Contains(p.Path, "annotations"):
					gotTag = true
				}
			}
			if gotPercent != tc.wantPercent || gotTag != tc.wantTag {
				t.Errorf("percent injected = %v (want %v), tag routing = %v (want %v); patches %+v", gotPercent, tc.wantPercent, gotTag, tc.wantTag, m.Patches)
			}
		})
	}
}

func TestMutate_InjectionWarningSaysWhatChanged(t *testing.T) {
	g := newGuard(t, "")
	tests := []struct {
		name, old, new string
		want           string
	}{
		{"a new storage URI", stableV1, newModelNoCanary, "spec.predictor: the model changes from gs://models/v1 to gs://models/v2;"},
		{"the same storage URI, another runtime version", stableV1,
			strings.Replace(stableV1, `storageUri: "gs://models/v1"`, `storageUri: "gs://models/v1", runtimeVersion: "1.5.0"`, 1),
			"spec.predictor: the model changes (spec.predictor.model.runtimeVersion);"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := g.Mutate(context.Background(), update(t, tt.old, tt.new))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0].Msg, tt.want) {
				t.Errorf("warnings %v, want one containing %q", m.Warnings, tt.want)
			}
		})
	}
}

func TestMutate_WarnModeSaysWhatItWouldDoAndChangesNothing(t *testing.T) {
	g := newGuard(t, "enforcement: warn")
	m, err := g.Mutate(context.Background(), update(t, stableV1, newModelNoCanary))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Patches) != 0 {
		t.Errorf("warn mode patched: %+v", m.Patches)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0].Msg, "not applied") {
		t.Errorf("warnings = %v, want the injection it would have made", m.Warnings)
	}
	// Nothing was set: no next step for a percent the object does not
	// have ("remove the field to promote"), and the share it does get.
	for _, tt := range []struct{ bad, want string }{
		{"remove the field", "would be set to 10 (it is absent)"},
		{"set to 10 (was absent)", "Here it enters with 100 % of traffic; to canary it, set spec.predictor.canaryTrafficPercent: 10 in this update."},
	} {
		if msg := m.Warnings[0].Msg; strings.Contains(msg, tt.bad) || !strings.Contains(msg, tt.want) {
			t.Errorf("warning %q: want %q, not %q", msg, tt.want, tt.bad)
		}
	}
}

func TestMutate_StepIntervalStampsEachStep(t *testing.T) {
	g := newGuard(t, "minStepIntervalSeconds: 300")
	m, err := g.Mutate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true)))
	if err != nil {
		t.Fatal(err)
	}
	want := PatchOp{Op: "add", Path: "/metadata/annotations", Value: map[string]string{AnnotationStepAt: testNow.Format(time.RFC3339)}}
	if len(m.Patches) != 1 || m.Patches[0].Path != want.Path || m.Patches[0].Value.(map[string]string)[AnnotationStepAt] != testNow.Format(time.RFC3339) {
		t.Errorf("patches = %+v, want %+v", m.Patches, want)
	}
	// A rollback or a lowered percent is no step, even beside a change
	// that brings it to the webhook; a model entering is one.
	withMemory := func(manifest string) string {
		return strings.Replace(manifest, "storageUri: \"gs://models/v2\"}", "storageUri: \"gs://models/v2\", resources: {requests: {memory: 2Gi}}}", 1)
	}
	for _, tc := range []struct {
		name      string
		old, new  string
		wantStamp bool
	}{
		{"a rollback with a resources change", canaryAt(35, true), withMemory(canaryAt(0, true)), false},
		{"a lowered percent with a resources change", canaryAt(35, true), withMemory(canaryAt(20, true)), false},
		{"a model entering at 10", stableV1, newModelAt10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := g.Mutate(context.Background(), update(t, tc.old, tc.new))
			if err != nil {
				t.Fatal(err)
			}
			stamped := false
			for _, p := range m.Patches {
				if v, ok := p.Value.(map[string]string); ok && v[AnnotationStepAt] != "" || strings.HasSuffix(p.Path, "step-at") {
					stamped = true
				}
			}
			if stamped != tc.wantStamp {
				t.Errorf("stamped = %v, want %v (patches %+v)", stamped, tc.wantStamp, m.Patches)
			}
		})
	}
}

// withStepAt puts a step stamp on a manifest from canaryAt.
func withStepAt(manifest string, at time.Time) string {
	return withStamp(manifest, at.Format(time.RFC3339))
}

// withStamp puts the step stamp value on a manifest from canaryAt.
func withStamp(manifest, value string) string {
	return strings.Replace(manifest, "metadata: {name: my-model, namespace: models}",
		"metadata: {name: my-model, namespace: models, annotations: {canary-guard.dev/step-at: \""+value+"\"}}", 1)
}

func TestMutate_StepStampChangedByAnUpdateThatIsNoStepIsUndone(t *testing.T) {
	last := testNow.Add(-time.Minute)
	lastStamp := last.Format(time.RFC3339)
	const stampPath = "/metadata/annotations/canary-guard.dev~1step-at"
	tests := []struct {
		name     string
		config   string
		old, new string
		want     []PatchOp // the stamp's patches
		warning  string    // "" for none
	}{
		{"back-dated", "minStepIntervalSeconds: 300",
			withStepAt(canaryAt(10, true), last), withStepAt(canaryAt(10, true), testNow.Add(-2*time.Hour)),
			[]PatchOp{{Op: "add", Path: stampPath, Value: lastStamp}},
			"this update is no step and set it to \"2026-11-25T10:00:00Z\", so it was kept at " + lastStamp + ". Leave it out of your manifests: the next rise is admitted at or after 2026-11-25T12:04:00Z."},
		{"removed long after the last step: the next rise is admitted now", "minStepIntervalSeconds: 300",
			withStepAt(canaryAt(10, true), testNow.Add(-2*time.Hour)), canaryAt(10, true),
			[]PatchOp{{Op: "add", Path: "/metadata/annotations", Value: map[string]string{AnnotationStepAt: testNow.Add(-2 * time.Hour).Format(time.RFC3339)}}},
			"Leave it out of your manifests: the next rise is admitted now."},
		{"removed (a server-side apply of a manifest without it)", "minStepIntervalSeconds: 300",
			withStepAt(canaryAt(10, true), last), canaryAt(10, true),
			[]PatchOp{{Op: "add", Path: "/metadata/annotations", Value: map[string]string{AnnotationStepAt: lastStamp}}},
			"removed it, so it was kept at " + lastStamp},
		{"added where canary-guard set none", "minStepIntervalSeconds: 300",
			canaryAt(10, true), withStepAt(canaryAt(10, true), testNow.Add(time.Hour)),
			[]PatchOp{{Op: "remove", Path: stampPath}},
			"so it was removed again"},
		{"changed by a step: stamped anew", "minStepIntervalSeconds: 300",
			withStepAt(canaryAt(10, true), last), withStepAt(canaryAt(35, true), testNow.Add(-2*time.Hour)),
			[]PatchOp{{Op: "add", Path: stampPath, Value: testNow.Format(time.RFC3339)}}, ""},
		{"left as it was", "minStepIntervalSeconds: 300",
			withStepAt(canaryAt(10, true), last), withStepAt(canaryAt(10, true), last), nil, ""},
		// An empty stamp is no stamp (the validating webhook reads none):
		// nothing to keep, nothing to remove.
		{"an empty stamp removed", "minStepIntervalSeconds: 300",
			withStamp(canaryAt(10, true), ""), canaryAt(10, true), nil, ""},
		{"an empty stamp added", "minStepIntervalSeconds: 300",
			canaryAt(10, true), withStamp(canaryAt(10, true), ""), nil, ""},
		{"an empty stamp back-dated", "minStepIntervalSeconds: 300",
			withStamp(canaryAt(10, true), ""), withStepAt(canaryAt(10, true), last),
			[]PatchOp{{Op: "remove", Path: stampPath}}, "so it was removed again"},
		{"a stamp emptied", "minStepIntervalSeconds: 300",
			withStepAt(canaryAt(10, true), last), withStamp(canaryAt(10, true), ""),
			[]PatchOp{{Op: "add", Path: stampPath, Value: lastStamp}}, "set it to \"\", so it was kept at " + lastStamp},
		{"step interval off: the stamp is not read", "",
			withStepAt(canaryAt(10, true), last), canaryAt(10, true), nil, ""},
		{"warn mode: said, not done", "minStepIntervalSeconds: 300\nenforcement: warn",
			withStepAt(canaryAt(10, true), last), canaryAt(10, true), nil, "(warn mode, not applied) metadata.annotations[canary-guard.dev/step-at]"},
		// Not patched, so not "kept"; and warn mode refuses no rise.
		{"warn mode: says what enforce mode would do, no next rise", "minStepIntervalSeconds: 300\nenforcement: warn",
			withStepAt(canaryAt(10, true), last), canaryAt(10, true), nil,
			"this update is no step and removed it, which enforce mode would undo, keeping it at " + lastStamp + ". Leave it out of your manifests."},
		{"warn mode: an added stamp", "minStepIntervalSeconds: 300\nenforcement: warn",
			canaryAt(10, true), withStepAt(canaryAt(10, true), testNow.Add(time.Hour)), nil,
			"which enforce mode would remove again. Leave it out of your manifests."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newGuard(t, tt.config).Mutate(context.Background(), update(t, tt.old, tt.new))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(m.Patches) != fmt.Sprint(tt.want) {
				t.Errorf("patches = %+v, want %+v", m.Patches, tt.want)
			}
			kept := slices.IndexFunc(m.Warnings, func(v Violation) bool { return v.Rule == "step-stamp-kept" })
			switch {
			case tt.warning == "" && kept >= 0:
				t.Errorf("unexpected warning %v", m.Warnings[kept])
			case tt.warning != "" && (kept < 0 || !strings.Contains(m.Warnings[kept].Msg, tt.warning)):
				t.Errorf("warnings = %v, want step-stamp-kept containing %q", m.Warnings, tt.warning)
			}
		})
	}
}

func TestValidate_StepIntervalDeniesEarlyRises(t *testing.T) {
	stamped := withStepAt
	g := newGuard(t, "minStepIntervalSeconds: 300")
	early := update(t, stamped(canaryAt(10, true), testNow.Add(-time.Minute)), stamped(canaryAt(35, true), testNow.Add(-time.Minute)))
	d, err := g.Validate(context.Background(), early)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || !hasRule(d.Denials, "step-interval") || !strings.Contains(d.Denials[0].Msg, "2026-11-25T12:04:00Z") {
		t.Errorf("early rise: allowed=%v denials=%v, want step-interval naming 12:04:00", d.Allowed, d.Denials)
	}
	late := update(t, stamped(canaryAt(10, true), testNow.Add(-10*time.Minute)), stamped(canaryAt(35, true), testNow.Add(-10*time.Minute)))
	if d, err = g.Validate(context.Background(), late); err != nil || !d.Allowed {
		t.Errorf("rise after the interval: allowed=%v err=%v denials=%v", d.Allowed, err, d.Denials)
	}
}

func TestMutate_StandardModeStampsStepsOfCanaryEntriesOnly(t *testing.T) {
	g := newGuard(t, "minStepIntervalSeconds: 300")
	entryAt := func(pct int) string { return standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, pct)) }
	tests := []struct {
		name      string
		old, new  string
		wantStamp bool
	}{
		{"an entry's step", entryAt(10), entryAt(35), true},
		{"an entry lowered", entryAt(35), entryAt(10), false},
		{"a new entry", standardManifest("", stdStableV1), entryAt(10), true},
		{"an entry removed (the rollback)", entryAt(35), standardManifest("", stdStableV1), false},
		{"a promotion", entryAt(100), standardManifest("v2", stdStableV1), true},
		{"canaryTrafficPercent, which Standard mode ignores", standardManifest("", stdStableV1+"\n    canaryTrafficPercent: 10"),
			standardManifest("", stdStableV1+"\n    canaryTrafficPercent: 35"), false},
		{"no traffic change", entryAt(10), entryAt(10), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := g.Mutate(context.Background(), update(t, tt.old, tt.new))
			if err != nil {
				t.Fatal(err)
			}
			stamped := false
			for _, p := range m.Patches {
				if p.Path == "/metadata/annotations/canary-guard.dev~1step-at" && p.Value == testNow.Format(time.RFC3339) {
					stamped = true
				} else {
					t.Errorf("unexpected patch %+v", p)
				}
			}
			if stamped != tt.wantStamp {
				t.Errorf("stamped = %v, want %v (patches %+v)", stamped, tt.wantStamp, m.Patches)
			}
		})
	}
}

func TestMutate_TagRoutingOnlyWhereEveryTaggedHostFits(t *testing.T) {
	// latest-<name>-transformer is two characters longer than the
	// predictor's: with a transformer the name must be 44 at most.
	g := newGuard(t, "")
	const transformer = "\n  transformer:\n    containers: [{name: kserve-container, image: t:1}]\n"
	tests := []struct {
		name         string
		length       int
		transformer  bool
		wantInjected bool
	}{
		{"46 characters, predictor only", 46, false, true},
		{"47 characters, predictor only", 47, false, false},
		{"44 characters with a transformer", 44, true, true},
		{"45 characters with a transformer", 45, true, false},
		{"43 characters with a predictor named v1", 43, false, true},
		{"44 characters with a predictor named v1", 44, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.Repeat("m", tt.length)
			manifest := fmt.Sprintf("metadata: {name: %s, namespace: models}\nspec:\n  predictor:\n    %s", name, sklearnV1)
			if strings.Contains(tt.name, "named v1") {
				manifest += "\n    name: v1"
			}
			if tt.transformer {
				manifest += transformer
			}
			req := &Request{Operation: OperationCreate, Namespace: "models", Name: name, Object: isvc(t, manifest)}
			m, err := g.Mutate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if injected := len(m.Patches) > 0; injected != tt.wantInjected {
				t.Errorf("tag routing injected: %v, want %v (patches %+v)", injected, tt.wantInjected, m.Patches)
			}
		})
	}
}

func TestMutate_TagRoutingTheUserSetIsKept(t *testing.T) {
	g := newGuard(t, "")
	tests := []struct {
		name, annotation string
		wantInjected     bool
	}{
		{"absent", "", true},
		{"explicitly off", `"false"`, false},
		{"on", `"true"`, false},
		{"absent, on a name too long for the latest- host", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := newModelNoCanary
			old := stableV1
			if tt.annotation != "" {
				sent = strings.Replace(sent, "metadata: {name: my-model, namespace: models}",
					"metadata: {name: my-model, namespace: models, annotations: {serving.kserve.io/enable-tag-routing: "+tt.annotation+"}}", 1)
			}
			if strings.Contains(tt.name, "too long") {
				long := "name: " + strings.Repeat("m", maxTagRoutingName(&v1beta1.InferenceServiceSpec{})+1) + ","
				sent, old = strings.Replace(sent, "name: my-model,", long, 1), strings.Replace(old, "name: my-model,", long, 1)
			}
			m, err := g.Mutate(context.Background(), update(t, old, sent))
			if err != nil {
				t.Fatal(err)
			}
			injected := false
			for _, p := range m.Patches {
				if v, ok := p.Value.(map[string]string); ok && v[AnnotationTagRouting] == "true" || p.Path == "/metadata/annotations/serving.kserve.io~1enable-tag-routing" {
					injected = true
				}
			}
			if injected != tt.wantInjected {
				t.Errorf("tag routing injected: %v, want %v (patches %+v)", injected, tt.wantInjected, m.Patches)
			}
		})
	}
}

// A removal of the annotation is put back (a manifest that does not carry
// it would turn tag routing off on every apply), with a warning that says
// how to turn it off.
func TestMutate_TagRoutingRemovedIsPutBackWithAWarning(t *testing.T) {
	g := newGuard(t, "")
	tagged := strings.Replace(stableV1, "metadata: {name: my-model, namespace: models}",
		"metadata: {name: my-model, namespace: models, annotations: {serving.kserve.io/enable-tag-routing: \"true\"}}", 1)
	m, err := g.Mutate(context.Background(), update(t, tagged, newModelNoCanary))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(m.Warnings, func(v Violation) bool {
		return v.Rule == "tag-routing-kept" && strings.Contains(v.Msg, `To turn tag routing off, set it to "false"`)
	}) {
		t.Errorf("warnings %v, want tag-routing-kept", m.Warnings)
	}
	// Added for the first time, or where the user's "false" is removed:
	// nothing was put back.
	off := strings.Replace(tagged, `"true"`, `"false"`, 1)
	for name, old := range map[string]string{"first time": stableV1, `"false" removed`: off} {
		m, err = g.Mutate(context.Background(), update(t, old, newModelNoCanary))
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(m.Warnings, func(v Violation) bool { return v.Rule == "tag-routing-kept" }) {
			t.Errorf("%s: warnings %v, want no tag-routing-kept", name, m.Warnings)
		}
	}
}

func TestValidate_AlwaysAdmittedUpdatesShowWhatTheRulesSaid(t *testing.T) {
	freeze := Source{Name: "freeze.rego", Content: []byte(`package canary_guard

deny contains {"rule": "freeze", "msg": "no change during the freeze"} if input.rollout.operation == "UPDATE"
`)}
	guard := func(configYAML string) *Guard {
		cfg, err := ParseConfig([]byte(configYAML))
		if err != nil {
			t.Fatal(err)
		}
		g, err := NewGuard(policyWith(t, freeze), cfg, WithClock(func() time.Time { return testNow }))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	rollback := update(t, canaryAt(35, true), canaryAt(0, true))
	d, err := guard("").Validate(context.Background(), rollback)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || d.Reason != "always-admit:rollback" {
		t.Fatalf("allowed=%v reason=%q, want always admitted as a rollback", d.Allowed, d.Reason)
	}
	if !slices.ContainsFunc(d.Warnings, func(w Violation) bool {
		return w.Rule == "freeze" && w.Msg == "admitted, as a rollback always is, but: no change during the freeze"
	}) {
		t.Errorf("warnings %v, want the freeze denial shown as a warning that says why it was admitted", d.Warnings)
	}
	if d, err = guard("enforcement: audit").Validate(context.Background(), rollback); err != nil {
		t.Fatal(err)
	}
	if len(d.ClientWarnings()) != 0 || len(d.Denials) == 0 {
		t.Errorf("audit mode: client warnings %v, denials %v; want the denials logged, not shown", d.ClientWarnings(), d.Denials)
	}

	// In Standard mode canaryTrafficPercent routes nothing: setting it to
	// 0 is no rollback, and the warning says it moved no traffic.
	standard := func(pct string) string {
		return standardManifest("", stdStableV1+"\n    canaryTrafficPercent: "+pct)
	}
	if d, err = newGuard(t, "").Validate(context.Background(), update(t, standard("10"), standard("0"))); err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || !slices.ContainsFunc(d.Warnings, func(w Violation) bool {
		return w.Rule == "standard-ignores-percent" && strings.Contains(w.Msg, "setting it to 0 moves no traffic")
	}) {
		t.Errorf("Standard mode 10 → 0: allowed=%v warnings %v; want it admitted, saying it moves no traffic", d.Allowed, d.Warnings)
	}
}

func TestValidate_AuditModeShowsTheClientNothing(t *testing.T) {
	stable := "minReplicas: 4\n    " + stdStableV1
	entryAt := func(p int) string {
		return standardManifest("", stable, fmt.Sprintf(stdCanaryV2, p)) +
			"status: {deploymentMode: Standard, canaryStatuses: [{name: v2, ready: true, trafficPercent: 10}]}\n"
	}
	tests := []struct {
		name       string
		to         int
		wantDenied bool
	}{
		{"a warning alone", 35, false},
		{"a warning beside a denial", 60, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := update(t, entryAt(10), entryAt(tt.to))
			enforce, err := newGuard(t, "").Validate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if enforce.Allowed == tt.wantDenied || !hasRule(enforce.ClientWarnings(), "standard-stable-replicas") {
				t.Fatalf("enforce: allowed=%v client warnings %v; want allowed=%v and the replicas warning", enforce.Allowed, enforce.ClientWarnings(), !tt.wantDenied)
			}
			audit, err := newGuard(t, "enforcement: audit").Validate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !audit.Allowed || len(audit.ClientWarnings()) != 0 {
				t.Errorf("audit: allowed=%v client warnings %v; want admitted silently", audit.Allowed, audit.ClientWarnings())
			}
			if !hasRule(audit.Warnings, "standard-stable-replicas") || (len(audit.Denials) > 0) != tt.wantDenied {
				t.Errorf("audit: warnings %v, denials %v; want both kept for the log", audit.Warnings, audit.Denials)
			}
		})
	}
}

func TestMutate_NoCanaryInjectedOnARenamedPredictor(t *testing.T) {
	// A renamed predictor moves to another Knative Service: a percent
	// would split toward a revision of the old one.
	g := newGuard(t, "")
	named := strings.Replace(stableV1, "  predictor:\n", "  predictor:\n    name: v1\n", 1)
	for _, tc := range []struct{ name, old, new string }{
		{"name removed", named, newModelNoCanary},
		{"name set", stableV1, strings.Replace(newModelNoCanary, "  predictor:\n", "  predictor:\n    name: v2\n", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := g.Mutate(context.Background(), update(t, tc.old, tc.new))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Injected) > 0 {
				t.Errorf("injected %v, want none", m.Injected)
			}
		})
	}
	if m, err := g.Mutate(context.Background(), update(t, stableV1, newModelNoCanary)); err != nil || len(m.Injected) != 1 {
		t.Errorf("without a rename: injected %v (%v), want the predictor", m.Injected, err)
	}
}

func TestValidate_ACustomRuleDenyingACreateSaysCreating(t *testing.T) {
	custom := Source{Name: "custom/team.rego", Content: []byte(`package canary_guard

deny contains {"rule": "team-label-required", "msg": "add a team label"} if input.request.operation == "CREATE"
`)}
	g := guardWith(t, custom)
	req := update(t, canaryAt(10, true), canaryAt(10, true))
	req.Operation, req.OldObject = OperationCreate, nil
	d, err := g.Validate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if want := "canary-guard denied creating this InferenceService:\n[team-label-required] add a team label"; d.Allowed || d.Message() != want {
		t.Errorf("allowed %v, message %q; want refused with %q", d.Allowed, d.Message(), want)
	}
	d, err = g.Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(100, true)))
	if err != nil {
		t.Fatal(err)
	}
	if msg := d.Message(); !strings.HasPrefix(msg, "canary-guard denied this update:\n") {
		t.Errorf("update message %q, want it to start with canary-guard denied this update:", msg)
	}
}

// A ModelMesh InferenceService with a transformer (KServe's feast sample):
// KServe rolls the transformer out as a Knative Service, with
// canaryTrafficPercent; ModelMesh serves the predictor with no canary.
const modelMeshWithTransformer = `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: driver, namespace: models, annotations: {serving.kserve.io/deploymentMode: ModelMesh}}
spec:
  transformer:
    containers: [{name: driver-container, image: "example/driver-transformer:v1"}]
  predictor:
    sklearn: {storageUri: "gs://models/driver/v1"}
`

func TestGuard_ModelMeshTransformerRollsOutAsInKnativeMode(t *testing.T) {
	g := newGuard(t, "")
	newTransformer := strings.Replace(modelMeshWithTransformer, "driver-transformer:v1", "driver-transformer:v2", 1)
	m, err := g.Mutate(context.Background(), update(t, modelMeshWithTransformer, newTransformer))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(m.Patches, func(p PatchOp) bool {
		return p.Path == "/spec/transformer/canaryTrafficPercent" && p.Value == int64(10)
	}) {
		t.Errorf("a new transformer image got patches %+v, want its canaryTrafficPercent set to 10", m.Patches)
	}

	at := func(manifest string, p int) string {
		return strings.Replace(manifest, "  transformer:\n", "  transformer:\n    canaryTrafficPercent: "+itoa(p)+"\n", 1)
	}
	d, err := g.Validate(context.Background(), update(t, at(newTransformer, 10), at(newTransformer, 100)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || !hasRule(d.Denials, "max-step") {
		t.Errorf("transformer 10 → 100: allowed=%v denials=%v, want the max-step denial", d.Allowed, d.Denials)
	}

	// The predictor is ModelMesh's: a new model there is warned, not injected.
	newModel := strings.Replace(modelMeshWithTransformer, "gs://models/driver/v1", "gs://models/driver/v2", 1)
	if m, err = g.Mutate(context.Background(), update(t, modelMeshWithTransformer, newModel)); err != nil || len(m.Patches) != 0 {
		t.Errorf("a new predictor model under ModelMesh: err=%v patches=%+v, want none", err, m.Patches)
	}
	d, err = g.Validate(context.Background(), update(t, modelMeshWithTransformer, newModel))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || !hasRule(d.Warnings, "modelmesh") {
		t.Errorf("a new predictor model under ModelMesh: allowed=%v warnings=%v, want admitted with the modelmesh warning", d.Allowed, d.Warnings)
	}
}

// The predictor ModelMesh serves beside a transformer loads its new model
// as ModelMesh does without one: no update without a new revision, and
// custom rules about models see it; the rules about percents skip it.
func TestGuard_ModelMeshPredictorBesideATransformerIsSeenByCustomRules(t *testing.T) {
	storage := Source{Name: "custom/storage.rego", Content: []byte(`package canary_guard

deny contains {"rule": "storage-location", "msg": c.newModel} if {
	some c in input.rollout.components
	c.modelChanged
	not startswith(c.newModel, "gs://models/")
}
`)}
	g := guardWith(t, storage)
	newModel := strings.Replace(modelMeshWithTransformer, "gs://models/driver/v1", "gs://elsewhere/driver/v2", 1)
	d, err := g.Validate(context.Background(), update(t, modelMeshWithTransformer, newModel))
	if err != nil {
		t.Fatal(err)
	}
	if d.Facts.AlwaysAdmit || d.Allowed || !hasRule(d.Denials, "storage-location") {
		t.Errorf("a ModelMesh predictor's new model beside a transformer: alwaysAdmit=%v (%s) allowed=%v denials=%v, want the custom storage-location denial",
			d.Facts.AlwaysAdmit, d.Facts.AlwaysAdmitReason, d.Allowed, d.Denials)
	}
	if hasRule(d.Denials, "canary-required") || !hasRule(d.Warnings, "modelmesh") {
		t.Errorf("denials=%v warnings=%v, want no canary-required and the modelmesh warning", d.Denials, d.Warnings)
	}

	// Nor is 0 on that predictor a rollback: ModelMesh routes no percent.
	at0 := strings.Replace(newModel, "  predictor:\n", "  predictor:\n    canaryTrafficPercent: 0\n", 1)
	if d, err = g.Validate(context.Background(), update(t, modelMeshWithTransformer, at0)); err != nil {
		t.Fatal(err)
	}
	if d.Facts.AlwaysAdmit || d.Allowed {
		t.Errorf("the same at canaryTrafficPercent 0: alwaysAdmit=%v (%s) allowed=%v, want refused", d.Facts.AlwaysAdmit, d.Facts.AlwaysAdmitReason, d.Allowed)
	}

	// The mutating webhook neither injects a percent nor turns tag routing
	// on for it: the annotation would give the transformer a new revision.
	m, err := newGuard(t, "").Mutate(context.Background(), update(t, modelMeshWithTransformer, newModel))
	if err != nil || len(m.Patches) != 0 {
		t.Errorf("mutating a ModelMesh predictor's new model: err=%v patches=%+v, want none", err, m.Patches)
	}
}

func TestValidate_RuleEnforcementRelaxesSingleRules(t *testing.T) {
	owner := Source{Name: "owner.rego", Content: []byte(`package canary_guard

deny contains {"rule": "team-owner", "msg": "set an owner label"} if input.rollout.operation == "UPDATE"
`)}
	config := `
ruleEnforcement:
  team-owner: audit
namespaces:
- match: staging
  enforcement: warn
  ruleEnforcement: {max-step: enforce}
- match: trial
  ruleEnforcement: {max-step: warn}
- match: strict
  ruleEnforcement: {team-owner: enforce}
`
	cfg, err := ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGuard(policyWith(t, owner), cfg, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, namespace string
		wantAllowed     bool
		wantReason      string
		// wantRefusedBy are the rules the denial message names;
		// wantWarned those returned as warn-mode warnings.
		wantRefusedBy, wantWarned []string
		wantEnforcement           map[string]Enforcement
	}{
		{name: "an audited rule beside an enforced one refuses by the enforced one only", namespace: "models",
			wantRefusedBy: []string{"max-step"}, wantEnforcement: map[string]Enforcement{"team-owner": EnforcementAudit, "max-step": ""}},
		{name: "a rule relaxed to warn admits with a warning when the rest is audited", namespace: "trial", wantAllowed: true, wantReason: "enforcement:warn",
			wantWarned: []string{"max-step"}, wantEnforcement: map[string]Enforcement{"team-owner": EnforcementAudit, "max-step": EnforcementWarn}},
		{name: "a rule set to enforce does not tighten a warn-mode namespace", namespace: "staging", wantAllowed: true, wantReason: "enforcement:warn",
			wantWarned: []string{"max-step"}, wantEnforcement: map[string]Enforcement{"team-owner": EnforcementAudit, "max-step": ""}},
		{name: "an entry puts an inherited rule back to enforce", namespace: "strict",
			wantRefusedBy: []string{"max-step", "team-owner"}, wantEnforcement: map[string]Enforcement{"team-owner": "", "max-step": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := update(t, canaryAt(10, true), canaryAt(100, true))
			req.Namespace = tt.namespace
			d, err := g.Validate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tt.wantAllowed || d.Reason != tt.wantReason {
				t.Fatalf("allowed=%v reason=%q, want %v %q (denials %v)", d.Allowed, d.Reason, tt.wantAllowed, tt.wantReason, d.Denials)
			}
			var refusedBy []string
			for _, v := range d.Denials {
				if strings.Contains(d.Message(), v.String()) && !d.Allowed {
					refusedBy = append(refusedBy, v.Rule)
				}
			}
			if !slices.Equal(refusedBy, tt.wantRefusedBy) || !slices.Equal(rules(d.EnforcedDenials()), tt.wantRefusedBy) {
				t.Errorf("message names %v, enforced denials %v; want %v:\n%s", refusedBy, rules(d.EnforcedDenials()), tt.wantRefusedBy, d.Message())
			}
			var warned []string
			for _, w := range d.ClientWarnings() {
				if strings.HasPrefix(w.Msg, WarnModeDenialPrefix) {
					warned = append(warned, w.Rule)
				}
			}
			if !slices.Equal(warned, tt.wantWarned) {
				t.Errorf("denials shown as warnings %v, want %v (warnings %v)", warned, tt.wantWarned, d.ClientWarnings())
			}
			got := map[string]Enforcement{}
			for _, v := range d.Denials {
				got[v.Rule] = v.Enforcement
			}
			if !maps.Equal(got, tt.wantEnforcement) {
				t.Errorf("denials' own enforcement %v, want %v: every denial is kept for logs and metrics, marked where its rule's setting relaxed it", got, tt.wantEnforcement)
			}
		})
	}

	// A warn rule set to audit is logged and counted, not shown.
	note := Source{Name: "note.rego", Content: []byte(`package canary_guard

warn contains {"rule": "team-note", "msg": "tell the on-call channel"} if input.rollout.raised == true
`)}
	for _, tt := range []struct {
		config     string
		wantShown  bool
		wantReason string
	}{
		{config: "ruleEnforcement: {team-note: audit}"},
		{config: "ruleEnforcement: {team-note: warn}", wantShown: true},
		{config: "enforcement: warn\nruleEnforcement: {team-note: enforce}", wantShown: true},
	} {
		cfg, err := ParseConfig([]byte(tt.config))
		if err != nil {
			t.Fatal(err)
		}
		g, err := NewGuard(policyWith(t, note), cfg, WithClock(func() time.Time { return testNow }))
		if err != nil {
			t.Fatal(err)
		}
		d, err := g.Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true)))
		if err != nil {
			t.Fatal(err)
		}
		if shown := hasRule(d.ClientWarnings(), "team-note"); !d.Allowed || shown != tt.wantShown || hasRule(d.LoggedOnlyWarnings(), "team-note") == tt.wantShown {
			t.Errorf("%s: allowed=%v client warnings %v, logged only %v; want the warning shown=%v, else logged only", tt.config, d.Allowed, d.ClientWarnings(), d.LoggedOnlyWarnings(), tt.wantShown)
		}
	}

	// An override lifts nothing where ruleEnforcement relaxed every denial.
	overrideCfg, err := ParseConfig([]byte("override: {groups: [sre]}\nruleEnforcement: {team-owner: audit}"))
	if err != nil {
		t.Fatal(err)
	}
	og, err := NewGuard(policyWith(t, owner), overrideCfg, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	withOverride := strings.Replace(canaryAt(35, true), "metadata: {name: my-model, namespace: models}",
		`metadata: {name: my-model, namespace: models, annotations: {canary-guard.dev/override: "INC-42"}}`, 1)
	req := update(t, canaryAt(10, true), withOverride)
	req.User.Groups = []string{"sre"}
	if d, err := og.Validate(context.Background(), req); err != nil || !d.Allowed || d.Reason != "enforcement:audit" {
		t.Errorf("override beside an audited denial only: %+v, %v; want admitted as enforcement:audit, not as an override", d, err)
	}
	req = update(t, canaryAt(10, true), strings.Replace(withOverride, "canaryTrafficPercent: 35", "canaryTrafficPercent: 100", 1))
	req.User.Groups = []string{"sre"}
	if d, err := og.Validate(context.Background(), req); err != nil || !d.Allowed || d.Reason != "override" || hasRule(d.ClientWarnings(), "team-owner") {
		t.Errorf("override of an enforced denial beside an audited one: %+v, %v; want an override that shows the lifted max-step only", d, err)
	}

	// A rollback is admitted anyway; an audited rule's denial is not
	// shown to the client there either.
	d, err := g.Validate(context.Background(), update(t, canaryAt(35, true), canaryAt(0, true)))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || hasRule(d.ClientWarnings(), "team-owner") || !hasRule(d.Denials, "team-owner") {
		t.Errorf("rollback: allowed=%v client warnings %v denials %v; want admitted, the audited denial logged only", d.Allowed, d.ClientWarnings(), d.Denials)
	}
}
