package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/canary-guard/canary-guard/policy"
)

// Manifests of KServe's rollout sample (docs/samples/v1beta1/rollout),
// with the status KServe writes once the canary revision is ready.
const (
	sampleStable = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: my-model
  namespace: models
spec:
  predictor:
    tensorflow:
      storageUri: gs://kfserving-examples/models/tensorflow/flowers
status:
  components:
    predictor:
      latestCreatedRevision: my-model-predictor-00001
      latestReadyRevision: my-model-predictor-00001
      latestRolledoutRevision: my-model-predictor-00001
`
	sampleNewModel = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: my-model
  namespace: models
spec:
  predictor:
    tensorflow:
      storageUri: gs://kfserving-examples/models/tensorflow/flowers-2
`
	sampleCanary10 = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: my-model
  namespace: models
  annotations:
    serving.kserve.io/enable-tag-routing: "true"
spec:
  predictor:
    canaryTrafficPercent: 10
    tensorflow:
      storageUri: gs://kfserving-examples/models/tensorflow/flowers-2
status:
  components:
    predictor:
      latestCreatedRevision: my-model-predictor-00002
      latestReadyRevision: my-model-predictor-00002
      latestRolledoutRevision: my-model-predictor-00001
`
)

// at returns the canary manifest with another percent.
func at(percent string) string {
	return strings.Replace(sampleCanary10, "canaryTrafficPercent: 10", "canaryTrafficPercent: "+percent, 1)
}

// writeFiles writes name -> content into a temporary directory and
// returns the directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFilesIn(t, dir, files)
	return dir
}

// execute runs a command as main would and returns its output and exit
// status.
func execute(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCommand()
	// Until main.go registers eval and verify, the tests do.
	for _, c := range []*cobra.Command{newEvalCommand(), newVerifyCommand()} {
		if !slices.ContainsFunc(root.Commands(), func(sub *cobra.Command) bool { return sub.Name() == c.Name() }) {
			root.AddCommand(c)
		}
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code, report := exitStatus(err)
	if report {
		out.WriteString("Error: " + err.Error() + "\n")
	}
	return out.String(), code
}

func TestEval_ExitStatusSaysAdmittedDeniedOrError(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"stable.yaml":        sampleStable,
		"new-model.yaml":     sampleNewModel,
		"at10.yaml":          sampleCanary10,
		"at35.yaml":          at("35"),
		"at100.yaml":         at("100"),
		"at0.yaml":           at("0"),
		"stable-100.yaml":    strings.Replace(sampleStable, "    tensorflow:", "    canaryTrafficPercent: 100\n    tensorflow:", 1),
		"new-model-100.yaml": strings.Replace(sampleNewModel, "    tensorflow:", "    canaryTrafficPercent: 100\n    tensorflow:", 1),
		"bad.yaml":           "spec: [",
		"deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
`,
		"typo.yaml":           strings.Replace(sampleNewModel, "storageUri", "storageURI", 1),
		"config.yaml":         "maxStepPercent: 100\n",
		"audit-max-step.yaml": "ruleEnforcement: {max-step: audit}\n",
		"typo-rule.yaml":      "ruleEnforcement: {max-stp: audit}\n",
		"bad-config.yaml":     "maxStepPercnt: 10\n",
		"policies/broken.rego": `package canary_guard

deny contains msg if { http.send({}) ; msg := "x" }
`,
		"clashing/team.rego": "package canary_guard\n\nentry_ok(c) if true\n",
	})
	f := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{name: "a capped step is admitted", args: []string{"--old", f("at10.yaml"), "--new", f("at35.yaml")}, wantCode: 0, wantOut: []string{"ADMITTED: UPDATE models/my-model", "enforcement: enforce"}},
		{name: "a jump is denied with the next step", args: []string{"--old", f("at10.yaml"), "--new", f("at100.yaml")}, wantCode: 1,
			wantOut: []string{"DENIED: UPDATE models/my-model", "denials:\n  [max-step] spec.predictor.canaryTrafficPercent 10 → 100 rises by 90; at most 25 per update. Set 35 now, or 0 to roll back."}},
		{name: "a rollback is admitted and says why", args: []string{"--old", f("at35.yaml"), "--new", f("at0.yaml")}, wantCode: 0, wantOut: []string{"ADMITTED", "always admitted: rollback"}},
		{name: "a model change is patched to the initial percent", args: []string{"--old", f("stable.yaml"), "--new", f("new-model.yaml")}, wantCode: 0,
			wantOut: []string{"ADMITTED with warnings", "patch:\n  metadata:\n    annotations:\n      serving.kserve.io/enable-tag-routing: \"true\"\n  spec:\n    predictor:\n      canaryTrafficPercent: 10\n", "[canary-injected] spec.predictor"}},
		{name: "a model change keeping 100 is injected over", args: []string{"--old", f("stable-100.yaml"), "--new", f("new-model-100.yaml")}, wantCode: 0,
			wantOut: []string{"canaryTrafficPercent: 10\n", "[canary-injected] spec.predictor"}},
		{name: "a model change keeping 100 that an apply declares is refused with the percent to write", args: []string{"--old", f("stable-100.yaml"), "--new", f("new-model-100.yaml"), "--apply"}, wantCode: 1,
			wantOut: []string{"DENIED", "[initial-percent]", "Set spec.predictor.canaryTrafficPercent: 10 (or less)"}},
		{name: "--apply is for manifests", args: []string{"--review", f("stable.yaml"), "--apply"}, wantCode: 2, wantOut: []string{"--apply apply to --old/--new only"}},
		{name: "the configuration is used", args: []string{"--old", f("at10.yaml"), "--new", f("at100.yaml"), "--config", f("config.yaml")}, wantCode: 0},
		{name: "a rule in audit admits and lists its denial as not enforced", args: []string{"--old", f("at10.yaml"), "--new", f("at100.yaml"), "--config", f("audit-max-step.yaml")}, wantCode: 0,
			wantOut: []string{"ADMITTED: UPDATE models/my-model", "reason: enforcement:audit", "denials (not enforced):\n  [max-step] spec.predictor.canaryTrafficPercent 10 → 100 rises by 90; at most 25 per update. Set 35 now, or 0 to roll back. (ruleEnforcement: audit)"}},
		{name: "a rule id no rule has is warned of", args: []string{"--old", f("at10.yaml"), "--new", f("at100.yaml"), "--config", f("typo-rule.yaml")}, wantCode: 1,
			wantOut: []string{`WARN  ruleEnforcement.max-stp: no loaded deny or warn rule has the constant id "max-stp"`, "DENIED"}},
		{name: "a create without --old", args: []string{"--new", f("new-model.yaml")}, wantCode: 0, wantOut: []string{"ADMITTED: CREATE models/my-model", "enable-tag-routing"}},
		{name: "the namespace flag must agree with the manifest", args: []string{"--new", f("new-model.yaml"), "--namespace", "other"}, wantCode: 2, wantOut: []string{`metadata.namespace "models" differs from the request's namespace "other"`}},
		{name: "a missing file is an error", args: []string{"--new", f("missing.yaml")}, wantCode: 2, wantOut: []string{"reading manifest"}},
		{name: "unparsable YAML is an error", args: []string{"--new", f("bad.yaml")}, wantCode: 2, wantOut: []string{"bad.yaml"}},
		{name: "a file without an InferenceService is an error", args: []string{"--new", f("deployment.yaml")}, wantCode: 2, wantOut: []string{"no InferenceService among the manifest's documents (Deployment)"}},
		{name: "an unknown field is an error", args: []string{"--new", f("typo.yaml")}, wantCode: 2, wantOut: []string{`unknown field "spec.predictor.tensorflow.storageURI"`}},
		{name: "a bad configuration is an error", args: []string{"--new", f("new-model.yaml"), "--config", f("bad-config.yaml")}, wantCode: 2, wantOut: []string{"maxStepPercnt"}},
		{name: "a policy that does not compile is an error", args: []string{"--new", f("new-model.yaml"), "--policy-dir", f("policies")}, wantCode: 2, wantOut: []string{"broken.rego:3", "http.send"}},
		{name: "a policy redefining a shipped helper is an error", args: []string{"--old", f("stable.yaml"), "--new", f("new-model.yaml"), "--policy-dir", f("clashing")}, wantCode: 2,
			wantOut: []string{f("clashing/team.rego") + ":3: entry_ok is also defined by the shipped bundle (rego/canary_guard.rego:", "rename it"}},
		{name: "no manifest is an error", args: nil, wantCode: 2, wantOut: []string{"--new (or --review) is required"}},
		{name: "an unknown flag is an error", args: []string{"--bogus"}, wantCode: 2, wantOut: []string{"unknown flag"}},
		{name: "an unknown output format is an error", args: []string{"--new", f("new-model.yaml"), "-o", "xml"}, wantCode: 2, wantOut: []string{"want text, json or input"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := execute(t, append([]string{"eval"}, tc.args...)...)
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
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

func TestEval_EvalTimeoutGivesServesPolicyErrorAnswer(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"at10.yaml":          sampleCanary10,
		"at35.yaml":          at("35"),
		"at0.yaml":           at("0"),
		"warn.yaml":          "enforcement: warn\n",
		"policies/slow.rego": slowRule,
	})
	f := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{name: "enforce refuses what it could not evaluate", args: []string{"--old", f("at10.yaml"), "--new", f("at35.yaml")}, wantCode: 1,
			wantOut: []string{"DENIED: UPDATE models/my-model", "[policy-error] the policy could not be evaluated"}},
		{name: "warn admits it", args: []string{"--old", f("at10.yaml"), "--new", f("at35.yaml"), "--config", f("warn.yaml")}, wantCode: 0,
			wantOut: []string{"ADMITTED with warnings", "reason: enforcement:warn", "[policy-error]"}},
		{name: "a rollback is admitted", args: []string{"--old", f("at35.yaml"), "--new", f("at0.yaml")}, wantCode: 0,
			wantOut: []string{"ADMITTED", "always admitted: rollback"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, code := execute(t, append([]string{"eval", "--policy-dir", f("policies"), "--eval-timeout", "100ms"}, tc.args...)...)
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("eval took %v with --eval-timeout 100ms", elapsed)
			}
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestEvalTimeout_EvalAndVerifyDefaultToServes(t *testing.T) {
	serve := newServeCommand().Flags().Lookup("eval-timeout")
	if serve == nil || serve.DefValue != policy.DefaultEvalTimeout.String() {
		t.Fatalf("serve --eval-timeout = %+v, want default %v", serve, policy.DefaultEvalTimeout)
	}
	for _, cmd := range []*cobra.Command{newEvalCommand(), newVerifyCommand()} {
		f := cmd.Flags().Lookup("eval-timeout")
		if f == nil || f.DefValue != serve.DefValue || f.Value.Type() != serve.Value.Type() {
			t.Errorf("%s --eval-timeout = %+v, want serve's (default %s)", cmd.Name(), f, serve.DefValue)
		}
	}
}

// builtinErrorRule is a custom deny rule whose built-in call fails: the
// rule is undefined, so it denies nothing (OPA's non-strict semantics).
const builtinErrorRule = `package canary_guard

deny contains {"rule": "team-cap", "msg": "above the team's cap"} if {
	input.rollout.raised == true
	some c in input.rollout.components
	c.newEffectivePercent > to_number("twenty")
}
`

func TestEval_ShowsBuiltinErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{"at10.yaml": sampleCanary10, "at35.yaml": at("35"), "policies/cap.rego": builtinErrorRule})
	f := func(name string) string { return filepath.Join(dir, name) }
	args := []string{"eval", "--old", f("at10.yaml"), "--new", f("at35.yaml"), "--policy-dir", f("policies")}
	wantErr := f("policies/cap.rego") + `:6: eval_builtin_error: to_number: strconv.ParseFloat: parsing "twenty": invalid syntax`

	out, code := execute(t, args...)
	if code != 0 || !strings.HasPrefix(out, "ADMITTED") {
		t.Errorf("exit status %d, want 0: the failed built-in leaves the rule undefined, as in serve:\n%s", code, out)
	}
	if want := "builtin errors (each left the rule calling it undefined, as in serve):\n  " + wantErr + "\n"; !strings.Contains(out, want) {
		t.Errorf("text output lacks:\n%s\noutput:\n%s", want, out)
	}

	out, code = execute(t, append(args, "-o", "json")...)
	var report struct {
		Allowed       bool     `json:"allowed"`
		BuiltinErrors []string `json:"builtinErrors"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("exit status %d, output is not JSON: %v\n%s", code, err, out)
	}
	if !report.Allowed || !slices.Equal(report.BuiltinErrors, []string{wantErr}) {
		t.Errorf("allowed=%v builtinErrors=%q, want true and [%q]", report.Allowed, report.BuiltinErrors, wantErr)
	}

	// Without builtin errors there is no section.
	if out, _ := execute(t, "eval", "--old", f("at10.yaml"), "--new", f("at35.yaml")); strings.Contains(out, "builtin errors") {
		t.Errorf("a section without builtin errors:\n%s", out)
	}
}

// --now is the time of the decision: the policy's time built-ins see it,
// so a window rule can be checked on any day.
func TestEval_NowReachesThePolicysClock(t *testing.T) {
	const window = `package canary_guard

deny contains {"rule": "team-window", "msg": "closed until 2027"} if {
	input.rollout.raised == true
	time.now_ns() < time.parse_rfc3339_ns("2027-01-01T00:00:00Z")
}
`
	dir := writeFiles(t, map[string]string{"at10.yaml": sampleCanary10, "at35.yaml": at("35"), "policies/window.rego": window})
	f := func(name string) string { return filepath.Join(dir, name) }
	args := []string{"eval", "--old", f("at10.yaml"), "--new", f("at35.yaml"), "--policy-dir", f("policies")}
	for _, tc := range []struct {
		now  string
		code int
	}{
		{"2026-12-31T23:59:59Z", 1},
		{"2027-01-01T00:00:00Z", 0},
	} {
		if out, code := execute(t, append(args, "--now", tc.now)...); code != tc.code {
			t.Errorf("--now %s: exit status %d, want %d:\n%s", tc.now, code, tc.code, out)
		}
	}
	if out, code := execute(t, append(args, "--now", "tomorrow")...); code != 2 || !strings.Contains(out, `--now "tomorrow": want an RFC 3339 time`) {
		t.Errorf("--now tomorrow: exit status %d, want 2 and the format:\n%s", code, out)
	}
}

// -o input writes the input document the validating webhook's policy saw
// (the patched object's), for opa eval -i.
func TestEval_InputOutputIsThePolicysInput(t *testing.T) {
	dir := writeFiles(t, map[string]string{"at10.yaml": sampleCanary10, "at35.yaml": at("35")})
	f := func(name string) string { return filepath.Join(dir, name) }
	out, code := execute(t, "eval", "--old", f("at10.yaml"), "--new", f("at35.yaml"), "-o", "input")
	if code != 0 {
		t.Fatalf("exit status %d, want 0 (admitted):\n%s", code, out)
	}
	var input struct {
		Version string `json:"version"`
		Request struct {
			Namespace string `json:"namespace"`
		} `json:"request"`
		Rollout struct {
			Raised     bool `json:"raised"`
			Components []struct {
				NewPercent int `json:"newPercent"`
			} `json:"components"`
		} `json:"rollout"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &input); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if input.Version != "v1" || input.Request.Namespace != "models" || !input.Rollout.Raised ||
		len(input.Rollout.Components) != 1 || input.Rollout.Components[0].NewPercent != 35 || input.Config["maxStepPercent"] != 25.0 {
		t.Errorf("input = %+v, want the step 10 → 35 in models with the default configuration", input)
	}
}

