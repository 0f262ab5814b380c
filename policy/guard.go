package policy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/open-policy-agent/opa/v1/ast"
)

// Guard decides admission requests with the current policy and
// configuration. Both can be swapped at any time; a request uses the pair
// that was current when it started.
type Guard struct {
	state atomic.Pointer[state]
	now   func() time.Time
	keys  keyTerms
	// evalTimeout bounds one evaluation (WithEvalTimeout); 0 is unbounded.
	evalTimeout time.Duration
	// slots bounds the evaluations that run at once
	// (WithConcurrencyLimit); nil is unbounded.
	slots chan struct{}
	// loadErr is the start's load error (WithLoadError), given to the
	// first state only.
	loadErr error
}

// state is one loaded policy with one loaded configuration.
type state struct {
	policy *Policy
	config *Config
	// configValues holds input.config for config.Defaults (index 0) and
	// each config.Namespaces entry (index i+1), built once per load.
	configValues []ast.Value
	// loadErr is why the policy or configuration did not load at start
	// (WithLoadError): until a load succeeds, every update the rules
	// would decide is a policy error.
	loadErr error
}

// GuardOption configures a Guard.
type GuardOption func(*Guard)

// WithClock sets the clock used for step intervals and seen by the
// policy's time built-ins (time.now_ns).
func WithClock(now func() time.Time) GuardOption {
	return func(g *Guard) { g.now = now }
}

// WithLoadError starts the guard on a fallback policy and configuration
// (Loader.Fallback) because loading them failed with err: each decision
// the rules would make is then [policy-error], refused in enforce
// namespaces; exempt users, warn and audit namespaces and the updates
// that are always admitted (rollbacks) pass as with any policy error, as
// far as the fallback configuration tells them (the defaults, where the
// configuration is the broken file). The next successful Update ends it.
func WithLoadError(err error) GuardOption {
	return func(g *Guard) { g.loadErr = err }
}

// DefaultEvalTimeout is the default evaluation timeout of canary-guard
// serve, eval and verify (--eval-timeout).
const DefaultEvalTimeout = 2 * time.Second

// WithEvalTimeout bounds each policy evaluation (Validate) to d, on top of
// the deadline of the caller's context; 0 or less leaves only that. An
// evaluation that runs out of time is a policy error: [policy-error],
// refused in enforce namespaces, admitted in warn and audit namespaces and
// for rollbacks.
func WithEvalTimeout(d time.Duration) GuardOption {
	return func(g *Guard) { g.evalTimeout = d }
}

// WithConcurrencyLimit bounds the policy evaluations that run at once to
// n (0 or less: unbounded), so that a flood queues for the cores rather
// than sharing them until every evaluation runs out of time. An
// evaluation waits for a slot within its own time (WithEvalTimeout, the
// request's deadline); one that gets none is decided as one that ran out
// of time: [policy-error], refused in enforce namespaces, admitted in
// warn and audit namespaces and for rollbacks, which a flood never blocks.
func WithConcurrencyLimit(n int) GuardOption {
	return func(g *Guard) {
		if n > 0 {
			g.slots = make(chan struct{}, n)
		}
	}
}

// errNoSlot is the evaluation error of a request that found every
// evaluation slot busy until its deadline.
var errNoSlot = errors.New("every evaluation slot stayed busy until the request's deadline")

// eval evaluates the policy in a free evaluation slot.
func (g *Guard) eval(ctx context.Context, p *Policy, input ast.Value) (Result, error) {
	if g.slots != nil {
		select {
		case g.slots <- struct{}{}:
			defer func() { <-g.slots }()
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w (%d at once, --max-concurrent-evaluations): %w", errNoSlot, cap(g.slots), ctx.Err())
		}
	}
	return p.Eval(ctx, input, g.now())
}

// evalContext returns ctx bounded by the evaluation timeout
// (WithEvalTimeout), which covers the wait for a slot too.
func (g *Guard) evalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.evalTimeout <= 0 {
		return ctx, func() {}
	}
	// The request's own deadline is as tight already: no timer.
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= g.evalTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, g.evalTimeout)
}

// NewGuard returns a Guard serving the given policy and configuration.
func NewGuard(p *Policy, c *Config, opts ...GuardOption) (*Guard, error) {
	g := &Guard{now: time.Now, keys: newKeyTerms()}
	for _, o := range opts {
		o(g)
	}
	if err := g.update(p, c, g.loadErr); err != nil {
		return nil, err
	}
	return g, nil
}

// LoadError is why the policy or configuration in use is a fallback
// (WithLoadError), nil once one has loaded.
func (g *Guard) LoadError() error { return g.state.Load().loadErr }

