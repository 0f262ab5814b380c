package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/canary-guard/canary-guard/policy"
	"github.com/canary-guard/canary-guard/policy/suite"
	"github.com/canary-guard/canary-guard/webhook"
)

// Exit statuses of eval and verify.
const (
	exitOK      = 0
	exitDenied  = 1 // eval: the request is denied; verify: a case or a test failed
	exitFailure = 2 // unreadable files, bad configuration, a policy that does not compile
)

// exitError carries a process exit status out of a command's RunE, since
// cobra only returns errors. A nil err means the command has printed its
// answer and there is nothing to add (a denial, failed cases); otherwise
// main prints err.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e exitError) Unwrap() error { return e.err }

// failed wraps an error as exit status 2.
func failed(err error) error { return exitError{code: exitFailure, err: err} }

// exitStatus returns the process exit status for an error returned by the
// root command, and whether main should print the error: status 1 for
// errors that carry none (serve, version, cobra's own).
func exitStatus(err error) (code int, report bool) {
	if err == nil {
		return exitOK, false
	}
	var e exitError
	if errors.As(err, &e) {
		return e.code, e.err != nil
	}
	return 1, true
}

// evalOptions are the flags of canary-guard eval.
type evalOptions struct {
	oldFile, newFile, reviewFile string
	configFile, policyDir        string
	namespace, user              string
	groups                       []string
	dryRun                       bool
	apply                        bool
	fieldManager                 string
	output                       string
	evalTimeout                  time.Duration
	now                          string
}

