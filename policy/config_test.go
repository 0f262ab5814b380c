package policy

import (
	"maps"
	"strings"
	"testing"
)

func TestConfig_EmptyFileGivesTheDocumentedDefaults(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.For("anything")
	if s.Enforcement != EnforcementEnforce || s.InitialCanaryPercent != 10 || s.MaxStepPercent != 25 ||
		s.OnModelChange != "inject" || s.TagRouting != "inject" || s.MidRolloutModelChange != "restart" ||
		!s.RequireReadyCanary || s.MinStepIntervalSeconds != 0 || s.DefaultDeploymentMode != "Knative" {
		t.Errorf("defaults = %+v", s)
	}
}

func TestConfig_NamespaceOverridesFirstMatchWinsAndInheritDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
maxStepPercent: 20
override: {groups: [sre]}
namespaces:
- match: "prod-*"
  maxStepPercent: 10
- match: "prod-eu"
  enforcement: warn
- match: "dev-*"
  enforcement: audit
  override: {groups: [ml-leads]}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		namespace   string
		step        int64
		enforcement Enforcement
		groups      string
	}{
		{namespace: "prod-eu", step: 10, enforcement: EnforcementEnforce, groups: "sre"}, // first match wins
		{namespace: "dev-a", step: 20, enforcement: EnforcementAudit, groups: "ml-leads"},
		{namespace: "default", step: 20, enforcement: EnforcementEnforce, groups: "sre"},
	}
	for _, tc := range tests {
		s := cfg.For(tc.namespace)
		if s.MaxStepPercent != tc.step || s.Enforcement != tc.enforcement || strings.Join(s.Override.Groups, ",") != tc.groups {
			t.Errorf("%s: step=%d enforcement=%s groups=%v, want %d %s %s", tc.namespace, s.MaxStepPercent, s.Enforcement, s.Override.Groups, tc.step, tc.enforcement, tc.groups)
		}
	}
}

// An entry that sets a list replaces the inherited one and leaves the top
// level's (and so every other namespace's) as it was: decoding into the
// copy of the defaults must not write through the shared backing array.
func TestConfig_EntryListsDoNotChangeTheTopLevel(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
serviceAnnotationDisallowedList: [team.io/a, team.io/b]
serviceLabelDisallowedList: [team.io/l]
override: {groups: [sre, leads]}
exempt: {users: [bot-a, bot-b], groups: [g-a, g-b]}
namespaces:
- match: "prod-*"
  serviceAnnotationDisallowedList: [team.io/c]
  serviceLabelDisallowedList: [team.io/m]
  override: {groups: [prod-sre]}
  exempt: {users: [prod-bot], groups: [prod-g]}
- match: "staging-*"
  enforcement: warn
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ namespace, list, labels, groups, users, exemptGroups string }{
		{"dev", "team.io/a,team.io/b", "team.io/l", "sre,leads", "bot-a,bot-b", "g-a,g-b"},
		{"staging-x", "team.io/a,team.io/b", "team.io/l", "sre,leads", "bot-a,bot-b", "g-a,g-b"},
		{"prod-x", "team.io/c", "team.io/m", "prod-sre", "prod-bot", "prod-g"},
	} {
		s := cfg.For(tc.namespace)
		got := []string{strings.Join(s.ServiceAnnotationDisallowedList, ","), strings.Join(s.ServiceLabelDisallowedList, ","),
			strings.Join(s.Override.Groups, ","), strings.Join(s.Exempt.Users, ","), strings.Join(s.Exempt.Groups, ",")}
		want := []string{tc.list, tc.labels, tc.groups, tc.users, tc.exemptGroups}
		if strings.Join(got, " | ") != strings.Join(want, " | ") {
			t.Errorf("%s: serviceAnnotationDisallowedList | serviceLabelDisallowedList | override.groups | exempt.users | exempt.groups = %q, want %q",
				tc.namespace, strings.Join(got, " | "), strings.Join(want, " | "))
		}
	}
}

