package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canary-guard/canary-guard/policy"
)

type recordedEvent struct{ name, eventType, reason, message string }

type fakeEvents struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (f *fakeEvents) Record(obj *v1beta1.InferenceService, eventType, reason, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, recordedEvent{obj.Name, eventType, reason, message})
}

// observedHandler serves both webhooks with a config, capturing the
// decision log and the events.
func observedHandler(t *testing.T, config string) (http.Handler, *bytes.Buffer, *fakeEvents) {
	t.Helper()
	g, obs, logs, events, _ := observed(t, config)
	mux := http.NewServeMux()
	mux.Handle(MutatePath, NewMutator(g, obs))
	mux.Handle(ValidatePath, NewValidator(g, obs))
	return mux, logs, events
}

// observed is a guard on the shipped bundle and config, and observers
// that record its logs, events and metrics.
func observed(t *testing.T, config string) (*policy.Guard, Observers, *bytes.Buffer, *fakeEvents, *prometheus.Registry) {
	t.Helper()
	cfg, err := policy.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := policy.Loader{}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := policy.NewGuard(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	events := &fakeEvents{}
	reg := prometheus.NewRegistry()
	return g, Observers{Log: log, Metrics: NewMetrics(reg), Decisions: NewDecisionLog(log, true, 0), Events: events}, &logs, events, reg
}

func decisionLines(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "decision" {
			out = append(out, m)
		}
	}
	return out
}

func TestDecisionLog_DenialIsOneJSONLineWithWhoWhatAndWhy(t *testing.T) {
	h, logs, _ := observedHandler(t, "")
	to100 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":100`, 1)
	post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", to100, isvcV2At10))
	lines := decisionLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("decision lines = %d, want 1:\n%s", len(lines), logs)
	}
	l := lines[0]
	for k, want := range map[string]any{"webhook": "validate", "outcome": "denied", "enforcement": "enforce", "user": "alice", "namespace": "models", "name": "my-model", "operation": "UPDATE", "dryRun": false} {
		if l[k] != want {
			t.Errorf("%s = %v, want %v", k, l[k], want)
		}
	}
	comps, _ := l["components"].([]any)
	if len(comps) != 1 {
		t.Fatalf("components = %v", l["components"])
	}
	c := comps[0].(map[string]any)
	if c["oldPercent"] != float64(10) || c["newPercent"] != float64(100) || c["newModel"] != "gs://models/flowers-2" {
		t.Errorf("component = %v", c)
	}
	if rules, _ := l["rules"].([]any); len(rules) != 1 || rules[0] != "max-step" {
		t.Errorf("rules = %v", l["rules"])
	}
}

func TestDecisionLog_EmptyListsAreListsNotNull(t *testing.T) {
	// A warn-mode mutation patches nothing; a log query reading
	// .patches | length must not meet a null.
	h, logs, _ := observedHandler(t, "enforcement: warn")
	post(t, h, MutatePath, "application/json", review("UPDATE", "InferenceService", isvcV2, isvcV1))
	lines := decisionLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("decision lines = %d, want 1:\n%s", len(lines), logs)
	}
	for _, k := range []string{"injected", "patches", "rules", "warnings"} {
		if _, ok := lines[0][k].([]any); !ok {
			t.Errorf("%s = %v, want a list", k, lines[0][k])
		}
	}
}

func TestDecisionLog_UneventfulAdmissionsAreNotLoggedByDefault(t *testing.T) {
	h, logs, _ := observedHandler(t, "")
	post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", isvcV2Promoted, isvcV2Promoted))
	if lines := decisionLines(t, logs); len(lines) != 0 {
		t.Errorf("no-op update logged: %v", lines)
	}
}

func TestEvents_InjectionAndWarnModeViolationsAreRecordedButNotForDryRun(t *testing.T) {
	h, _, events := observedHandler(t, "namespaces: [{match: models, enforcement: warn}]")
	to100 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":100`, 1)
	post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", to100, isvcV2At10))
	if len(events.events) != 1 || events.events[0].reason != ReasonPolicyViolation || !strings.Contains(events.events[0].message, "max-step") {
		t.Fatalf("events = %+v, want one %s naming max-step", events.events, ReasonPolicyViolation)
	}

	dry := strings.Replace(review("UPDATE", "InferenceService", to100, isvcV2At10), `"operation":"UPDATE"`, `"operation":"UPDATE","dryRun":true`, 1)
	post(t, h, ValidatePath, "application/json", dry)
	if len(events.events) != 1 {
		t.Errorf("a dry run recorded an event: %+v", events.events)
	}

	h, _, events = observedHandler(t, "")
	post(t, h, MutatePath, "application/json", review("UPDATE", "InferenceService", isvcV2, isvcV1))
	if len(events.events) != 1 || events.events[0].reason != ReasonCanaryInjected {
		t.Errorf("events = %+v, want one %s", events.events, ReasonCanaryInjected)
	}
}

