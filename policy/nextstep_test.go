package policy

import (
	"context"
	"strings"
	"testing"
)

func TestNextSteps_SaysTheNextPercentAndWhatBlocksIt(t *testing.T) {
	tests := []struct {
		name        string
		manifest    string
		wantNext    string // "" none, "promote", or a number
		wantAllowed bool
		wantBlocked string
		config      string
	}{
		{name: "a ready canary at 10 may go to 35", manifest: canaryAt(10, true), wantNext: "35", wantAllowed: true},
		{name: "a canary at 85 may be promoted", manifest: canaryAt(85, true), wantNext: "promote", wantAllowed: true},
		{name: "a canary that is not ready is blocked", manifest: canaryAt(10, false), wantNext: "35", wantBlocked: "canary-not-ready"},
		{name: "a warn namespace names what would have blocked", manifest: canaryAt(10, false), config: "enforcement: warn", wantNext: "35", wantAllowed: true, wantBlocked: "canary-not-ready"},
		// A trial in audit is not shown to the user.
		{name: "a rule trialled in audit blocks nothing", manifest: canaryAt(10, false), config: "ruleEnforcement: {canary-not-ready: audit}", wantNext: "35", wantAllowed: true},
		{name: "a rolled-back canary may come back at the initial 10", manifest: canaryAt(0, true), wantNext: "10", wantAllowed: true},
		{name: "a fully rolled-out model has no next step", manifest: stableV1},
		{name: "a Standard-mode percent of 0 routes nothing: no next step", manifest: standardManifest("", stdStableV1+"\n    canaryTrafficPercent: 0")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, tc.config)
			steps, err := g.NextSteps(context.Background(), isvc(t, tc.manifest), UserInfo{Username: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != 1 {
				t.Fatalf("steps = %+v", steps)
			}
			s := steps[0]
			got := ""
			switch {
			case !s.HasNext:
			case s.Next == nil:
				got = "promote"
			default:
				got = itoa(int(*s.Next))
			}
			if got != tc.wantNext {
				t.Errorf("next = %q, want %q (%+v)", got, tc.wantNext, s)
			}
			if tc.wantNext == "" {
				return
			}
			if s.NextAllowed != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v (blocked by %v)", s.NextAllowed, tc.wantAllowed, s.BlockedBy)
			}
			if tc.wantBlocked != "" && (len(s.BlockedBy) == 0 || !strings.Contains(s.BlockedBy[0].String(), tc.wantBlocked)) {
				t.Errorf("blocked by %v, want %s", s.BlockedBy, tc.wantBlocked)
			}
			if tc.wantBlocked == "" && (s.BlockedBy == nil || len(s.BlockedBy) > 0) {
				t.Errorf("blocked by %#v, want an empty list (status -o json prints [], not null)", s.BlockedBy)
			}
		})
	}
}

// A custom rule that reads the objects judges the next step on the objects
// the step would send, as the webhook would: the stored one with the
// percent set.
func TestNextSteps_RulesThatReadTheObjectsSeeThem(t *testing.T) {
	g := guardWith(t, Source{Name: "team.rego", Content: []byte(`package canary_guard

deny contains {"rule": "team-label", "msg": "label the InferenceService with its team"} if {
	input.rollout.raised == true
	not input.object.metadata.labels.team
}
`)})
	labelled := strings.Replace(canaryAt(10, true), "metadata: {name: my-model, namespace: models", "metadata: {name: my-model, namespace: models, labels: {team: vision}", 1)
	if labelled == canaryAt(10, true) {
		t.Fatal("the manifest has no metadata line to label")
	}
	for _, tc := range []struct {
		name, manifest string
		wantAllowed    bool
	}{
		{"labelled", labelled, true},
		{"unlabelled", canaryAt(10, true), false},
	} {
		steps, err := g.NextSteps(context.Background(), isvc(t, tc.manifest), UserInfo{Username: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != 1 || steps[0].NextAllowed != tc.wantAllowed {
			t.Errorf("%s: steps %+v, want the next step allowed: %v", tc.name, steps, tc.wantAllowed)
		}
	}
}
