package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// indented returns a manifest as a YAML block scalar's content.
func indented(manifest string) string {
	return strings.TrimRight(indentBy(manifest, "    "), "\n")
}

func TestVerify_ReportsFailuresWithTheirDiffAndExitStatus(t *testing.T) {
	jumpCase := func(name, expect string) string {
		return `- name: ` + name + `
  old: |
` + indented(sampleCanary10) + `
  new: |
` + indented(at("100")) + `
  expect:
` + expect + "\n"
	}
	dir := writeFiles(t, map[string]string{
		"passing.yaml": "name: passing\ncases:\n" + jumpCase("a jump is denied", `    allowed: false
    denials: ['^\[max-step\] .*Set 35 now']`),
		"failing.yaml": "name: failing\ncases:\n" +
			jumpCase("a jump is denied", "    allowed: false") +
			jumpCase("a jump is admitted", `    allowed: true
    warnings: ['canary-ready-unknown']`),
		"broken.yaml": "cases: [{name: x}]\n",
		"policies/team.rego": `package canary_guard

deny contains {"rule": "prod-step", "msg": "production steps are at most 10"} if {
	startswith(input.request.namespace, "prod-")
	some c in input.rollout.components
	c.newEffectivePercent - c.oldEffectivePercent > 10
}
`,
		"policies/team_test.rego": `package canary_guard_test

import data.canary_guard

prod_rise(ns) := {"request": {"operation": "UPDATE", "namespace": ns, "name": "m", "user": {"username": "a", "groups": []}},
	"rollout": {"operation": "UPDATE", "deploymentMode": "Knative", "components": [{"kind": "predictor", "newEffectivePercent": 35, "oldEffectivePercent": 10}]},
	"config": {"maxStepPercent": 25}}

test_prod_rise_denied if {
	some d in canary_guard.deny with input as prod_rise("prod-eu")
	d.rule == "prod-step"
}

test_staging_rise_denied if {
	some d in canary_guard.deny with input as prod_rise("staging")
	d.rule == "prod-step"
}
`,
		"bad-policies/team.rego":       "package canary_guard\n\ndeny contains x if { http.send({}); x := 1 }\n",
		"clashing/team.rego":           "package canary_guard\n\noutside_percent(p) if false\n",
		"clashing-test/team_test.rego": "package canary_guard\n\npct(p) := \"x\"\n\ntest_pct if pct(1) == \"x\"\n",
		"data-json/team.rego":          "package canary_guard\n\ndeny contains {\"rule\": \"team-bucket\", \"msg\": \"blocked\"} if {\n\tsome b in data.team_blocked_buckets\n\tstartswith(input.rollout.components[_].newModel, b)\n}\n",
		"data-json/data.json":          `{"team_blocked_buckets": ["gs://blocked/"]}`,
		"reused-id/team.rego":          "package canary_guard\n\ndeny contains {\"rule\": \"max-step\", \"msg\": \"prod\"} if input.rollout.raised == true\n",
		"reused-id/suite.yaml":         "name: reused\npolicyDir: .\ncases:\n" + jumpCase("a jump is denied", "    allowed: false"),
	})
	f := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		notOut   []string
	}{
		{name: "a passing suite", args: []string{f("passing.yaml")}, wantCode: 0,
			wantOut: []string{"ok    passing (" + f("passing.yaml") + "): 1 passed, 0 failed\n1 passed, 0 failed\n"}, notOut: []string{"FAIL"}},
		{name: "a passing suite, verbose", args: []string{"-v", f("passing.yaml")}, wantCode: 0,
			wantOut: []string{"ok    passing (" + f("passing.yaml") + "): a jump is denied\n"}},
		{name: "a failing case says what differed and what it got", args: []string{f("passing.yaml"), f("failing.yaml")}, wantCode: 1, wantOut: []string{
			"FAIL  failing (" + f("failing.yaml") + "): cases[1] a jump is admitted\n" +
				"        allowed: want true, got false (DENIED)\n" +
				"        warnings: want one matching \"canary-ready-unknown\", got none\n" +
				"        got:\n" +
				"          DENIED (enforcement enforce)\n" +
				"          denial: [max-step] spec.predictor.canaryTrafficPercent 10 → 100 rises by 90; at most 25 per update. Set 35 now, or 0 to roll back.\n",
			"FAIL  failing (" + f("failing.yaml") + "): 1 passed, 1 failed\n",
			"\n2 passed, 1 failed\n",
		}},
		{name: "a suite that cannot be read is an error", args: []string{f("broken.yaml"), f("passing.yaml")}, wantCode: 2,
			wantOut: []string{"ERROR " + f("broken.yaml") + ":\n        suite " + f("broken.yaml") + ": cases[0] (x): new (or newFile) is required", "1 passed, 0 failed, 1 could not run\n"}},
		{name: "the Rego tests of --policy-dir run per test", args: []string{"--policy-dir", f("policies")}, wantCode: 1, wantOut: []string{
			"FAIL  canary_guard_test.test_staging_rise_denied (" + f("policies/team_test.rego") + ":14)\n        failed at " + f("policies/team_test.rego") + ":15: some d in canary_guard.deny with input as prod_rise(\"staging\")\n",
			"FAIL  rego tests in " + f("policies") + ": 1 passed, 1 failed\n",
			"\n1 passed, 1 failed\n",
		}},
		{name: "--policy-dir also serves suites that name none", args: []string{"--policy-dir", f("policies"), f("passing.yaml")}, wantCode: 1,
			wantOut: []string{"ok    passing", "2 passed, 1 failed\n"}},
		{name: "a policy dir that does not compile is an error", args: []string{"--policy-dir", f("bad-policies")}, wantCode: 2,
			wantOut: []string{"ERROR rego tests in " + f("bad-policies") + ":\n        compiling policies: 1 error occurred: " + f("bad-policies") + "/team.rego:3: rego_type_error: undefined function http.send", "0 passed, 0 failed, 1 could not run\n"}},
		{name: "a suite whose policy does not compile is an error", args: []string{"--policy-dir", f("bad-policies"), f("passing.yaml")}, wantCode: 2,
			wantOut: []string{"ERROR " + f("passing.yaml") + ":\n        suite passing: compiling policies: ", "0 passed, 0 failed, 2 could not run\n"}},
		{name: "a policy redefining a shipped helper is an error", args: []string{"--policy-dir", f("clashing")}, wantCode: 2,
			wantOut: []string{"ERROR rego tests in " + f("clashing") + ":\n        compiling policies: " + f("clashing") + "/team.rego:3: outside_percent is also defined by the shipped bundle (rego/canary_guard.rego:", "rename it"}},
		{name: "a test file of package canary_guard redefining a shipped helper is an error", args: []string{"--policy-dir", f("clashing-test")}, wantCode: 2,
			wantOut: []string{"ERROR rego tests in " + f("clashing-test") + ":\n        " + f("clashing-test") + "/team_test.rego:3: pct is also defined by the shipped bundle (rego/canary_guard.rego:", "rename it"}},
		{name: "a policy reading data beside the rules is an error", args: []string{"--policy-dir", f("data-json")}, wantCode: 2,
			wantOut: []string{f("data-json") + "/team.rego:4: data.team_blocked_buckets: canary-guard reads only .rego files; data.team_blocked_buckets is never defined"}},
		{name: "a rule id reused from the shipped bundle is warned of", args: []string{"--policy-dir", f("reused-id")}, wantCode: 0,
			wantOut: []string{"WARN  rule id \"max-step\" is emitted from more than one file (" + f("reused-id") + "/team.rego:3, rego/canary_guard.rego:"}},
		// The layout docs/writing-policies.md recommends: the suite names
		// its own policy directory.
		{name: "a rule id reused in a suite's policy directory is warned of", args: []string{f("reused-id/suite.yaml")}, wantCode: 0,
			wantOut: []string{"WARN  rule id \"max-step\" is emitted from more than one file (" + f("reused-id") + "/team.rego:3, rego/canary_guard.rego:", "ok    reused"}},
		{name: "nothing to verify is an error", args: nil, wantCode: 2, wantOut: []string{"give suite files, or --policy-dir"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := execute(t, append([]string{"verify"}, tc.args...)...)
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks:\n%s\noutput:\n%s", want, out)
				}
			}
			for _, not := range tc.notOut {
				if strings.Contains(out, not) {
					t.Errorf("output has %q:\n%s", not, out)
				}
			}
		})
	}
}

