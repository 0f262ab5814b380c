package webhook

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/canary-guard/canary-guard/policy"
)

// Validator answers the validating webhook: it caps percent jumps, lets
// rollbacks through and evaluates the Rego policies.
type Validator struct {
	guard   *policy.Guard
	log     *slog.Logger
	metrics *Metrics
	timeout time.Duration
}

// NewValidator returns a validating handler. timeout bounds policy
// evaluation in addition to the request's own deadline.
func NewValidator(g *policy.Guard, log *slog.Logger, m *Metrics, timeout time.Duration) *Validator {
	return &Validator{guard: g, log: log, metrics: m, timeout: timeout}
}

// Handle decides one admission request.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	defer func() { v.metrics.duration.WithLabelValues("validate").Observe(time.Since(start).Seconds()) }()

	r, err := decode(&req)
	var skip errSkip
	if errors.As(err, &skip) {
		return admission.Allowed("")
	}
	if err != nil {
		v.metrics.decisions.WithLabelValues("validate", "errored", "", req.Namespace).Inc()
		v.log.Warn("bad admission request", "webhook", "validate", "uid", req.UID, "error", err)
		return errored(err)
	}
	if v.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, v.timeout)
		defer cancel()
	}
	d, err := v.guard.Validate(ctx, r)
	if err != nil {
		v.metrics.decisions.WithLabelValues("validate", "errored", "", r.Namespace).Inc()
		v.log.Warn("bad admission request", "webhook", "validate", "uid", req.UID, "error", err)
		return errored(err)
	}
	v.record(r, d)
	return validationResponse(d)
}

func (v *Validator) record(r *policy.Request, d *policy.Decision) {
	enforcement := string(d.Enforcement)
	outcome := "admitted"
	switch {
	case !d.Allowed:
		outcome = "denied"
	case len(d.Denials) > 0 || len(d.Warnings) > 0:
		outcome = "warned"
	}
	v.metrics.decisions.WithLabelValues("validate", outcome, enforcement, r.Namespace).Inc()
	for _, x := range d.Denials {
		v.metrics.rules.WithLabelValues(x.Rule, "deny", enforcement).Inc()
	}
	for _, x := range d.Warnings {
		v.metrics.rules.WithLabelValues(x.Rule, "warn", enforcement).Inc()
	}
	if len(d.Denials) == 0 && len(d.Warnings) == 0 && d.Error == "" {
		return
	}
	v.log.Info("decision",
		"webhook", "validate", "outcome", outcome, "enforcement", enforcement, "reason", d.Reason,
		"user", r.User.Username, "namespace", r.Namespace, "name", r.Name,
		"operation", r.Operation, "dryRun", r.DryRun, "policyRevision", d.PolicyRevision,
		"denials", d.Denials, "warnings", d.Warnings, "error", d.Error)
}