// SetLoadError replaces the reason a guard on a fallback gives (a later
// load that failed too); a guard on a loaded policy is left as it is.
func (g *Guard) SetLoadError(err error) {
	cur := g.state.Load()
	if cur.loadErr == nil || err == nil {
		return
	}
	st := *cur
	st.loadErr = err
	g.state.CompareAndSwap(cur, &st)
}

// Update swaps in a new policy and configuration atomically. A nil
// argument keeps the current one.
func (g *Guard) Update(p *Policy, c *Config) error { return g.update(p, c, nil) }

// update swaps in a new state, on a fallback where loadErr says why.
func (g *Guard) update(p *Policy, c *Config, loadErr error) error {
	cur := g.state.Load()
	if p == nil && cur != nil {
		p = cur.policy
	}
	if c == nil && cur != nil {
		c = cur.config
	}
	if p == nil || c == nil {
		return errors.New("guard needs a policy and a configuration")
	}
	st := &state{policy: p, config: c, loadErr: loadErr}
	all := append([]*Settings{&c.Defaults}, func() []*Settings {
		out := make([]*Settings, len(c.Namespaces))
		for i := range c.Namespaces {
			out[i] = &c.Namespaces[i].Settings
		}
		return out
	}()...)
	for _, s := range all {
		v, err := settingsValue(s)
		if err != nil {
			return err
		}
		st.configValues = append(st.configValues, v)
	}
	g.state.Store(st)
	return nil
}

// Policy returns the policy in use.
func (g *Guard) Policy() *Policy { return g.state.Load().policy }

// Config returns the configuration in use.
func (g *Guard) Config() *Config { return g.state.Load().config }

// settingsFor returns the settings of a namespace and their input.config value.
func (st *state) settingsFor(namespace string) (*Settings, ast.Value) {
	s := st.config.For(namespace)
	if s == &st.config.Defaults {
		return s, st.configValues[0]
	}
	for i := range st.config.Namespaces {
		if s == &st.config.Namespaces[i].Settings {
			return s, st.configValues[i+1]
		}
	}
	return s, st.configValues[0]
}

func exempt(s *Settings, u UserInfo) bool {
	return slices.Contains(s.Exempt.Users, u.Username) || intersects(u.Groups, s.Exempt.Groups)
}

// Decision is the validating webhook's answer to one request.
type Decision struct {
	// Allowed is the admission answer.
	Allowed bool `json:"allowed"`
	// Enforcement is the mode the namespace is in.
	Enforcement Enforcement `json:"enforcement"`
	// Denials are what the rules denied, before enforcement, overrides and
	// the always-admit rule were applied.
	Denials []Violation `json:"denials"`
	// Warnings are logged and counted, and returned to the client as
	// admission warnings except in audit mode (ClientWarnings).
	Warnings []Violation `json:"warnings"`
	// Reason says why a request was admitted in spite of denials, or why
	// it was not evaluated: exempt, always-admit:<why>, override,
	// enforcement:<mode>, policy-error.
	Reason string `json:"reason,omitempty"`
	// Error is set when the policy could not be evaluated.
	Error string `json:"error,omitempty"`
	// NoSlot is set when the policy was not evaluated because every
	// evaluation slot stayed busy until the deadline (WithConcurrencyLimit).
	NoSlot bool `json:"noSlot,omitempty"`
	// BuiltinErrors are built-in calls that failed, each leaving its rule
	// undefined (Result.BuiltinErrors).
	BuiltinErrors []string `json:"builtinErrors,omitempty"`
	// PolicyRevision is the revision of the policy that decided.
	PolicyRevision string `json:"policyRevision"`
	// EvalDuration is the time spent computing facts and evaluating.
	EvalDuration time.Duration `json:"-"`
	Facts        *Facts        `json:"facts,omitempty"`
	// policy is the policy that decided, for MetricRuleID.
	policy *Policy
}

// MetricRuleID is the rule label a result of rule id is counted under in
// the metrics: the id when the deciding policy knew it at load, else
// "custom" (Policy.MetricRuleID).
func (d *Decision) MetricRuleID(id string) string { return d.policy.MetricRuleID(id) }

// ClientWarnings are the warnings returned to the client: none in audit
// mode, which admits silently, nor those of rules ruleEnforcement sets
// to audit.
func (d *Decision) ClientWarnings() []Violation {
	if d.Enforcement == EnforcementAudit {
		return nil
	}
	if !slices.ContainsFunc(d.Warnings, auditedByRule) {
		return d.Warnings
	}
	return slices.DeleteFunc(slices.Clone(d.Warnings), auditedByRule)
}

