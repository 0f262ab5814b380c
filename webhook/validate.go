package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/canary-guard/canary-guard/policy"
)

// Observers are where the handlers report what they decided.
type Observers struct {
	// Log receives operational messages (bad requests).
	Log *slog.Logger
	// Metrics counts decisions and latencies.
	Metrics *Metrics
	// Decisions writes the decision log; nil writes none.
	Decisions *DecisionLog
	// Events records Kubernetes Events; nil records none.
	Events Events
}

func (o *Observers) events() Events {
	if o.Events == nil {
		return NoEvents{}
	}
	return o.Events
}

// Validator answers the validating webhook: it caps percent jumps, lets
// rollbacks through and evaluates the Rego policies.
type Validator struct {
	guard *policy.Guard
	obs   Observers
	http  *reviewHandler
}

// NewValidator returns a validating handler. The guard bounds the
// evaluations that run at once (policy.WithConcurrencyLimit) and how long
// each may take, the wait for a slot included (policy.WithEvalTimeout).
func NewValidator(g *policy.Guard, obs Observers) *Validator {
	v := &Validator{guard: g, obs: obs}
	v.http = newReviewHandler("validate", &v.obs, v.handle)
	return v
}

// ServeHTTP answers AdmissionReviews.
func (v *Validator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.http.ServeHTTP(w, r)
}

// handle decides one admission request.
func (v *Validator) handle(ctx context.Context, req *wireRequest, raw func() (object, oldObject []byte, err error)) *admissionv1.AdmissionResponse {
	r, err := decode(req)
	var skip errSkip
	if errors.As(err, &skip) {
		return allowedResponse()
	}
	if err == nil {
		r.LoadObjects = raw
	}
	if err != nil {
		v.obs.Metrics.decisions.WithLabelValues("validate", "errored", "", req.Namespace).Inc()
		v.obs.Log.Warn("bad admission request", "webhook", "validate", "uid", req.UID, "error", err)
		return errored(err)
	}
	d, err := v.guard.Validate(ctx, r)
	if err != nil {
		v.obs.Metrics.decisions.WithLabelValues("validate", "errored", "", r.Namespace).Inc()
		v.obs.Log.Warn("bad admission request", "webhook", "validate", "uid", req.UID, "error", err)
		return errored(err)
	}
	v.record(ctx, r, d)
	return validationResponse(d)
}

func (v *Validator) record(ctx context.Context, r *policy.Request, d *policy.Decision) {
	enforcement := string(d.Enforcement)
	outcome := "admitted"
	switch {
	case !d.Allowed:
		outcome = "denied"
	case len(d.Denials) > 0 || len(d.Warnings) > 0:
		outcome = "warned"
	}
	v.obs.Metrics.decisions.WithLabelValues("validate", outcome, enforcement, r.Namespace).Inc()
	if d.NoSlot {
		v.obs.Metrics.noSlot.Inc()
	} else if d.EvalDuration > 0 {
		v.obs.Metrics.evalDuration.Observe(d.EvalDuration.Seconds())
	}
	if len(d.BuiltinErrors) > 0 {
		// Not an error of the request: a rule the platform team should
		// fix, which said nothing this time.
		v.obs.Metrics.builtinErrors.Add(float64(len(d.BuiltinErrors)))
		v.obs.Log.Warn("a policy built-in failed; the rule calling it was undefined for this request",
			"namespace", r.Namespace, "name", r.Name, "errors", d.BuiltinErrors)
	}
	// Only ids known at load label the metric: an id built at evaluation
	// could name the object (one series per InferenceService).
	for _, x := range d.Denials {
		v.obs.Metrics.rules.WithLabelValues(d.MetricRuleID(x.Rule), "deny", string(d.EnforcementOf(x))).Inc()
	}
	for _, x := range d.Warnings {
		v.obs.Metrics.rules.WithLabelValues(d.MetricRuleID(x.Rule), "warn", string(d.EnforcementOf(x))).Inc()
	}
	v.obs.Decisions.Validation(ctx, outcome, r, d)
	if r.DryRun {
		return
	}
	switch {
	case d.Reason == "override":
		v.obs.events().Record(r.Object, corev1.EventTypeWarning, ReasonRolloutOverride,
			fmt.Sprintf("%s lifted the rollout rules for this update (%s): %s", r.User.Username, d.Facts.Override.Reason, violationsText(d.Denials)))
	case d.Allowed && strings.HasPrefix(d.Reason, "enforcement:"):
		v.obs.events().Record(r.Object, corev1.EventTypeWarning, ReasonPolicyViolation,
			fmt.Sprintf("admitted in %s mode, would have been denied: %s", strings.TrimPrefix(d.Reason, "enforcement:"), violationsText(d.Denials)))
	}
}

func violationsText(vs []policy.Violation) string {
	out := ""
	for i, v := range vs {
		if i > 0 {
			out += " "
		}
		out += v.String()
	}
	return out
}
