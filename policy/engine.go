package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// PackagePath is the Rego package every policy file belongs to.
const PackagePath = "canary_guard"

// query reads both rule sets in one evaluation.
const query = "deny := data." + PackagePath + ".deny; warn := data." + PackagePath + ".warn"

// Source is one Rego file.
type Source struct {
	Name    string
	Content []byte
	// Shipped marks the files of the shipped bundle (ShippedSources). The
	// others are custom: they may add to deny and warn but define no other
	// name the shipped files define (customErrors).
	Shipped bool
}

// Violation is one element of a deny or warn set.
type Violation struct {
	Rule string `json:"rule"`
	Msg  string `json:"msg"`
	// Enforcement is set on a denial whose rule the configuration's
	// ruleEnforcement relaxes below the namespace's mode: how it was
	// enforced instead (Decision.EnforcementOf).
	Enforcement Enforcement `json:"enforcement,omitempty"`
}

// String formats a violation the way users see it: "[rule] message".
func (v Violation) String() string { return "[" + v.Rule + "] " + v.Msg }

// Result is what the policies say about one request.
type Result struct {
	Deny []Violation
	Warn []Violation
	// BuiltinErrors are built-in calls that failed during evaluation
	// (a division by zero, to_number("abc")): as in opa eval, each left
	// its rule undefined rather than failing the evaluation.
	BuiltinErrors []string
}

// Policy is a compiled policy set, prepared once and evaluated per request
// with no compilation on the request path.
type Policy struct {
	compiler *ast.Compiler
	// queryCompiler and compiledQuery are the query, compiled once;
	// denyVar and warnVar are the variables the compiler renamed deny and
	// warn to.
	queryCompiler    ast.QueryCompiler
	compiledQuery    ast.Body
	denyVar, warnVar ast.Var
	// store is an empty store: policies read no base documents, but
	// topdown needs one to answer a read of data outside the rules.
	store storage.Store
	// readsObjects is true when a rule reads input.object or
	// input.oldObject; only then are the raw objects converted.
	readsObjects bool
	// Revision is a hash of the sources, to tell which policy a replica runs.
	Revision string
	// Files lists the loaded file names.
	Files []string
	// Warnings are mistakes that do not stop compilation (ruleIDWarnings).
	Warnings []string
	// metricRuleIDs are the rule ids metrics may carry (MetricRuleID);
	// built at load, never written after.
	metricRuleIDs map[string]struct{}
}

// deniedBuiltins reach outside the process; a policy that calls one does
// not compile.
func deniedBuiltin(name string) bool {
	return name == "http.send" || name == "opa.runtime" || strings.HasPrefix(name, "net.")
}

// Capabilities returns the compiler capabilities policies are compiled
// with: this OPA version's builtins minus those that reach outside.
func Capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !deniedBuiltin(b.Name) {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	return caps
}

