package policy

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// shippedAt is file:line of the first line of rego/canary_guard.rego that
// starts with def, where the errors say the shipped name is defined.
func shippedAt(t *testing.T, def string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "rego", "canary_guard.rego"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, def) {
			return "rego/canary_guard.rego:" + strconv.Itoa(i+1)
		}
	}
	t.Fatalf("rego/canary_guard.rego defines no %q", def)
	return ""
}

func TestCompile_RefusesCustomRulesNamedLikeShippedOnes(t *testing.T) {
	tests := []struct {
		name string
		rule string // line 3 of team.rego
		// want are parts of the error; none: the file compiles.
		want []string
	}{
		{name: "a helper that would let every entry pass", rule: "entry_ok(c) if true",
			want: []string{"custom/team.rego:3: entry_ok is also defined by the shipped bundle (" + shippedAt(t, "entry_ok(c)") + ")", "rename it"}},
		{name: "a function that would make percents never outside", rule: "outside_percent(p) if false",
			want: []string{"team.rego:3: outside_percent is also defined by the shipped bundle (" + shippedAt(t, "outside_percent(p)") + ")", "rename it"}},
		{name: "a function that conflicts only at evaluation", rule: `pct(p) := "some"`,
			want: []string{"team.rego:3: pct is also defined by the shipped bundle (" + shippedAt(t, "pct(p)") + ")", "rename it"}},
		{name: "next_step", rule: "next_step(old) := 100",
			want: []string{"team.rego:3: next_step is also defined by the shipped bundle", "rename it"}},
		{name: "field", rule: `field(c) := "x"`,
			want: []string{"team.rego:3: field is also defined by the shipped bundle", "rename it"}},
		{name: "an alias the bundle defines", rule: "cfg := {}",
			want: []string{"team.rego:3: cfg is also defined by the shipped bundle", "rename it"}},
		{name: "a set the shipped rules iterate", rule: "updated_components contains 7 if true",
			want: []string{"team.rego:3: updated_components is also defined by the shipped bundle", "rename it"}},
		{name: "a ref head under a shipped name", rule: `pct_share.x := 1`,
			want: []string{"team.rego:3: pct_share is also defined by the shipped bundle", "rename it"}},
		{name: "a default deny", rule: "default deny := set()",
			want: []string{"team.rego:3: deny: a custom file may only add to deny, with `deny contains", "(" + shippedAt(t, "deny contains") + ")"}},
		{name: "a complete warn", rule: "warn := set()",
			want: []string{"team.rego:3: warn: a custom file may only add to warn"}},
		{name: "a deny function", rule: `deny(x) := {"y"}`,
			want: []string{"team.rego:3: deny: a custom file may only add to deny"}},
		{name: "a helper named like a built-in the shipped rules call", rule: "count(xs) := n if n := sum([1 | some _ in xs])",
			want: []string{"team.rego:3: count is the name of the built-in function count", "rename it"}},
		{name: "a helper named like an operator", rule: "gt(a, b) := false",
			want: []string{"team.rego:3: gt is the name of the built-in function gt", "rename it"}},
		{name: "a message helper", rule: `sprintf(f, a) := f`,
			want: []string{"team.rego:3: sprintf is the name of the built-in function sprintf"}},
		{name: "a two-argument min", rule: "min(a, b) := a if a <= b",
			want: []string{"team.rego:3: min is the name of the built-in function min"}},
		{name: "a rule named like a namespace of built-ins", rule: `time := {"zone": "UTC"}`,
			want: []string{"team.rego:3: time is the name of the built-in functions time.* (time."}},
		// A namespace the shipped rules do not call: a helper of this name
		// breaks no call OPA would not report at compile.
		{name: "a helper named object", rule: `object := input.object`},
		{name: "a helper named uri", rule: `uri := "gs://acme-models/"`},
		{name: "a ref head in a namespace of built-ins", rule: `object.get(o, k, d) := d`,
			want: []string{"team.rego:3: object is the name of the built-in functions object.*"}},
		// Results that would fail every evaluation: refused at load, so
		// the last good policy keeps serving.
		{name: "a result with message for msg", rule: `deny contains {"rule": "team-x", "message": "hi"} if input.rollout.raised == true`,
			want: []string{`team.rego:3: deny result {"message": "hi", "rule": "team-x"} has no "msg"`, "write deny contains {\"rule\": id, \"msg\": text}"}},
		{name: "a result with an empty msg", rule: `warn contains {"rule": "team-x", "msg": ""} if input.rollout.raised == true`,
			want: []string{`team.rego:3: warn result {"msg": "", "rule": "team-x"} has a "msg" that is no non-empty string`}},
		{name: "a result with a number for msg", rule: `deny contains {"rule": "team-x", "msg": 7} if input.rollout.raised == true`,
			want: []string{`has a "msg" that is no non-empty string`}},
		{name: "a number result", rule: `deny contains 7 if input.rollout.raised == true`,
			want: []string{"team.rego:3: deny result 7 is neither an object nor a string"}},
		{name: "a string result", rule: `deny contains "team: no" if input.rollout.raised == true`},
		{name: "a msg built at evaluation", rule: `deny contains {"rule": "team-x", "msg": m} if { input.rollout.raised == true; m := "x" }`},
		{name: "a result built at evaluation", rule: `deny contains r if { input.rollout.raised == true; r := {"rule": "team-x", "msg": "x"} }`},
		{name: "adding to deny", rule: `deny contains {"rule": "team-x", "msg": "x"} if input.rollout.raised == true`},
		{name: "adding to warn", rule: `warn contains {"rule": "team-x", "msg": "x"} if input.rollout.raised == true`},
		{name: "helpers of its own", rule: `team_pct(p) := sprintf("%d", [p])`},
		{name: "reading shipped helpers", rule: `warn contains {"rule": "team-x", "msg": pct(c.newPercent)} if { some c in input.rollout.components; entry_ok(c) }`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_ = compileBesideShipped(t, "custom/team.rego", tc.rule+"\n", tc.want)
		})
	}
}