func TestVerify_EvalTimeoutBoundsEachCaseAsServeDoes(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"suite.yaml": `name: slow
policyDir: policies
cases:
- name: enforce refuses what it could not evaluate
  old: |
` + indented(sampleCanary10) + `
  new: |
` + indented(at("35")) + `
  expect:
    allowed: false
    denials: ['^\[policy-error\] ']
`,
		"policies/slow.rego": slowRule,
	})
	start := time.Now()
	out, code := execute(t, "verify", "--eval-timeout", "100ms", filepath.Join(dir, "suite.yaml"))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("verify took %v with --eval-timeout 100ms", elapsed)
	}
	if code != 0 || !strings.Contains(out, "1 passed, 0 failed\n") {
		t.Errorf("exit status %d, want 0:\n%s", code, out)
	}
}

func TestVerify_WarnsOfBuiltinErrorsWithoutFailingTheCase(t *testing.T) {
	stepCase := func(name, expect string) string {
		return `- name: ` + name + `
  old: |
` + indented(sampleCanary10) + `
  new: |
` + indented(at("35")) + `
  expect:
` + expect + "\n"
	}
	dir := writeFiles(t, map[string]string{
		"suite.yaml": "name: cap\npolicyDir: policies\ncases:\n" +
			stepCase("the step is admitted", "    allowed: true") +
			stepCase("the team cap denies it", "    allowed: false"),
		"policies/cap.rego": builtinErrorRule,
	})
	suite := filepath.Join(dir, "suite.yaml")
	wantErr := filepath.Join(dir, "policies", "cap.rego") + `:6: eval_builtin_error: to_number: strconv.ParseFloat: parsing "twenty": invalid syntax`
	out, code := execute(t, "verify", suite)
	if code != 1 {
		t.Errorf("exit status %d, want 1 (the second case fails on its decision, not on the error):\n%s", code, out)
	}
	for _, want := range []string{
		"WARN  cap (" + suite + "): cases[0] the step is admitted: builtin error, the rule calling it was undefined: " + wantErr + "\n",
		"WARN  cap (" + suite + "): cases[1] the team cap denies it: builtin error, the rule calling it was undefined: " + wantErr + "\n",
		"FAIL  cap (" + suite + "): 1 passed, 1 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks:\n%s\noutput:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL  cap ("+suite+"): cases[0]") {
		t.Errorf("a builtin error failed a case that got its decision:\n%s", out)
	}
}

