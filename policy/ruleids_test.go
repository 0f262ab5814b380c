package policy

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCompile_WarnsOfRuleIDsMetricsCannotTellApart(t *testing.T) {
	tests := []struct {
		name   string
		custom string
		want   []string
	}{
		{
			name: "a custom rule reusing a shipped id",
			custom: `package canary_guard
deny contains {"rule": "max-step", "msg": "prod steps are 10"} if input.rollout.raised == true`,
			want: []string{`rule id "max-step" is emitted from more than one file (custom/prod.rego:2, rego/canary_guard.rego:`},
		},
		{
			name: "an id that is not a string",
			custom: `package canary_guard
warn contains {"rule": 5, "msg": "x"} if input.rollout.raised == true`,
			want: []string{`custom/prod.rego:2: rule id 5 is not a string`},
		},
		{
			name: "a result without a rule key, as Gatekeeper's violations are written",
			custom: `package canary_guard
deny contains {"msg": "no id here"} if input.rollout.raised == true`,
			want: []string{`custom/prod.rego:2: result has no "rule" key; it reads [custom]`},
		},
		{
			name: "an empty id and one of canary-guard's own",
			custom: `package canary_guard
deny contains {"rule": "", "msg": "x"} if input.rollout.raised == true
deny contains {"rule": "policy-error", "msg": "y"} if input.rollout.raised == true`,
			want: []string{`custom/prod.rego:2: rule id is empty`, `custom/prod.rego:3: rule id "policy-error" is canary-guard's own`},
		},
		{
			name: "an id of its own, and ones built at evaluation",
			custom: `package canary_guard
deny contains {"rule": "prod-max-step", "msg": "x"} if input.rollout.raised == true
warn contains {"rule": id, "msg": "y"} if {
	input.rollout.raised == true
	id := "max-step"
}
warn contains {"rule": $"team-{x}", "msg": "z"} if {
	input.rollout.raised == true
	x := "a"
}`,
		},
		{
			name: "ids computed in the head from the rule's variables",
			custom: `package canary_guard
deny contains {"rule": sprintf("team-model-%s", [c.newModel]), "msg": "x"} if {
	input.rollout.modelChanged == true
	some c in input.rollout.components
}
warn contains {"rule": c.name, "msg": "y"} if {
	input.rollout.modelChanged == true
	some c in input.rollout.components
}
warn contains {"rule": concat("-", ["team", c.kind]), "msg": "z"} if {
	input.rollout.modelChanged == true
	some c in input.rollout.components
}`,
		},
		{
			name: "constant ids that are not strings",
			custom: `package canary_guard
warn contains {"rule": ["team-a"], "msg": "x"} if input.rollout.raised == true
warn contains {"rule": {"id": "team-b"}, "msg": "y"} if input.rollout.raised == true`,
			want: []string{`custom/prod.rego:2: rule id ["team-a"] is not a string`, `custom/prod.rego:3: rule id {"id": "team-b"} is not a string`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkWarnings(t, policyWith(t, Source{Name: "custom/prod.rego", Content: []byte(tt.custom)}), tt.want)
		})
	}
}