// Another team's helper named like a namespace of built-ins breaks the
// calls of a file that uses it: the error names the helper's file.
func TestLoad_RefusesAHelperNamedLikeANamespaceAnotherFileCalls(t *testing.T) {
	dir := policyDir(t, map[string]string{
		"a_freeze.rego": "package canary_guard\n\nwarn contains {\"rule\": \"team-a\", \"msg\": \"x\"} if glob.match(\"prod-*\", [], input.request.namespace)\n",
		"b_team.rego":   "package canary_guard\n\nglob := [\"gs://scratch/*\"]\n",
	})
	_, _, err := Loader{PolicyDir: dir}.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "b_team.rego:3: glob is the name of the built-in functions glob.*") {
		t.Errorf("err = %v, want the helper in b_team.rego named", err)
	}
}

func TestLoad_RefusesEveryClashOfTheDirectory(t *testing.T) {
	dir := policyDir(t, map[string]string{
		"a.rego": "package canary_guard\n\npct(p) := \"x\"\n",
		"b.rego": "package canary_guard\n\nteam_ok if true\n\nentry_ok(c) if true\n",
	})
	_, _, err := Loader{PolicyDir: dir}.Load(context.Background())
	if err == nil {
		t.Fatal("loaded")
	}
	a, b := filepath.Join(dir, "a.rego")+":3: pct", filepath.Join(dir, "b.rego")+":5: entry_ok"
	if msg := err.Error(); !strings.Contains(msg, a) || !strings.Contains(msg, b) || strings.Index(msg, a) > strings.Index(msg, b) {
		t.Errorf("error %q, want %q then %q", msg, a, b)
	}
}

