package suite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShippedSuite runs rego/canary_guard_suite.yaml, the shipped bundle's
// behaviour as a suite, so go test covers it.
func TestShippedSuite(t *testing.T) {
	s, err := Load(filepath.Join("..", "..", "rego", "canary_guard_suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Runner{}).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cases {
		if !c.Passed() {
			t.Errorf("case %q:\n  %s", c.Name, strings.Join(c.Failures, "\n  "))
		}
	}
	if passed, _ := res.Counts(); passed < 25 {
		t.Errorf("%d cases passed; the shipped suite should have at least 25", passed)
	}
}

// writeSuite writes files into a temporary directory and loads suite.yaml.
func writeSuite(t *testing.T, files map[string]string) *Suite {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Load(filepath.Join(dir, "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const (
	testOld = `
    apiVersion: serving.kserve.io/v1beta1
    kind: InferenceService
    metadata: {name: my-model}
    spec:
      predictor:
        canaryTrafficPercent: 10
        model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v2"}
    status:
      components:
        predictor: {latestCreatedRevision: my-model-predictor-00002, latestReadyRevision: my-model-predictor-00002, latestRolledoutRevision: my-model-predictor-00001}
`
	testNew100 = `
    apiVersion: serving.kserve.io/v1beta1
    kind: InferenceService
    metadata: {name: my-model}
    spec:
      predictor:
        canaryTrafficPercent: 100
        model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v2"}
`
)

func TestRun_ReportsWhatDiffered(t *testing.T) {
	tests := []struct {
		name         string
		expect       string
		wantFailures []string
	}{
		{name: "a matching expectation passes", expect: `
    allowed: false
    enforcement: enforce
    noPatches: true
    denials: ['^\[max-step\] .*Set 35 now']
    noWarnings: true`},
		{name: "the wrong decision", expect: `
    allowed: true`, wantFailures: []string{"allowed: want true, got false (DENIED)"}},
		{name: "a denial that did not fire lists those that did", expect: `
    allowed: false
    denials: ['^\[canary-not-ready\]']`, wantFailures: []string{`denials: want one matching "^\\[canary-not-ready\\]", got
    [max-step] spec.predictor.canaryTrafficPercent 10 → 100 rises by 90; at most 25 per update. Set 35 now, or 0 to roll back.`}},
		{name: "a warning when none came", expect: `
    allowed: false
    warnings: ['override']`, wantFailures: []string{`warnings: want one matching "override", got none`}},
		{name: "denials when none were expected", expect: `
    allowed: false
    noDenials: true`, wantFailures: []string{"noDenials: got\n    [max-step] "}},
		{name: "a patched percent that differs", expect: `
    allowed: false
    patchedPercent: {predictor: null, transformer: 10}
    patchedAnnotations: {serving.kserve.io/enable-tag-routing: "true"}`, wantFailures: []string{
			"patchedPercent.predictor: want absent, got 100",
			"patchedPercent.transformer: want 10, got absent",
			`patchedAnnotations[serving.kserve.io/enable-tag-routing]: want "true", got absent`,
		}},
		{name: "the wrong enforcement and reason", expect: `
    allowed: false
    enforcement: warn
    reason: override`, wantFailures: []string{"enforcement: want warn, got enforce", `reason: want a match of "override", got ""`}},
		{name: "an error when a decision came", expect: `
    error: no InferenceService`, wantFailures: []string{`error: want an error matching "no InferenceService", got DENIED`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := writeSuite(t, map[string]string{"suite.yaml": `
cases:
- name: jump
  old: |` + testOld + `
  new: |` + testNew100 + `
  expect:` + tc.expect + "\n"})
			res, err := (&Runner{}).Run(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Cases[0].Failures
			if len(got) != len(tc.wantFailures) {
				t.Fatalf("failures:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(tc.wantFailures), strings.Join(tc.wantFailures, "\n"))
			}
			for i, want := range tc.wantFailures {
				if !strings.HasPrefix(got[i], want) {
					t.Errorf("failure %d:\n%s\nwant it to start with:\n%s", i, got[i], want)
				}
			}
		})
	}
}

func TestRun_ResolvesPathsAgainstTheSuiteFile(t *testing.T) {
	s := writeSuite(t, map[string]string{
		"suite.yaml": `
name: files
policyDir: policies
configFile: config/config.yaml
cases:
- name: manifests from files and the team's own rule
  oldFile: manifests/old.yaml
  newFile: manifests/new.yaml
  expect:
    allowed: false
    denials: ['^\[no-jumps\] ']
- name: a case's config replaces the suite's
  config: "maxStepPercent: 25"
  oldFile: manifests/old.yaml
  newFile: manifests/new.yaml
  expect:
    allowed: false
    denials: ['^\[max-step\] ', '^\[no-jumps\] ']
`,
		"config/config.yaml": "maxStepPercent: 100\n",
		"manifests/old.yaml": testOld,
		"manifests/new.yaml": testNew100,
		"policies/team.rego": `package canary_guard

deny contains {"rule": "no-jumps", "msg": "no"} if {
	some c in input.rollout.components
	c.newEffectivePercent - c.oldEffectivePercent > 50
}
`,
	})
	res, err := (&Runner{}).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cases {
		if !c.Passed() {
			t.Errorf("case %q: %v (err %v)", c.Name, c.Failures, c.Err)
		}
	}
}

// slowRule never finishes: only a deadline stops it.
const slowRule = `package canary_guard

deny contains {"rule": "slow", "msg": "never reached"} if {
	some i in numbers.range(1, 1000)
	some j in numbers.range(1, 1000)
	some k in numbers.range(1, 1000)
	i * j * k < 0
}
`

func TestRun_EvalTimeoutBoundsEachCaseAsServeDoes(t *testing.T) {
	step := strings.Replace(testNew100, "canaryTrafficPercent: 100", "canaryTrafficPercent: 30", 1)
	s := writeSuite(t, map[string]string{
		"suite.yaml": `
policyDir: policies
cases:
- name: enforce refuses what it could not evaluate
  old: |` + testOld + `
  new: |` + step + `
  expect:
    allowed: false
    denials: ['^\[policy-error\] ']
- name: warn admits it
  config: "enforcement: warn"
  old: |` + testOld + `
  new: |` + step + `
  expect:
    allowed: true
    reason: enforcement:warn
`,
		"policies/slow.rego": slowRule,
	})
	// Without the evaluation timeout, this deadline ends the cases, late.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	res, err := (&Runner{EvalTimeout: 50 * time.Millisecond}).Run(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("two cases took %v with a 50ms evaluation timeout", elapsed)
	}
	for _, c := range res.Cases {
		if !c.Passed() {
			t.Errorf("case %q: %v (err %v)", c.Name, c.Failures, c.Err)
		}
	}
}

func TestParse_RefusesMalformedSuites(t *testing.T) {
	tests := []struct {
		name    string
		suite   string
		wantErr string
	}{
		{name: "an unknown key", suite: "cases: []\nmaxStep: 3", wantErr: `unknown field "maxStep"`},
		{name: "no cases", suite: "name: x", wantErr: "no cases"},
		{name: "a case without new", suite: "cases: [{name: a, expect: {allowed: true}}]", wantErr: "new (or newFile) is required"},
		{name: "a case without expect", suite: "cases: [{name: a, new: x}]", wantErr: "expect is required"},
		{name: "an expectation without allowed", suite: "cases: [{name: a, new: x, expect: {noDenials: true}}]", wantErr: "allowed is required"},
		{name: "a bad regexp", suite: "cases: [{name: a, new: x, expect: {allowed: true, denials: ['[']}}]", wantErr: "denials[0]: error parsing regexp"},
		{name: "an unknown component", suite: "cases: [{name: a, new: x, expect: {allowed: true, patchedPercent: {model: 10}}}]", wantErr: `unknown component "model"`},
		{name: "contradicting expectations", suite: "cases: [{name: a, new: x, expect: {allowed: true, noDenials: true, denials: [x]}}]", wantErr: "denials and noDenials are exclusive"},
		{name: "error with a decision", suite: "cases: [{name: a, new: x, expect: {allowed: true, error: x}}]", wantErr: "error excludes every other expectation"},
		{name: "two cases of one name", suite: "cases: [{name: a, new: x, expect: {allowed: true}}, {name: a, new: x, expect: {allowed: true}}]", wantErr: `name "a" is used twice`},
		{name: "a bad clock", suite: "now: yesterday\ncases: [{name: a, new: x, expect: {allowed: true}}]", wantErr: "now: parsing time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.suite))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestManifest_TakesTextOrAMapping(t *testing.T) {
	s, err := Parse([]byte(`
cases:
- name: text
  new: "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: a}\nspec: {predictor: {model: {modelFormat: {name: sklearn}}}}"
  expect: {allowed: true}
- name: mapping
  new:
    apiVersion: serving.kserve.io/v1beta1
    kind: InferenceService
    metadata: {name: a}
    spec: {predictor: {model: {modelFormat: {name: sklearn}}}}
  expect: {allowed: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Runner{}).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cases {
		if !c.Passed() {
			t.Errorf("case %q: %v", c.Name, c.Failures)
		}
	}
}

// A file name under old: or new: is the manifest's text as YAML reads it:
// the case says to write the manifest there or to use oldFile/newFile.
func TestManifest_AFileNameWhereAManifestIsExpected(t *testing.T) {
	const manifest = "{apiVersion: serving.kserve.io/v1beta1, kind: InferenceService, metadata: {name: a}, spec: {predictor: {model: {modelFormat: {name: sklearn}}}}}"
	tests := []struct {
		name, fields, want string
	}{
		{name: "new", fields: "new: new.yaml",
			want: `evaluation failed: new: "new.yaml" is a string, not a manifest; write the InferenceService inline under new: (a mapping, or YAML text after new: |), or read it from a file with newFile: new.yaml (relative to the suite file)`},
		{name: "old", fields: "old: manifests/old.yaml\n  new: " + manifest,
			want: `evaluation failed: old: "manifests/old.yaml" is a string, not a manifest; write the InferenceService inline under old: (a mapping, or YAML text after old: |), or read it from a file with oldFile: manifests/old.yaml`},
		{name: "a quoted name", fields: `new: "new.yaml"`,
			want: `evaluation failed: new: "new.yaml" is a string, not a manifest`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := writeSuite(t, map[string]string{"suite.yaml": "cases:\n- name: c\n  " + tc.fields + "\n  expect: {allowed: true}\n"})
			res, err := (&Runner{}).Run(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Cases[0].Failures; len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("failures %q, want one starting %q", got, tc.want)
			}
		})
	}
}
