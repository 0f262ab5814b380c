package suite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/canary-guard/canary-guard/policy"
)

// regoTestTimeout bounds one Rego test.
const regoTestTimeout = 30 * time.Second

// RegoTestResult is the outcome of one Rego unit test.
type RegoTestResult struct {
	// Name is package.rule, e.g. canary_guard.test_prod_step_denied.
	Name string
	// Location is file:row of the test rule.
	Location string
	Passed   bool
	Skipped  bool
	// Detail says why a test failed: its error, its print output and the
	// expression of its body that failed.
	Detail string
}

// RunRegoTests runs the Rego unit tests (*_test.rego) under dir, compiled
// with the shipped bundle's policies and dir's own as production compiles
// them (policy.Capabilities()), like `opa test rego/ dir` minus the
// shipped bundle's own tests. It fails when the files do not compile.
func RunRegoTests(ctx context.Context, dir string) ([]RegoTestResult, error) {
	modules, err := policy.TestModules(dir)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().
		WithCapabilities(policy.Capabilities()).
		WithEnablePrintStatements(true)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetModules(modules).
		CapturePrintOutput(true).
		EnableTracing(true).
		SetTimeout(regoTestTimeout)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("compiling Rego tests in %s: %w", dir, err)
	}
	var out []RegoTestResult
	for r := range ch {
		out = append(out, RegoTestResult{
			Name:     strings.TrimPrefix(r.Package, "data.") + "." + r.Name,
			Location: locationText(r.Location),
			Passed:   r.Pass(),
			Skipped:  r.Skip,
			Detail:   failureDetail(r),
		})
	}
	return out, nil
}

// HasRegoTests reports whether dir holds any *_test.rego file outside
// hidden files and directories.
func HasRegoTests(dir string) (bool, error) {
	tests, err := policy.DirTestSources(dir)
	if err != nil {
		return false, err
	}
	return len(tests) > 0, nil
}

func locationText(l *ast.Location) string {
	if l == nil {
		return "unknown location"
	}
	return l.String()
}

func failureDetail(r *tester.Result) string {
	if r.Pass() || r.Skip {
		return ""
	}
	var lines []string
	if r.Error != nil {
		lines = append(lines, "error: "+r.Error.Error())
	}
	if out := strings.TrimSpace(string(r.Output)); out != "" {
		lines = append(lines, "output: "+strings.ReplaceAll(out, "\n", "\n  "))
	}
	if e := failedExpr(r); e != nil {
		lines = append(lines, "failed at "+locationText(e.Location)+": "+exprText(e))
	}
	return strings.Join(lines, "\n")
}

// failedExpr finds, in the trace, the last expression of the test rule's
// own body that failed.
func failedExpr(r *tester.Result) *ast.Expr {
	var body uint64
	found := false
	var failed *ast.Expr
	for _, e := range r.Trace {
		if rule, ok := e.Node.(*ast.Rule); ok && !found && e.Op == topdown.EnterOp && sameLocation(rule.Location, r.Location) {
			body, found = e.QueryID, true
			continue
		}
		if expr, ok := e.Node.(*ast.Expr); ok && found && e.Op == topdown.FailOp && e.QueryID == body {
			failed = expr
		}
	}
	return failed
}

// exprText is an expression as written in the source, else as compiled.
func exprText(e *ast.Expr) string {
	if e.Location != nil && len(e.Location.Text) > 0 {
		return string(e.Location.Text)
	}
	return e.String()
}

func sameLocation(a, b *ast.Location) bool {
	return a != nil && b != nil && a.File == b.File && a.Row == b.Row
}