// LoggedOnlyWarnings are the warnings ClientWarnings leaves out: logged
// and counted only.
func (d *Decision) LoggedOnlyWarnings() []Violation {
	if d.Enforcement == EnforcementAudit {
		return d.Warnings
	}
	var out []Violation
	for _, w := range d.Warnings {
		if auditedByRule(w) {
			out = append(out, w)
		}
	}
	return out
}

// auditedByRule tells a result ruleEnforcement set to audit.
func auditedByRule(v Violation) bool { return v.Enforcement == EnforcementAudit }

// Message is the denial text shown to the user. Custom rules may deny a
// CREATE, which is no update.
func (d *Decision) Message() string {
	msg := "canary-guard denied this update:"
	if d.Facts != nil && d.Facts.Operation == OperationCreate {
		msg = "canary-guard denied creating this InferenceService:"
	}
	for _, v := range d.Denials {
		if d.EnforcementOf(v) == EnforcementEnforce {
			msg += "\n" + v.String()
		}
	}
	return msg
}

// Input returns the input document the policy sees for req, as Validate
// builds it: for `opa eval --profile` and other tools that run the
// policy on its own.
func (g *Guard) Input(req *Request) (ast.Value, error) {
	st := g.state.Load()
	settings, configValue := st.settingsFor(req.Namespace)
	_, input, err := g.factsAndInput(st, req, settings, configValue)
	return input, err
}

// factsAndInput builds the rollout facts of req and, from them, the input
// document the policy evaluates.
func (g *Guard) factsAndInput(st *state, req *Request, settings *Settings, config ast.Value) (*Facts, ast.Value, error) {
	facts, err := BuildFacts(req, FactsOptions{Settings: settings, Now: g.now()})
	if err != nil {
		return nil, nil, err
	}
	input, err := buildInput(g.keys, req, facts, config, st.policy.readsObjects)
	if err != nil {
		return nil, nil, err
	}
	return facts, input, nil
}

// Validate decides a request. It returns an error only for requests it
// cannot read (no object, UPDATE without oldObject); policy failures,
// running out of time (ctx, WithEvalTimeout) included, are decisions, made
// by the enforcement mode.
func (g *Guard) Validate(ctx context.Context, req *Request) (*Decision, error) {
	st := g.state.Load()
	settings, configValue := st.settingsFor(req.Namespace)
	d := &Decision{Allowed: true, Enforcement: settings.Enforcement, PolicyRevision: st.policy.Revision, policy: st.policy}
	if exempt(settings, req.User) {
		d.Reason = "exempt"
		return d, nil
	}
	ctx, cancel := g.evalContext(ctx)
	defer cancel()
	start := time.Now()
	defer func() { d.EvalDuration = time.Since(start) }()
	facts, input, err := g.factsAndInput(st, req, settings, configValue)
	if err != nil {
		return nil, err
	}
	d.Facts = facts
	res, err := g.eval(ctx, st.policy, input)
	switch {
	case err != nil:
		d.Error = err.Error()
		d.NoSlot = errors.Is(err, errNoSlot)
		res = Result{Deny: []Violation{{Rule: "policy-error", Msg: policyErrorMessage(ctx, err)}}}
	case st.loadErr != nil:
		// The shipped rules alone cannot stand in for the platform
		// team's, nor the default configuration for theirs.
		d.Error = st.loadErr.Error()
		res.Deny = []Violation{{Rule: "policy-error", Msg: loadErrorMessage(st.loadErr)}}
	}
	d.Denials, d.Warnings, d.BuiltinErrors = res.Deny, res.Warn, res.BuiltinErrors
	if len(settings.RuleEnforcement) > 0 {
		markRuleEnforcement(settings, d.Denials, d.Warnings)
	}
	if len(d.Denials) == 0 {
		if facts.Override.Active {
			overrideLiftedNothing(d.Warnings, req)
		}
		return d, nil
	}
	strictest := EnforcementAudit
	for _, v := range d.Denials {
		if e := d.EnforcementOf(v); leniency(e) < leniency(strictest) {
			strictest = e
		}
	}
	switch {
	case facts.AlwaysAdmit:
		// Rollbacks and lowering are never blocked, whatever the rules
		// say; what the rules say is still worth showing (a percent that
		// Standard mode ignores, so the "rollback" moved no traffic).
		d.Reason = "always-admit:" + facts.AlwaysAdmitReason
		d.Warnings = append(d.Warnings, d.shownDenials("admitted, as "+alwaysAdmitted(facts.AlwaysAdmitReason)+" always is, but: ", true)...)
		return d, nil
	case facts.Override.Active && leniency(strictest) <= leniency(settings.Enforcement):
		// An override lifts what the namespace's mode would do; where
		// ruleEnforcement already relaxed every denial further, it lifted
		// nothing.
		d.Reason = "override"
		d.Warnings = append(d.Warnings, d.shownDenials("overridden: ", true)...)
		return d, nil
	}
	if facts.Override.Active {
		// ruleEnforcement already lets every denial through.
		overrideLiftedNothing(d.Warnings, req)
	}
	// Marked, so a denial admitted here does not read like one that
	// refused the update, as the mutating webhook marks its own.
	if shown := d.shownDenials(WarnModeDenialPrefix, false); len(shown) > 0 {
		d.Warnings = append(shown, d.Warnings...)
	}
	if strictest == EnforcementEnforce {
		d.Allowed = false
		if facts.Override.stale && len(settings.Override.Groups) > 0 {
			// First: the webhook keeps the first warnings where they are
			// too long in all.
			d.Warnings = append([]Violation{{Rule: "override-stale", Msg: staleOverrideText(facts, settings, req)}}, d.Warnings...)
		}
		return d, nil
	}
	d.Reason = "enforcement:" + string(strictest)
	return d, nil
}

