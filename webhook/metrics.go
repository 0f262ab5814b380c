package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are canary-guard's Prometheus metrics. Labels never carry
// object names, so their cardinality stays bounded.
type Metrics struct {
	decisions      *prometheus.CounterVec
	rules          *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	evalDuration   prometheus.Histogram
	certExpiry     prometheus.Gauge
	reloads        *prometheus.CounterVec
	policyInfo     *prometheus.GaugeVec
	lastReloadGood *prometheus.GaugeVec
	builtinErrors  prometheus.Counter
	noSlot         prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canary_guard_admission_decisions_total",
			Help: "Admission decisions by webhook (mutate, validate), outcome (admitted, denied, warned, mutated, errored), enforcement and namespace.",
		}, []string{"webhook", "outcome", "enforcement", "namespace"}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canary_guard_rule_results_total",
			Help: "Rule results by rule id, result (deny, warn) and enforcement, before enforcement is applied.",
		}, []string{"rule", "result", "enforcement"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "canary_guard_admission_duration_seconds",
			Help:    "Time to answer an admission request, by webhook.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"webhook"}),
		evalDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "canary_guard_policy_evaluation_duration_seconds",
			Help:    "Time to compute the rollout facts and evaluate the policies for one validating request.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}),
		certExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "canary_guard_certificate_expiry_timestamp_seconds",
			Help: "When the serving certificate in use expires (Unix time).",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canary_guard_reloads_total",
			Help: "Policy and configuration reloads by result (success, failure).",
		}, []string{"result"}),
		policyInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "canary_guard_policy_info",
			Help: "The policy and configuration in use: revision is a hash of the Rego sources, config of the configuration file (\"default\" without one); the value is always 1.",
		}, []string{"revision", "config"}),
		lastReloadGood: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "canary_guard_last_reload_successful",
			Help: "1 when the last reload attempt succeeded, 0 when the webhook serves an older policy or configuration.",
		}, nil),
		builtinErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "canary_guard_policy_builtin_errors_total",
			Help: "Built-in calls that failed during policy evaluation (division by zero, a number that does not parse, ...); each left its rule undefined.",
		}),
		noSlot: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "canary_guard_evaluation_slot_timeouts_total",
			Help: "Validating requests not evaluated because every evaluation slot (--max-concurrent-evaluations) stayed busy until their deadline; each was decided as a [policy-error].",
		}),
	}
	reg.MustRegister(m.decisions, m.rules, m.duration, m.evalDuration, m.certExpiry, m.reloads, m.policyInfo, m.lastReloadGood, m.builtinErrors, m.noSlot)
	return m
}

// ReloadSucceeded records a successful (re)load of the given policy and
// configuration revisions.
func (m *Metrics) ReloadSucceeded(revision, config string) {
	m.reloads.WithLabelValues("success").Inc()
	m.InUse(revision, config)
	m.lastReloadGood.WithLabelValues().Set(1)
}

// LastReload records whether the last reload applied everything.
func (m *Metrics) LastReload(ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.lastReloadGood.WithLabelValues().Set(v)
}

// InUse records the policy and configuration revisions being served.
func (m *Metrics) InUse(revision, config string) {
	m.policyInfo.Reset()
	m.policyInfo.WithLabelValues(revision, config).Set(1)
}

// ReloadFailed records a failed reload; the previous policy stays in use.
func (m *Metrics) ReloadFailed() {
	m.reloads.WithLabelValues("failure").Inc()
	m.lastReloadGood.WithLabelValues().Set(0)
}

// CertificateLoaded records the expiry of the serving certificate in use.
func (m *Metrics) CertificateLoaded(notAfter time.Time) {
	m.certExpiry.Set(float64(notAfter.Unix()))
}
