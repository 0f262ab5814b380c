package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/canary-guard/canary-guard/policy"
)

// Mutator answers the mutating webhook: on a model change it injects the
// initial canary percent and the tag-routing annotation.
type Mutator struct {
	guard *policy.Guard
	obs   Observers
	http  *reviewHandler
}

// NewMutator returns a mutating handler. It answers its own faults by
// admitting the update unpatched, as failurePolicy Ignore would.
func NewMutator(g *policy.Guard, obs Observers) *Mutator {
	m := &Mutator{guard: g, obs: obs}
	m.http = newReviewHandler("mutate", &m.obs, m.handle)
	m.http.failOpen = true
	return m
}

// setFailsClosed makes the mutator answer its own faults with an error,
// which refuses the update, as failurePolicy Fail would.
func (h *Mutator) setFailsClosed(closed bool) {
	h.http.failOpen = !closed
}

// ServeHTTP answers AdmissionReviews.
func (h *Mutator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.http.ServeHTTP(w, r)
}

// handle answers one admission request with the patches to apply.
func (h *Mutator) handle(ctx context.Context, req *wireRequest, raw func() (object, oldObject []byte, err error)) *admissionv1.AdmissionResponse {
	r, err := decode(req)
	var skip errSkip
	if errors.As(err, &skip) {
		return allowedResponse()
	}
	if err == nil {
		// The managed fields, which decode leaves out, are read from the
		// raw object when a percent an apply may declare is at stake.
		r.LoadObjects = raw
	}
	if err != nil {
		h.obs.Metrics.decisions.WithLabelValues("mutate", "errored", "", req.Namespace).Inc()
		h.obs.Log.Warn("bad admission request", "webhook", "mutate", "uid", req.UID, "error", err)
		return errored(err)
	}
	m, err := h.guard.Mutate(ctx, r)
	if err != nil {
		h.obs.Metrics.decisions.WithLabelValues("mutate", "errored", "", r.Namespace).Inc()
		h.obs.Log.Error("mutation failed", "webhook", "mutate", "uid", req.UID, "admitted unpatched", h.http.failOpen, "error", err)
		if !h.http.failOpen {
			return erroredResponse(http.StatusInternalServerError, fmt.Errorf("canary-guard: could not work out its changes to this update: %w", err))
		}
		// Admitted unpatched, as the failure policy Ignore would: the
		// validating webhook decides the update, except a rollback, which
		// it never sees and which must not be refused for canary-guard's
		// sake.
		return admittedUnpatched(err.Error())
	}
	outcome := "admitted"
	if len(m.Patches) > 0 {
		outcome = "mutated"
	} else if len(m.Warnings) > 0 {
		outcome = "warned"
	}
	h.obs.Metrics.decisions.WithLabelValues("mutate", outcome, string(m.Enforcement), r.Namespace).Inc()
	h.obs.Decisions.Mutation(ctx, outcome, r, m)
	if len(m.Injected) > 0 && !r.DryRun {
		h.obs.events().Record(r.Object, corev1.EventTypeNormal, ReasonCanaryInjected, violationsText(m.Warnings))
	}
	return mutationResponse(m)
}