// staleOverrideText is the override-stale warning: how to override the
// refusal, for a member of the override groups; whom to ask, for others.
func staleOverrideText(facts *Facts, settings *Settings, req *Request) string {
	stale := fmt.Sprintf("the annotation %s (%q) was set by an earlier update and lifts nothing now: an override lifts the rules only for the update that sets or changes its value",
		AnnotationOverride, facts.Override.Reason)
	groups := strings.Join(settings.Override.Groups, ", ")
	if !intersects(req.User.Groups, settings.Override.Groups) {
		return fmt.Sprintf("%s, and only from members of %s. To override this refusal, ask one of them to set a new reason in the update that makes this change.", stale, groups)
	}
	return fmt.Sprintf("%s. To override this refusal, set a new reason in this same update: %s", stale, overridePatch(req))
}

// overrideLiftedNothing rewrites the override warning of an update where
// nothing is refused (no rule denies, or ruleEnforcement relaxed every
// denial): an override set on its own (kubectl annotate) lifts nothing,
// and the change it was meant for is checked next.
func overrideLiftedNothing(warnings []Violation, req *Request) {
	for i := range warnings {
		if warnings[i].Rule == "override" {
			warnings[i].Msg = fmt.Sprintf(
				"the override set by %s lifted nothing: nothing in this update is refused here (no rule refuses it, or ruleEnforcement lets what they deny through), and the next update is checked again. An override lifts the rules only for the update that sets or changes it: put it in the same update as the change it is for: %s",
				req.User.Username, overridePatch(req))
		}
	}
}

// overridePatch is the kubectl command that sets an override together
// with the change it is for.
func overridePatch(req *Request) string {
	return fmt.Sprintf(`kubectl patch inferenceservice %s -n %s --type merge -p '{"metadata":{"annotations":{%q:"<reason>"}},"spec":{...the change...}}'`,
		req.Name, req.Namespace, AnnotationOverride)
}

// markRuleEnforcement marks the denials and warnings whose rule
// settings.RuleEnforcement relaxes below the namespace's mode with the
// mode they get instead. A warning can only be relaxed to audit: logged
// and counted, not returned to the client.
func markRuleEnforcement(settings *Settings, denials, warnings []Violation) {
	for i := range denials {
		if e := settings.EnforcementOf(denials[i].Rule); e != settings.Enforcement {
			denials[i].Enforcement = e
		}
	}
	for i := range warnings {
		if e := settings.EnforcementOf(warnings[i].Rule); e == EnforcementAudit && e != settings.Enforcement {
			warnings[i].Enforcement = e
		}
	}
}

// EnforcementOf returns how a result of this decision was enforced: its
// rule's own mode where ruleEnforcement relaxed it, else the namespace's.
func (d *Decision) EnforcementOf(v Violation) Enforcement {
	if v.Enforcement != "" {
		return v.Enforcement
	}
	return d.Enforcement
}

// EnforcedDenials are the denials that refused the request: none when it
// was admitted.
func (d *Decision) EnforcedDenials() []Violation {
	if d.Allowed {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(d.Denials), func(v Violation) bool { return d.EnforcementOf(v) != EnforcementEnforce })
}

