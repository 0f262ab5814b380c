package policy

import (
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reservedRuleIDs are the ids canary-guard itself gives results.
var reservedRuleIDs = map[string]bool{"policy-error": true, "canary-injected": true, "custom": true}

// ruleIDWarnings reports rule ids the metrics and the decision log could
// not tell apart: an id that rules in more than one file emit (a custom
// rule reusing a shipped id such as max-step), one canary-guard gives its
// own results, and one that is empty or not a string (counted as
// "custom"). It reads the constant "rule" of each deny/warn rule head; an
// id built in the rule body or at evaluation is not checked. Compilation
// still succeeds: these are mistakes, not errors.
func ruleIDWarnings(modules map[string]*ast.Module) []string {
	type site struct {
		file string
		row  int
	}
	byID := map[string][]site{}
	var warnings []string
	names := make([]string, 0, len(modules))
	for name := range modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, r := range modules[name].Rules {
			ref := r.Head.Ref()
			if len(ref) != 1 || (!ref[0].Equal(ast.VarTerm("deny")) && !ref[0].Equal(ast.VarTerm("warn"))) || r.Head.Key == nil {
				continue
			}
			obj, ok := r.Head.Key.Value.(ast.Object)
			if !ok {
				continue
			}
			id := obj.Get(ast.StringTerm("rule"))
			if id == nil {
				continue
			}
			switch v := id.Value.(type) {
			case ast.String:
				switch {
				case v == "":
					warnings = append(warnings, fmt.Sprintf("%s:%d: rule id is empty; its results count as rule \"custom\"", name, r.Location.Row))
				case reservedRuleIDs[string(v)]:
					warnings = append(warnings, fmt.Sprintf("%s:%d: rule id %q is canary-guard's own; pick another", name, r.Location.Row, string(v)))
				default:
					byID[string(v)] = append(byID[string(v)], site{name, r.Location.Row})
				}
			default:
				// Ref.IsGround ignores the variable at the head of a ref
				// (c of c.newModel), so a call such as
				// sprintf("team-%s", [c.newModel]) looked ground.
				if !ast.IsConstant(id.Value) {
					continue // built at evaluation (a variable, a ref, a call, a template string)
				}
				warnings = append(warnings, fmt.Sprintf("%s:%d: rule id %v is not a string; its results count as rule \"custom\"", name, r.Location.Row, id))
			}
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		sites := byID[id]
		files := map[string]bool{}
		for _, s := range sites {
			files[s.file] = true
		}
		if len(files) < 2 {
			continue
		}
		where := ""
		for i, s := range sites {
			if i > 0 {
				where += ", "
			}
			where += fmt.Sprintf("%s:%d", s.file, s.row)
		}
		warnings = append(warnings, fmt.Sprintf("rule id %q is emitted from more than one file (%s): metrics and the decision log count them as one rule", id, where))
	}
	return warnings
}
