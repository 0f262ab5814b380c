package policy

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/canary-guard/canary-guard/rego"
)

func TestCompile_WarnsOfReadsOfInputPathsThatNeverExist(t *testing.T) {
	const never = " is not in canary-guard's input (%s); where nothing else defines the rule reading it, that rule never holds"
	tests := []struct {
		name string
		src  string // after the package line and a blank line
		want []string
	}{
		{name: "Gatekeeper's input.review.object",
			src:  "deny contains {\"rule\": \"team-x\", \"msg\": \"x\"} if {\n\tinput.review.object.spec.predictor.canaryTrafficPercent > 50\n}\n",
			want: []string{"team.rego:4: input.review" + fmt.Sprintf(never, "Gatekeeper's input.review.object is input.object here; see docs/policy-input.md")}},
		{name: "Gatekeeper's input.review.userInfo",
			src:  "deny contains {\"rule\": \"team-x\", \"msg\": \"x\"} if input.review.userInfo.username == \"bob\"\n",
			want: []string{"team.rego:3: input.review" + fmt.Sprintf(never, "Gatekeeper's input.review.userInfo is input.request.user here; see docs/policy-input.md")}},
		{name: "Gatekeeper's parameters",
			src:  "deny contains {\"rule\": \"team-x\", \"msg\": \"x\"} if input.rollout.components[_].newPercent > input.parameters.max\n",
			want: []string{"team.rego:3: input.parameters is not in canary-guard's input (Gatekeeper's constraint parameters have no counterpart here: put the values in a rule of package canary_guard"}},
		{name: "conftest's manifest as the input",
			src:  "deny contains {\"rule\": \"team-x\", \"msg\": \"x\"} if input.metadata.labels.team == \"\"\n",
			want: []string{"team.rego:3: input.metadata is not in canary-guard's input (the InferenceService is input.object here, not the input itself as in conftest: input.object.metadata)"}},
		{name: "a typo of a rollout key, in an iteration",
			src:  "deny contains {\"rule\": \"team-x\", \"msg\": \"x\"} if {\n\tsome i\n\tinput.rollout.component[i].newPercent > 50\n}\n",
			want: []string{"team.rego:5: input.rollout.component" + fmt.Sprintf(never, "did you mean input.rollout.components?")}},
		{name: "a typo of a component key",
			src:  "deny contains {\"rule\": \"team-x\", \"msg\": \"x\"} if input.rollout.components[_].newPrecent > 50\n",
			want: []string{"team.rego:3: input.rollout.components[_].newPrecent" + fmt.Sprintf(never, "did you mean input.rollout.components[_].newPercent?")}},
		{name: "a component key read off the array",
			src:  "deny contains {\"rule\": \"team-x\", \"msg\": \"x\"} if input.rollout.components.newPercent > 50\n",
			want: []string{"team.rego:3: input.rollout.components.newPercent is not in canary-guard's input (input.rollout.components is an array: read its elements' newPercent as input.rollout.components[_].newPercent"}},
		{name: "a key of the step", src: "warn contains \"x\" if input.rollout.step.lastStep == \"\"\n",
			want: []string{"team.rego:3: input.rollout.step.lastStep" + fmt.Sprintf(never, "did you mean input.rollout.step.lastStepAt?")}},
		{name: "a key of the override", src: "warn contains \"x\" if input.rollout.override.active_ == true\n",
			want: []string{"did you mean input.rollout.override.active?"}},
		{name: "a key of a transition", src: "warn contains \"x\" if input.rollout.tagRouting.now == true\n",
			want: []string{"did you mean input.rollout.tagRouting.new?"}},
		{name: "a key of the request with no near one lists the keys",
			src:  "warn contains \"x\" if input.request.user.email == \"\"\n",
			want: []string{"team.rego:3: input.request.user.email" + fmt.Sprintf(never, "input.request.user has groups, username; see docs/policy-input.md")}},
		{name: "a setting that does not exist",
			src:  "warn contains \"x\" if input.config.maxStep > 10\n",
			want: []string{"team.rego:3: input.config.maxStep" + fmt.Sprintf(never, "see docs/policy-input.md for the keys of input.config")}},
		{name: "a top-level key, written with brackets",
			src:  "warn contains \"x\" if input[\"requests\"].namespace == \"\"\n",
			want: []string{"team.rego:3: input.requests" + fmt.Sprintf(never, "did you mean input.request?")}},
		{name: "a with in a rule", src: "warn contains \"x\" if team_on with input.rollout.raise as true\n\nteam_on if input.rollout.raised == true\n",
			want: []string{"team.rego:3: input.rollout.raise" + fmt.Sprintf(never, "did you mean input.rollout.raised?")}},
		{name: "an import", src: "import input.review.object as obj\n\nwarn contains \"x\" if obj.spec\n",
			want: []string{"team.rego:3: input.review is not in canary-guard's input (Gatekeeper's input.review.object is input.object here"}},
		{name: "reported once per file", src: "warn contains \"x\" if input.rollout.rased\n\nwarn contains \"y\" if not input.rollout.rased\n",
			want: []string{"team.rego:3: input.rollout.rased"}},
		// What the check leaves alone.
		{name: "the InferenceServices are free-form",
			src: "warn contains \"x\" if input.object.metadata.annotations[\"team/owner\"] == input.oldObject.spec.anything\n"},
		{name: "rule ids and annotation names are the user's",
			src: "warn contains \"x\" if {\n\tinput.config.ruleEnforcement[\"team-x\"] == \"audit\"\n\tinput.rollout.internalAnnotationsOld[\"serving.kserve.io/x\"] == null\n}\n"},
		{name: "keys that are not constants", src: "warn contains \"x\" if {\n\tsome k\n\tinput[k].x == 1\n\tinput.rollout[k] == true\n}\n"},
		{name: "through a variable", src: "warn contains \"x\" if {\n\tsome c in input.rollout.components\n\tc.newPrecent > 50\n\tr := input.rollout\n\tr.rased\n}\n"},
		{name: "known paths at every level",
			src: "warn contains \"x\" if {\n\tinput.version == \"v1\"\n\tinput.request.user.groups[_] == \"sre\"\n\tinput.rollout.components[0].replicas.minReplicasToKeep > 0\n\tinput.rollout.stopped.old\n\tinput.config.override.groups[_] == \"x\"\n\tinput.config.exempt.users == []\n\tinput.rollout.override.reason != \"\"\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			warnings := inputRefWarningsBesideShipped(t, tc.src)
			if len(warnings) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", warnings, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q, want it to contain %q", warnings[i], w)
				}
			}
		})
	}
}

