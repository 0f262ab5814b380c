package webhook

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/canary-guard/canary-guard/policy"
)

// Mutator answers the mutating webhook: on a model change it injects the
// initial canary percent and the tag-routing annotation.
type Mutator struct {
	guard   *policy.Guard
	log     *slog.Logger
	metrics *Metrics
}

// NewMutator returns a mutating handler.
func NewMutator(g *policy.Guard, log *slog.Logger, m *Metrics) *Mutator {
	return &Mutator{guard: g, log: log, metrics: m}
}

// Handle answers one admission request with the patches to apply.
func (h *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	defer func() { h.metrics.duration.WithLabelValues("mutate").Observe(time.Since(start).Seconds()) }()

	r, err := decode(&req)
	var skip errSkip
	if errors.As(err, &skip) {
		return admission.Allowed("")
	}
	if err != nil {
		h.metrics.decisions.WithLabelValues("mutate", "errored", "", req.Namespace).Inc()
		h.log.Warn("bad admission request", "webhook", "mutate", "uid", req.UID, "error", err)
		return errored(err)
	}
	m, err := h.guard.Mutate(ctx, r)
	if err != nil {
		h.metrics.decisions.WithLabelValues("mutate", "errored", "", r.Namespace).Inc()
		h.log.Warn("bad admission request", "webhook", "mutate", "uid", req.UID, "error", err)
		return errored(err)
	}
	outcome := "admitted"
	if len(m.Patches) > 0 {
		outcome = "mutated"
		h.log.Info("decision",
			"webhook", "mutate", "outcome", outcome, "injected", m.Injected,
			"user", r.User.Username, "namespace", r.Namespace, "name", r.Name,
			"operation", r.Operation, "dryRun", r.DryRun, "patches", m.Patches)
	} else if len(m.Warnings) > 0 {
		outcome = "warned"
	}
	h.metrics.decisions.WithLabelValues("mutate", outcome, "", r.Namespace).Inc()
	return mutationResponse(m)
}
