package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// packageRules maps each rule name modules define in package canary_guard
// (rules, functions, the root of a ref head) to where it is first defined.
func packageRules(modules []*ast.Module) map[string]*ast.Location {
	pkg := ast.MustParseRef("data." + PackagePath)
	names := map[string]*ast.Location{}
	for _, m := range modules {
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

// resultShapeError returns an error for a deny or warn result that is
// malformed already at load: an object whose "msg" is a constant other
// than a non-empty string, or whose keys are all constants and include no
// "msg" ({"rule": id, "message": text}); or a constant neither a string
// nor an object. Such a rule compiles, but each of its results fails the
// evaluation, which refuses every update of an enforce namespace
// ([policy-error]) and keeps the other rules from speaking in the rest.
func resultShapeError(file, name string, r *ast.Rule) error {
	key := r.Head.Key
	var problem string
	switch v := key.Value.(type) {
	case ast.String, ast.Var, ast.Ref, ast.Call:
		return nil
	case ast.Object:
		msg := v.Get(ast.StringTerm("msg"))
		switch {
		case msg == nil:
			constantKeys := true
			v.Foreach(func(k, _ *ast.Term) { constantKeys = constantKeys && ast.IsConstant(k.Value) })
			if !constantKeys {
				return nil
			}
			problem = "has no \"msg\""
		case ast.IsConstant(msg.Value):
			if s, ok := msg.Value.(ast.String); ok && s != "" {
				return nil
			}
			problem = "has a \"msg\" that is no non-empty string"
		default:
			return nil
		}
	default:
		if !ast.IsConstant(v) {
			return nil
		}
		problem = "is neither an object nor a string"
	}
	return fmt.Errorf("%s:%d: %s result %v %s: each one would fail the evaluation ([policy-error], refusing every update in enforce namespaces); "+
		"write %s contains {\"rule\": id, \"msg\": text}", file, r.Location.Row, name, key, problem, name)
}

// builtinNames maps each name a rule of package canary_guard could take
// from a built-in function to that built-in: count, sprintf, the
// operators' names (gt, plus), and the first segment of a dotted one (time
// of time.format). OPA resolves a call to such a name to the package's rule
// when one is defined, in every file of the package, so a custom helper
// named count or gt changes the shipped rules as silently as one named
// entry_ok.
func builtinNames() map[string]string {
	names := map[string]string{}
	for _, b := range Capabilities().Builtins {
		root, _, _ := strings.Cut(b.Name, ".")
		if _, seen := names[root]; !seen || root == b.Name {
			names[root] = b.Name
		}
	}
	return names
}

// builtinError is the error for a custom rule or package named like a
// built-in.
func builtinError(file string, row int, name, builtin string) error {
	what := "the built-in function " + builtin
	if builtin != name {
		what = "the built-in functions " + name + ".* (" + builtin + ", ...)"
	}
	return fmt.Errorf("%s:%d: %s is the name of %s: files of package %s are one package, "+
		"so a rule of this name replaces the built-in wherever the package calls it, the shipped bundle's rules included; rename it (prefix it with your rule's name, e.g. team_%s)",
		file, row, name, what, PackagePath, name)
}

// customErrors returns what a custom module (a policy file of the policy
// directory, or one of its tests) may not do to the shipped rules. Every
// file of package canary_guard is one package: a rule of a custom file
// named like one of the shipped bundle's merges with it (a second
// definition of entry_ok(c), say, makes a refused entry pass) or makes
// it fail only at evaluation (a conflict), so a custom module may define
// no name the bundle defines except by adding to deny and warn.
//
// A rule named like a built-in (count, gt) is refused, as OPA calls it in
// the built-in's place; one named like a namespace of built-ins (time of
// time.format, object of object.get) only where it could take a call's
// place: as a ref head (time.format(x) := ...), or where the shipped
// bundle or another file calls into that namespace (calledRoots), which
// it would break. A
// helper such as `object := input.object` breaks no call of the
// package that OPA would not report at compile.
func customErrors(m *ast.Module, shipped map[string]*ast.Location, calledRoots map[string]bool) []error {
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
			if builtin, clash := builtinNames()[string(s)]; clash {
				return []error{builtinError(file, m.Package.Location.Row, string(s), builtin)}
			}
			if at, clash := shipped[string(s)]; clash {
				return []error{fmt.Errorf("%s:%d: package %s: %s is also defined by the shipped bundle (%s:%d); rename the package",
					file, m.Package.Location.Row, strings.TrimPrefix(path.String(), "data."), string(s), at.File, at.Row)}
			}
		}
		return nil
	}
	var errs []error
	builtins := builtinNames()
	for _, r := range m.Rules {
		name, ok := ruleName(r)
		if !ok {
			continue
		}
		if builtin, clash := builtins[name]; clash && (builtin == name || len(r.Head.Ref()) > 1 || calledRoots[name]) {
			errs = append(errs, builtinError(file, r.Location.Row, name, builtin))
			continue
		}
		at, clash := shipped[name]
		if !clash {
			continue
		}
		switch {
		case (name == "deny" || name == "warn") && isAddition(r):
			// The one way to add a rule.
			if err := resultShapeError(file, name, r); err != nil {
				errs = append(errs, err)
			}
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

// dataErrors returns the references of a custom module to documents under
// data that are not the rules of a package in allowed. canary-guard reads
// only .rego files and its store is empty, so data.x outside the rules is
// never defined: a rule reading data.team_buckets, with the values in a
// data.json beside it, passes `opa test dir/` (which loads the JSON) and
// never fires in serve. A reference whose second term is not a constant
// (data[x]) is not checked. Each name is reported once per file.
func dataErrors(m *ast.Module, allowed []ast.Ref, defined map[string]*ast.Location) []error {
	var errs []error
	seen := map[string]bool{}
	pkg := ast.MustParseRef("data." + PackagePath)
	// import data.canary_guard (as cg) makes canary_guard.x (cg.x) a name
	// of the package too.
	aliases := map[ast.Var]bool{}
	for _, imp := range m.Imports {
		if ref, ok := imp.Path.Value.(ast.Ref); ok && ref.Equal(pkg) {
			alias := imp.Alias
			if alias == "" {
				alias = ast.Var(PackagePath)
			}
			aliases[alias] = true
		}
	}
	ast.WalkRefs(m, func(r ast.Ref) bool {
		row := refRow(m, r)
		if v, ok := r[0].Value.(ast.Var); ok && aliases[v] && len(r) > 1 {
			r = append(pkg.Copy(), r[1:]...)
		}
		if len(r) < 2 || !r[0].Equal(ast.DefaultRootDocument) {
			return false
		}
		if _, ok := r[1].Value.(ast.String); !ok {
			return false
		}
		// A name of the policy package that no rule defines is a value
		// expected from a data file, which canary-guard does not load: the
		// rule reading it would silently never hold.
		if len(r) > 2 && r.HasPrefix(pkg) {
			if key, ok := r[2].Value.(ast.String); ok && defined[string(key)] == nil && !seen[string(key)] {
				seen[string(key)] = true
				errs = append(errs, fmt.Errorf("%s:%d: %s: no rule of package %s defines %s; canary-guard reads only .rego files (no data.json or data.yaml), so put the values in a rule of the package",
					m.Package.Location.File, row, r[:3], PackagePath, string(key)))
			}
			return false
		}
		for _, a := range allowed {
			if r.HasPrefix(a) {
				return false
			}
		}
		name := r[:2].String()
		if seen[name] {
			return false
		}
		seen[name] = true
		errs = append(errs, fmt.Errorf("%s:%d: %s: canary-guard reads only .rego files; %s is never defined — put the values in a rule of package %s",
			m.Package.Location.File, row, name, name, PackagePath))
		return false
	})
	return errs
}

// refRow is the line of r in m, or of m's package where r has none.
func refRow(m *ast.Module, r ast.Ref) int {
	if r[0].Location != nil {
		return r[0].Location.Row
	}
	return m.Package.Location.Row
}

// checkCustom applies customErrors and dataErrors to every custom module,
// in file order. Custom modules may read data.canary_guard and the
// packages of the modules given (test packages); the shipped bundle's
// package is the one policies may be in.
func checkCustom(shipped, custom []*ast.Module) []error {
	names := packageRules(shipped)
	// The namespaces of built-ins any file calls, the other teams' too: a
	// helper named glob in one file breaks glob.match in another, and the
	// error is clearest at the helper.
	roots := refRoots(slices.Concat(shipped, custom))
	allowed := []ast.Ref{ast.MustParseRef("data." + PackagePath)}
	for _, m := range slices.Concat(shipped, custom) {
		if !slices.ContainsFunc(allowed, func(r ast.Ref) bool { return r.Equal(m.Package.Path) }) {
			allowed = append(allowed, m.Package.Path)
		}
	}
	slices.SortFunc(custom, func(a, b *ast.Module) int {
		return strings.Compare(a.Package.Location.File, b.Package.Location.File)
	})
	defined := packageRules(slices.Concat(shipped, custom))
	var errs []error
	for _, m := range custom {
		errs = append(errs, customErrors(m, names, roots)...)
		errs = append(errs, dataErrors(m, allowed, defined)...)
	}
	return errs
}

// refRoots returns the first names of the dotted references in modules
// (time of time.format(...), input of input.rollout): a superset of the
// namespaces of built-ins they call.
func refRoots(modules []*ast.Module) map[string]bool {
	roots := map[string]bool{}
	for _, m := range modules {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if v, ok := r[0].Value.(ast.Var); ok && len(r) > 1 {
				roots[string(v)] = true
			}
			return false
		})
	}
	return roots
}

// unreadRuleWarnings reports the multi-value rules of custom modules
// (`violation contains ...`) that are neither deny nor warn and that no
// rule reads: canary-guard reads only deny and warn, so such a rule,
// written as for Gatekeeper (violation) or conftest, would never speak.
// compiled are the compiled modules, whose references name their rules in
// full (data.canary_guard.violation).
func unreadRuleWarnings(compiled map[string]*ast.Module, custom []*ast.Module) []string {
	read := map[string]bool{}
	prefix := ast.MustParseRef("data." + PackagePath)
	for _, m := range compiled {
		ast.WalkRules(m, func(r *ast.Rule) bool {
			ast.WalkRefs(r.Body, func(ref ast.Ref) bool {
				if len(ref) > len(prefix) && ref.HasPrefix(prefix) {
					if name, ok := ref[len(prefix)].Value.(ast.String); ok {
						read[string(name)] = true
					}
				}
				return false
			})
			return false
		})
	}
	var warnings []string
	for _, m := range custom {
		for _, r := range m.Rules {
			name, ok := ruleName(r)
			if !ok || name == "deny" || name == "warn" || r.Head.Key == nil || r.Head.Value != nil || read[name] {
				continue
			}
			warnings = append(warnings, fmt.Sprintf("%s:%d: rule %s is never read: canary-guard reads only deny and warn, so its results reach no one; add them to deny or warn (deny contains {\"rule\": ..., \"msg\": ...} if ...)",
				r.Location.File, r.Location.Row, name))
		}
	}
	return warnings
}