// inputRefWarnings... compiles team.rego (src after its package line and
// a blank line) beside the shipped bundle, which must load, and returns
// its warnings of input paths.
func inputRefWarningsBesideShipped(t *testing.T, src string) []string {
	t.Helper()
	shipped, err := ShippedSources()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(context.Background(), append(shipped, Source{Name: "team.rego", Content: []byte("package canary_guard\n\n" + src)}))
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	var out []string
	for _, w := range p.Warnings {
		if strings.Contains(w, "is not in canary-guard's input") {
			out = append(out, w)
		}
	}
	return out
}

// A policy shared with Gatekeeper may read both shapes: it loads, and its
// rule fires on canary-guard's input, with the warning naming the branch
// that reads nothing here.
func TestCompile_APolicyReadingGatekeepersInputToo_LoadsAndWorks(t *testing.T) {
	src := "isvc := input.review.object if input.review\n\telse := input.object\n\nwarn contains {\"rule\": \"team-owner\", \"msg\": \"no owner label\"} if not isvc.metadata.labels.owner\n"
	warnings := inputRefWarningsBesideShipped(t, src)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "team.rego:3: input.review is not in canary-guard's input") {
		t.Errorf("warnings %q, want one for input.review at line 3", warnings)
	}
	g := guardWith(t, Source{Name: "team.rego", Content: []byte("package canary_guard\n\n" + src)})
	d, err := g.Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true)))
	if err != nil {
		t.Fatal(err)
	}
	if !hasRule(d.Warnings, "team-owner") {
		t.Errorf("warnings %v, want team-owner's", rules(d.Warnings))
	}
}

