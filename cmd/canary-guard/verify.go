package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/canary-guard/canary-guard/policy/suite"
)

// verifyOptions are the flags and arguments of canary-guard verify.
type verifyOptions struct {
	suites      []string
	policyDir   string
	verbose     bool
	evalTimeout time.Duration
}

func newVerifyCommand() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify [SUITE...]",
		Short: "Run suites of InferenceService changes and the decisions they must get",
		Long: `Run verify suites: YAML files of cases, each an InferenceService change
(old and new manifests) and the decision it must get, decided as canary-guard
eval decides (mutating webhook, patches applied, validating webhook), each
policy evaluation bounded by --eval-timeout as in canary-guard serve. The
format is documented in package policy/suite and in
rego/canary_guard_suite.yaml, the shipped bundle's own suite.

With --policy-dir, the Rego unit tests (*_test.rego) in that directory run
too, compiled with the shipped bundle as canary-guard serve compiles
policies, and suites that name no policyDir use that directory.

Each failing case or test is reported with what differed. A case whose
evaluation had built-in errors (a failed to_number, a division by zero:
the rule calling it was undefined, as in serve, which logs and counts them)
gets a WARN line naming the case and the error, passed or failed alike.
The last line is "N passed, M failed". Exit status: 0 all passed, 1 a case
or test failed, 2 a suite or the policy directory could not be read or
compiled.`,
		Example: `  canary-guard verify rego/canary_guard_suite.yaml
  canary-guard verify --policy-dir policies/ policies/suites/*.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.suites = args
			return runVerify(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.policyDir, "policy-dir", "", "directory of extra .rego files: its *_test.rego run, and suites without policyDir use it")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "also list passing cases and tests")
	addEvalTimeoutFlag(f, &o.evalTimeout, " in a case, as in canary-guard serve (Rego tests keep their own bound, 30s each)")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return failed(err) })
	return cmd
}

// verifyTally counts what ran.
type verifyTally struct {
	passed, failed, errors int
	// warned holds the policy directories whose warnings are printed.
	warned map[string]bool
}

// policyWarnings prints the warnings of a policy directory, once.
func (t *verifyTally) policyWarnings(w io.Writer, dir string, warnings []string) {
	if t.warned[dir] {
		return
	}
	if t.warned == nil {
		t.warned = map[string]bool{}
	}
	t.warned[dir] = true
	for _, warning := range warnings {
		fmt.Fprintf(w, "WARN  %s\n", warning)
	}
}

// runVerify runs the suites and the Rego tests and prints the results. The
// returned error is an exitError: status 1 (nil err) when something failed,
// 2 when something could not run.
func runVerify(ctx context.Context, o verifyOptions, w io.Writer) error {
	if len(o.suites) == 0 && o.policyDir == "" {
		return failed(errors.New("give suite files, or --policy-dir to run its Rego tests"))
	}
	var t verifyTally
	runner := &suite.Runner{PolicyDir: o.policyDir, EvalTimeout: o.evalTimeout}
	if o.policyDir != "" {
		verifyRego(ctx, runner, o, w, &t)
	}
	for _, path := range o.suites {
		verifySuite(ctx, runner, path, o.verbose, w, &t)
	}
	fmt.Fprintf(w, "%d passed, %d failed", t.passed, t.failed)
	if t.errors > 0 {
		fmt.Fprintf(w, ", %d could not run", t.errors)
	}
	fmt.Fprintln(w)
	switch {
	case t.errors > 0:
		return exitError{code: exitFailure}
	case t.failed > 0:
		return exitError{code: exitDenied}
	}
	return nil
}

// verifyRego compiles the policy directory as serve would and runs its
// Rego tests.
func verifyRego(ctx context.Context, runner *suite.Runner, o verifyOptions, w io.Writer, t *verifyTally) {
	label := "rego tests in " + o.policyDir
	p, err := runner.Policy(ctx, o.policyDir)
	if err == nil {
		t.policyWarnings(w, o.policyDir, p.Warnings)
	}
	var has bool
	if err == nil {
		has, err = suite.HasRegoTests(o.policyDir)
	}
	if err == nil && !has {
		fmt.Fprintf(w, "--    %s: no *_test.rego files\n", label)
		return
	}
	var results []suite.RegoTestResult
	if err == nil {
		results, err = suite.RunRegoTests(ctx, o.policyDir)
	}
	if err != nil {
		t.errors++
		fmt.Fprintf(w, "ERROR %s:\n%s", label, indentBy(err.Error()+"\n", "        "))
		return
	}
	var passed, failedN int
	for _, r := range results {
		switch {
		case r.Skipped:
			fmt.Fprintf(w, "SKIP  %s (%s)\n", r.Name, r.Location)
		case r.Passed:
			passed++
			if o.verbose {
				fmt.Fprintf(w, "ok    %s\n", r.Name)
			}
		default:
			failedN++
			fmt.Fprintf(w, "FAIL  %s (%s)\n", r.Name, r.Location)
			if r.Detail != "" {
				fmt.Fprint(w, indentBy(r.Detail+"\n", "        "))
			}
		}
	}
	t.passed += passed
	t.failed += failedN
	fmt.Fprintf(w, "%s %s: %d passed, %d failed\n", status(failedN), label, passed, failedN)
}

func verifySuite(ctx context.Context, runner *suite.Runner, path string, verbose bool, w io.Writer, t *verifyTally) {
	s, err := suite.Load(path)
	if err == nil {
		var res *suite.Result
		if res, err = runner.Run(ctx, s); err == nil {
			reportSuite(res, path, verbose, w, t)
			return
		}
	}
	t.errors++
	fmt.Fprintf(w, "ERROR %s:\n%s", path, indentBy(err.Error()+"\n", "        "))
}

func reportSuite(res *suite.Result, path string, verbose bool, w io.Writer, t *verifyTally) {
	label := fmt.Sprintf("%s (%s)", res.Suite.Name, path)
	t.policyWarnings(w, res.PolicyDir, res.PolicyWarnings)
	for _, warning := range res.ConfigWarnings {
		fmt.Fprintf(w, "WARN  %s: %s\n", label, warning)
	}
	for i, c := range res.Cases {
		switch {
		case !c.Passed():
			fmt.Fprintf(w, "FAIL  %s: cases[%d] %s\n", label, i, c.Name)
			for _, f := range c.Failures {
				fmt.Fprint(w, indentBy(f+"\n", "        "))
			}
			if c.Outcome != nil {
				fmt.Fprint(w, indentBy("got:\n"+outcomeSummary(c.Outcome), "        "))
			}
		case verbose:
			fmt.Fprintf(w, "ok    %s: %s\n", label, c.Name)
		}
		if c.Outcome != nil {
			// Not a failure (serve admits or denies the same way), but a
			// rule that said nothing because a built-in failed.
			for _, e := range c.Outcome.BuiltinErrors() {
				fmt.Fprintf(w, "WARN  %s: cases[%d] %s: builtin error, the rule calling it was undefined: %s\n", label, i, c.Name, e)
			}
		}
	}
	passed, failedN := res.Counts()
	t.passed += passed
	t.failed += failedN
	fmt.Fprintf(w, "%s %s: %d passed, %d failed\n", status(failedN), label, passed, failedN)
}

// outcomeSummary is the whole outcome of a failed case, to compare with
// what it expected.
func outcomeSummary(o *suite.Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s (enforcement %s", o.Verdict(), o.Enforcement())
	if r := o.Reason(); r != "" {
		fmt.Fprintf(&b, ", reason %s", r)
	}
	b.WriteString(")\n")
	for _, p := range o.Mutation.Patches {
		fmt.Fprintf(&b, "  patch: %s %s %v\n", p.Op, p.Path, p.Value)
	}
	for _, d := range o.Denials() {
		b.WriteString("  denial: " + d.String() + "\n")
	}
	for _, w := range o.Warnings() {
		b.WriteString("  warning: " + w.String() + "\n")
	}
	return b.String()
}

func status(failures int) string {
	if failures > 0 {
		return "FAIL "
	}
	return "ok   "
}

// indentBy prefixes every line of s.
func indentBy(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
