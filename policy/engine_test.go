package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestCompile_ErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"syntax error", "package canary_guard\n\ndeny contains x if {\n", "team.rego:4: rego_parse_error"},
		{"http.send is not available", "package canary_guard\n\ndeny contains x if {\n\tx := http.send({\"method\": \"get\", \"url\": \"http://example.com\"})\n}\n", "team.rego:4"},
		{"net lookups are not available", "package canary_guard\n\ndeny contains x if {\n\tx := net.lookup_ip_addr(\"example.com\")\n}\n", "undefined function net.lookup_ip_addr"},
		{"opa.runtime is not available", "package canary_guard\n\ndeny contains x if {\n\tx := opa.runtime()\n}\n", "undefined function opa.runtime"},
		{"other packages are refused", "package other\n\ndeny contains \"x\" if true\n", "team.rego:1: package other: policies must be in package canary_guard"},
		{"Rego v0 syntax is refused", "package canary_guard\n\ndeny[x] { x := \"v0\" }\n", "team.rego:3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(context.Background(), []Source{{Name: "team.rego", Content: []byte(tc.src)}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCompile_TestFilesAreNotPartOfThePolicy(t *testing.T) {
	p, err := Compile(context.Background(), []Source{
		{Name: "a.rego", Content: []byte("package canary_guard\n\ndeny := set()\n\nwarn := set()\n")},
		{Name: "a_test.rego", Content: []byte("package canary_guard\n\nthis does not parse\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) != 1 || p.Files[0] != "a.rego" {
		t.Errorf("files = %v", p.Files)
	}
}

func TestEval_CustomRulesSeeTheObjectsOnlyWhenTheyAskForThem(t *testing.T) {
	reads := Source{Name: "storage.rego", Content: []byte(`package canary_guard

deny contains {"rule": "storage-location", "msg": msg} if {
	not startswith(input.object.spec.predictor.model.storageUri, "gs://approved/")
	msg := sprintf("storageUri %s is outside gs://approved/", [input.object.spec.predictor.model.storageUri])
}
`)}
	p := policyWith(t, reads)
	if !p.readsObjects {
		t.Fatal("a rule reading input.object must get the objects")
	}
	if shippedPolicy(t).readsObjects {
		t.Error("the shipped bundle does not read the objects; converting them would be wasted work")
	}
	g, err := NewGuard(p, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	req := update(t, canaryAt(10, true), canaryAt(35, true))
	req.ObjectJSON = []byte(`{"spec":{"predictor":{"model":{"storageUri":"gs://elsewhere/m"}}}}`)
	req.OldObjectJSON = []byte(`{}`)
	d, err := g.Validate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || !hasRule(d.Denials, "storage-location") {
		t.Errorf("custom rule did not deny: %+v", d.Denials)
	}
}

func TestEval_MalformedRuleResultsAreErrorsNotPanics(t *testing.T) {
	src := Source{Name: "odd.rego", Content: []byte("package canary_guard\n\ndeny contains 42 if true\n\nwarn := set()\n")}
	p, err := Compile(context.Background(), []Source{src})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(context.Background(), ast.NewObject(), time.Time{})
	if err == nil || !strings.Contains(err.Error(), "deny") {
		t.Errorf("err = %v, want an error about deny", err)
	}
}

// TestValidate_MalformedResultsAreShownAsRegoWithTheirRuleID: the
// [policy-error] denial shows the offending element as Rego, not as Go's
// map[msg:[a b] rule:team-arr], and names its rule id. The results are
// built at evaluation: those malformed already in the rule head
// are refused at load (TestCompile_RefusesCustomRulesNamedLikeShippedOnes).
func TestValidate_MalformedResultsAreShownAsRegoWithTheirRuleID(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want string
	}{
		{name: "a msg that is not a string", rule: `deny contains x if x := {"rule": "team-arr", "msg": ["a", "b"]}`,
			want: `reading deny: element {"msg": ["a", "b"], "rule": "team-arr"} of rule "team-arr" has no non-empty string "msg"`},
		{name: "message instead of msg", rule: `warn contains x if x := {"rule": "team-x", "message": "hi"}`,
			want: `reading warn: element {"message": "hi", "rule": "team-x"} of rule "team-x" has no non-empty string "msg"`},
		{name: "an empty msg", rule: `warn contains x if x := {"rule": "team-x", "msg": ""}`,
			want: `reading warn: element {"msg": "", "rule": "team-x"} of rule "team-x" has no non-empty string "msg"`},
		{name: "no rule id", rule: `deny contains x if x := {"msg": 5}`,
			want: `reading deny: element {"msg": 5} has no non-empty string "msg"; want {"rule": id, "msg": text}`},
		{name: "a number", rule: `deny contains x if x := 42`,
			want: `reading deny: element 42 is neither an object {"rule": id, "msg": text} nor a string`},
		{name: "an array", rule: `warn contains x if x := ["team-x", "hi"]`,
			want: `reading warn: element ["team-x", "hi"] is neither an object`},
		{name: "a long element is cut", rule: `deny contains x if x := {"rule": "team-long", "msg": numbers.range(1, 500)}`,
			want: `reading deny: element {"msg": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := guardWith(t, Source{Name: "team.rego", Content: []byte("package canary_guard\n\n" + tc.rule + "\n")})
			d, err := g.Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true)))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed || len(d.Denials) != 1 || d.Denials[0].Rule != "policy-error" {
				t.Fatalf("allowed=%v denials=%v, want a policy-error denial", d.Allowed, d.Denials)
			}
			msg := d.Denials[0].Msg
			if !strings.Contains(msg, tc.want) || !strings.Contains(d.Error, tc.want) || strings.Contains(msg, "map[") {
				t.Errorf("denial %q\nerror %q\nwant both to contain %q", msg, d.Error, tc.want)
			}
			if len(msg) > 700 {
				t.Errorf("denial of %d bytes: %q", len(msg), msg)
			}
		})
	}
}

func TestEval_AResultThatIsNotASetIsShownAsRego(t *testing.T) {
	p, err := Compile(context.Background(), []Source{{Name: "odd.rego", Content: []byte("package canary_guard\n\ndeny := {\"rule\": \"x\"}\n\nwarn := set()\n")}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(context.Background(), ast.NewObject(), time.Time{})
	if want := `reading deny: the result is {"rule": "x"}, want a set`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
}

func TestCompile_ComputedInputKeysGetTheObjects(t *testing.T) {
	for name, rule := range map[string]string{
		"a variable key":        `deny contains {"rule": "x", "msg": "y"} if { k := "object"; input[k].spec.predictor }`,
		"an iterated key":       `deny contains {"rule": "x", "msg": "y"} if { some k in ["object"]; input[k].spec }`,
		"a literal object path": `deny contains {"rule": "x", "msg": "y"} if { input.object.spec }`,
	} {
		p := policyWith(t, Source{Name: "team.rego", Content: []byte("package canary_guard\n\n" + rule + "\n")})
		if !p.readsObjects {
			t.Errorf("%s: the rule does not get the objects", name)
		}
	}
	p := policyWith(t, Source{Name: "team.rego", Content: []byte(
		"package canary_guard\n\ndeny contains {\"rule\": \"x\", \"msg\": \"y\"} if { input[\"rollout\"].modelChanged }\n")})
	if p.readsObjects {
		t.Error("a rule reading input[\"rollout\"] gets the objects it does not read")
	}
}

func TestValidate_FailingBuiltinsLeaveTheRuleUndefinedAndAreReported(t *testing.T) {
	div0 := Source{Name: "team.rego", Content: []byte(`package canary_guard

deny contains {"rule": "div0", "msg": sprintf("%d", [x])} if {
	x := input.config.maxStepPercent / 0
}
`)}
	d, err := guardWith(t, div0).Validate(context.Background(), update(t, canaryAt(10, true), canaryAt(35, true)))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || hasRule(d.Denials, "div0") || len(d.BuiltinErrors) != 1 || !strings.Contains(d.BuiltinErrors[0], "divide by zero") {
		t.Errorf("allowed=%v denials=%v builtinErrors=%q, want admitted with the division reported", d.Allowed, d.Denials, d.BuiltinErrors)
	}
	// The shipped bundle fails no built-in on the updates of a rollout.
	shipped := newGuard(t, "minStepIntervalSeconds: 60")
	for _, pair := range [][2]string{
		{stableV1, newModelNoCanary}, {canaryAt(10, true), canaryAt(35, true)}, {canaryAt(10, false), canaryAt(100, false)},
		{canaryAt(35, true), canaryAt(0, true)}, {canaryAt(85, true), stableV1},
	} {
		if d, err := shipped.Validate(context.Background(), update(t, pair[0], pair[1])); err != nil || len(d.BuiltinErrors) > 0 {
			t.Errorf("shipped bundle: err=%v builtinErrors=%q", err, d.BuiltinErrors)
		}
	}
}