// The shipped bundle and its tests read the input at hundreds of paths:
// none is one the check calls missing.
func TestInputRefWarnings_NoneInTheShippedBundle(t *testing.T) {
	names, err := fs.Glob(rego.Bundle(), "*.rego")
	if err != nil || len(names) < 2 {
		t.Fatalf("the bundle's files: %v (%d)", err, len(names))
	}
	for _, name := range names {
		src, err := fs.ReadFile(rego.Bundle(), name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		warnings, err := inputRefWarnings([]*ast.Module{m})
		if err != nil || len(warnings) > 0 {
			t.Errorf("%s: %v %v", name, warnings, err)
		}
	}
}

// The checker's key sets are read off buildInput (inputShapeOf): every path
// of the inputs of representative requests is known to it, and each of
// its keys, and each user-keyed object it skips, is in one of them.
func TestInputShape_IsTheKeysOfBuiltInputs(t *testing.T) {
	g := newGuard(t, "")
	shape, err := inputShapeOf()
	if err != nil {
		t.Fatal(err)
	}
	var reqs []*Request
	for _, bc := range benchCases {
		reqs = append(reqs, update(t, bc.old, bc.new))
	}
	reqs = append(reqs, &Request{Operation: OperationCreate, Namespace: "models", Name: "my-model", Object: isvc(t, canaryAt(20, true))},
		update(t, standardManifest("", stdStableV1), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10))))
	inInputs := map[string]bool{}
	for _, req := range reqs {
		settings, config := g.state.Load().settingsFor(req.Namespace)
		facts, err := BuildFacts(req, FactsOptions{Settings: settings, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		input, err := buildInput(g.keys, req, facts, config, true)
		if err != nil {
			t.Fatal(err)
		}
		walkPaths(ast.Ref{ast.InputRootDocument}, input, func(r ast.Ref) {
			inInputs[shapePath(r)] = true
			if n, why := inputRefProblem(shape, r); n != 0 {
				t.Errorf("%v is in the input, but the check says %v: %s", r, r[:n], why)
			}
		})
	}
	var walk func(path string, s *inputShape)
	walk = func(path string, s *inputShape) {
		if s == nil {
			return
		}
		if s.array {
			walk(path+"[_]", s.elem)
			return
		}
		for k, next := range s.keys {
			if !inInputs[path+"."+k] {
				t.Errorf("the check knows %s.%s, which no built input has", path, k)
			}
			walk(path+"."+k, next)
		}
	}
	walk("input", shape)
	for path := range userKeyed {
		if !inInputs[path] {
			t.Errorf("userKeyed has %s, which no built input has", path)
		}
	}
}

// walkPaths calls f with the reference of every value under v (at r),
// indexing arrays with a variable.
func walkPaths(r ast.Ref, v ast.Value, f func(ast.Ref)) {
	if len(r) > 1 {
		f(r)
	}
	switch v := v.(type) {
	case ast.Object:
		v.Foreach(func(k, e *ast.Term) { walkPaths(append(r.Copy(), k), e.Value, f) })
	case *ast.Array:
		v.Foreach(func(e *ast.Term) { walkPaths(append(r.Copy(), ast.VarTerm("i")), e.Value, f) })
	}
}

// shapePath writes r as userKeyed does: input.rollout.components[_].id.
func shapePath(r ast.Ref) string {
	var b strings.Builder
	b.WriteString("input")
	for _, t := range r[1:] {
		if s, ok := t.Value.(ast.String); ok {
			b.WriteString("." + string(s))
		} else {
			b.WriteString("[_]")
		}
	}
	return b.String()
}