func TestEval_JSONOutputHasAStableShape(t *testing.T) {
	dir := writeFiles(t, map[string]string{"stable.yaml": sampleStable, "new-model.yaml": sampleNewModel})
	out, code := execute(t, "eval", "--old", filepath.Join(dir, "stable.yaml"), "--new", filepath.Join(dir, "new-model.yaml"), "-o", "json", "--user", "alice", "--group", "ml", "--group", "eu")
	if code != 0 {
		t.Fatalf("exit status %d:\n%s", code, out)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, out)
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"allowed", "builtinErrors", "denials", "enforcement", "facts", "loggedWarnings", "patches", "reason", "warnings"}; !slices.Equal(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
	var report struct {
		Allowed     bool   `json:"allowed"`
		Enforcement string `json:"enforcement"`
		Patches     []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		} `json:"patches"`
		Denials       []struct{ Rule, Msg string } `json:"denials"`
		Warnings      []struct{ Rule, Msg string } `json:"warnings"`
		BuiltinErrors []string                     `json:"builtinErrors"`
		Facts         struct {
			ModelChanged               bool     `json:"modelChanged"`
			InternalAnnotationsChanged []string `json:"internalAnnotationsChanged"`
			Components                 []struct {
				PromotedCanaryChangedFields []string `json:"promotedCanaryChangedFields"`
			} `json:"components"`
		} `json:"facts"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	if !report.Allowed || report.Enforcement != "enforce" || !report.Facts.ModelChanged {
		t.Errorf("allowed=%v enforcement=%q modelChanged=%v", report.Allowed, report.Enforcement, report.Facts.ModelChanged)
	}
	if len(report.Patches) != 2 || report.Patches[0].Path != "/spec/predictor/canaryTrafficPercent" || report.Patches[0].Value != float64(10) {
		t.Errorf("patches = %+v, want the percent then the tag-routing annotation", report.Patches)
	}
	if report.Denials == nil || len(report.Denials) != 0 {
		t.Errorf("denials = %#v, want an empty array", report.Denials)
	}
	if report.BuiltinErrors == nil || len(report.BuiltinErrors) != 0 {
		t.Errorf("builtinErrors = %#v, want an empty array", report.BuiltinErrors)
	}
	// .facts reads as input.rollout does: empty lists are arrays.
	if f := report.Facts; f.InternalAnnotationsChanged == nil || len(f.Components) == 0 || f.Components[0].PromotedCanaryChangedFields == nil {
		t.Errorf("facts = %+v, want empty lists as [] like input.rollout", f)
	}
	if len(report.Warnings) != 1 || report.Warnings[0].Rule != "canary-injected" {
		t.Errorf("warnings = %+v, want canary-injected", report.Warnings)
	}
}

func TestEval_ReviewGivesTheSameAnswerAsManifests(t *testing.T) {
	review := func(op, object, oldObject string) string {
		r := map[string]any{
			"uid":       "7f0c",
			"kind":      map[string]string{"group": "serving.kserve.io", "version": "v1beta1", "kind": "InferenceService"},
			"resource":  map[string]string{"group": "serving.kserve.io", "version": "v1beta1", "resource": "inferenceservices"},
			"name":      "my-model",
			"namespace": "models",
			"operation": op,
			"userInfo":  map[string]any{"username": "alice", "groups": []string{"ml-engineers"}},
			"object":    yamlToJSON(t, object),
		}
		if oldObject != "" {
			r["oldObject"] = yamlToJSON(t, oldObject)
		}
		b, err := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": r})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dir := writeFiles(t, map[string]string{
		"stable.yaml": sampleStable, "new-model.yaml": sampleNewModel, "at10.yaml": sampleCanary10, "at100.yaml": at("100"),
		"model-change.json": review("UPDATE", sampleNewModel, sampleStable),
		"jump.json":         review("UPDATE", at("100"), sampleCanary10),
		"create.json":       review("CREATE", sampleNewModel, ""),
		"delete.json":       strings.Replace(review("DELETE", sampleCanary10, ""), `"object"`, `"oldObject"`, 1),
		"not-a-review.json": `{"apiVersion": "v1", "kind": "ConfigMap"}`,
	})
	f := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name      string
		review    string
		manifests []string
	}{
		{name: "a model change", review: "model-change.json", manifests: []string{"--old", f("stable.yaml"), "--new", f("new-model.yaml")}},
		{name: "a jump", review: "jump.json", manifests: []string{"--old", f("at10.yaml"), "--new", f("at100.yaml")}},
		{name: "a create", review: "create.json", manifests: []string{"--new", f("new-model.yaml")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fromReview, reviewCode := execute(t, "eval", "--review", f(tc.review), "-o", "json")
			fromManifests, manifestCode := execute(t, append([]string{"eval", "-o", "json", "--user", "alice", "--group", "ml-engineers"}, tc.manifests...)...)
			if reviewCode != manifestCode || fromReview != fromManifests {
				t.Errorf("--review (exit %d):\n%s\n--old/--new (exit %d):\n%s", reviewCode, fromReview, manifestCode, fromManifests)
			}
		})
	}

	failures := []struct {
		name    string
		args    []string
		wantOut string
	}{
		{name: "a DELETE has nothing to evaluate", args: []string{"--review", f("delete.json")}, wantOut: "nothing to evaluate: the webhooks admit DELETE requests unevaluated"},
		{name: "not an AdmissionReview", args: []string{"--review", f("not-a-review.json")}, wantOut: "not an AdmissionReview v1"},
		{name: "--review with manifests", args: []string{"--review", f("jump.json"), "--new", f("at100.yaml")}, wantOut: "--review excludes --old and --new"},
		{name: "--review with request flags", args: []string{"--review", f("jump.json"), "--user", "bob"}, wantOut: "apply to --old/--new only"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			out, code := execute(t, append([]string{"eval"}, tc.args...)...)
			if code != 2 || !strings.Contains(out, tc.wantOut) {
				t.Errorf("exit status %d, want 2, with %q:\n%s", code, tc.wantOut, out)
			}
		})
	}
}

func yamlToJSON(t *testing.T, manifest string) json.RawMessage {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(manifest), &obj); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExitStatus_MapsErrorsForMain(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   int
		wantReport bool
	}{
		{name: "success", err: nil, wantCode: 0},
		{name: "a denial is already printed", err: exitError{code: 1}, wantCode: 1},
		{name: "a failure is printed", err: failed(os.ErrNotExist), wantCode: 2, wantReport: true},
		{name: "other commands' errors keep status 1", err: os.ErrNotExist, wantCode: 1, wantReport: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, report := exitStatus(tc.err)
			if code != tc.wantCode || report != tc.wantReport {
				t.Errorf("exitStatus = %d, %v; want %d, %v", code, report, tc.wantCode, tc.wantReport)
			}
		})
	}
}

// TestEval_WarnsOfARuleIDReusedFromTheBundle: eval loads a policy directory
// as serve does, and says what serve would log about it.
func TestEval_WarnsOfARuleIDReusedFromTheBundle(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"policies/team.rego": "package canary_guard\n\nwarn contains {\"rule\": \"max-step\", \"msg\": \"prod\"} if input.rollout.raised == true\n",
		"at10.yaml":          sampleCanary10,
		"at35.yaml":          at("35"),
	})
	f := func(name string) string { return filepath.Join(dir, name) }
	out, code := execute(t, "eval", "--policy-dir", f("policies"), "--old", f("at10.yaml"), "--new", f("at35.yaml"))
	if code != 0 {
		t.Fatalf("exit status %d, want 0:\n%s", code, out)
	}
	if want := "WARN  rule id \"max-step\" is emitted from more than one file (" + f("policies") + "/team.rego:3, rego/canary_guard.rego:"; !strings.Contains(out, want) {
		t.Errorf("output lacks:\n%s\noutput:\n%s", want, out)
	}
}