// A request refused for want of an evaluation slot (policy.WithConcurrencyLimit)
// is answered TooManyRequests, and counted.
func TestValidate_NoFreeEvaluationSlotIsTooManyRequests(t *testing.T) {
	v := NewValidator(shippedGuard(t), Observers{Log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), Metrics: NewMetrics(prometheus.NewRegistry())})
	d := &policy.Decision{NoSlot: true, Enforcement: policy.EnforcementEnforce,
		Denials: []policy.Violation{{Rule: "policy-error", Msg: "the policy could not be evaluated in time"}}}
	resp := validationResponse(d)
	if resp.Allowed || resp.Result.Code != http.StatusTooManyRequests || resp.Result.Reason != metav1.StatusReasonTooManyRequests {
		t.Errorf("answer = %+v, want a 429 denial", resp.Result)
	}
	v.record(context.Background(), &policy.Request{Namespace: "models"}, d)
	if got := testutil.ToFloat64(v.obs.Metrics.noSlot); got != 1 {
		t.Errorf("canary_guard_evaluation_slot_timeouts_total = %v, want 1", got)
	}
	d.NoSlot = false
	if resp := validationResponse(d); resp.Result.Code != http.StatusForbidden {
		t.Errorf("a policy error with a slot answered %d, want 403", resp.Result.Code)
	}
}

func TestMetrics_UnreadableRequestsAreCountedAndTimed(t *testing.T) {
	var logs bytes.Buffer
	metrics := NewMetrics(prometheus.NewRegistry())
	v := NewValidator(shippedGuard(t), Observers{Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: metrics})

	post(t, v, ValidatePath, "application/json", `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {`)
	post(t, v, ValidatePath, "text/plain", review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10))
	rec := httptest.NewRecorder()
	v.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ValidatePath, nil))
	post(t, v, ValidatePath, "application/json", review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10))

	if got := testutil.ToFloat64(metrics.decisions.WithLabelValues("validate", "errored", "", "")); got != 3 {
		t.Errorf("errored decisions = %v, want 3 (truncated JSON, wrong content type, GET)", got)
	}
	if got := testutil.CollectAndCount(metrics.duration); got != 1 {
		t.Fatalf("duration series = %d, want 1", got)
	}
	if n := histogramCount(t, metrics.duration.WithLabelValues("validate")); n != 4 {
		t.Errorf("durations observed = %d, want 4, one per request answered", n)
	}
	if got := strings.Count(logs.String(), `"msg":"bad admission request"`); got != 3 {
		t.Errorf("bad admission request logged %d times, want 3:\n%s", got, logs.String())
	}
}

func TestMetrics_APanicIsAnsweredCountedAndLogged(t *testing.T) {
	var logs bytes.Buffer
	obs := &Observers{Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: NewMetrics(prometheus.NewRegistry())}
	h := newReviewHandler("validate", obs, func(context.Context, *wireRequest, func() ([]byte, []byte, error)) *admissionv1.AdmissionResponse {
		panic("a bug")
	})
	resp := post(t, h, ValidatePath, "application/json", review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10))
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusInternalServerError {
		t.Errorf("response %+v, want a 500 that admits nothing", resp)
	}
	if resp.UID == "" {
		t.Error("the answer lacks the review's uid")
	}
	if got := testutil.ToFloat64(obs.Metrics.decisions.WithLabelValues("validate", "errored", "", "")); got != 1 {
		t.Errorf("errored decisions = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "panic answering an admission request") {
		t.Errorf("the panic was not logged:\n%s", logs.String())
	}
}

// The mutating webhook fails open, as its failure policy Ignore does: a
// rollback that reaches it to have its step stamp put back must not be
// refused for a fault of canary-guard's.
func TestMetrics_APanicInTheMutatingWebhookAdmitsUnpatched(t *testing.T) {
	var logs bytes.Buffer
	obs := &Observers{Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: NewMetrics(prometheus.NewRegistry())}
	h := newReviewHandler("mutate", obs, func(context.Context, *wireRequest, func() ([]byte, []byte, error)) *admissionv1.AdmissionResponse {
		panic("a bug")
	})
	h.failOpen = true
	resp := post(t, h, MutatePath, "application/json", review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10))
	if !resp.Allowed || resp.Patch != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "none were made") {
		t.Errorf("response %+v, want an admission without a patch and with a warning", resp)
	}
	// --mutation-fails-closed, as failurePolicy Fail: the fault refuses.
	h.failOpen = false
	if closed := post(t, h, MutatePath, "application/json", review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10)); closed.Allowed ||
		closed.Result == nil || closed.Result.Code != http.StatusInternalServerError {
		t.Errorf("failing closed: response %+v, want a 500 that admits nothing", closed)
	}
	if resp.UID == "" {
		t.Error("the answer lacks the review's uid")
	}
	if got := testutil.ToFloat64(obs.Metrics.decisions.WithLabelValues("mutate", "errored", "", "")); got != 2 {
		t.Errorf("errored decisions = %v, want 2", got)
	}
}

func histogramCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestMetrics_OnlyRuleIDsKnownAtLoadLabelRuleResults: an id built at
// evaluation may name the object, and every label value is a series.
func TestMetrics_OnlyRuleIDsKnownAtLoadLabelRuleResults(t *testing.T) {
	tests := []struct {
		name, head, body, want string
	}{
		{name: "a constant id of a custom rule", head: `"team-freeze"`, want: "team-freeze"},
		{name: "an id built from the object's name", head: `sprintf("team-%s", [input.request.name])`, want: "custom"},
		{name: "an id built from a component", head: `sprintf("team-model-%s", [c.newModel])`, body: "some c in input.rollout.components", want: "custom"},
		{name: "an id set in the body", head: "id", body: `id := "team-body"`, want: "custom"},
		{name: "an id known at load, set in the body", head: "id", body: `id := "max-step"`, want: "max-step"},
	}
	to100 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":100`, 1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			shipped, err := policy.ShippedSources()
			if err != nil {
				t.Fatal(err)
			}
			rule := "package canary_guard\n\nwarn contains {\"rule\": " + tc.head + ", \"msg\": \"x\"} if {\n\tinput.rollout.raised == true\n\t" + tc.body + "\n}\n"
			p, err := policy.Compile(context.Background(), append(shipped, policy.Source{Name: "team.rego", Content: []byte(rule)}))
			if err != nil {
				t.Fatal(err)
			}
			g, err := policy.NewGuard(p, policy.DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			obs := Observers{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(reg)}
			post(t, NewValidator(g, obs), ValidatePath, "application/json", review("UPDATE", "InferenceService", to100, isvcV2At10))

			got := map[string]float64{}
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range families {
				if f.GetName() != "canary_guard_rule_results_total" {
					continue
				}
				for _, m := range f.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "rule" {
							got[l.GetValue()+"/"+resultLabel(m)] += m.GetCounter().GetValue()
						}
					}
				}
			}
			want := map[string]float64{"max-step/deny": 1, tc.want + "/warn": 1}
			if len(got) != len(want) || got["max-step/deny"] != 1 || got[tc.want+"/warn"] != 1 {
				t.Errorf("rule results %v, want %v", got, want)
			}
		})
	}
}

func resultLabel(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "result" {
			return l.GetValue()
		}
	}
	return ""
}

func TestRuleEnforcement_ARelaxedRuleIsLoggedCountedAndRecordedUnderItsOwnMode(t *testing.T) {
	tests := []struct {
		mode       string
		wantShown  bool
		wantCounts string
	}{
		{mode: "audit", wantCounts: "max-step/deny/audit=1 "},
		// The warning it is returned as is counted under the same mode.
		{mode: "warn", wantShown: true, wantCounts: "max-step/deny/warn=1 max-step/warn/warn=1 "},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			g, obs, logs, events, reg := observed(t, "ruleEnforcement: {max-step: "+tt.mode+"}")

			to100 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":100`, 1)
			resp := post(t, NewValidator(g, obs), ValidatePath, "application/json", review("UPDATE", "InferenceService", to100, isvcV2At10))
			shown := slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.Contains(w, "[max-step] (warn mode, not enforced)") })
			if !resp.Allowed || shown != tt.wantShown {
				t.Fatalf("allowed=%v warnings %q; want the jump admitted, the denial shown as a warning: %v", resp.Allowed, resp.Warnings, tt.wantShown)
			}

			lines := decisionLines(t, logs)
			if len(lines) != 1 {
				t.Fatalf("decision lines = %d, want 1:\n%s", len(lines), logs.String())
			}
			denials, _ := lines[0]["denials"].([]any)
			if len(denials) != 1 || denials[0].(map[string]any)["rule"] != "max-step" || denials[0].(map[string]any)["enforcement"] != tt.mode ||
				lines[0]["enforcement"] != "enforce" || lines[0]["reason"] != "enforcement:"+tt.mode {
				t.Errorf("decision log %v; want the max-step denial marked %s in an enforce namespace, admitted as enforcement:%s", lines[0], tt.mode, tt.mode)
			}

			if len(events.events) != 1 || events.events[0].reason != ReasonPolicyViolation || !strings.Contains(events.events[0].message, "admitted in "+tt.mode+" mode") {
				t.Errorf("events = %+v, want one %s saying it was admitted in %s mode", events.events, ReasonPolicyViolation, tt.mode)
			}

			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var counted string
			for _, f := range families {
				if f.GetName() != "canary_guard_rule_results_total" {
					continue
				}
				for _, m := range f.GetMetric() {
					labels := map[string]string{}
					for _, l := range m.GetLabel() {
						labels[l.GetName()] = l.GetValue()
					}
					counted += fmt.Sprintf("%s/%s/%s=%v ", labels["rule"], labels["result"], labels["enforcement"], m.GetCounter().GetValue())
				}
			}
			if counted != tt.wantCounts {
				t.Errorf("rule results %q, want %q: each result counted under its rule's own mode", counted, tt.wantCounts)
			}
		})
	}
}