func TestTestModules_ChecksTestFilesOfThePackage(t *testing.T) {
	const team = "package canary_guard\n\ndeny contains {\"rule\": \"team-x\", \"msg\": \"x\"} if team_applies\n\nteam_applies if input.rollout.raised == true\n"
	tests := []struct {
		name string
		test string // team_test.rego
		want string // part of the error; "" for none
	}{
		{name: "tests in a package of their own may use any name",
			test: "package team_test\n\nimport data.canary_guard\n\npct(p) := \"x\"\n\ntest_x if canary_guard.team_applies with input.rollout.raised as true\n"},
		{name: "tests in package canary_guard may define test_ rules and helpers of their own",
			test: "package canary_guard\n\nteam_input := {\"rollout\": {\"raised\": true}}\n\ntest_x if team_applies with input as team_input\n"},
		{name: "tests in package canary_guard may not redefine a shipped helper",
			test: "package canary_guard\n\nentry_ok(c) if true\n\ntest_x if team_applies with input.rollout.raised as true\n",
			want: "team_test.rego:3: entry_ok is also defined by the shipped bundle"},
		{name: "a test package under a shipped name",
			test: "package canary_guard.field\n\ntest_x if true\n",
			want: "team_test.rego:1: package canary_guard.field: field is also defined by the shipped bundle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := teamDir(t, team, tc.test)
			modules, err := TestModules(dir)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && len(modules) < 3:
				t.Errorf("modules %d, want the bundle's, team.rego and team_test.rego", len(modules))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCompile_RefusesReadsOfDataOutsideThePackage(t *testing.T) {
	const never = ": canary-guard reads only .rego files; %s is never defined — put the values in a rule of package canary_guard"
	tests := []struct {
		name string
		src  string // after the package line and a blank line
		want []string
	}{
		{name: "values expected from a data.json beside the rules",
			src:  "deny contains {\"rule\": \"team-bucket\", \"msg\": \"blocked\"} if {\n\tsome c in input.rollout.components\n\tsome b in data.team_blocked_buckets\n\tstartswith(c.newModel, b)\n}\n",
			want: []string{"team.rego:5: data.team_blocked_buckets" + strings.Replace(never, "%s", "data.team_blocked_buckets", 1)}},
		{name: "an import", src: "import data.team_config\n\nwarn contains \"x\" if team_config.on\n",
			want: []string{"team.rego:3: data.team_config: canary-guard reads only .rego files"}},
		{name: "a nested path, reported once per file",
			src:  "warn contains \"x\" if data.teams.ml.on\n\nwarn contains \"y\" if data.teams.ml.off\n",
			want: []string{"team.rego:3: data.teams: canary-guard reads only .rego files"}},
		{name: "a with", src: "warn contains \"x\" if team_on with data.team as {}\n\nteam_on if input.rollout.raised == true\n",
			want: []string{"team.rego:3: data.team: canary-guard reads only .rego files"}},
		{name: "the rules of the package", src: "warn contains \"x\" if data.canary_guard.team_on\n\nteam_on if data.canary_guard.cfg.maxStepPercent > 10\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := compileBesideShipped(t, "team.rego", tc.src, tc.want)
			if err == nil {
				return
			}
			if n := strings.Count(err.Error(), "never defined"); n != len(tc.want) {
				t.Errorf("%d errors, want %d: %v", n, len(tc.want), err)
			}
		})
	}
}

// A value expected under the package from a data file would leave the
// rule reading it silently never holding.
func TestCompile_RefusesPackageNamesNoRuleDefines(t *testing.T) {
	const undefined = "team.rego:5: data.canary_guard.blocked_buckets: no rule of package canary_guard defines blocked_buckets; canary-guard reads only .rego files (no data.json or data.yaml)"
	tests := []struct {
		name, src string
		want      []string
	}{
		{"values expected from a data.json under the package",
			"deny contains {\"rule\": \"team-bucket\", \"msg\": \"blocked\"} if {\n\tsome c in input.rollout.components\n\tsome b in data.canary_guard.blocked_buckets\n\tstartswith(c.newModel, b)\n}\n",
			[]string{undefined}},
		{"through an import of the package",
			"import data.canary_guard as cg\n\ndeny contains {\"rule\": \"team-bucket\", \"msg\": \"blocked\"} if {\n\tsome b in cg.blocked_buckets\n\tstartswith(input.rollout.components[_].newModel, b)\n}\n",
			[]string{"team.rego:6: data.canary_guard.blocked_buckets: no rule of package canary_guard defines blocked_buckets"}},
		{"defined in this file",
			"deny contains {\"rule\": \"team-bucket\", \"msg\": \"blocked\"} if {\n\tsome c in input.rollout.components\n\tsome b in data.canary_guard.blocked_buckets\n\tstartswith(c.newModel, b)\n}\n\nblocked_buckets := [\"gs://scratch/\"]\n",
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_ = compileBesideShipped(t, "team.rego", tc.src, tc.want)
		})
	}
}

func TestTestModules_TestsMayReadTheirOwnPackagesButNoOtherData(t *testing.T) {
	const team = "package canary_guard\n\nwarn contains {\"rule\": \"team-x\", \"msg\": \"x\"} if input.rollout.raised == true\n"
	tests := []struct {
		name, test, want string
	}{
		{name: "its own package and the policy's",
			test: "package team_test\n\ninp := {\"rollout\": {\"raised\": true}}\n\ntest_x if count(data.canary_guard.warn) > 0 with input as data.team_test.inp\n"},
		{name: "fixtures from a data.json",
			test: "package team_test\n\ntest_x if count(data.canary_guard.warn) > 0 with input as data.team_fixtures.raised\n",
			want: "team_test.rego:3: data.team_fixtures: canary-guard reads only .rego files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := teamDir(t, team, tc.test)
			_, err := TestModules(dir)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// teamDir is a policy directory holding team.rego and team_test.rego.
func teamDir(t *testing.T, policy, test string) string {
	t.Helper()
	return policyDir(t, map[string]string{"team.rego": policy, "team_test.rego": test})
}

// policyDir writes files (name -> content) into a new policy directory.
func policyDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// compileBesideShipped compiles a custom file of package canary_guard
// (body after the package line and a blank line) with the shipped bundle.
// With want empty it must compile; else the error must contain each of
// want. It returns the error.
func compileBesideShipped(t *testing.T, name, body string, want []string) error {
	t.Helper()
	shipped, err := ShippedSources()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(context.Background(), append(shipped, Source{Name: name, Content: []byte("package canary_guard\n\n" + body)}))
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return nil
	}
	if err == nil {
		t.Fatalf("compiled; want an error with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q, want it to contain %q", err, w)
		}
	}
	return err
}

func TestTestModules_RefusesATestPackageNamedLikeBuiltins(t *testing.T) {
	dir := teamDir(t, "package canary_guard\n\nwarn contains {\"rule\": \"team-x\", \"msg\": \"x\"} if input.rollout.raised == true\n",
		"package canary_guard.time\n\nformat(x) := \"noon\"\n")
	_, err := TestModules(dir)
	if err == nil || !strings.Contains(err.Error(), "team_test.rego:1: time is the name of the built-in functions time.*") {
		t.Errorf("error %v, want one naming team_test.rego:1 and the built-ins time.*", err)
	}
}
