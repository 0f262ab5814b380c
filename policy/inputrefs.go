package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputShape is what the input document holds at a path, as far as a
// rule's reference can be checked at load: the keys of an object (each
// with the shape under it), or the elements of an array. A nil shape is
// not checked further: a scalar, a null, or a map whose keys come from the
// request or the configuration.
type inputShape struct {
	keys  map[string]*inputShape // an object
	array bool
	elem  *inputShape // an array's elements
}

// userKeyed are the objects of the input whose keys are not canary-guard's
// but the user's: the InferenceServices, the rule ids of ruleEnforcement,
// the annotation names of internalAnnotationsOld. Nothing under them is
// checked.
var userKeyed = map[string]bool{
	"input.object":                         true,
	"input.oldObject":                      true,
	"input.config.ruleEnforcement":         true,
	"input.rollout.internalAnnotationsOld": true,
}

// inputShapeOf is the shape of the input document, read off an input that
// buildInput builds (with a component that has replicas, and the
// default configuration): the code that builds every input is the one
// source of its keys, so the check cannot drift from it. Built once per
// compile of a policy, which takes far longer.
func inputShapeOf() (*inputShape, error) {
	defaults := DefaultSettings()
	config, err := settingsValue(&defaults)
	if err != nil {
		return nil, fmt.Errorf("the default settings as input.config: %w", err)
	}
	facts := &Facts{Components: []ComponentFacts{{Replicas: &ReplicaFacts{}}}}
	input, err := buildInput(newKeyTerms(), &Request{}, facts, config, true)
	if err != nil {
		return nil, fmt.Errorf("building an input: %w", err)
	}
	return shapeOf("input", input), nil
}

// keysOf is the keys of an object's shape, nil for any other.
func (s *inputShape) keysOf() map[string]*inputShape {
	if s == nil {
		return nil
	}
	return s.keys
}

func shapeOf(path string, v ast.Value) *inputShape {
	if userKeyed[path] {
		return nil
	}
	switch v := v.(type) {
	case ast.Object:
		if v.Len() == 0 {
			return nil
		}
		s := &inputShape{keys: map[string]*inputShape{}}
		v.Foreach(func(k, e *ast.Term) {
			key := string(k.Value.(ast.String))
			s.keys[key] = shapeOf(path+"."+key, e.Value)
		})
		return s
	case *ast.Array:
		s := &inputShape{array: true}
		if v.Len() > 0 {
			s.elem = shapeOf(path+"[_]", v.Elem(0).Value)
		}
		return s
	}
	return nil
}

// inputRefProblem checks a reference to the input (input.rollout.x)
// against the input's shape (inputShapeOf). It returns the length of the reference's
// prefix that never exists and what is wrong with it, or 0 where the
// input may have it or the check cannot tell: a key that is not a
// constant string (input[x]), a path under a userKeyed object, a scalar.
func inputRefProblem(shape *inputShape, r ast.Ref) (int, string) {
	if len(r) < 2 || !r[0].Equal(ast.InputRootDocument) {
		return 0, ""
	}
	s := shape
	for i := 1; i < len(r) && s != nil; i++ {
		key, isString := r[i].Value.(ast.String)
		switch {
		case s.array && isString:
			if _, ok := s.elem.keysOf()[string(key)]; ok {
				return i + 1, fmt.Sprintf("%s is an array: read its elements' %s as %s[_].%s, or with some c in %s and c.%s",
					r[:i], string(key), r[:i], string(key), r[:i], string(key))
			}
			return i + 1, fmt.Sprintf("%s is an array, not an object; see docs/policy-input.md", r[:i])
		case s.array:
			s = s.elem
		case !isString:
			return 0, ""
		default:
			next, known := s.keys[string(key)]
			if !known {
				return i + 1, unknownKeyHint(r, i, s)
			}
			s = next
		}
	}
	return 0, ""
}

// gatekeeperReview maps the keys of Gatekeeper's input.review to where
// canary-guard's input has them.
var gatekeeperReview = map[string]string{
	"object":    "input.object",
	"oldObject": "input.oldObject",
	"userInfo":  "input.request.user",
	"operation": "input.request.operation",
	"namespace": "input.request.namespace",
	"name":      "input.request.name",
	"dryRun":    "input.request.dryRun",
}

// manifestKeys are the top-level keys of a Kubernetes object, which a rule
// written for conftest (whose input is the manifest) reads from input.
var manifestKeys = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "spec": true, "status": true}

// unknownKeyHint says, in parentheses, what a rule reading r meant where
// r[i] is no key of the object s at r[:i].
func unknownKeyHint(r ast.Ref, i int, s *inputShape) string {
	key := string(r[i].Value.(ast.String))
	keys := slices.Sorted(maps.Keys(s.keys))
	parent := r[:i].String()
	switch {
	case parent == "input" && key == "review":
		field := "object"
		if len(r) > 2 {
			if k, ok := r[2].Value.(ast.String); ok && gatekeeperReview[string(k)] != "" {
				field = string(k)
			}
		}
		return fmt.Sprintf("Gatekeeper's input.review.%s is %s here; see docs/policy-input.md", field, gatekeeperReview[field])
	case parent == "input" && key == "parameters":
		return "Gatekeeper's constraint parameters have no counterpart here: put the values in a rule of package " + PackagePath + ", as team_max_percent := 50"
	case parent == "input" && manifestKeys[key]:
		return fmt.Sprintf("the InferenceService is input.object here, not the input itself as in conftest: input.object.%s", key)
	}
	if near, ok := closest(key, keys); ok {
		return "did you mean " + append(r[:i].Copy(), ast.StringTerm(near)).String() + "?"
	}
	if len(keys) <= 6 {
		return fmt.Sprintf("%s has %s; see docs/policy-input.md", parent, strings.Join(keys, ", "))
	}
	return "see docs/policy-input.md for the keys of " + parent
}

// inputRefWarnings returns, for custom modules, the references to paths
// of the input that never exist: a key canary-guard's input does not have
// where the input's keys are canary-guard's (input.review as Gatekeeper's
// input has it, input.rollout.component for components). Such a
// reference loads and is undefined on every request, so a rule that
// reads only it never holds, silently. Warned of, not refused: a policy
// shared with Gatekeeper may read both shapes (input.review.object, else
// input.object), and one that works must keep loading. Under input.object
// and input.oldObject (the InferenceService), through a variable (c :=
// input.rollout.components[_]; c.x) and past a key that is not a constant
// (input[x]) nothing is checked. Each problem is reported once per file.
func inputRefWarnings(modules []*ast.Module) ([]string, error) {
	if len(modules) == 0 {
		return nil, nil
	}
	shape, err := inputShapeOf()
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, m := range modules {
		seen := map[string]bool{}
		ast.WalkRefs(m, func(r ast.Ref) bool {
			n, hint := inputRefProblem(shape, r)
			if n == 0 {
				return false
			}
			msg := fmt.Sprintf("%s is not in canary-guard's input (%s); where nothing else defines the rule reading it, that rule never holds", r[:n], hint)
			if !seen[msg] {
				seen[msg] = true
				warnings = append(warnings, fmt.Sprintf("%s:%d: %s", m.Package.Location.File, refRow(m, r), msg))
			}
			return false
		})
	}
	return warnings, nil
}
