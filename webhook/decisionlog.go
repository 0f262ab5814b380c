package webhook

import (
	"context"
	"log/slog"
	"math/rand/v2"

	"github.com/canary-guard/canary-guard/policy"
)

// DecisionLog writes one structured JSON line per denial, warning,
// injection and override: who asked what, the model and percent of each
// component before and after, the rules that fired and the enforcement.
type DecisionLog struct {
	log *slog.Logger
	// off turns decision logs off entirely.
	off bool
	// noopSample is the fraction of admitted updates with nothing to
	// report that are logged too (0 logs none, 1 all).
	noopSample float64
}

// NewDecisionLog returns a decision log writing to log. noopSample is the
// fraction of admitted, uneventful decisions that are logged as well.
func NewDecisionLog(log *slog.Logger, enabled bool, noopSample float64) *DecisionLog {
	return &DecisionLog{log: log, off: !enabled, noopSample: noopSample}
}

// componentRecord is one component's change, as logged.
type componentRecord struct {
	ID         string `json:"id"`
	OldModel   string `json:"oldModel,omitempty"`
	NewModel   string `json:"newModel,omitempty"`
	OldPercent *int64 `json:"oldPercent"`
	NewPercent *int64 `json:"newPercent"`
}

func components(f *policy.Facts) []componentRecord {
	if f == nil {
		return nil
	}
	out := make([]componentRecord, len(f.Components))
	for i, c := range f.Components {
		out[i] = componentRecord{ID: c.ID, OldModel: c.OldModel, NewModel: c.NewModel, OldPercent: c.OldPercent, NewPercent: c.NewPercent}
	}
	return out
}

func ruleIDs(vs ...[]policy.Violation) []string {
	var out []string
	for _, list := range vs {
		for _, v := range list {
			out = append(out, v.Rule)
		}
	}
	return out
}

func (l *DecisionLog) sampled(eventful bool) bool {
	if l == nil || l.off {
		return false
	}
	return eventful || (l.noopSample > 0 && rand.Float64() < l.noopSample) //nolint:gosec // sampling, not security
}

// Validation logs a validating decision.
func (l *DecisionLog) Validation(ctx context.Context, outcome string, r *policy.Request, d *policy.Decision) {
	if !l.sampled(len(d.Denials) > 0 || len(d.Warnings) > 0 || d.Error != "" || d.Reason == "override") {
		return
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "decision",
		slog.String("webhook", "validate"),
		slog.String("outcome", outcome),
		slog.String("enforcement", string(d.Enforcement)),
		slog.String("reason", d.Reason),
		slog.String("user", r.User.Username),
		slog.String("namespace", r.Namespace),
		slog.String("name", r.Name),
		slog.String("operation", r.Operation),
		slog.Bool("dryRun", r.DryRun),
		slog.String("policyRevision", d.PolicyRevision),
		slog.Any("rules", list(ruleIDs(d.Denials, d.Warnings))),
		slog.Any("denials", list(d.Denials)),
		slog.Any("warnings", list(d.Warnings)),
		slog.Any("components", components(d.Facts)),
		slog.String("error", d.Error),
	)
}

// Mutation logs a mutating decision.
func (l *DecisionLog) Mutation(ctx context.Context, outcome string, r *policy.Request, m *policy.Mutation) {
	if !l.sampled(len(m.Patches) > 0 || len(m.Warnings) > 0) {
		return
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "decision",
		slog.String("webhook", "mutate"),
		slog.String("outcome", outcome),
		slog.String("reason", m.Reason),
		slog.String("user", r.User.Username),
		slog.String("namespace", r.Namespace),
		slog.String("name", r.Name),
		slog.String("operation", r.Operation),
		slog.Bool("dryRun", r.DryRun),
		slog.Any("injected", list(m.Injected)),
		slog.Any("patches", list(m.Patches)),
		slog.Any("rules", list(ruleIDs(m.Warnings))),
		slog.Any("warnings", list(m.Warnings)),
		slog.Any("components", components(m.Facts)),
	)
}

// list keeps an empty list a list in the log ([], not null), so that log
// queries need not tell the two apart.
func list[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