func newEvalCommand() *cobra.Command {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval (--new FILE [--old FILE] | --review FILE)",
		Short: "Decide one InferenceService change offline, as the webhooks would",
		Long: `Decide one InferenceService change as the API server and canary-guard's webhooks
would: the mutating webhook's patches are applied to the new object, and the
validating webhook decides on the patched object, with the same configuration
and policies as canary-guard serve. The policy evaluation is bounded by
--eval-timeout as serve bounds it: one that runs out is answered
[policy-error], refused in enforce namespaces.

The change is given as manifests (YAML or JSON, one InferenceService per file;
without --old it is a CREATE) or as a recorded AdmissionReview v1 (--review).
In GitOps CI, --old can be the manifest at the previous commit; it carries no
status, so readiness of the canary is unknown (a warning, not a denial).

Exit status: 0 admitted, 1 denied, 2 error (unreadable files, bad configuration,
a policy that does not compile).`,
		Example: `  canary-guard eval --old <(git show HEAD~1:isvc.yaml) --new isvc.yaml --namespace models
  canary-guard eval --review review.json --config config.yaml --policy-dir policies/ -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEval(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.oldFile, "old", "", "the stored InferenceService (YAML or JSON); omit for a CREATE")
	f.StringVar(&o.newFile, "new", "", "the InferenceService sent (YAML or JSON)")
	f.StringVar(&o.reviewFile, "review", "", "an AdmissionReview v1 (JSON) to decide, instead of --old/--new")
	f.StringVar(&o.configFile, "config", "", "configuration YAML, as canary-guard serve takes it; empty uses the defaults")
	f.StringVar(&o.policyDir, "policy-dir", "", "directory of extra .rego files, as canary-guard serve takes it")
	f.StringVar(&o.namespace, "namespace", "", `the request's namespace (default: the manifest's, else "default")`)
	f.StringVar(&o.user, "user", "", "the requesting user")
	f.StringArrayVar(&o.groups, "group", nil, "a group of the requesting user (repeatable)")
	f.BoolVar(&o.dryRun, "dry-run", false, "mark the request as a dry run")
	f.StringVar(&o.fieldManager, "field-manager", "", "with --apply: the server-side apply's field manager (argocd-controller, kustomize-controller), whose managedFields entry in --old says what it set; needed where several managers have applied")
	f.BoolVar(&o.apply, "apply", false, "--new is written by an apply of itself (kubectl apply, a GitOps sync): a canaryTrafficPercent it sets is not injected over, as the webhook sees from the object's managed fields; and over --old, what it leaves out stays unless the apply set it (--old's last-applied-configuration or Apply managedFields)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json, or input (the input document the policy saw, for opa eval --profile)")
	addEvalTimeoutFlag(f, &o.evalTimeout, ", as in canary-guard serve")
	f.StringVar(&o.now, "now", "", "the time to decide at (RFC 3339), for step intervals and time.now_ns() in policies; default: the clock")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return failed(err) })
	return cmd
}

// runEval decides one request and prints the answer, and on errW the
// policy's warnings (a rule id reused from the shipped bundle, ...), as
// serve logs them. The returned error is an exitError: status 1 (nil err)
// for a denial, 2 for any failure.
func runEval(ctx context.Context, o evalOptions, w, errW io.Writer) error {
	if o.output != "text" && o.output != "json" && o.output != "input" {
		return failed(fmt.Errorf("--output %q: want text, json or input", o.output))
	}
	req, err := evalRequest(o)
	if err != nil {
		return failed(err)
	}
	p, cfg, err := policy.Loader{ConfigFile: o.configFile, PolicyDir: o.policyDir}.Load(ctx)
	if err != nil {
		return failed(err)
	}
	for _, warning := range slices.Concat(p.Warnings, cfg.Warnings, policy.RuleEnforcementWarnings(p, cfg)) {
		fmt.Fprintf(errW, "WARN  %s\n", warning)
	}
	opts := []policy.GuardOption{policy.WithEvalTimeout(o.evalTimeout)}
	if o.now != "" {
		now, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return failed(fmt.Errorf("--now %q: want an RFC 3339 time such as 2026-11-25T12:00:00Z: %w", o.now, err))
		}
		opts = append(opts, policy.WithClock(func() time.Time { return now }))
	}
	g, err := policy.NewGuard(p, cfg, opts...)
	if err != nil {
		return failed(err)
	}
	out, err := suite.Evaluate(ctx, g, req)
	if err != nil {
		return failed(err)
	}
	switch o.output {
	case "json":
		err = writeEvalJSON(w, out)
	case "input":
		err = writeEvalInput(w, g, out)
	default:
		err = writeEvalText(w, out)
	}
	if err != nil {
		return failed(fmt.Errorf("writing the answer: %w", err))
	}
	if !out.Allowed() {
		return exitError{code: exitDenied}
	}
	return nil
}

// writeEvalInput writes the input document the validating webhook's
// policy evaluation saw, as JSON: what `opa eval --profile` takes (-i) to
// show which rule of a policy directory takes the time.
func writeEvalInput(w io.Writer, g *policy.Guard, out *suite.Outcome) error {
	input, err := g.Input(out.Validated)
	if err != nil {
		return err
	}
	doc, err := ast.JSON(input)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// evalRequest reads the request from the review or the manifests.
func evalRequest(o evalOptions) (*policy.Request, error) {
	if o.reviewFile != "" {
		if o.oldFile != "" || o.newFile != "" {
			return nil, errors.New("--review excludes --old and --new")
		}
		if o.namespace != "" || o.user != "" || len(o.groups) > 0 || o.dryRun || o.apply {
			return nil, errors.New("--review carries the namespace, user, groups, dry-run flag and managed fields: --namespace, --user, --group, --dry-run and --apply apply to --old/--new only")
		}
		data, err := os.ReadFile(o.reviewFile)
		if err != nil {
			return nil, fmt.Errorf("reading review: %w", err)
		}
		req, err := webhook.DecodeReview(data)
		if err != nil {
			return nil, fmt.Errorf("review %s: %w", o.reviewFile, err)
		}
		return req, nil
	}
	if o.newFile == "" {
		return nil, errors.New("--new (or --review) is required")
	}
	if o.fieldManager != "" && !o.apply {
		return nil, errors.New("--field-manager names the apply's manager: it needs --apply")
	}
	m := suite.Manifests{Namespace: o.namespace, User: o.user, Groups: o.groups, DryRun: o.dryRun, Apply: o.apply, FieldManager: o.fieldManager}
	var err error
	if m.New, err = readManifest(o.newFile); err != nil {
		return nil, err
	}
	if o.oldFile != "" {
		if m.Old, err = readManifest(o.oldFile); err != nil {
			return nil, err
		}
	}
	req, err := m.Request()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.newFile, err)
	}
	req.Applied = o.apply
	return req, nil
}

func readManifest(name string) ([]byte, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	doc, err := suite.ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return doc, nil
}

// evalReport is eval's JSON answer. Its fields are stable: new ones may be
// added, none renamed or removed.
type evalReport struct {
	Allowed     bool               `json:"allowed"`
	Enforcement policy.Enforcement `json:"enforcement"`
	Reason      string             `json:"reason"`
	Patches     []policy.PatchOp   `json:"patches"`
	Denials     []policy.Violation `json:"denials"`
	Warnings    []policy.Violation `json:"warnings"`
	// LoggedWarnings are warnings logged without being returned to the
	// client: in an audit namespace, or of a rule ruleEnforcement sets
	// to audit.
	LoggedWarnings []policy.Violation `json:"loggedWarnings"`
	// BuiltinErrors are built-in calls that failed, each leaving the rule
	// calling it undefined (serve logs and counts them).
	BuiltinErrors []string      `json:"builtinErrors"`
	Facts         *policy.Facts `json:"facts"`
}

func writeEvalJSON(w io.Writer, out *suite.Outcome) error {
	r := evalReport{
		Allowed:        out.Allowed(),
		Enforcement:    out.Enforcement(),
		Reason:         out.Reason(),
		Patches:        out.Mutation.Patches,
		Denials:        out.Denials(),
		Warnings:       out.Warnings(),
		LoggedWarnings: out.LoggedWarnings(),
		BuiltinErrors:  out.BuiltinErrors(),
		Facts:          out.Decision.Facts,
	}
	// JSON v2 writes empty lists as [] at any depth, so .facts reads as
	// the policies' input.rollout does.
	if err := jsonv2.MarshalWrite(w, r, jsonv2.Deterministic(true), jsontext.WithIndent("  "), jsontext.EscapeForHTML(false)); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// writeEvalText prints the answer for people:
//
//	DENIED: UPDATE models/my-model
//	enforcement: enforce
//	denials:
//	  [max-step] spec.predictor.canaryTrafficPercent 10 → 100 rises by 90; ...
//	builtin errors (each left the rule calling it undefined, as in serve):
//	  team.rego:6: eval_builtin_error: to_number: strconv.ParseFloat: ...
func writeEvalText(w io.Writer, out *suite.Outcome) error {
	var b strings.Builder
	req := out.Request
	fmt.Fprintf(&b, "%s: %s %s/%s\n", out.Verdict(), req.Operation, req.Namespace, req.Name)
	fmt.Fprintf(&b, "enforcement: %s\n", out.Enforcement())
	if reason := out.Reason(); reason != "" {
		fmt.Fprintf(&b, "reason: %s\n", reason)
	}
	if f := out.Decision.Facts; f != nil && f.AlwaysAdmit {
		fmt.Fprintf(&b, "always admitted: %s (no rule can deny this update)\n", f.AlwaysAdmitReason)
	}
	if len(out.Mutation.Patches) > 0 {
		patch, err := patchYAML(out.Mutation.Patches)
		if err != nil {
			return err
		}
		b.WriteString("patch:\n" + indent(patch))
	}
	if enforced := out.Decision.EnforcedDenials(); len(enforced) > 0 {
		b.WriteString("denials:\n" + indent(violationText(enforced)))
	}
	if relaxed := relaxedDenials(out.Decision); len(relaxed) > 0 {
		b.WriteString("denials (not enforced):\n" + indent(relaxed))
	}
	if warnings := out.Warnings(); len(warnings) > 0 {
		b.WriteString("warnings:\n" + indent(violationText(warnings)))
	}
	if logged := out.LoggedWarnings(); len(logged) > 0 {
		b.WriteString("warnings (logged, not shown to the client):\n" + indent(violationText(logged)))
	}
	if errs := out.BuiltinErrors(); len(errs) > 0 {
		b.WriteString("builtin errors (each left the rule calling it undefined, as in serve):\n" +
			indent(strings.Join(errs, "\n")+"\n"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// patchYAML shows JSON patch operations as the fields they set, in YAML;
// a removed field shows as null.
func patchYAML(ops []policy.PatchOp) (string, error) {
	root := map[string]any{}
	for _, op := range ops {
		tokens := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
		node := root
		for i, t := range tokens {
			t = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
			if i == len(tokens)-1 {
				node[t] = patchValue(op)
				break
			}
			child, ok := node[t].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[t] = child
			}
			node = child
		}
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return "", fmt.Errorf("encoding the patch: %w", err)
	}
	return string(out), nil
}

func patchValue(op policy.PatchOp) any {
	if op.Op == "remove" {
		return nil
	}
	return op.Value
}

func violationText(vs []policy.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString(v.String() + "\n")
	}
	return b.String()
}

// relaxedDenials lists the denials that did not refuse the request, each
// with the mode it was enforced in where its rule's own setting chose it.
func relaxedDenials(d *policy.Decision) string {
	var b strings.Builder
	for _, v := range d.Denials {
		switch {
		case !d.Allowed && d.EnforcementOf(v) == policy.EnforcementEnforce:
			// Listed under "denials:", as what refused.
		case v.Enforcement != "":
			b.WriteString(v.String() + " (ruleEnforcement: " + string(v.Enforcement) + ")\n")
		default:
			b.WriteString(v.String() + "\n")
		}
	}
	return b.String()
}

// indent indents every line of s by two spaces.
func indent(s string) string { return indentBy(s, "  ") }
