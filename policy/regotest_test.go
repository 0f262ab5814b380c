package policy

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"

	"github.com/canary-guard/canary-guard/rego"
)

// TestRegoUnitTests runs the Rego unit tests of the embedded bundle
// (rego/*_test.rego) as `opa test rego/` does, compiled with the
// capabilities policies are compiled with in production.
func TestRegoUnitTests(t *testing.T) {
	modules := regoBundleModules(t)

	compiler := ast.NewCompiler().
		WithCapabilities(Capabilities()).
		WithEnablePrintStatements(true)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetModules(modules).
		CapturePrintOutput(true).
		EnableTracing(true).
		SetTimeout(30 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results, err := runner.RunTests(ctx, nil)
	if err != nil {
		t.Fatalf("compiling the Rego bundle with its tests: %v", err)
	}

	ran, passed := 0, 0
	for r := range results {
		ran++
		name := strings.TrimPrefix(r.Package, "data.") + "." + r.Name
		switch {
		case r.Skip:
			t.Logf("SKIP %s", name)
		case r.Pass():
			passed++
		default:
			t.Errorf("FAIL %s (%s)%s", name, regoLocation(r.Location), regoFailureDetail(r))
		}
	}
	if ran == 0 {
		t.Fatalf("no Rego tests ran; the bundle has %d files", len(modules))
	}
	t.Logf("Rego tests: %d/%d passed", passed, ran)
}

// regoBundleModules parses every .rego file of the embedded bundle, tests
// included, as Rego v1.
func regoBundleModules(t *testing.T) map[string]*ast.Module {
	t.Helper()
	modules := map[string]*ast.Module{}
	err := fs.WalkDir(rego.Bundle(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".rego") {
			return err
		}
		src, err := fs.ReadFile(rego.Bundle(), name)
		if err != nil {
			return err
		}
		path := "rego/" + name
		m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		modules[path] = m
		return nil
	})
	if err != nil {
		t.Fatalf("reading the Rego bundle: %v", err)
	}
	var tests int
	for name := range modules {
		if strings.HasSuffix(name, "_test.rego") {
			tests++
		}
	}
	if tests == 0 {
		t.Fatalf("the embedded Rego bundle has no _test.rego file")
	}
	return modules
}

func regoLocation(l *ast.Location) string {
	if l == nil {
		return "unknown location"
	}
	return l.String()
}

// regoFailureDetail says why a test failed: its error, its print output and
// the expression of the test body that failed. With -v it adds the notes
// and failures of the trace, as `opa test -v` shows them.
func regoFailureDetail(r *tester.Result) string {
	var b strings.Builder
	if r.Error != nil {
		b.WriteString("\n  error: " + r.Error.Error())
	}
	if out := strings.TrimSpace(string(r.Output)); out != "" {
		b.WriteString("\n  output:\n    " + strings.ReplaceAll(out, "\n", "\n    "))
	}
	if e := regoFailedExpr(r); e != nil {
		b.WriteString("\n  failed at " + regoLocation(e.Location) + ": " + e.String())
	}
	if testing.Verbose() {
		trace := lineage.Filter(r.Trace, func(e *topdown.Event) bool {
			return e.Op == topdown.NoteOp || e.Op == topdown.FailOp
		})
		if len(trace) > 0 {
			var tb strings.Builder
			topdown.PrettyTraceWithLocation(&tb, trace)
			b.WriteString("\n  trace:\n    " + strings.ReplaceAll(strings.TrimSpace(tb.String()), "\n", "\n    "))
		}
	}
	return b.String()
}

// regoFailedExpr finds the last expression of the test rule's own body that
// failed, from the trace.
func regoFailedExpr(r *tester.Result) *ast.Expr {
	var body uint64
	found := false
	var failed *ast.Expr
	for _, e := range r.Trace {
		if rule, ok := e.Node.(*ast.Rule); ok && !found && e.Op == topdown.EnterOp && regoSameLocation(rule.Location, r.Location) {
			body, found = e.QueryID, true
			continue
		}
		if expr, ok := e.Node.(*ast.Expr); ok && found && e.Op == topdown.FailOp && e.QueryID == body {
			failed = expr
		}
	}
	return failed
}

func regoSameLocation(a, b *ast.Location) bool {
	return a != nil && b != nil && a.File == b.File && a.Row == b.Row
}