// shownDenials turns the denials that do not refuse the update into
// warnings that start with prefix, which says why: those in warn mode,
// and the enforced ones too where the update is admitted anyway (an
// override, an always-admitted update). Audit-mode denials are only
// logged and counted.
func (d *Decision) shownDenials(prefix string, withEnforced bool) []Violation {
	var out []Violation
	for _, v := range d.Denials {
		switch d.EnforcementOf(v) {
		case EnforcementAudit:
			continue
		case EnforcementEnforce:
			if !withEnforced {
				continue
			}
		}
		if out == nil {
			out = make([]Violation, 0, len(d.Denials))
		}
		out = append(out, Violation{Rule: v.Rule, Msg: prefix + v.Msg, Enforcement: v.Enforcement})
	}
	return out
}

// policyErrorMessage says why the policy could not decide, and what helps:
// a retry where the evaluation ran out of time (a busy replica), the
// platform team where a rule fails (a conflict, a malformed result), which
// it does again on every retry.
func policyErrorMessage(ctx context.Context, err error) string {
	// The next step first: an OPA error can run to hundreds of characters.
	if ctx.Err() != nil {
		return fmt.Sprintf("the policy could not be evaluated in time. Retry; if it persists, ask the platform team to check canary-guard's logs. %s Error: %v", rollbacksStillAdmitted, err)
	}
	return fmt.Sprintf("the policy could not be evaluated. This is a fault of the policy, not of this update, and retrying gives the same answer: "+
		"ask the platform team to fix the rule named in the error below (canary-guard's logs have it too). %s Error: %v", rollbacksStillAdmitted, err)
}

// loadErrorMessage says that canary-guard runs without the policy or
// configuration it was given, and who can fix it.
func loadErrorMessage(err error) string {
	return fmt.Sprintf("canary-guard could not load its policy or configuration, so it cannot decide this request as configured. "+
		"Ask the platform team to fix the file named in the error below (canary-guard's logs have it too); it is picked up without a restart. %s Error: %v", rollbacksStillAdmitted, err)
}

// rollbacksStillAdmitted tells the user, refused for a fault of the
// policy, the way out that does not depend on it.
const rollbacksStillAdmitted = "Rollbacks are admitted meanwhile: a canary percent set to 0, a spec.canary[] entry removed."

// WarnModeDenialPrefix starts the message of each denial a warn-mode
// namespace returns as a warning.
const WarnModeDenialPrefix = "(warn mode, not enforced) "

// alwaysAdmitted says, for a warning, what kind of update alwaysAdmit let through.
func alwaysAdmitted(reason string) string {
	switch reason {
	case "rollback":
		return "a rollback"
	case "lowered":
		return "a lowered percent"
	case "no revision change":
		return "an update that creates no revision"
	}
	return "this update"
}

// PatchOp is one JSON Patch (RFC 6902) operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitzero"`
}

// Mutation is the mutating webhook's answer to one request.
type Mutation struct {
	Patches []PatchOp `json:"patches"`
	// Warnings are returned to the client.
	Warnings []Violation `json:"warnings"`
	// Injected lists the components whose canary percent was set.
	Injected []string `json:"injected"`
	// Enforcement is the mode the namespace is in.
	Enforcement Enforcement `json:"enforcement"`
	Reason      string      `json:"reason,omitempty"`
	Facts       *Facts      `json:"facts,omitempty"`
}