// A multi-value rule no rule reads, such as Gatekeeper's violation, is a
// warning: canary-guard reads only deny and warn.
func TestCompile_WarnsOfSetRulesNothingReads(t *testing.T) {
	tests := []struct {
		name   string
		custom string
		want   []string
	}{
		{
			name: "Gatekeeper's violation and conftest's warning",
			custom: `package canary_guard
violation contains {"rule": "team-v", "msg": "x"} if input.rollout.raised == true
warning contains "y" if input.rollout.raised == true`,
			want: []string{
				"custom/prod.rego:2: rule violation is never read: canary-guard reads only deny and warn",
				"custom/prod.rego:3: rule warning is never read",
			},
		},
		{
			name: "a helper set a deny rule reads, and single-value helpers",
			custom: `package canary_guard
team_models contains m if some m in ["gs://team/a"]
team_cap := 10
deny contains {"rule": "team-model", "msg": m} if {
	input.rollout.modelChanged == true
	some c in input.rollout.components
	m := c.newModel
	not m in team_models
	team_cap > 0
}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkWarnings(t, policyWith(t, Source{Name: "custom/prod.rego", Content: []byte(tt.custom)}), tt.want)
		})
	}
}

func TestCompile_TheShippedBundleAndItsExamplesRaiseNoWarnings(t *testing.T) {
	if w := shippedPolicy(t).Warnings; len(w) != 0 {
		t.Errorf("shipped bundle: %q", w)
	}
	dirs, err := filepath.Glob(filepath.Join("..", "rego", "examples", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("examples: %v (%d)", err, len(dirs))
	}
	for _, dir := range dirs {
		p, _, err := Loader{PolicyDir: dir}.Load(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if len(p.Warnings) != 0 {
			t.Errorf("%s: %q", dir, p.Warnings)
		}
		if !slices.ContainsFunc(p.Files, func(f string) bool { return strings.HasPrefix(f, dir) }) {
			t.Errorf("%s: its files were not loaded: %v", dir, p.Files)
		}
	}
}

func TestPolicy_MetricRuleIDIsAnIDKnownAtLoadElseCustom(t *testing.T) {
	p := policyWith(t, Source{Name: "custom/team.rego", Content: []byte(`package canary_guard
deny contains {"rule": "team-freeze", "msg": "x"} if input.rollout.raised == true
warn contains {"rule": sprintf("team-model-%s", [c.newModel]), "msg": "y"} if {
	input.rollout.modelChanged == true
	some c in input.rollout.components
}`)})
	tests := []struct {
		policy   *Policy
		id, want string
	}{
		{p, "max-step", "max-step"},
		{p, "canary-ready-unknown", "canary-ready-unknown"},
		{p, "team-freeze", "team-freeze"},
		{p, "team-model-gs://models/v2", "custom"},
		{p, "policy-error", "policy-error"},
		{p, "custom", "custom"},
		{p, "", "custom"},
		{shippedPolicy(t), "team-freeze", "custom"},
		{nil, "policy-error", "policy-error"},
		{nil, "max-step", "custom"},
	}
	for _, tc := range tests {
		if got := tc.policy.MetricRuleID(tc.id); got != tc.want {
			t.Errorf("MetricRuleID(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

// checkWarnings checks p's load warnings, in order, each containing the
// text wanted.
func checkWarnings(t *testing.T, p *Policy, want []string) {
	t.Helper()
	if len(p.Warnings) != len(want) {
		t.Fatalf("warnings %q, want %d", p.Warnings, len(want))
	}
	for i, w := range want {
		if !strings.Contains(p.Warnings[i], w) {
			t.Errorf("warning %q, want it to contain %q", p.Warnings[i], w)
		}
	}
}

func TestRuleEnforcementWarnings_SuggestsTheNearestLoadedID(t *testing.T) {
	p := policyWith(t, Source{Name: "team.rego", Content: []byte(`package canary_guard

deny contains {"rule": "team-max50", "msg": "at most 50"} if input.rollout.raised == true
`)})
	tests := []struct {
		name, id string
		want     string // the end of the warning; "" for none
	}{
		{name: "a custom id one letter off", id: "team-max5O", want: `no loaded deny or warn rule has the constant id "team-max5O", so this setting changes nothing unless a rule builds that id at evaluation; did you mean team-max50?`},
		{name: "a shipped id two letters off", id: "max-stp", want: "; did you mean max-step?"},
		{name: "no id near", id: "team-owner", want: "; check the spelling against the rule ids in the README and in your policies"},
		// canary-guard's own results are no rules: ruleEnforcement refuses them.
		{name: "near only canary-guard's own", id: "policy-eror", want: "; check the spelling against the rule ids in the README and in your policies"},
		{name: "a loaded id", id: "team-max50"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte("ruleEnforcement: {" + tc.id + ": audit}\n"))
			if err != nil {
				t.Fatal(err)
			}
			got := RuleEnforcementWarnings(p, cfg)
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("warnings %q, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], "ruleEnforcement."+tc.id+": ") || !strings.HasSuffix(got[0], tc.want)):
				t.Errorf("warnings %q, want one for %s ending %q", got, tc.id, tc.want)
			}
		})
	}
}
