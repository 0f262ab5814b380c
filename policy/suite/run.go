package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/canary-guard/canary-guard/policy"
)

// Runner runs suites, compiling each policy directory once.
type Runner struct {
	// PolicyDir is the policy directory of suites that name none; it is
	// used as given, not relative to the suites.
	PolicyDir string
	// EvalTimeout bounds each case's policy evaluation as serve's
	// --eval-timeout does (policy.WithEvalTimeout); 0 is no bound.
	EvalTimeout time.Duration

	policies map[string]*policy.Policy
}

// Result is the outcome of one suite.
type Result struct {
	Suite *Suite
	Cases []CaseResult
	// PolicyDir is the policy directory the suite ran with ("" for the
	// shipped bundle alone), and PolicyWarnings the mistakes found in it
	// that do not stop compilation (policy.Policy.Warnings).
	PolicyDir      string
	PolicyWarnings []string
	// ConfigWarnings are what the suite's and its cases' configurations
	// load with but is likely a mistake (policy.Config.Warnings,
	// policy.RuleEnforcementWarnings against the suite's policy), each once.
	ConfigWarnings []string
}

// Counts returns how many cases passed and failed.
func (r *Result) Counts() (passed, failed int) {
	for _, c := range r.Cases {
		if c.Passed() {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Name string
	// Failures say what differed from the expectation, one line each
	// (continuation lines are indented); none when the case passed.
	Failures []string
	// Outcome is the evaluation's outcome; nil when it failed with Err.
	Outcome *Outcome
	Err     error
}

// Passed reports whether the case got what it expected.
func (c CaseResult) Passed() bool { return len(c.Failures) == 0 }

// Run runs every case of a suite. It fails only when the suite's policy
// or configuration cannot be loaded; a case that cannot be evaluated is a
// failed case (unless it expects the error).
func (r *Runner) Run(ctx context.Context, s *Suite) (*Result, error) {
	dir := r.PolicyDir
	if s.PolicyDir != "" {
		dir = s.resolve(s.PolicyDir)
	}
	p, err := r.Policy(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("suite %s: %w", s.Name, err)
	}
	cfg, err := s.loadConfig(s.Config, s.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("suite %s: %w", s.Name, err)
	}
	res := &Result{Suite: s, PolicyDir: dir, PolicyWarnings: p.Warnings}
	res.addConfigWarnings("config", p, cfg)
	for i := range s.Cases {
		c := &s.Cases[i]
		if c.Config != nil || c.ConfigFile != "" {
			// A configuration that does not load fails its case below.
			var inline string
			if c.Config != nil {
				inline = *c.Config
			}
			if caseCfg, err := s.loadConfig(inline, c.ConfigFile); err == nil {
				res.addConfigWarnings(fmt.Sprintf("cases[%d] %s: config", i, c.Name), p, caseCfg)
			}
		}
		out, err := s.evaluate(ctx, c, p, cfg, r.EvalTimeout)
		res.Cases = append(res.Cases, CaseResult{Name: c.Name, Failures: c.Expect.check(out, err), Outcome: out, Err: err})
	}
	return res, nil
}

// addConfigWarnings adds the warnings of cfg under p, each once, prefixed
// with where the configuration was given.
func (r *Result) addConfigWarnings(where string, p *policy.Policy, cfg *policy.Config) {
	for _, w := range slices.Concat(cfg.Warnings, policy.RuleEnforcementWarnings(p, cfg)) {
		if w = where + ": " + w; !slices.Contains(r.ConfigWarnings, w) {
			r.ConfigWarnings = append(r.ConfigWarnings, w)
		}
	}
}

// Policy loads the shipped bundle with a policy directory ("" for none),
// once per directory.
func (r *Runner) Policy(ctx context.Context, dir string) (*policy.Policy, error) {
	if p, ok := r.policies[dir]; ok {
		return p, nil
	}
	p, _, err := policy.Loader{PolicyDir: dir}.Load(ctx)
	if err != nil {
		return nil, err
	}
	if r.policies == nil {
		r.policies = map[string]*policy.Policy{}
	}
	r.policies[dir] = p
	return p, nil
}

// loadConfig reads an inline configuration or a configuration file.
func (s *Suite) loadConfig(inline, file string) (*policy.Config, error) {
	if file != "" {
		return policy.LoadConfigFile(s.resolve(file))
	}
	cfg, err := policy.ParseConfig([]byte(inline))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// evaluate runs one case through the admission chain.
func (s *Suite) evaluate(ctx context.Context, c *Case, p *policy.Policy, cfg *policy.Config, evalTimeout time.Duration) (*Outcome, error) {
	if c.Config != nil || c.ConfigFile != "" {
		var inline string
		if c.Config != nil {
			inline = *c.Config
		}
		var err error
		if cfg, err = s.loadConfig(inline, c.ConfigFile); err != nil {
			return nil, err
		}
	}
	opts := []policy.GuardOption{policy.WithEvalTimeout(evalTimeout)}
	if now := firstTime(c.now, s.now); !now.IsZero() {
		opts = append(opts, policy.WithClock(func() time.Time { return now }))
	}
	g, err := policy.NewGuard(p, cfg, opts...)
	if err != nil {
		return nil, err
	}
	m := Manifests{
		Namespace: firstString(c.Namespace, s.Namespace),
		User:      firstString(c.User, s.User),
		Groups:    s.Groups,
		DryRun:    c.DryRun,
	}
	if c.Groups != nil {
		m.Groups = c.Groups
	}
	if m.New, err = s.manifest("new", c.New, c.NewFile); err != nil {
		return nil, err
	}
	if c.Old != nil || c.OldFile != "" {
		if m.Old, err = s.manifest("old", c.Old, c.OldFile); err != nil {
			return nil, err
		}
	}
	req, err := m.Request()
	if err != nil {
		return nil, err
	}
	return Evaluate(ctx, g, req)
}

// manifest reads a case's inline manifest or manifest file.
func (s *Suite) manifest(which string, inline *Manifest, file string) ([]byte, error) {
	data := []byte(derefManifest(inline))
	if name, ok := scalarText(inline); ok {
		// `new: new.yaml` is a file name taken as the manifest's text.
		return nil, fmt.Errorf("%s: %q is a string, not a manifest; write the InferenceService inline under %s: (a mapping, or YAML text after %s: |), or read it from a file with %sFile: %s (relative to the suite file)",
			which, name, which, which, which, name)
	}
	if file != "" {
		var err error
		if data, err = os.ReadFile(s.resolve(file)); err != nil {
			return nil, fmt.Errorf("%s: %w", which, err)
		}
	}
	doc, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", which, err)
	}
	return doc, nil
}

// scalarText returns the string an inline manifest's text is, when it is
// one YAML string rather than a mapping.
func scalarText(m *Manifest) (string, bool) {
	if m == nil {
		return "", false
	}
	j, err := yaml.YAMLToJSON(*m)
	if err != nil || !bytes.HasPrefix(j, []byte(`"`)) {
		return "", false
	}
	var s string
	return s, json.Unmarshal(j, &s) == nil
}

func derefManifest(m *Manifest) Manifest {
	if m == nil {
		return nil
	}
	return *m
}

// check compares an outcome with the expectation and says what differs.
func (e *Expect) check(o *Outcome, err error) []string {
	if e.err != nil {
		switch {
		case err == nil:
			return []string{fmt.Sprintf("error: want an error matching %q, got %s", e.Error, o.Verdict())}
		case !e.err.MatchString(err.Error()):
			return []string{fmt.Sprintf("error: want an error matching %q, got %q", e.Error, err.Error())}
		}
		return nil
	}
	if err != nil {
		return []string{"evaluation failed: " + err.Error()}
	}
	var f []string
	if *e.Allowed != o.Allowed() {
		f = append(f, fmt.Sprintf("allowed: want %v, got %v (%s)", *e.Allowed, o.Allowed(), o.Verdict()))
	}
	if e.Enforcement != "" && e.Enforcement != string(o.Enforcement()) {
		f = append(f, fmt.Sprintf("enforcement: want %s, got %s", e.Enforcement, o.Enforcement()))
	}
	if e.reason != nil && !e.reason.MatchString(o.Reason()) {
		f = append(f, fmt.Sprintf("reason: want a match of %q, got %q", e.Reason, o.Reason()))
	}
	for _, component := range slices.Sorted(maps.Keys(e.PatchedPercent)) {
		want := e.PatchedPercent[component]
		got, err := o.Percent(component)
		if err != nil {
			f = append(f, "patchedPercent: "+err.Error())
			continue
		}
		if percentText(got) != percentText(want) {
			f = append(f, fmt.Sprintf("patchedPercent.%s: want %s, got %s", component, percentText(want), percentText(got)))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(e.PatchedAnnotations)) {
		want := e.PatchedAnnotations[key]
		got, ok := o.PatchedObject.Annotations[key]
		if ok != (want != nil) || ok && got != *want {
			f = append(f, fmt.Sprintf("patchedAnnotations[%s]: want %s, got %s", key, annotationText(want != nil, deref(want)), annotationText(ok, got)))
		}
	}
	if e.NoPatches && len(o.Mutation.Patches) > 0 {
		f = append(f, "noPatches: got"+indentList(patchLines(o.Mutation.Patches)))
	}
	f = append(f, matchEach("denials", e.Denials, e.denials, o.Denials())...)
	f = append(f, matchEach("warnings", e.Warnings, e.warnings, o.Warnings())...)
	if e.NoDenials && len(o.Denials()) > 0 {
		f = append(f, "noDenials: got"+indentList(violationLines(o.Denials())))
	}
	if e.NoWarnings && len(o.Warnings()) > 0 {
		f = append(f, "noWarnings: got"+indentList(violationLines(o.Warnings())))
	}
	return f
}

// matchEach reports each regexp that matches none of the violations.
func matchEach(field string, exprs []string, res []*regexp.Regexp, got []policy.Violation) []string {
	var f []string
	for i, re := range res {
		if slices.ContainsFunc(got, func(v policy.Violation) bool { return re.MatchString(v.String()) }) {
			continue
		}
		if len(got) == 0 {
			f = append(f, fmt.Sprintf("%s: want one matching %q, got none", field, exprs[i]))
			continue
		}
		f = append(f, fmt.Sprintf("%s: want one matching %q, got", field, exprs[i])+indentList(violationLines(got)))
	}
	return f
}

// Verdict is the decision in words: ADMITTED, ADMITTED with warnings, or
// DENIED.
func (o *Outcome) Verdict() string {
	switch {
	case !o.Allowed():
		return "DENIED"
	case len(o.Warnings()) > 0:
		return "ADMITTED with warnings"
	}
	return "ADMITTED"
}

func violationLines(vs []policy.Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

func patchLines(ops []policy.PatchOp) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = fmt.Sprintf("%s %s %v", op.Op, op.Path, op.Value)
	}
	return out
}

func indentList(lines []string) string {
	return "\n    " + strings.Join(lines, "\n    ")
}

func percentText(p *int64) string {
	if p == nil {
		return "absent"
	}
	return strconv.FormatInt(*p, 10)
}

func annotationText(present bool, v string) string {
	if !present {
		return "absent"
	}
	return strconv.Quote(v)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstString(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstTime(vals ...time.Time) time.Time {
	for _, v := range vals {
		if !v.IsZero() {
			return v
		}
	}
	return time.Time{}
}