// Mutate computes the patches for a request: the initial canary percent
// on a model change, the tag-routing annotation and the step stamp. Only
// namespaces in enforce mode are mutated; warn mode says what it would do.
func (g *Guard) Mutate(_ context.Context, req *Request) (*Mutation, error) {
	st := g.state.Load()
	settings, _ := st.settingsFor(req.Namespace)
	m := &Mutation{Enforcement: settings.Enforcement}
	if exempt(settings, req.User) {
		m.Reason = "exempt"
		return m, nil
	}
	facts, err := BuildFacts(req, FactsOptions{Settings: settings, Now: g.now()})
	if err != nil {
		return nil, err
	}
	m.Facts = facts
	// Knative mode gets the canary and tag routing; Standard mode only
	// the step stamp of its spec.canary[] entries (minStepIntervalSeconds).
	knative := facts.RolloutMode == ModeKnative
	if !knative && facts.RolloutMode != ModeStandard {
		return m, nil
	}
	if facts.Override.Active {
		m.Reason = "override"
		return m, nil
	}
	annotations := map[string]string{}
	if knative && settings.OnModelChange == OnModelChangeInject && req.Operation == OperationUpdate {
		applied := appliedPercents{req: req}
		for i := range facts.Components {
			c := &facts.Components[i]
			// A renamed predictor moves to another Knative Service, where
			// the split would name a revision of the old one (Knative
			// refuses it): predictor-rename speaks for it.
			if !needsInjection(c, settings) || c.Kind == KindPredictor && facts.PredictorRenamed {
				continue
			}
			// A new object without a predictor (KServe's CRD requires one)
			// has nowhere to put the percent: the patch would not apply.
			if c.Kind == KindPredictor && reflect.ValueOf(&req.Object.Spec.Predictor).Elem().IsZero() {
				continue
			}
			// A percent an apply declares (GitOps) is the manifest's: the
			// next sync would set it again over an injected one. Validation
			// asks for the initial percent in the manifest instead.
			if c.NewPercent != nil {
				if by, ok := applied.declared(c.Path); ok {
					m.Warnings = append(m.Warnings, Violation{Rule: "percent-applied", Msg: fmt.Sprintf(
						"%s.canaryTrafficPercent %d is declared by %s, whose next apply would set it again, so canary-guard does not set it to %d for the new model. Write %s.canaryTrafficPercent: %d with the new model in the manifest that apply comes from (in Git), not in a change of your own.",
						c.Path, *c.NewPercent, by, settings.InitialCanaryPercent, c.Path, settings.InitialCanaryPercent)})
					continue
				}
			}
			m.Injected = append(m.Injected, c.ID)
			m.Patches = append(m.Patches, PatchOp{Op: "add", Path: "/" + jsonPointer(c.Path) + "/canaryTrafficPercent", Value: settings.InitialCanaryPercent})
			m.Warnings = append(m.Warnings, Violation{Rule: "canary-injected", Msg: injectedText(c, settings)})
			inj := settings.InitialCanaryPercent
			c.NewPercent, c.NewEffectivePercent = &inj, inj
		}
	}
	// An annotation the user set, "false" included (names too long for the
	// latest-/prev- hosts, kserve #2428), is theirs to keep.
	_, tagRoutingSet := req.Object.Annotations[AnnotationTagRouting]
	// Past 46 characters the latest- host exceeds a DNS label: tag
	// routing would break the route, not help (tag-routing-name warns).
	if knative && settings.TagRouting == TagRoutingInject && !tagRoutingSet && len(req.Object.Name) <= maxTagRoutingName(&req.Object.Spec) &&
		(req.Operation == OperationCreate || knativeRevisionChanged(facts)) {
		annotations[AnnotationTagRouting] = "true"
		if old, _ := oldAnnotation(req, AnnotationTagRouting); old == "true" && settings.Enforcement == EnforcementEnforce {
			// Removed by this update: taken for a manifest that does not
			// carry it, and put back; say how to turn it off instead.
			m.Warnings = append(m.Warnings, Violation{Rule: "tag-routing-kept", Msg: fmt.Sprintf(
				"metadata.annotations[%s] is removed by this update and put back as \"true\", so that the latest- and prev- URLs of the canary stay (tagRouting: inject). To turn tag routing off, set it to \"false\".",
				AnnotationTagRouting)})
		}
	}
	var keep *PatchOp
	if settings.MinStepIntervalSeconds > 0 && req.Operation == OperationUpdate {
		if stepped(facts) {
			annotations[AnnotationStepAt] = g.now().UTC().Format(time.RFC3339)
		} else if v, ok := keepStepStamp(req); ok {
			keep = &PatchOp{Op: "remove", Path: "/metadata/annotations/" + escapePointer(AnnotationStepAt)}
			if v != nil {
				annotations[AnnotationStepAt], keep = *v, nil
			}
			m.Warnings = append(m.Warnings, Violation{Rule: "step-stamp-kept", Msg: stampKeptText(req, v, settings, g.now())})
		}
	}
	m.Patches = append(m.Patches, annotationPatches(req.Object.Annotations, annotations)...)
	if keep != nil {
		m.Patches = append(m.Patches, *keep)
	}
	if settings.Enforcement != EnforcementEnforce && len(m.Patches) > 0 {
		// warn and audit namespaces are observed, not changed.
		if settings.Enforcement == EnforcementWarn {
			for i := range m.Warnings {
				m.Warnings[i].Msg = "(warn mode, not applied) " + m.Warnings[i].Msg
			}
		} else {
			m.Warnings = nil
		}
		m.Reason = "enforcement:" + string(settings.Enforcement)
		m.Patches, m.Injected = nil, nil
	}
	return m, nil
}

// oldAnnotation returns annotation k of the stored object, if any.
func oldAnnotation(req *Request, k string) (string, bool) {
	if req.OldObject == nil {
		return "", false
	}
	v, ok := req.OldObject.Annotations[k]
	return v, ok
}