func TestVerify_ShippedSuitePasses(t *testing.T) {
	out, code := execute(t, "verify", filepath.Join("..", "..", "rego", "canary_guard_suite.yaml"))
	if code != 0 || !strings.Contains(out, " 0 failed\n") {
		t.Errorf("exit status %d:\n%s", code, out)
	}
}

// TestVerify_ReadsThePolicyDirAsServeDoes: verify --policy-dir reads the
// directory by serve's walk, so a ConfigMap volume's tests run once and
// hidden files and directories are neither compiled nor tested.
func TestVerify_ReadsThePolicyDirAsServeDoes(t *testing.T) {
	const team = `package canary_guard

default team_strict := false

deny contains {"rule": "team-no-jumps", "msg": "no jumps"} if {
	input.rollout.raised == true
	some c in input.rollout.components
	c.newEffectivePercent - c.oldEffectivePercent > 50
}
`
	const teamTest = `package team_test

import data.canary_guard

test_jump_denied if {
	some d in canary_guard.deny with input as {"rollout": {"raised": true, "components": [{"oldEffectivePercent": 0, "newEffectivePercent": 60}]}}
	d.rule == "team-no-jumps"
}
`
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{name: "a ConfigMap volume", setup: func(t *testing.T, dir string) {
			configMapLayout(t, dir, map[string]string{"team.rego": team, "team_test.rego": teamTest})
		}},
		{name: "a hidden directory beside the files", setup: func(t *testing.T, dir string) {
			writeFilesIn(t, dir, map[string]string{
				"team.rego": team, "team_test.rego": teamTest,
				".archive/old.rego":      "package canary_guard\n\ndeny contains x if { http.send({}); x := 1 }\n",
				".archive/old_test.rego": "package old_test\n\ntest_fails if false\n",
			})
		}},
		{name: "a hidden test file", setup: func(t *testing.T, dir string) {
			writeFilesIn(t, dir, map[string]string{
				"team.rego": team, "team_test.rego": teamTest,
				".team_test.rego": "package old_test\n\ntest_fails if false\n",
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			out, code := execute(t, "verify", "--policy-dir", dir)
			want := "ok    rego tests in " + dir + ": 1 passed, 0 failed\n"
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("exit status %d, want 0 and %q; output:\n%s", code, want, out)
			}
		})
	}
}

// writeFilesIn writes files (names relative to dir) into dir.
func writeFilesIn(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// configMapLayout lays files out as the kubelet mounts a ConfigMap: each
// name a link into ..data, itself a link to a timestamped directory.
func configMapLayout(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	const stamp = "..2026_11_26_10_00_00.000000001"
	writeFilesIn(t, filepath.Join(dir, stamp), files)
	if err := os.Symlink(stamp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerify_WarnsOfConfigurationMistakes(t *testing.T) {
	step := `- name: %s
  old: |
` + indented(sampleCanary10) + `
  new: |
` + indented(at("35")) + `
  expect:
    allowed: true
`
	dir := writeFiles(t, map[string]string{
		"suite.yaml": "name: cfg\nconfig: |\n  ruleEnforcement: {max-stp: audit}\n  namespaces:\n  - {match: \"ml-*\", enforcement: warn}\n  - {match: ml-prod, enforcement: audit}\ncases:\n" +
			fmt.Sprintf(step, "with the suite's configuration") +
			fmt.Sprintf(step, "with its own") + "  config: |\n    ruleEnforcement: {team-x: warn}\n",
	})
	suite := filepath.Join(dir, "suite.yaml")
	out, code := execute(t, "verify", suite)
	if code != 0 {
		t.Errorf("exit status %d, want 0 (warnings fail no case):\n%s", code, out)
	}
	for _, want := range []string{
		"WARN  cfg (" + suite + `): config: ruleEnforcement.max-stp: no loaded deny or warn rule has the constant id "max-stp"`,
		"WARN  cfg (" + suite + "): config: namespaces[1] (ml-prod) never applies",
		"WARN  cfg (" + suite + `): cases[1] with its own: config: ruleEnforcement.team-x: no loaded deny or warn rule`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks:\n%s\noutput:\n%s", want, out)
		}
	}
}