// Compile parses and compiles policy sources (Rego v1). Errors name the
// file and line. Test files (_test.rego) are not part of the policy. A
// custom source that defines a name the shipped ones define, other than
// by adding to deny or warn, is refused (customErrors).
func Compile(ctx context.Context, sources []Source) (*Policy, error) {
	modules := make(map[string]*ast.Module, len(sources))
	var shipped, custom []*ast.Module
	hash := sha256.New()
	p := &Policy{}
	sort.Slice(sources, func(i, j int) bool { return sources[i].Name < sources[j].Name })
	var errs []error
	for _, src := range sources {
		if strings.HasSuffix(src.Name, "_test.rego") {
			continue
		}
		m, err := ast.ParseModuleWithOpts(src.Name, string(src.Content), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got := m.Package.Path.String(); got != "data."+PackagePath {
			errs = append(errs, fmt.Errorf("%s:%d: package %s: policies must be in package %s",
				src.Name, m.Package.Location.Row, strings.TrimPrefix(got, "data."), PackagePath))
			continue
		}
		modules[src.Name] = m
		if src.Shipped {
			shipped = append(shipped, m)
		} else {
			custom = append(custom, m)
		}
		p.Files = append(p.Files, src.Name)
		hash.Write([]byte(src.Name))
		hash.Write([]byte{0})
		hash.Write(src.Content)
		hash.Write([]byte{0})
	}
	errs = append(errs, checkCustom(shipped, custom)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().WithCapabilities(Capabilities())
	if compiler.Compile(modules); compiler.Failed() {
		return nil, compiler.Errors
	}
	parsed, err := ast.ParseBody(query)
	if err != nil {
		return nil, fmt.Errorf("parsing policy query: %w", err)
	}
	qc := compiler.QueryCompiler()
	compiled, err := qc.Compile(parsed)
	if err != nil {
		return nil, fmt.Errorf("preparing policy query: %w", err)
	}
	p.compiler, p.queryCompiler, p.compiledQuery = compiler, qc, compiled
	p.denyVar, p.warnVar = ast.Var("deny"), ast.Var("warn")
	for local, name := range qc.RewrittenVars() {
		switch name {
		case p.denyVar:
			p.denyVar = local
		case p.warnVar:
			p.warnVar = local
		}
	}
	p.store = inmem.New()
	p.readsObjects = readsObjects(modules)
	inputWarnings, err := inputRefWarnings(custom)
	if err != nil {
		return nil, fmt.Errorf("checking the policies' input paths: %w", err)
	}
	p.Warnings = slices.Concat(ruleIDWarnings(modules), unreadRuleWarnings(compiler.Modules, custom), inputWarnings)
	p.metricRuleIDs = metricRuleIDs(modules)
	p.Revision = hex.EncodeToString(hash.Sum(nil))[:16]
	return p, nil
}

// readsObjects reports whether any rule reads input.object,
// input.oldObject, or the whole input document.
func readsObjects(modules map[string]*ast.Module) bool {
	obj, old, input := ast.MustParseRef("input.object"), ast.MustParseRef("input.oldObject"), ast.MustParseRef("input")
	found := false
	for _, m := range modules {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			// input[k] with a key known only at evaluation may be either.
			if r.HasPrefix(obj) || r.HasPrefix(old) || r.Equal(input) || (r.HasPrefix(input) && len(r) > 1 && !isString(r[1])) {
				found = true
			}
			return found
		})
	}
	return found
}

func isString(t *ast.Term) bool {
	_, ok := t.Value.(ast.String)
	return ok
}

// Eval evaluates the policy on one input, with now as the time built-ins
// such as time.now_ns see (the zero time: the wall clock). Evaluation
// stops when ctx is done.
//
// It runs topdown directly rather than through rego.PreparedEvalQuery,
// which on every evaluation starts a goroutine to watch ctx, sets up
// metrics, and converts the results to Go values through JSON: work a
// decision does not need, on the webhook's request path.
func (p *Policy) Eval(ctx context.Context, input ast.Value, now time.Time) (Result, error) {
	cancel := topdown.NewCancel()
	if ctx.Err() != nil {
		// AfterFunc would cancel from another goroutine, after evaluation started.
		cancel.Cancel()
	}
	// AfterFunc registers with ctx; no goroutine waits while the policy runs.
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()

	txn, err := p.store.NewTransaction(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("evaluating policy: %w", err)
	}
	defer p.store.Abort(ctx, txn)

	var deny, warn *ast.Term
	var builtinErrs []topdown.Error
	err = topdown.NewQuery(p.compiledQuery).
		WithQueryCompiler(p.queryCompiler).
		WithCompiler(p.compiler).
		WithStore(p.store).
		WithTransaction(txn).
		WithInput(ast.NewTerm(input)).
		WithTime(now).
		WithMetrics(metrics.NoOp()).
		WithCancel(cancel).
		WithStrictBuiltinErrors(false).
		WithBuiltinErrorList(&builtinErrs).
		Iter(ctx, func(qr topdown.QueryResult) error {
			if deny == nil {
				deny, warn = qr[p.denyVar], qr[p.warnVar]
			}
			return nil
		})
	if err != nil {
		return Result{}, fmt.Errorf("evaluating policy: %w", err)
	}
	if deny == nil || warn == nil {
		return Result{}, fmt.Errorf("evaluating policy: data.%s.deny or .warn is undefined", PackagePath)
	}
	denials, err := violations(deny.Value)
	if err != nil {
		return Result{}, fmt.Errorf("reading deny: %w", err)
	}
	warnings, err := violations(warn.Value)
	if err != nil {
		return Result{}, fmt.Errorf("reading warn: %w", err)
	}
	r := Result{Deny: denials, Warn: warnings}
	for _, e := range builtinErrs {
		r.BuiltinErrors = append(r.BuiltinErrors, e.Error())
	}
	return r, nil
}