func TestConfig_LegacyModeNamesAreNormalised(t *testing.T) {
	cfg, err := ParseConfig([]byte("defaultDeploymentMode: RawDeployment\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Defaults.DefaultDeploymentMode; got != "Standard" {
		t.Errorf("defaultDeploymentMode = %s, want Standard", got)
	}
}

func TestConfig_BadValuesAreClearErrors(t *testing.T) {
	tests := []struct {
		yaml, want string
	}{
		{"enforcement: block", `enforcement "block"`},
		{"initialCanaryPercent: 0", "initialCanaryPercent 0"},
		{"maxStepPercent: 101", "maxStepPercent 101"},
		{"onModelChange: rewrite", `onModelChange "rewrite"`},
		{"midRolloutModelChange: queue", `midRolloutModelChange "queue"`},
		{"minStepIntervalSeconds: -1", "minStepIntervalSeconds -1"},
		{"defaultDeploymentMode: Serverful", `defaultDeploymentMode "Serverful"`},
		{"maxStepPercnt: 10", `unknown field "maxStepPercnt"`},
		// encoding/json would take these for maxStepPercent, silently.
		{"maxsteppercent: 10", `unknown field "maxsteppercent" (keys are case-sensitive)`},
		{"namespaces: [{match: prod, MaxStepPercent: 10}]", `namespaces[0]: unknown field "MaxStepPercent"`},
		{"override: {Groups: [sre]}", `unknown field "override.Groups"`},
		// The last one would win without a word.
		{"maxStepPercent: 10\nmaxStepPercent: 50", `"maxStepPercent" already set`},
		{"maxStepPercent: ten", `maxStepPercent: got a string, want a whole number`},
		{"exempt: {users: bot}", `exempt.users: got a string, want a list of strings`},
		{"tagRouting: on", `tagRouting: got true or false, want a string`},
		{"namespaces: [{enforcement: warn}]", "namespaces[0]: match is required"},
		{"namespaces: [{match: \"[\", enforcement: warn}]", "namespaces[0]: match"},
		{"namespaces: [{match: prod, maxStepPercent: 0}]", "namespaces[0] (prod): maxStepPercent 0"},
		{"namespaces: [{match: \"prod-[z-a]*\"}]", `namespaces[0]: match "prod-[z-a]*": the class range z-a runs backwards`},
		{"namespaces: [{match: \"team-[^9-0]\"}]", "the class range 9-0 runs backwards"},
		{"maxStepPercent: [", "parsing YAML"},
		{"ruleEnforcement: {max-step: dryrun}", `ruleEnforcement.max-step "dryrun": want enforce, warn or audit`},
		{"ruleEnforcement: {policy-error: audit}", `ruleEnforcement.policy-error: "policy-error" is canary-guard's own result`},
		{`ruleEnforcement: {"": warn}`, "ruleEnforcement: a rule id is empty"},
		{"ruleEnforcement: [max-step]", "ruleEnforcement: got a list, want a mapping"},
		{"namespaces: [{match: prod, ruleEnforcement: {max-step: block}}]", `namespaces[0] (prod): ruleEnforcement.max-step "block"`},
	}
	for _, tc := range tests {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to mention %q", tc.yaml, err, tc.want)
		}
	}
}

func TestConfig_ShadowedEntriesAreWarned(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"a name a glob above matches", "namespaces:\n- {match: \"ml-*\", enforcement: warn}\n- {match: ml-prod, enforcement: audit}\n",
			[]string{"namespaces[1] (ml-prod) never applies: namespaces[0] (ml-*) comes first"}},
		{"the same glob twice", "namespaces:\n- {match: \"prod-*\", maxStepPercent: 10}\n- {match: \"prod-*\", maxStepPercent: 5}\n",
			[]string{"namespaces[1] (prod-*) never applies: namespaces[0] (prod-*)"}},
		{"a catch-all first", "namespaces:\n- {match: \"*\", enforcement: warn}\n- {match: staging, enforcement: audit}\n",
			[]string{"namespaces[1] (staging) never applies"}},
		{"the specific entry first", "namespaces:\n- {match: ml-prod, enforcement: audit}\n- {match: \"ml-*\", enforcement: warn}\n", nil},
		{"globs that overlap only in part", "namespaces:\n- {match: \"ml-*\", enforcement: warn}\n- {match: \"*-prod\", enforcement: audit}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) != len(tt.want) {
				t.Fatalf("warnings %q, want %d", cfg.Warnings, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(cfg.Warnings[i], w) {
					t.Errorf("warning %q, want it to contain %q", cfg.Warnings[i], w)
				}
			}
		})
	}
}

func TestConfig_RuleEnforcementEntriesMergeOverTheTopLevel(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
ruleEnforcement: {max-step: warn, team-owner: audit}
namespaces:
- match: prod
  ruleEnforcement: {max-step: enforce, team-cost: warn}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		namespace string
		want      map[string]Enforcement
	}{
		{"dev", map[string]Enforcement{"max-step": EnforcementWarn, "team-owner": EnforcementAudit}},
		{"prod", map[string]Enforcement{"max-step": EnforcementEnforce, "team-owner": EnforcementAudit, "team-cost": EnforcementWarn}},
	} {
		if got := cfg.For(tc.namespace).RuleEnforcement; !maps.Equal(got, tc.want) {
			t.Errorf("%s: ruleEnforcement %v, want %v (an entry names only the rules it sets differently)", tc.namespace, got, tc.want)
		}
	}

	p := policyWith(t, Source{Name: "team.rego", Content: []byte(`package canary_guard

deny contains {"rule": "team-owner", "msg": "set an owner"} if input.rollout.operation == "CREATE"
`)})
	want := []string{
		`ruleEnforcement.team-cost: no loaded deny or warn rule has the constant id "team-cost"`,
	}
	got := RuleEnforcementWarnings(p, cfg)
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %d", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) || !strings.HasPrefix(got[i], "namespaces[0] (prod): ") {
			t.Errorf("warning %q, want it to name namespaces[0] and contain %q", got[i], w)
		}
	}
}