// injectedText is the canary-injected warning. A warn-mode namespace is
// not patched, so there it says what enforce mode would set, and no next
// step for a percent the object does not have.
func injectedText(c *ComponentFacts, s *Settings) string {
	if s.Enforcement == EnforcementWarn {
		return fmt.Sprintf(
			"%s: the model %s; in enforce mode %s.canaryTrafficPercent would be set to %d (it is %s) so that it enters as a canary. Here it enters with %s of traffic; to canary it, set %s.canaryTrafficPercent: %d in this update.",
			c.Path, changeText(c), c.Path, s.InitialCanaryPercent, percentText(c.NewPercent), shareText(c.NewPercent), c.Path, s.InitialCanaryPercent)
	}
	if c.NotRolledOut && c.LatestReadyRevision == "" {
		// KServe splits only with a rolled-out revision, and none is: the
		// percent is set for the case where the first one is rolled out
		// before the new one; first-rollout says the rest.
		return fmt.Sprintf(
			"%s: the model %s; %s.canaryTrafficPercent set to %d (was %s), which splits traffic only if %s is rolled out before the new model (see first-rollout).",
			c.Path, changeText(c), c.Path, s.InitialCanaryPercent, percentText(c.NewPercent), c.LatestCreatedRevision)
	}
	return fmt.Sprintf(
		"%s: the model %s; %s.canaryTrafficPercent set to %d (was %s) so it enters as a canary. Raise it step by step (at most %d per update), remove the field to promote, or set 0 to roll back.",
		c.Path, changeText(c), c.Path, s.InitialCanaryPercent, percentText(c.NewPercent), s.MaxStepPercent)
}

// shareText is the traffic share a percent gives the latest revision.
func shareText(p *int64) string {
	if p == nil {
		return "100 %"
	}
	return strconv.FormatInt(*p, 10) + " %"
}

// maxTagRoutingName is the longest InferenceService name whose tag-routing
// host labels fit the 63 characters of a DNS label: latest-<name>-predictor
// (-explainer is as long; a spec.predictor.name adds -<that name>), and
// latest-<name>-transformer when there is a transformer, whose Knative
// Service gets the tag as well.
func maxTagRoutingName(spec *v1beta1.InferenceServiceSpec) int {
	suffix := len("-predictor")
	if spec.Predictor.Name != "" {
		suffix += len(spec.Predictor.Name) + 1
	}
	if spec.Transformer != nil {
		suffix = max(suffix, len("-transformer"))
	}
	return 63 - len("latest-") - suffix
}

// needsInjection reports whether a model change arrives without a percent
// the user chose for it (absent, 100, or left as the old object had it)
// that sends the new model more than the initial percent. A percent left
// at or below it (0 after a rollback) is kept: injecting would raise the
// new model's traffic above what the object asks for.
func needsInjection(c *ComponentFacts, s *Settings) bool {
	if c.Kind == KindCanary || c.ModelMesh || !c.InOld || !c.InNew || !c.ModelChanged {
		return false
	}
	if c.RoutesMissingRevision {
		// The split names a deleted revision: nothing serves, and a
		// percent keeps it so (resume-split warns).
		return false
	}
	if c.RunsUnderStop {
		// KServe routes all traffic to the latest revision while the
		// InferenceService is stopped: a percent splits nothing
		// (stop-override warns).
		return false
	}
	if c.ServiceStopped {
		// KServe deletes a stopped component's Knative Service: on resume
		// the model in the spec takes all traffic whatever the percent
		// (stopped-model-change warns).
		return false
	}
	if c.CanaryInProgress && s.MidRolloutModelChange == MidRolloutDeny && !s.ruleRelaxed("mid-rollout") {
		// The validating webhook refuses it (mid-rollout): a patch and a
		// "so it enters as a canary" warning would contradict that answer.
		// Relaxed by ruleEnforcement, mid-rollout admits it, and it must
		// still enter as a canary.
		return false
	}
	if c.NewPercent == nil || *c.NewPercent == 100 {
		return true
	}
	return !c.PercentChanged && *c.NewPercent > s.InitialCanaryPercent
}

// stepped reports whether any component's canary moves forward: a rise, a
// promotion, or a model entering (a new canary, whose first rise waits the
// interval too); not a rollback or a lowered percent, which a chart's
// webhook never sees alone. In Standard mode, where KServe ignores
// canaryTrafficPercent, only the spec.canary[] entries and a promotion
// count; never a ModelMesh-served component.
func stepped(f *Facts) bool {
	for i := range f.Components {
		c := &f.Components[i]
		if c.ModelMesh || f.RolloutMode == ModeStandard && c.Kind != KindCanary && c.PromotedCanary == "" {
			continue
		}
		entering := c.InNew && (c.ModelChanged || c.Kind == KindCanary && !c.InOld)
		if c.Raised() || c.PromotedCanary != "" || entering {
			return true
		}
	}
	return false
}