// violations reads a rule set of {"rule": id, "msg": text} objects.
// A plain string element is accepted as a message of rule "custom". An
// array is read like a set. Any other element fails the evaluation: the
// error shows it as Rego (resultText) and names its rule id when it has
// one, for the platform team to find the rule.
func violations(v ast.Value) ([]Violation, error) {
	var elems []*ast.Term
	switch v := v.(type) {
	case ast.Set:
		elems = v.Slice()
	case *ast.Array:
		elems = make([]*ast.Term, 0, v.Len())
		v.Foreach(func(t *ast.Term) { elems = append(elems, t) })
	default:
		return nil, fmt.Errorf("the result is %s, want a set of {\"rule\": id, \"msg\": text}", resultText(ast.NewTerm(v)))
	}
	out := make([]Violation, 0, len(elems))
	for _, e := range elems {
		switch o := e.Value.(type) {
		case ast.String:
			out = append(out, Violation{Rule: "custom", Msg: string(o)})
		case ast.Object:
			rule, _ := stringField(o, "rule")
			msg, _ := stringField(o, "msg")
			if msg == "" {
				of := ""
				if rule != "" {
					of = fmt.Sprintf(" of rule %q", rule)
				}
				return nil, fmt.Errorf("element %s%s has no non-empty string \"msg\"; want {\"rule\": id, \"msg\": text}", resultText(e), of)
			}
			if rule == "" {
				rule = "custom"
			}
			out = append(out, Violation{Rule: rule, Msg: msg})
		default:
			return nil, fmt.Errorf("element %s is neither an object {\"rule\": id, \"msg\": text} nor a string", resultText(e))
		}
	}
	slices.SortFunc(out, func(a, b Violation) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

// maxResultText bounds how much of a malformed result an error shows: it
// reaches the user in the [policy-error] denial.
const maxResultText = 200

// resultText is a rule result as Rego writes it ({"msg": ["a", "b"],
// "rule": "team-arr"}), cut to maxResultText bytes.
func resultText(t *ast.Term) string {
	s := t.String()
	if len(s) > maxResultText {
		cut := maxResultText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// stringField returns the string value of an object's key.
func stringField(o ast.Object, key string) (string, bool) {
	t := o.Get(ast.InternedTerm(key))
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

// BundleSources reads the .rego files of a file system, skipping tests
// and hidden files and directories.
func BundleSources(fsys fs.FS, prefix string) ([]Source, error) {
	return walkSources(fsys, prefix, func(name string) bool { return !strings.HasSuffix(name, "_test.rego") })
}

// walkSources reads the .rego files of a file system that keep says to
// keep, skipping hidden files and directories. It is the one walk of a
// policy directory: serve, eval and verify, its policies and its tests.
func walkSources(fsys fs.FS, prefix string, keep func(name string) bool) ([]Source, error) {
	var out []Source
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip, err := skipHidden(name, d); skip {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(name, ".rego") || !keep(name) {
			return nil
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		out = append(out, Source{Name: prefix + name, Content: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", err)
	}
	return out, nil
}

// skipHidden reports whether a walk passes over an entry because its name
// starts with a dot, with fs.SkipDir for a directory. A ConfigMap volume
// holds each file twice: as name, a link into ..data, and in the
// timestamped directory ..data points to (..2026_11_26_10_00_00.123); only
// the first is the policy.
func skipHidden(name string, d fs.DirEntry) (bool, error) {
	if name == "." || !strings.HasPrefix(d.Name(), ".") {
		return false, nil
	}
	if d.IsDir() {
		return true, fs.SkipDir
	}
	return true, nil
}

// DirSources reads the .rego files under dir (recursively), skipping tests
// and hidden files and directories.
func DirSources(dir string) ([]Source, error) {
	return dirSources(dir, func(name string) bool { return !strings.HasSuffix(name, "_test.rego") })
}

// DirTestSources reads the Rego test files (*_test.rego) under dir, by the
// walk of DirSources: hidden files and directories are skipped, so the
// tests of a ConfigMap volume are read once.
func DirTestSources(dir string) ([]Source, error) {
	return dirSources(dir, func(name string) bool { return strings.HasSuffix(name, "_test.rego") })
}

func dirSources(dir string, keep func(name string) bool) ([]Source, error) {
	if dir == "" {
		return nil, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("policy dir: %w", err)
	}
	return walkSources(os.DirFS(dir), filepath.Clean(dir)+string(filepath.Separator), keep)
}
