package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// shippedRules maps each rule name the shipped modules define in package
// canary_guard (rules, functions, the root of a ref head) to where it is
// first defined.
func shippedRules(shipped []*ast.Module) map[string]*ast.Location {
	pkg := ast.MustParseRef("data." + PackagePath)
	names := map[string]*ast.Location{}
	for _, m := range shipped {
		if !m.Package.Path.Equal(pkg) {
			continue
		}
		for _, r := range m.Rules {
			if name, ok := ruleName(r); ok {
				if _, seen := names[name]; !seen {
					names[name] = r.Location
				}
			}
		}
	}
	return names
}

// ruleName is the name a rule defines in its package: the first term of
// its head (`pct` of `pct(p) := ...`, `a` of `a.b contains x`).
func ruleName(r *ast.Rule) (string, bool) {
	ref := r.Head.Ref()
	if len(ref) == 0 {
		return "", false
	}
	v, ok := ref[0].Value.(ast.Var)
	return string(v), ok
}

// isAddition reports whether a deny or warn rule only adds to the set, as
// `deny contains {...} if ...` does.
func isAddition(r *ast.Rule) bool {
	return !r.Default && len(r.Head.Ref()) == 1 && r.Head.Key != nil && r.Head.Value == nil && len(r.Head.Args) == 0
}

// customErrors returns what a custom module (a policy file of the policy
// directory, or one of its tests) may not do to the shipped rules. Every
// file of package canary_guard is one package: a rule of a custom file
// named like one of the shipped bundle's merges with it (a second
// definition of entry_ok(c), say, makes a refused entry pass) or makes
// it fail only at evaluation (a conflict), so a custom module may define
// no name the bundle defines except by adding to deny and warn.
func customErrors(m *ast.Module, shipped map[string]*ast.Location) []error {
	if len(shipped) == 0 {
		return nil
	}
	file := m.Package.Location.File
	pkg := ast.MustParseRef("data." + PackagePath)
	path := m.Package.Path
	if !path.HasPrefix(pkg) {
		return nil // a test package of its own: its names are its own
	}
	if len(path) > len(pkg) {
		// package canary_guard.x defines data.canary_guard.x.
		if s, ok := path[len(pkg)].Value.(ast.String); ok {
			if at, clash := shipped[string(s)]; clash {
				return []error{fmt.Errorf("%s:%d: package %s: %s is also defined by the shipped bundle (%s:%d); rename the package",
					file, m.Package.Location.Row, strings.TrimPrefix(path.String(), "data."), string(s), at.File, at.Row)}
			}
		}
		return nil
	}
	var errs []error
	for _, r := range m.Rules {
		name, ok := ruleName(r)
		if !ok {
			continue
		}
		at, clash := shipped[name]
		if !clash {
			continue
		}
		switch {
		case (name == "deny" || name == "warn") && isAddition(r):
			// The one way to add a rule.
		case name == "deny" || name == "warn":
			errs = append(errs, fmt.Errorf("%s:%d: %s: a custom file may only add to %s, with `%s contains {\"rule\": id, \"msg\": text} if {...}`; "+
				"a default, a complete definition (`%s := ...`) or a function would replace or break the shipped bundle's %s set (%s:%d)",
				file, r.Location.Row, name, name, name, name, name, at.File, at.Row))
		default:
			errs = append(errs, fmt.Errorf("%s:%d: %s is also defined by the shipped bundle (%s:%d): files of package %s are one package, "+
				"so the two definitions would merge and change the shipped rules; rename it (prefix it with your rule's name, e.g. team_%s)",
				file, r.Location.Row, name, at.File, at.Row, PackagePath, name))
		}
	}
	return errs
}

// checkCustom applies customErrors to every custom module, in file order.
func checkCustom(shipped, custom []*ast.Module) []error {
	names := shippedRules(shipped)
	slices.SortFunc(custom, func(a, b *ast.Module) int {
		return strings.Compare(a.Package.Location.File, b.Package.Location.File)
	})
	var errs []error
	for _, m := range custom {
		errs = append(errs, customErrors(m, names)...)
	}
	return errs
}