// knativeRevisionChanged reports whether a component KServe runs as a
// Knative Service gets a new revision: not the predictor ModelMesh serves
// beside a transformer, whose change alone creates none.
func knativeRevisionChanged(f *Facts) bool {
	for i := range f.Components {
		if c := &f.Components[i]; c.RevisionChanged && !c.ModelMesh {
			return true
		}
	}
	return false
}

// keepStepStamp reports whether an update that is no step changes the
// step stamp, and the old stamp to put back (nil: none, remove it). The
// stamp is canary-guard's record of the last step: an update that
// back-dated or removed it would let the next rise skip
// minStepIntervalSeconds. Undone rather than refused: a manifest that
// carried a copy of it, synced by a GitOps tool, would otherwise fail
// every sync.
// An empty stamp is none, as the validating webhook reads it (stepFacts):
// absent and "" are not told apart, and nothing is put back as "".
func keepStepStamp(req *Request) (*string, bool) {
	oldV := req.OldObject.Annotations[AnnotationStepAt]
	newV := req.Object.Annotations[AnnotationStepAt]
	if oldV == newV {
		return nil, false
	}
	if oldV == "" {
		return nil, true
	}
	return &oldV, true
}

// stampKeptText is the step-stamp-kept warning.
func stampKeptText(req *Request, kept *string, s *Settings, now time.Time) string {
	changed := "removed it"
	if v, ok := req.Object.Annotations[AnnotationStepAt]; ok {
		changed = fmt.Sprintf("set it to %q", v)
	}
	// A warn-mode namespace is not patched and refuses no rise: there
	// the warning says what enforce mode would do, and no next rise.
	warn := s.Enforcement == EnforcementWarn
	if kept == nil {
		undone := "so it was removed again"
		if warn {
			undone = "which enforce mode would remove again"
		}
		return fmt.Sprintf("metadata.annotations[%s] is set by canary-guard on each step (minStepIntervalSeconds: %d); this update is no step and %s, %s. Leave it out of your manifests.",
			AnnotationStepAt, s.MinStepIntervalSeconds, changed, undone)
	}
	if warn {
		return fmt.Sprintf("metadata.annotations[%s] is canary-guard's record of the last step, which minStepIntervalSeconds (%d) counts from; this update is no step and %s, which enforce mode would undo, keeping it at %s. Leave it out of your manifests.",
			AnnotationStepAt, s.MinStepIntervalSeconds, changed, *kept)
	}
	next := fmt.Sprintf("%d s after that step", s.MinStepIntervalSeconds)
	if at, err := time.Parse(time.RFC3339, *kept); err == nil {
		next = "now"
		if t := at.Add(time.Duration(s.MinStepIntervalSeconds) * time.Second); t.After(now) {
			next = "at or after " + t.UTC().Format(time.RFC3339)
		}
	}
	return fmt.Sprintf("metadata.annotations[%s] is canary-guard's record of the last step, which minStepIntervalSeconds (%d) counts from; this update is no step and %s, so it was kept at %s. Leave it out of your manifests: the next rise is admitted %s.",
		AnnotationStepAt, s.MinStepIntervalSeconds, changed, *kept, next)
}

// annotationPatches adds annotations, creating the map when the object has none.
func annotationPatches(existing map[string]string, add map[string]string) []PatchOp {
	if len(add) == 0 {
		return nil
	}
	if existing == nil {
		return []PatchOp{{Op: "add", Path: "/metadata/annotations", Value: add}}
	}
	keys := make([]string, 0, len(add))
	for k := range add {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]PatchOp, 0, len(keys))
	for _, k := range keys {
		out = append(out, PatchOp{Op: "add", Path: "/metadata/annotations/" + escapePointer(k), Value: add[k]})
	}
	return out
}

// jsonPointer turns "spec.predictor" into "spec/predictor".
func jsonPointer(path string) string {
	out := []byte(path)
	for i := range out {
		if out[i] == '.' {
			out[i] = '/'
		}
	}
	return string(out)
}

// escapePointer escapes a JSON Pointer token (RFC 6901).
func escapePointer(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}

// changeText describes a model change: the two models, or the changed
// fields when the summary (storage URI, image, model argument) is the same, as the
// shipped rules' change_desc does.
func changeText(c *ComponentFacts) string {
	if c.OldModel != c.NewModel {
		return "changes from " + orUnset(c.OldModel) + " to " + orUnset(c.NewModel)
	}
	return "changes (" + strings.Join(c.ChangedFields, ", ") + ")"
}

func orUnset(s string) string {
	if s == "" {
		return "(not set)"
	}
	return s
}

func percentText(p *int64) string {
	if p == nil {
		return "absent"
	}
	return strconv.FormatInt(*p, 10)
}
