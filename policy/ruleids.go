package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reservedRuleIDs are the ids canary-guard itself gives results.
var reservedRuleIDs = map[string]bool{"policy-error": true, "canary-injected": true, "step-stamp-kept": true, "tag-routing-kept": true, "percent-applied": true, "custom": true, "override-stale": true, "warnings-left-out": true}

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
			result, ok := headResult(r)
			if !ok {
				continue
			}
			id := result.Get(ast.StringTerm("rule"))
			if id == nil {
				warnings = append(warnings, fmt.Sprintf("%s:%d: result has no \"rule\" key; it reads [custom] and counts as rule \"custom\" (give it one: {\"rule\": \"team-x\", \"msg\": msg})", name, r.Location.Row))
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

// headRuleID returns the "rule" term of a deny or warn rule's head
// (deny contains {"rule": id, "msg": ...}), nil for other rules.
func headRuleID(r *ast.Rule) *ast.Term {
	obj, ok := headResult(r)
	if !ok {
		return nil
	}
	return obj.Get(ast.StringTerm("rule"))
}

// headResult returns the object a deny or warn rule's head adds, when its
// head is an object literal.
func headResult(r *ast.Rule) (ast.Object, bool) {
	ref := r.Head.Ref()
	if len(ref) != 1 || (!ref[0].Equal(ast.VarTerm("deny")) && !ref[0].Equal(ast.VarTerm("warn"))) || r.Head.Key == nil {
		return nil, false
	}
	obj, ok := r.Head.Key.Value.(ast.Object)
	return obj, ok
}

// metricRuleIDs are the rule ids known at load: the non-empty constant
// strings of the deny and warn rule heads, and canary-guard's own. Only
// they label canary_guard_rule_results_total (MetricRuleID): an id built
// at evaluation (sprintf("team-%s", [c.newModel])) could take a value per
// object, and every label value is a series of its own, kept for the life
// of the process.
func metricRuleIDs(modules map[string]*ast.Module) map[string]struct{} {
	ids := make(map[string]struct{}, len(reservedRuleIDs))
	for id := range reservedRuleIDs {
		ids[id] = struct{}{}
	}
	for _, m := range modules {
		for _, r := range m.Rules {
			if id := headRuleID(r); id != nil {
				if s, ok := id.Value.(ast.String); ok && s != "" {
					ids[string(s)] = struct{}{}
				}
			}
		}
	}
	return ids
}

// MetricRuleID is the rule label canary_guard_rule_results_total counts a
// result of rule id under: id itself when it is known at load (a constant
// id of a deny/warn rule head, or one of canary-guard's own), else
// "custom". A nil policy knows only canary-guard's own ids.
func (p *Policy) MetricRuleID(id string) string {
	if p != nil {
		if _, ok := p.metricRuleIDs[id]; ok {
			return id
		}
	} else if reservedRuleIDs[id] {
		return id
	}
	return "custom"
}

// RuleEnforcementWarnings reports ruleEnforcement entries of c that name
// no rule id p knows at load (MetricRuleID): a typo there leaves the rule
// it meant enforced. An id a rule builds at evaluation is not known at
// load, so the warning says it may still apply. A known id within edit
// distance 2 is named as the one probably meant.
func RuleEnforcementWarnings(p *Policy, c *Config) []string {
	var warnings []string
	// canary-guard's own results (policy-error, canary-injected) are no
	// rules: the configuration refuses them in ruleEnforcement.
	known := slices.DeleteFunc(slices.Collect(maps.Keys(p.metricRuleIDs)), func(id string) bool { return reservedRuleIDs[id] })
	check := func(where string, s *Settings) {
		for _, id := range slices.Sorted(maps.Keys(s.RuleEnforcement)) {
			if _, ok := p.metricRuleIDs[id]; ok {
				continue
			}
			hint := "check the spelling against the rule ids in the README and in your policies"
			if near, ok := closest(id, known); ok {
				hint = "did you mean " + near + "?"
			}
			warnings = append(warnings, fmt.Sprintf("%sruleEnforcement.%s: no loaded deny or warn rule has the constant id %q, so this setting changes nothing unless a rule builds that id at evaluation; %s", where, id, id, hint))
		}
	}
	check("", &c.Defaults)
	for i := range c.Namespaces {
		n := &c.Namespaces[i]
		// An entry inherits the top level's map: report only what it adds.
		s := Settings{RuleEnforcement: maps.Clone(n.Settings.RuleEnforcement)}
		maps.DeleteFunc(s.RuleEnforcement, func(id string, _ Enforcement) bool {
			_, inherited := c.Defaults.RuleEnforcement[id]
			return inherited
		})
		check(fmt.Sprintf("namespaces[%d] (%s): ", i, n.Match), &s)
	}
	return warnings
}
