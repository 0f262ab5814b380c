package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Tests of the rollout facts of a request: percents, readiness, mode,
// Standard-mode canary entries, always-admit, override and step facts.

// percentLine renders canaryTrafficPercent; "" leaves the field absent.
func percentLine(p string) string {
	if p == "" {
		return ""
	}
	return "canaryTrafficPercent: " + p
}

func ptrText(p *int64) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprint(*p)
}

func TestFacts_PercentsAbsentIsNotZero(t *testing.T) {
	tests := []struct {
		old, new         string // "" = absent
		wantOldEff       int64
		wantNewEff       int64
		wantChanged      bool
		wantInProgress   bool
		wantRaised       bool
		wantAlwaysAdmit  bool
		wantAdmitReason  string
		wantNewPercentIs string
	}{
		{"", "", 100, 100, false, false, false, true, "no revision change", "absent"},
		{"", "0", 100, 0, true, false, false, true, "rollback", "0"},
		{"0", "", 0, 100, true, false, true, false, "", "absent"},
		{"", "100", 100, 100, true, false, false, true, "no revision change", "100"},
		{"100", "10", 100, 10, true, false, false, true, "lowered", "10"},
		{"0", "10", 0, 10, true, false, true, false, "", "10"},
		{"10", "30", 10, 30, true, true, true, false, "", "30"},
		{"30", "30", 30, 30, false, true, false, true, "no revision change", "30"},
		{"1", "1", 1, 1, false, true, false, true, "no revision change", "1"},
		{"99", "100", 99, 100, true, true, true, false, "", "100"},
		{"50", "", 50, 100, true, true, true, false, "", "absent"},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s->%s", cmpOr(tt.old, "absent"), cmpOr(tt.new, "absent"))
		t.Run(name, func(t *testing.T) {
			f := updateFacts(t,
				predictorManifest(sklearnV1, percentLine(tt.old)),
				predictorManifest(sklearnV1, percentLine(tt.new)))
			p := componentByID(t, f, KindPredictor)
			if p.OldEffectivePercent != tt.wantOldEff || p.NewEffectivePercent != tt.wantNewEff {
				t.Errorf("effective %d->%d, want %d->%d", p.OldEffectivePercent, p.NewEffectivePercent, tt.wantOldEff, tt.wantNewEff)
			}
			if got := ptrText(p.NewPercent); got != tt.wantNewPercentIs {
				t.Errorf("newPercent = %s, want %s", got, tt.wantNewPercentIs)
			}
			if got := ptrText(p.OldPercent); got != cmpOr(tt.old, "absent") {
				t.Errorf("oldPercent = %s, want %s", got, cmpOr(tt.old, "absent"))
			}
			if p.PercentChanged != tt.wantChanged {
				t.Errorf("percentChanged = %v, want %v", p.PercentChanged, tt.wantChanged)
			}
			if p.CanaryInProgress != tt.wantInProgress {
				t.Errorf("canaryInProgress = %v, want %v", p.CanaryInProgress, tt.wantInProgress)
			}
			if p.Raised() != tt.wantRaised {
				t.Errorf("raised = %v, want %v", p.Raised(), tt.wantRaised)
			}
			if f.AlwaysAdmit != tt.wantAlwaysAdmit || f.AlwaysAdmitReason != tt.wantAdmitReason {
				t.Errorf("alwaysAdmit = %v (%q), want %v (%q)", f.AlwaysAdmit, f.AlwaysAdmitReason, tt.wantAlwaysAdmit, tt.wantAdmitReason)
			}
			if p.RevisionChanged || p.ModelChanged {
				t.Errorf("a percent alone made revisionChanged=%v modelChanged=%v", p.RevisionChanged, p.ModelChanged)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestFacts_PercentsPerComponentAreIndependent(t *testing.T) {
	manifest := func(pred, trans string) string {
		return fmt.Sprintf(`
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"}
    %s
  transformer:
    containers: [{name: kserve-container, image: "registry.example/transformer:1"}]
    %s
`, percentLine(pred), percentLine(trans))
	}
	f := updateFacts(t, manifest("50", "10"), manifest("50", "30"))
	p, tr := componentByID(t, f, KindPredictor), componentByID(t, f, KindTransformer)
	if p.PercentChanged || p.OldEffectivePercent != 50 || p.NewEffectivePercent != 50 {
		t.Errorf("predictor: percentChanged=%v effective %d->%d, want unchanged 50", p.PercentChanged, p.OldEffectivePercent, p.NewEffectivePercent)
	}
	if !tr.PercentChanged || tr.OldEffectivePercent != 10 || tr.NewEffectivePercent != 30 || !tr.Raised() {
		t.Errorf("transformer: percentChanged=%v effective %d->%d, want a rise 10->30", tr.PercentChanged, tr.OldEffectivePercent, tr.NewEffectivePercent)
	}
	if !p.CanaryInProgress || !tr.CanaryInProgress {
		t.Errorf("canaryInProgress predictor=%v transformer=%v, want both", p.CanaryInProgress, tr.CanaryInProgress)
	}
	if f.AlwaysAdmit {
		t.Errorf("a rise of the transformer is always admitted (%s)", f.AlwaysAdmitReason)
	}
}

// Removing a transformer moves every request off it at once: not a
// rollback, and not an update without a new revision, even beside one.
func TestFacts_RemovingATransformerIsNeverAlwaysAdmitted(t *testing.T) {
	manifest := func(pred string, transformer bool) string {
		m := fmt.Sprintf(`
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"}
    %s
`, percentLine(pred))
		if transformer {
			m += "  transformer:\n    containers: [{name: kserve-container, image: \"registry.example/transformer:1\"}]\n"
		}
		return m
	}
	for _, tt := range []struct{ name, oldPct, newPct string }{
		{"alone", "", ""},
		{"beside a rollback", "35", "0"},
	} {
		f := updateFacts(t, manifest(tt.oldPct, true), manifest(tt.newPct, false))
		if f.AlwaysAdmit {
			t.Errorf("%s: removing the transformer is always admitted (%s)", tt.name, f.AlwaysAdmitReason)
		}
	}
}

const statusManifest = `
metadata: {name: my-model, namespace: models, generation: %d%s}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}
    canaryTrafficPercent: 10
status:
  observedGeneration: %d
  components:
    predictor:
      latestRolledoutRevision: my-model-predictor-00001
      previousRolledoutRevision: my-model-predictor-00000
      latestReadyRevision: %s
      latestCreatedRevision: my-model-predictor-00002
`

// An InferenceService created with canaryTrafficPercent: KServe's prev
// target is latestRolledoutRevision, the one revision there is, so the
// route splits it with itself and no canary runs.
const selfSplitManifest = `
metadata: {name: my-model, namespace: models, generation: %d%s}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/%s"}
    %s
status:
  components:
    predictor:
      latestCreatedRevision: my-model-predictor-00001
      latestReadyRevision: my-model-predictor-00001
      latestRolledoutRevision: my-model-predictor-00001
      traffic: %s
`

func TestFacts_APercentSplittingOneRevisionWithItselfRunsNoCanary(t *testing.T) {
	const (
		selfSplit = `[{latestRevision: true, revisionName: my-model-predictor-00001, percent: 10, tag: latest},
        {latestRevision: false, revisionName: my-model-predictor-00001, percent: 90, tag: prev}]`
		oneTarget = `[{latestRevision: true, revisionName: my-model-predictor-00001, percent: 100}]`
		twoRevs   = `[{latestRevision: true, revisionName: my-model-predictor-00001, percent: 10, tag: latest},
        {latestRevision: false, revisionName: my-model-predictor-00000, percent: 90, tag: prev}]`
		otherPct = `[{latestRevision: true, revisionName: my-model-predictor-00001, percent: 30, tag: latest},
        {latestRevision: false, revisionName: my-model-predictor-00001, percent: 70, tag: prev}]`
	)
	tests := []struct {
		name                 string
		traffic              string
		newModel, newPercent string
		newAnnotations       string
		wantOldEff           int64
		wantNewEff           int64
		wantInProgress       bool
		wantAdmit            string // the always-admit reason, "" for none
		specChanged          bool   // the old object's generation is 2, not 1
	}{
		{"promoted by removing the percent", selfSplit, "v1", "", "", 100, 100, false, "no revision change", false},
		{"raised to 100", selfSplit, "v1", "canaryTrafficPercent: 100", "", 100, 100, false, "no revision change", false},
		{"raised to 35", selfSplit, "v1", "canaryTrafficPercent: 35", "", 100, 100, false, "no revision change", false},
		{"set to 0", selfSplit, "v1", "canaryTrafficPercent: 0", "", 100, 100, false, "rollback", false},
		// A new revision takes the percent against the one there was.
		{"a new model at 10", selfSplit, "v2", "canaryTrafficPercent: 10", "", 100, 10, false, "", false},
		{"a new revision without a new model", selfSplit, "v1", "canaryTrafficPercent: 35",
			", annotations: {team: a}", 100, 35, false, "lowered", false},
		// Without the status showing the split, the percent is taken as it
		// says: the status may predate a model change.
		{"status shows one target at 100 %", oneTarget, "v1", "canaryTrafficPercent: 100", "", 10, 100, true, "", false},
		{"status splits two revisions", twoRevs, "v1", "canaryTrafficPercent: 100", "", 10, 100, true, "", false},
		{"status split at another percent", otherPct, "v1", "canaryTrafficPercent: 100", "", 10, 100, true, "", false},
		// After a spec change (generation 2) the status may not show it
		// yet: a model changed at the same percent splits two revisions
		// once reconciled.
		{"the spec changed since its creation", selfSplit, "v1", "", "", 10, 100, true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			generation := 1
			if tt.specChanged {
				generation = 2
			}
			old := fmt.Sprintf(selfSplitManifest, generation, "", "v1", "canaryTrafficPercent: 10", tt.traffic)
			f := updateFacts(t, old, fmt.Sprintf(selfSplitManifest, generation, tt.newAnnotations, tt.newModel, tt.newPercent, "[]"))
			p := componentByID(t, f, KindPredictor)
			if p.OldEffectivePercent != tt.wantOldEff || p.NewEffectivePercent != tt.wantNewEff {
				t.Errorf("effective %d->%d, want %d->%d", p.OldEffectivePercent, p.NewEffectivePercent, tt.wantOldEff, tt.wantNewEff)
			}
			if p.CanaryInProgress != tt.wantInProgress {
				t.Errorf("canaryInProgress = %v, want %v", p.CanaryInProgress, tt.wantInProgress)
			}
			if f.AlwaysAdmitReason != tt.wantAdmit {
				t.Errorf("always admitted: %q, want %q", f.AlwaysAdmitReason, tt.wantAdmit)
			}
			// Whatever the generation: max-step's denial says so where the
			// cap still holds.
			if want := tt.traffic == selfSplit; p.SplitsWithItself != want {
				t.Errorf("splitsWithItself = %v, want %v", p.SplitsWithItself, want)
			}
		})
	}
}

// KServe deletes a stopped component's Knative Service when it reconciles
// the stop, and clears the status then; a stop it has not reconciled
// leaves the service serving.
func TestFacts_ServiceStoppedOnlyWhereKServeActedOnTheStop(t *testing.T) {
	const (
		cleared   = "status: {deploymentMode: Knative}\n"
		revisions = "status:\n  deploymentMode: Knative\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00001, latestReadyRevision: my-model-predictor-00001, latestRolledoutRevision: my-model-predictor-00001}\n"
		stop      = `annotations: {serving.kserve.io/stop: "true"}`
	)
	tests := []struct {
		name               string
		oldMeta, oldStatus string
		newMeta            string
		want               bool
		predictorStopped   bool // the old predictor's own annotation stops it
	}{
		{"resumed after a reconciled stop", stop, cleared, "", true, false},
		// A stop on the component alone keeps the rolled-out revision in
		// the status; KServe clears the latest created and ready ones.
		{"resumed after a reconciled stop of the predictor alone", "",
			"status:\n  deploymentMode: Knative\n  components:\n    predictor: {latestRolledoutRevision: my-model-predictor-00001}\n", "", true, true},
		{"resumed before KServe reconciled the stop of the predictor alone", "", revisions, "", false, true},
		{"resumed before KServe reconciled the stop", stop, revisions, "", false, false},
		{"resumed with no status to tell", stop, "", "", false, false},
		{"stopped by the update", "", revisions, stop, true, false},
		{"stopped throughout", stop, revisions, stop, true, false},
		{"running", "", revisions, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := []string{sklearnV1, "canaryTrafficPercent: 10"}
			if tt.predictorStopped {
				lines = append(lines, `annotations: {serving.kserve.io/stop: "true"}`)
			}
			old := manifestWithMeta(tt.oldMeta, lines...) + tt.oldStatus
			p := componentByID(t, updateFacts(t, old, manifestWithMeta(tt.newMeta, sklearnV1)), KindPredictor)
			if p.ServiceStopped != tt.want {
				t.Errorf("serviceStopped = %v, want %v", p.ServiceStopped, tt.want)
			}
			// A service KServe deleted runs no canary, and on resume
			// removing the percent moves no traffic between models.
			if gone := tt.want && tt.oldStatus != revisions; gone && (p.CanaryInProgress || p.OldEffectivePercent != 100 || p.NewEffectivePercent != 100) {
				t.Errorf("canary in progress %v, effective %d -> %d; want none, 100 -> 100", p.CanaryInProgress, p.OldEffectivePercent, p.NewEffectivePercent)
			}
		})
	}
}

// KServe splits traffic only with a rolled-out revision: before the first
// rollout of an InferenceService as created, no canary runs, whatever the
// percent, and a percent change moves no traffic. A new model still enters
// at its percent: the first revision may be rolled out first. Past
// generation 1, or with an older revision ready, a revision other than the
// latest may be rolled out and split with it: the percents count as usual.
func TestFacts_NoCanaryRunsBeforeTheFirstRollout(t *testing.T) {
	const (
		created = "status:\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00001}\n"
		ready   = "status:\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00001, latestReadyRevision: my-model-predictor-00001}\n"
		// The first revision ready, the route not yet at 100 % in the
		// status, and a second one created: the first is rolled out next.
		olderReady = "status:\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00002, latestReadyRevision: my-model-predictor-00001}\n"
		rolled     = "status:\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00002, latestReadyRevision: my-model-predictor-00001, latestRolledoutRevision: my-model-predictor-00001}\n"
		// A stop of the InferenceService clears the status but the mode.
		cleared = "status: {deploymentMode: Serverless}\n"
	)
	sklearnV2 := strings.Replace(sklearnV1, "v1", "v2", 1)
	tests := []struct {
		name                string
		generation          int
		oldStatus           string
		newModel            string
		newPercent          string
		firstRolloutPending bool
		oldEffective        int64
		newEffective        int64
		canaryRunning       bool
	}{
		{"first revision not ready, percent raised", 1, created, sklearnV1, "canaryTrafficPercent: 35", true, 100, 100, false},
		{"first revision not ready, percent removed", 1, created, sklearnV1, "", true, 100, 100, false},
		{"first revision ready, not yet rolled out", 1, ready, sklearnV1, "canaryTrafficPercent: 35", true, 100, 100, false},
		{"first revision not ready, new model", 1, created, sklearnV2, "canaryTrafficPercent: 10", true, 100, 10, false},
		{"an older revision ready, to be rolled out first", 1, olderReady, sklearnV1, "", false, 10, 100, true},
		{"past generation 1: the status may predate the spec", 2, created, sklearnV1, "", false, 10, 100, true},
		{"a canary of a rolled-out revision", 1, rolled, sklearnV1, "canaryTrafficPercent: 35", false, 10, 35, true},
		{"no status", 1, "", sklearnV1, "canaryTrafficPercent: 35", false, 10, 35, true},
		{"status cleared by a stop", 1, cleared, sklearnV1, "canaryTrafficPercent: 35", false, 10, 35, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := manifestWithMeta(fmt.Sprintf("generation: %d", tt.generation), sklearnV1, "canaryTrafficPercent: 10") + tt.oldStatus
			f := updateFacts(t, old, manifestWithMeta("", tt.newModel, tt.newPercent))
			p := componentByID(t, f, KindPredictor)
			if p.FirstRolloutPending != tt.firstRolloutPending || f.FirstRolloutPending != tt.firstRolloutPending {
				t.Errorf("firstRolloutPending = %v (rollout %v), want %v", p.FirstRolloutPending, f.FirstRolloutPending, tt.firstRolloutPending)
			}
			// Whatever the generation, no revision is rolled out where the
			// status shows one created and none rolled out.
			wantNotRolledOut := strings.Contains(tt.oldStatus, "latestCreatedRevision") && !strings.Contains(tt.oldStatus, "latestRolledoutRevision")
			if p.NotRolledOut != wantNotRolledOut || f.NotRolledOut != wantNotRolledOut {
				t.Errorf("notRolledOut = %v (rollout %v), want %v", p.NotRolledOut, f.NotRolledOut, wantNotRolledOut)
			}
			if p.OldEffectivePercent != tt.oldEffective || p.NewEffectivePercent != tt.newEffective || p.CanaryInProgress != tt.canaryRunning {
				t.Errorf("effective %d -> %d, canary in progress %v; want %d -> %d, %v",
					p.OldEffectivePercent, p.NewEffectivePercent, p.CanaryInProgress, tt.oldEffective, tt.newEffective, tt.canaryRunning)
			}
		})
	}
}

// After a resume of a component stopped on its own with its percent kept,
// the status shows the deleted service's rolled-out revision numbered above
// the new service's latest: the route names it, and nothing serves.
func TestFacts_ARouteNamingADeletedRevisionRunsNoCanary(t *testing.T) {
	const (
		gone    = "status:\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00001, latestReadyRevision: my-model-predictor-00001, latestRolledoutRevision: my-model-predictor-00003}\n"
		running = "status:\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00004, latestReadyRevision: my-model-predictor-00004, latestRolledoutRevision: my-model-predictor-00003}\n"
		serving = "status:\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00001, latestReadyRevision: my-model-predictor-00001, latestRolledoutRevision: my-model-predictor-00003, traffic: [{latestRevision: true, revisionName: my-model-predictor-00001, percent: 100}]}\n"
		// A model changed while the route was refused: it still serves the
		// older revision, and removing the percent moves all traffic.
		servesOlder = "status:\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00002, latestReadyRevision: my-model-predictor-00002, latestRolledoutRevision: my-model-predictor-00003, traffic: [{latestRevision: false, revisionName: my-model-predictor-00001, percent: 100}]}\n"
	)
	sklearnV2 := strings.Replace(sklearnV1, "v1", "v2", 1)
	const split = "canaryTrafficPercent: 35"
	tests := []struct {
		name, oldPercent, status, model, percent string
		want                                     bool
		newEffective                             int64
	}{
		{"percent removed", split, gone, sklearnV1, "", true, 100},
		{"a rise", split, gone, sklearnV1, "canaryTrafficPercent: 60", true, 100},
		{"a new model", split, gone, sklearnV2, "canaryTrafficPercent: 35", true, 35},
		{"a canary of the running service", split, running, sklearnV1, "", false, 100},
		// KServe moves a deleted previous revision back into
		// latestRolledoutRevision at a percent set on a fully rolled-out
		// component: the route keeps serving the latest, and no split takes
		// effect until the percent is removed (no rise).
		{"a route that serves", split, serving, sklearnV1, "", true, 100},
		// No split below 100 takes effect there either: the percent's
		// removal moves all traffic, which resume-cutover warns of.
		{"a route left on an older revision", split, servesOlder, sklearnV1, "", true, 100},
		// Resumed without the percent, before the new service's first
		// rollout: the route names the latest, and a percent set now would
		// name the deleted revision.
		{"resumed without the percent, a new model", "", gone, sklearnV2, "", true, 100},
		{"resumed without the percent, a percent set", "", gone, sklearnV1, "canaryTrafficPercent: 10", true, 100},
		{"resumed without the percent, the status not yet rolled out", "", serving, sklearnV2, "", true, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldPercent := tt.oldPercent
			f := updateFacts(t, manifestWithMeta("generation: 7", sklearnV1, oldPercent)+tt.status, manifestWithMeta("", tt.model, tt.percent))
			p := componentByID(t, f, KindPredictor)
			if p.RoutesMissingRevision != tt.want {
				t.Fatalf("routesMissingRevision = %v, want %v", p.RoutesMissingRevision, tt.want)
			}
			if wantServed := map[bool]string{true: "my-model-predictor-00001"}[tt.status == servesOlder]; p.ServedRevision != wantServed {
				t.Errorf("servedRevision = %q, want %q", p.ServedRevision, wantServed)
			}
			if tt.want && (p.CanaryInProgress || p.OldEffectivePercent != 100 || p.NewEffectivePercent != tt.newEffective) {
				t.Errorf("canary in progress %v, effective %d -> %d; want none, 100 -> %d", p.CanaryInProgress, p.OldEffectivePercent, p.NewEffectivePercent, tt.newEffective)
			}
		})
	}
}

// A component whose own serving.kserve.io/stop "false" keeps it running
// under a stopped InferenceService: KServe clears the status at the stop
// and its route sends all traffic to the latest revision.
func TestFacts_AComponentRunningUnderAStoppedInferenceService(t *testing.T) {
	const (
		split   = "status:\n  deploymentMode: Serverless\n  components:\n    predictor: {latestCreatedRevision: my-model-predictor-00002, latestReadyRevision: my-model-predictor-00002, latestRolledoutRevision: my-model-predictor-00001, traffic: [{latestRevision: true, revisionName: my-model-predictor-00002, percent: 35}, {revisionName: my-model-predictor-00001, percent: 65, tag: prev}]}\n"
		cleared = "status: {deploymentMode: Serverless}\n"
		stop    = `annotations: {serving.kserve.io/stop: "true"}`
		own     = `annotations: {serving.kserve.io/stop: "false"}`
	)
	tests := []struct {
		name                   string
		oldMeta, newMeta       string
		oldOwn, newOwn, status string
		want, canaryRunning    bool
		oldEffective           int64
	}{
		{"the stop comes, the predictor keeps running", "", stop, own, own, split, true, true, 35},
		{"under a stop KServe acted on", stop, stop, own, own, cleared, true, false, 100},
		// Resumed: KServe propagates the status at once, rolling out the
		// revision the route serves, which a new model's percent splits with.
		{"resumed from under a stop KServe acted on", stop, "", own, own, cleared, false, false, 100},
		{"the predictor stopped with the InferenceService", stop, stop, "", "", cleared, false, false, 100},
		{"no stop on the InferenceService", "", "", own, own, split, false, true, 35},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := manifestWithMeta(tt.oldMeta, sklearnV1, "canaryTrafficPercent: 35", tt.oldOwn) + tt.status
			f := updateFacts(t, old, manifestWithMeta(tt.newMeta, sklearnV1, "canaryTrafficPercent: 35", tt.newOwn))
			p := componentByID(t, f, KindPredictor)
			if p.RunsUnderStop != tt.want || f.RunsUnderStop != tt.want {
				t.Errorf("runsUnderStop = %v (rollout %v), want %v", p.RunsUnderStop, f.RunsUnderStop, tt.want)
			}
			if p.CanaryInProgress != tt.canaryRunning || p.OldEffectivePercent != tt.oldEffective {
				t.Errorf("canary in progress %v, old effective %d; want %v, %d", p.CanaryInProgress, p.OldEffectivePercent, tt.canaryRunning, tt.oldEffective)
			}
		})
	}
}

// The rollout facts the shipped rules open with, for OPA's index.
func TestFacts_IndexFactsOfRisesFromZeroAndStops(t *testing.T) {
	tests := []struct {
		name                      string
		old, new                  string
		wantFromZero, wantStopped bool
	}{
		{"a rise from 0", predictorManifest(sklearnV1, "canaryTrafficPercent: 0"), predictorManifest(sklearnV1, "canaryTrafficPercent: 10"), true, false},
		{"a rise from 10", predictorManifest(sklearnV1, "canaryTrafficPercent: 10"), predictorManifest(sklearnV1, "canaryTrafficPercent: 35"), false, false},
		{"a stop", predictorManifest(sklearnV1), manifestWithMeta(`annotations: {serving.kserve.io/stop: "true"}`, sklearnV1), false, true},
		{"a predictor stopped on its own", manifestWithMeta("", sklearnV1, `annotations: {serving.kserve.io/stop: "true"}`),
			manifestWithMeta("", sklearnV1, `annotations: {serving.kserve.io/stop: "true"}`), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			if f.RaisedFromZero != tt.wantFromZero || f.AnyStopped != tt.wantStopped {
				t.Errorf("raisedFromZero=%v anyStopped=%v, want %v %v", f.RaisedFromZero, f.AnyStopped, tt.wantFromZero, tt.wantStopped)
			}
		})
	}
}

func TestFacts_CanaryReadinessComesFromTheOldStatus(t *testing.T) {
	tests := []struct {
		name               string
		generation         int
		observedGeneration int
		latestReady        string
		annotations        string
		want               string
		wantReasonContains string
	}{
		{"latest created is ready", 3, 3, "my-model-predictor-00002", "", ReadyTrue, "is ready"},
		{"latest created is not ready yet", 3, 3, "my-model-predictor-00001", "", ReadyFalse, "my-model-predictor-00002 is not ready"},
		// KServe copies observedGeneration from the component's Knative
		// Service: it says nothing about the InferenceService's generation.
		{"observedGeneration behind the generation", 4, 1, "my-model-predictor-00002", "", ReadyTrue, "is ready"},
		{"no observed generation yet", 4, 0, "my-model-predictor-00002", "", ReadyTrue, "is ready"},
		{"no ready revision recorded", 3, 3, "", "", ReadyUnknown, ""},
		{"Standard mode has no revisions to judge", 3, 3, "my-model-predictor-00002",
			`, annotations: {serving.kserve.io/deploymentMode: Standard}`, ReadyUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := fmt.Sprintf(statusManifest, tt.generation, tt.annotations, tt.observedGeneration, tt.latestReady)
			f := updateFacts(t, old, old)
			p := componentByID(t, f, KindPredictor)
			if p.CanaryReady != tt.want {
				t.Errorf("canaryReady = %q (%s), want %q", p.CanaryReady, p.CanaryReadyReason, tt.want)
			}
			if !strings.Contains(p.CanaryReadyReason, tt.wantReasonContains) {
				t.Errorf("canaryReadyReason = %q, want it to mention %q", p.CanaryReadyReason, tt.wantReasonContains)
			}
			if p.StableRevision != "my-model-predictor-00001" || p.PreviousRevision != "my-model-predictor-00000" ||
				p.LatestCreatedRevision != "my-model-predictor-00002" || p.LatestReadyRevision != tt.latestReady {
				t.Errorf("revisions stable=%q previous=%q ready=%q created=%q", p.StableRevision, p.PreviousRevision, p.LatestReadyRevision, p.LatestCreatedRevision)
			}
		})
	}
	t.Run("status traffic behind the spec", func(t *testing.T) {
		tests := []struct {
			name, traffic, want, reason string
		}{
			{"latest revision still at 100 %", `[{latestRevision: true, revisionName: my-model-predictor-00001, percent: 100}]`,
				ReadyFalse, "status has not caught up with the spec yet (its traffic gives the latest revision 100 %, the spec 10 %)"},
			{"latest revision at the spec's percent", `[{latestRevision: true, revisionName: my-model-predictor-00002, percent: 10, tag: latest},
        {latestRevision: false, revisionName: my-model-predictor-00001, percent: 90, tag: prev}]`, ReadyTrue, "is ready"},
			{"no latest-revision target", `[{revisionName: my-model-predictor-00001, percent: 100}]`, ReadyTrue, "is ready"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				old := fmt.Sprintf(statusManifest, 3, "", 3, "my-model-predictor-00002") + "      traffic: " + tt.traffic + "\n"
				p := componentByID(t, updateFacts(t, old, old), KindPredictor)
				if p.CanaryReady != tt.want || !strings.Contains(p.CanaryReadyReason, tt.reason) {
					t.Errorf("canaryReady = %q (%s), want %q (%s)", p.CanaryReady, p.CanaryReadyReason, tt.want, tt.reason)
				}
			})
		}
	})
	t.Run("no status at all", func(t *testing.T) {
		f := updateFacts(t, predictorManifest(sklearnV1), predictorManifest(sklearnV1))
		p := componentByID(t, f, KindPredictor)
		if p.CanaryReady != ReadyUnknown || p.StableRevision != "" {
			t.Errorf("canaryReady=%q stableRevision=%q, want unknown and none", p.CanaryReady, p.StableRevision)
		}
	})
	t.Run("the new object's status is ignored", func(t *testing.T) {
		withStatus := fmt.Sprintf(statusManifest, 3, "", 3, "my-model-predictor-00002")
		f := updateFacts(t, predictorManifest(sklearnV1), withStatus)
		if p := componentByID(t, f, KindPredictor); p.CanaryReady != ReadyUnknown || p.StableRevision != "" {
			t.Errorf("canaryReady=%q stableRevision=%q, want unknown and none", p.CanaryReady, p.StableRevision)
		}
	})
}

func TestFacts_DeploymentModeStatusThenAnnotationThenDefault(t *testing.T) {
	manifest := func(annotation, status string) string {
		meta := "{name: my-model, namespace: models}"
		if annotation != "" {
			meta = fmt.Sprintf("{name: my-model, namespace: models, annotations: {serving.kserve.io/deploymentMode: %s}}", annotation)
		}
		m := "metadata: " + meta + "\nspec:\n  predictor:\n    " + sklearnV1 + "\n"
		if status != "" {
			m += "status: {deploymentMode: " + status + "}\n"
		}
		return m
	}
	tests := []struct {
		name                   string
		oldAnnotation, oldStat string
		newAnnotation          string
		defaultMode            string
		wantMode               Mode
		wantSource             string
	}{
		{"status wins over the annotation", "Knative", "Standard", "Knative", "Knative", ModeStandard, "status"},
		{"legacy RawDeployment in status", "", "RawDeployment", "", "Knative", ModeStandard, "status"},
		{"legacy Serverless in status", "", "Serverless", "", "Standard", ModeKnative, "status"},
		{"annotation when status has none", "Standard", "", "Standard", "Knative", ModeStandard, "annotation"},
		{"legacy RawDeployment annotation", "RawDeployment", "", "RawDeployment", "Knative", ModeStandard, "annotation"},
		{"legacy Serverless annotation", "Serverless", "", "Serverless", "Standard", ModeKnative, "annotation"},
		{"the new object's annotation first", "Knative", "", "Standard", "Knative", ModeStandard, "annotation"},
		{"the old object's annotation when the new has none", "Standard", "", "", "Knative", ModeStandard, "annotation"},
		{"ModelMesh annotation", "ModelMesh", "", "ModelMesh", "Knative", ModeModelMesh, "annotation"},
		{"unknown annotation falls back to the default", "Bogus", "", "Bogus", "Standard", ModeStandard, "default"},
		{"the settings' default", "", "", "", "Standard", ModeStandard, "default"},
		{"the settings' legacy default name", "", "", "", "RawDeployment", ModeStandard, "default"},
		{"the shipped default is Knative", "", "", "", DefaultSettings().DefaultDeploymentMode, ModeKnative, "default"},
		{"an invalid default is Knative", "", "", "", "", ModeKnative, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := defaultFactsOptions()
			opts.Settings.DefaultDeploymentMode = tt.defaultMode
			req := update(t, manifest(tt.oldAnnotation, tt.oldStat), manifest(tt.newAnnotation, ""))
			f := mustBuildFacts(t, req, opts)
			if f.DeploymentMode != tt.wantMode || f.DeploymentModeSource != tt.wantSource {
				t.Errorf("mode = %s from %s, want %s from %s", f.DeploymentMode, f.DeploymentModeSource, tt.wantMode, tt.wantSource)
			}
		})
	}
}

// standardManifest renders a Standard-mode InferenceService: the stable
// predictor's model{} line, its name ("" for none), and spec.canary
// entries as flow-style YAML.
func standardManifest(predictorName, model string, canaries ...string) string {
	var b strings.Builder
	b.WriteString("metadata: {name: my-model, namespace: models, annotations: {serving.kserve.io/deploymentMode: Standard}}\n")
	b.WriteString("spec:\n  predictor:\n")
	if predictorName != "" {
		b.WriteString("    name: " + predictorName + "\n")
	}
	b.WriteString("    " + model + "\n")
	if len(canaries) > 0 {
		b.WriteString("  canary:\n")
		for _, c := range canaries {
			b.WriteString("  - " + c + "\n")
		}
	}
	return b.String()
}

const (
	stdStableV1 = `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtimeVersion: "1.3.0"}`
	stdCanaryV2 = `{predictor: {name: v2, model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}}, trafficPercent: %d}`
)

// An entry is merged over the stable predictor before KServe reads it
// (buildCanaryPredictor): its storageContainerName applies beside the
// stable storage URI, and its resourceId beside the stable's enabled
// confidential spec, though neither would reach a pod on its own.
func TestFacts_CanaryEntryFieldsCountOnceMerged(t *testing.T) {
	entry := func(fields string) string {
		return `{predictor: {name: v2, ` + fields + `, model: {modelFormat: {name: sklearn}, image: "registry.example/sklearn:v2"}}, trafficPercent: 50}`
	}
	confidentialStable := `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", confidential: {enabled: true, resourceId: "kbs:///repo/key/1"}}`
	confidentialEntry := func(key string) string {
		return `{predictor: {name: v2, model: {modelFormat: {name: sklearn}, confidential: {enabled: false, resourceId: "` + key + `"}}}, trafficPercent: 50}`
	}
	tests := []struct {
		name     string
		old, new string
	}{
		{"the entry's storageContainerName",
			standardManifest("", stdStableV1, entry("storageContainerName: s3-default")),
			standardManifest("", stdStableV1, entry("storageContainerName: s3-mirror"))},
		{"the entry's resourceId beside an enabled stable spec",
			standardManifest("", confidentialStable, confidentialEntry("kbs:///repo/key/1")),
			standardManifest("", confidentialStable, confidentialEntry("kbs:///repo/key/2"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			if c := componentByID(t, f, "canary:v2"); !c.ModelChanged {
				t.Errorf("entry modelChanged = false (%v), want true", c.ChangedFields)
			}
		})
	}
}

func TestFacts_StandardCanaryEntriesAreComponents(t *testing.T) {
	t.Run("a new entry is a model change of its own", func(t *testing.T) {
		f := updateFacts(t, standardManifest("", stdStableV1), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)))
		if f.DeploymentMode != ModeStandard {
			t.Fatalf("mode = %s, want Standard", f.DeploymentMode)
		}
		c := componentByID(t, f, "canary:v2")
		if c.Kind != KindCanary || c.Name != "v2" || c.Path != "spec.canary[0]" || c.PercentField != "trafficPercent" {
			t.Errorf("kind=%s name=%s path=%s percentField=%s", c.Kind, c.Name, c.Path, c.PercentField)
		}
		if c.InOld || !c.InNew || !c.ModelChanged || !c.RevisionChanged {
			t.Errorf("inOld=%v inNew=%v modelChanged=%v revisionChanged=%v, want a new entry with a new model", c.InOld, c.InNew, c.ModelChanged, c.RevisionChanged)
		}
		if !slices.Contains(c.ChangedFields, "spec.canary[0].predictor.model.storageUri") {
			t.Errorf("changedFields = %v, want the storageUri", c.ChangedFields)
		}
		if c.OldModel != "gs://models/iris/v1" || c.NewModel != "gs://models/iris/v2" {
			t.Errorf("oldModel=%q newModel=%q", c.OldModel, c.NewModel)
		}
		if ptrText(c.OldPercent) != "absent" || ptrText(c.NewPercent) != "10" || c.NewEffectivePercent != 10 || !c.PercentChanged {
			t.Errorf("percent %s->%s effective %d changed=%v", ptrText(c.OldPercent), ptrText(c.NewPercent), c.NewEffectivePercent, c.PercentChanged)
		}
		if p := componentByID(t, f, KindPredictor); p.ModelChanged || p.RevisionChanged {
			t.Errorf("stable predictor changed: %v", p.ChangedFields)
		}
		if !f.ModelChanged || f.AlwaysAdmit {
			t.Errorf("facts modelChanged=%v alwaysAdmit=%v", f.ModelChanged, f.AlwaysAdmit)
		}
	})

	t.Run("an entry whose model changes", func(t *testing.T) {
		v3 := `{predictor: {name: v2, model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v3"}}, trafficPercent: 10}`
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)), standardManifest("", stdStableV1, v3))
		c := componentByID(t, f, "canary:v2")
		if !c.InOld || !c.InNew || !c.ModelChanged || c.PercentChanged || !c.CanaryInProgress {
			t.Errorf("inOld=%v inNew=%v modelChanged=%v percentChanged=%v inProgress=%v", c.InOld, c.InNew, c.ModelChanged, c.PercentChanged, c.CanaryInProgress)
		}
		if want := []string{"spec.canary[0].predictor.model.storageUri"}; !slices.Equal(c.ChangedFields, want) {
			t.Errorf("changedFields = %v, want %v", c.ChangedFields, want)
		}
	})

	t.Run("an entry inherits a stable model change it does not override", func(t *testing.T) {
		// The entry leaves runtimeVersion to the stable predictor, so the
		// merged canary (buildCanaryPredictor) changes with it.
		stable2 := `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtimeVersion: "1.5.0"}`
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)), standardManifest("", stable2, fmt.Sprintf(stdCanaryV2, 10)))
		c := componentByID(t, f, "canary:v2")
		if want := []string{"spec.canary[0].predictor.model.runtimeVersion"}; !c.ModelChanged || !slices.Equal(c.ChangedFields, want) {
			t.Errorf("modelChanged=%v changedFields=%v, want the inherited runtimeVersion", c.ModelChanged, c.ChangedFields)
		}
		if p := componentByID(t, f, KindPredictor); !p.ModelChanged {
			t.Error("stable predictor modelChanged = false, want true")
		}
	})

	t.Run("an entry that overrides the field a stable change touches is unchanged", func(t *testing.T) {
		stable2 := `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1-fixed", runtimeVersion: "1.3.0"}`
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)), standardManifest("", stable2, fmt.Sprintf(stdCanaryV2, 10)))
		c := componentByID(t, f, "canary:v2")
		if c.ModelChanged || c.RevisionChanged {
			t.Errorf("canary modelChanged=%v changedFields=%v, want unchanged", c.ModelChanged, c.ChangedFields)
		}
		if c.NewModel != "gs://models/iris/v2" {
			t.Errorf("newModel = %q", c.NewModel)
		}
	})

	t.Run("a trafficPercent rise", func(t *testing.T) {
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 35)))
		c := componentByID(t, f, "canary:v2")
		if c.ModelChanged || c.RevisionChanged || !c.PercentChanged || !c.Raised() || c.OldEffectivePercent != 10 || c.NewEffectivePercent != 35 {
			t.Errorf("modelChanged=%v revisionChanged=%v percentChanged=%v effective %d->%d", c.ModelChanged, c.RevisionChanged, c.PercentChanged, c.OldEffectivePercent, c.NewEffectivePercent)
		}
		if f.AlwaysAdmit {
			t.Errorf("a rise is always admitted (%s)", f.AlwaysAdmitReason)
		}
	})

	t.Run("a trafficPercent lowering is always admitted", func(t *testing.T) {
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 35)), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)))
		if !f.AlwaysAdmit || f.AlwaysAdmitReason != "lowered" {
			t.Errorf("alwaysAdmit=%v (%q), want lowered", f.AlwaysAdmit, f.AlwaysAdmitReason)
		}
	})

	t.Run("a removed entry is a rollback", func(t *testing.T) {
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 20)), standardManifest("", stdStableV1))
		c := componentByID(t, f, "canary:v2")
		if !c.InOld || c.InNew || c.OldEffectivePercent != 20 || c.NewEffectivePercent != 0 || !c.PercentChanged {
			t.Errorf("inOld=%v inNew=%v effective %d->%d percentChanged=%v", c.InOld, c.InNew, c.OldEffectivePercent, c.NewEffectivePercent, c.PercentChanged)
		}
		if !f.AlwaysAdmit || f.AlwaysAdmitReason != "rollback" {
			t.Errorf("alwaysAdmit=%v (%q), want rollback", f.AlwaysAdmit, f.AlwaysAdmitReason)
		}
		if p := componentByID(t, f, KindPredictor); p.PromotedCanary != "" {
			t.Errorf("promotedCanary = %q on a rollback", p.PromotedCanary)
		}
	})

	t.Run("a promotion names the promoted canary", func(t *testing.T) {
		promoted := `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2", runtimeVersion: "1.3.0"}`
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 30)), standardManifest("v2", promoted))
		p := componentByID(t, f, KindPredictor)
		if p.PromotedCanary != "v2" || p.PromotedCanaryPercent != 30 {
			t.Errorf("promotedCanary=%q percent=%d, want v2 at 30", p.PromotedCanary, p.PromotedCanaryPercent)
		}
		if len(p.PromotedCanaryChangedFields) != 0 {
			t.Errorf("promotedCanaryChangedFields = %v, want none: the canary's model is promoted", p.PromotedCanaryChangedFields)
		}
		if !p.ModelChanged {
			t.Error("the stable predictor's model change is not reported")
		}
		if f.AlwaysAdmit {
			t.Errorf("a promotion is always admitted (%s)", f.AlwaysAdmitReason)
		}
	})

	t.Run("a promotion with a model the canary did not run lists where it differs", func(t *testing.T) {
		// The canary inherits runtimeVersion 1.3.0 from the stable predictor.
		for _, tt := range []struct{ promoted, want string }{
			{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v3", runtimeVersion: "1.3.0"}`, "spec.predictor.model.storageUri"},
			{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2", runtimeVersion: "1.4.0"}`, "spec.predictor.model.runtimeVersion"},
		} {
			f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 85)), standardManifest("v2", tt.promoted))
			p := componentByID(t, f, KindPredictor)
			if p.PromotedCanary != "v2" || !slices.Equal(p.PromotedCanaryChangedFields, []string{tt.want}) {
				t.Errorf("promotedCanary=%q promotedCanaryChangedFields=%v, want v2 with [%s]", p.PromotedCanary, p.PromotedCanaryChangedFields, tt.want)
			}
		}
	})

	t.Run("without a rename, taking the model the removed entry ran is a promotion that restarts", func(t *testing.T) {
		// KServe refuses predictor.name changes without a new storage
		// URI: an args-only model change can only be promoted so.
		hf := func(id string) string {
			return fmt.Sprintf(`model: {modelFormat: {name: huggingface}, args: ["--model_id=%s"], protocolVersion: v2}`, id)
		}
		entry := `{predictor: {name: v2, model: {modelFormat: {name: huggingface}, args: ["--model_id=org/b"], protocolVersion: v2}}, trafficPercent: 80}`
		for _, tt := range []struct {
			name, stable, newStable string
			want                    bool
		}{
			{"args-only change", hf("org/a"), hf("org/b"), true},
			{"storage URI change", stdStableV1, `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2", runtimeVersion: "1.3.0"}`, true},
			{"not as it ran", stdStableV1, `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2", runtimeVersion: "1.4.0"}`, false},
			{"another model", hf("org/a"), hf("org/c"), false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e := entry
				if !strings.Contains(tt.stable, "huggingface") {
					e = fmt.Sprintf(stdCanaryV2, 80)
				}
				f := updateFacts(t, standardManifest("", tt.stable, e), standardManifest("", tt.newStable))
				p := componentByID(t, f, KindPredictor)
				if got := p.PromotedCanary == "v2" && p.PromotionRestarts && len(p.PromotedCanaryChangedFields) == 0; got != tt.want {
					t.Errorf("promotedCanary=%q restarts=%v changed=%v, want a restart promotion: %v", p.PromotedCanary, p.PromotionRestarts, p.PromotedCanaryChangedFields, tt.want)
				}
				if !p.ModelChanged {
					t.Error("the stable predictor's model change is not reported")
				}
			})
		}
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 30)), standardManifest("v2", `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2", runtimeVersion: "1.3.0"}`))
		if p := componentByID(t, f, KindPredictor); p.PromotedCanary != "v2" || p.PromotionRestarts {
			t.Errorf("a rename: promotedCanary=%q restarts=%v, want v2 without a restart", p.PromotedCanary, p.PromotionRestarts)
		}
	})

	t.Run("KServe accepts entries beside a predictor with a model or a STORAGE_URI only", func(t *testing.T) {
		for _, tt := range []struct {
			name, stable string
			want         bool
		}{
			{"model{}", stdStableV1, true},
			{"framework block", `sklearn: {storageUri: "gs://models/iris/v1"}`, true},
			{"custom container with STORAGE_URI", `containers: [{name: kserve-container, image: "server:1", env: [{name: STORAGE_URI, value: "gs://m/v1"}]}]`, true},
			{"lone unnamed container with STORAGE_URI", `containers: [{image: "server:1", env: [{name: STORAGE_URI, value: "gs://m/v1"}]}]`, true},
			{"custom container without", `containers: [{name: kserve-container, image: "server:1"}]`, false},
		} {
			f := updateFacts(t, standardManifest("", tt.stable), standardManifest("", tt.stable))
			if f.CanaryEntriesAccepted != tt.want {
				t.Errorf("%s: canaryEntriesAccepted = %v, want %v", tt.name, f.CanaryEntriesAccepted, tt.want)
			}
		}
		// The stable as it is decides, and an entry cannot change the
		// kind of predictor it runs.
		custom := `containers: [{name: kserve-container, image: "ghcr.io/acme/anything:latest"}]`
		// KServe merges an entry over the stable: an entry without
		// model{} still runs the stable's model, not a custom container.
		if f := updateFacts(t, standardManifest("", stdStableV1), standardManifest("", custom)); f.CanaryEntriesAccepted {
			t.Error("model{} → custom container: canaryEntriesAccepted = true, want false (an entry cannot drop the stable's model)")
		}
		if f := updateFacts(t, standardManifest("", stdStableV1), standardManifest("", `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`)); !f.CanaryEntriesAccepted {
			t.Error("model{} → model{}: canaryEntriesAccepted = false, want true")
		}
		if f := updateFacts(t, standardManifest("", custom), standardManifest("", stdStableV1)); f.CanaryEntriesAccepted {
			t.Error("custom container → model{}: canaryEntriesAccepted = true, want false (KServe refuses entries beside the custom container)")
		}
		if f := updateFacts(t, predictorManifest(sklearnV1), predictorManifest(sklearnV1)); f.CanaryEntriesAccepted {
			t.Error("Knative mode: canaryEntriesAccepted = true, want false (entries are Standard mode's)")
		}
	})

	t.Run("canary readiness from status.canaryStatuses", func(t *testing.T) {
		for _, ready := range []bool{true, false} {
			old := standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)) +
				fmt.Sprintf("status: {canaryStatuses: [{name: v2, ready: %v, trafficPercent: 10}]}\n", ready)
			f := updateFacts(t, old, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 20)))
			if got, want := componentByID(t, f, "canary:v2").CanaryReady, fmt.Sprint(ready); got != want {
				t.Errorf("ready=%v: canaryReady = %q, want %q", ready, got, want)
			}
		}
		f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 20)))
		if got := componentByID(t, f, "canary:v2").CanaryReady; got != ReadyUnknown {
			t.Errorf("without status: canaryReady = %q, want unknown", got)
		}
		// The status is from before the step to 35: its readiness is the
		// controller's view of the old spec.
		behind := standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 35)) +
			"status: {canaryStatuses: [{name: v2, ready: true, trafficPercent: 10}]}\n"
		c := componentByID(t, updateFacts(t, behind, standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 60))), "canary:v2")
		if c.CanaryReady != ReadyFalse || !strings.Contains(c.CanaryReadyReason, "status has not caught up with the spec yet (its canaryStatuses give canary v2 10 %, the spec 35 %)") {
			t.Errorf("status behind the spec: canaryReady = %q (%s), want false, caught up not", c.CanaryReady, c.CanaryReadyReason)
		}
	})
}

func TestFacts_AlwaysAdmitOnlyRollbacksLoweringAndNoops(t *testing.T) {
	base := predictorManifest(sklearnV1, `canaryTrafficPercent: 30`)
	tests := []struct {
		name       string
		old, new   string
		wantAdmit  bool
		wantReason string
	}{
		{"rollback to 0", base, predictorManifest(sklearnV1, `canaryTrafficPercent: 0`), true, "rollback"},
		{"lowering", base, predictorManifest(sklearnV1, `canaryTrafficPercent: 10`), true, "lowered"},
		{"finalizer-only update", base,
			"metadata: {name: my-model, namespace: models, finalizers: [inferenceservice.finalizers]}\nspec:\n  predictor:\n    " + sklearnV1 + "\n    canaryTrafficPercent: 30\n",
			true, "no revision change"},
		{"status-only difference", base, base + "status: {observedGeneration: 7, deploymentMode: Knative}\n", true, "no revision change"},
		{"a rise", base, predictorManifest(sklearnV1, `canaryTrafficPercent: 50`), false, ""},
		{"a model change", base,
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`, `canaryTrafficPercent: 30`), false, ""},
		{"a model change that lowers the percent", base,
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`, `canaryTrafficPercent: 10`), false, ""},
		{"a non-model revision change", base, predictorManifest(sklearnV1, `canaryTrafficPercent: 30`, `minReplicas: 2`), false, ""},
		{"an internal.serving.kserve.io annotation", base,
			manifestWithMeta(`annotations: {internal.serving.kserve.io/storage-spec: "true"}`, sklearnV1, `canaryTrafficPercent: 30`), false, ""},
		{"an internal annotation with a lowering", base,
			manifestWithMeta(`annotations: {internal.serving.kserve.io/storage-spec: "true"}`, sklearnV1, `canaryTrafficPercent: 10`), false, ""},
		// KServe's defaulter writes the local model cache annotations
		// itself (setLocalModelLabel): they never block a rollback.
		{"a rollback while KServe's defaulter adds the local model cache annotations", base,
			manifestWithMeta(`annotations: {internal.serving.kserve.io/localmodel-sourceuri: "gs://models/iris", internal.serving.kserve.io/localmodel-pvc-name: iris-gpu}`,
				sklearnV1, `canaryTrafficPercent: 0`), true, "rollback"},
		{"a rollback while KServe's defaulter adds the local model labels", base,
			manifestWithMeta(`labels: {internal.serving.kserve.io/localmodel: iris, internal.serving.kserve.io/localmodel-namespace: kserve-localmodel-jobs}`,
				sklearnV1, `canaryTrafficPercent: 0`), true, "rollback"},
		// Not a percent: Knative rejects the route, so no rollback.
		{"a negative percent", base, predictorManifest(sklearnV1, `canaryTrafficPercent: -5`), false, ""},
		{"a percent above 100 after a rollback", predictorManifest(sklearnV1, `canaryTrafficPercent: 0`),
			predictorManifest(sklearnV1, `canaryTrafficPercent: 150`), false, ""},
		// In Knative mode a model change at 0 % is a dark launch: no
		// traffic moves, but a new model is deployed and reachable through
		// its tag, so every rule (storage locations, a change freeze)
		// still applies.
		{"Knative: model change with the percent set to 0", base,
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`, `canaryTrafficPercent: 0`), false, ""},
		{"Standard: a new canary entry at 0", standardManifest("", stdStableV1),
			standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 0)), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			if f.AlwaysAdmit != tt.wantAdmit || f.AlwaysAdmitReason != tt.wantReason {
				t.Errorf("alwaysAdmit = %v (%q), want %v (%q)", f.AlwaysAdmit, f.AlwaysAdmitReason, tt.wantAdmit, tt.wantReason)
			}
		})
	}
	t.Run("internal annotations are listed", func(t *testing.T) {
		f := updateFacts(t, base, manifestWithMeta(`annotations: {internal.serving.kserve.io/storage-spec: "true", example.com/x: y}`, sklearnV1, `canaryTrafficPercent: 30`))
		if want := []string{"internal.serving.kserve.io/storage-spec"}; !slices.Equal(f.InternalAnnotationsChanged, want) {
			t.Errorf("internalAnnotationsChanged = %v, want %v", f.InternalAnnotationsChanged, want)
		}
	})
	t.Run("internal annotations of components are listed by path", func(t *testing.T) {
		// KServe merges a component's annotations over the storage-spec
		// ones it derives: they too swap the model the pods load.
		key := "internal.serving.kserve.io/storage-spec-key"
		f := updateFacts(t, base, predictorManifest(sklearnV1, `canaryTrafficPercent: 30`, `annotations: {`+key+`: other-bucket, example.com/x: "z"}`))
		if want := []string{"spec.predictor.annotations." + key}; !slices.Equal(f.InternalAnnotationsChanged, want) {
			t.Errorf("predictor: internalAnnotationsChanged = %v, want %v", f.InternalAnnotationsChanged, want)
		}
		entry := `{predictor: {name: v2, annotations: {` + key + `: %s}, model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}}, trafficPercent: 10}`
		f = updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(entry, "a")), standardManifest("", stdStableV1, fmt.Sprintf(entry, "b")))
		if want := []string{"spec.canary[0].predictor.annotations." + key}; !slices.Equal(f.InternalAnnotationsChanged, want) {
			t.Errorf("canary entry: internalAnnotationsChanged = %v, want %v", f.InternalAnnotationsChanged, want)
		}
		withTransformer := func(value string) string {
			return base + "  transformer:\n    annotations: {" + key + ": " + value + "}\n    containers: [{name: kserve-container, image: t:1}]\n"
		}
		f = updateFacts(t, withTransformer("a"), withTransformer("b"))
		if want := []string{"spec.transformer.annotations." + key}; !slices.Equal(f.InternalAnnotationsChanged, want) {
			t.Errorf("transformer: internalAnnotationsChanged = %v, want %v", f.InternalAnnotationsChanged, want)
		}
	})
	t.Run("the local model cache annotations KServe writes are not listed", func(t *testing.T) {
		f := updateFacts(t,
			manifestWithMeta(`annotations: {internal.serving.kserve.io/localmodel-sourceuri: "gs://models/iris", internal.serving.kserve.io/localmodel-pvc-name: iris-a}`, sklearnV1, `canaryTrafficPercent: 30`),
			manifestWithMeta(`annotations: {internal.serving.kserve.io/localmodel-pvc-name: iris-b}`, sklearnV1, `canaryTrafficPercent: 30`))
		if len(f.InternalAnnotationsChanged) != 0 {
			t.Errorf("internalAnnotationsChanged = %v, want none", f.InternalAnnotationsChanged)
		}
	})
	// Where the defaulter does not write them (a storage spec, which it
	// leaves alone; a component's own metadata, which it never touches),
	// the local model cache keys reach the pods as written, and the
	// storage initializer mounts the cache's PVC in place of the model.
	t.Run("the local model cache keys KServe does not write are listed", func(t *testing.T) {
		const storageSpec = `model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris}}`
		const pvc = `internal.serving.kserve.io/localmodel-pvc-name`
		const label = `internal.serving.kserve.io/localmodel`
		for _, tt := range []struct {
			name     string
			old, new string
			want     []string
		}{
			{"on a storage spec's InferenceService",
				manifestWithMeta(``, storageSpec),
				manifestWithMeta(`annotations: {`+pvc+`: team-pvc}, labels: {`+label+`: x}`, storageSpec),
				[]string{pvc, "metadata.labels." + label}},
			{"on the predictor, beside a storage URI",
				predictorManifest(sklearnV1),
				predictorManifest(sklearnV1, `labels: {`+label+`: x}`, `annotations: {`+pvc+`: team-pvc}`),
				[]string{"spec.predictor.annotations." + pvc, "spec.predictor.labels." + label}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				f := updateFacts(t, tt.old, tt.new)
				if !slices.Equal(f.InternalAnnotationsChanged, tt.want) {
					t.Errorf("internalAnnotationsChanged = %v, want %v", f.InternalAnnotationsChanged, tt.want)
				}
				for _, k := range tt.want {
					if v, ok := f.InternalAnnotationsOld[k]; !ok || v != nil {
						t.Errorf("internalAnnotationsOld[%s] = %v (recorded %v), want null", k, v, ok)
					}
				}
			})
		}
	})
	// A move from a storage URI to a storage spec may drop the keys the
	// defaulter wrote for the URI: that points no pod at a cache.
	t.Run("the local model cache keys of a storage URI dropped with it", func(t *testing.T) {
		f := updateFacts(t,
			manifestWithMeta(`labels: {internal.serving.kserve.io/localmodel: iris}, annotations: {internal.serving.kserve.io/localmodel-sourceuri: "gs://models/iris", internal.serving.kserve.io/localmodel-pvc-name: iris-gpu}`, sklearnV1),
			manifestWithMeta(``, `model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris/v2}}`))
		if len(f.InternalAnnotationsChanged) != 0 {
			t.Errorf("internalAnnotationsChanged = %v, want none", f.InternalAnnotationsChanged)
		}
	})
	t.Run("never on CREATE", func(t *testing.T) {
		f := mustBuildFacts(t, &Request{Operation: OperationCreate, Object: isvc(t, base)}, defaultFactsOptions())
		if f.AlwaysAdmit || f.ModelChanged || f.RevisionChanged {
			t.Errorf("CREATE: alwaysAdmit=%v modelChanged=%v revisionChanged=%v", f.AlwaysAdmit, f.ModelChanged, f.RevisionChanged)
		}
	})
}

// In Standard mode KServe ignores canaryTrafficPercent (kserve #5335): a
// model change with it set to 0 replaces the model for all traffic, so it
// is no rollback.
func TestFacts_StandardModeModelChangeWithZeroPercentIsNoRollback(t *testing.T) {
	const standard = `annotations: {serving.kserve.io/deploymentMode: Standard}`
	f := updateFacts(t,
		manifestWithMeta(standard, sklearnV1),
		manifestWithMeta(standard, `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`, `canaryTrafficPercent: 0`))
	if !f.ModelChanged {
		t.Fatal("modelChanged = false")
	}
	if f.AlwaysAdmit {
		t.Errorf("alwaysAdmit = true (%s): a full cutover would pass every rule", f.AlwaysAdmitReason)
	}
	t.Run("percent alone to 0 changes nothing and is admitted", func(t *testing.T) {
		f := updateFacts(t, manifestWithMeta(standard, sklearnV1), manifestWithMeta(standard, sklearnV1, `canaryTrafficPercent: 0`))
		if !f.AlwaysAdmit {
			t.Errorf("alwaysAdmit = false, want true")
		}
	})
}

func TestFacts_OverrideIsRequestedOnlyWhenTheUpdateSetsIt(t *testing.T) {
	withOverride := func(reason string) string {
		if reason == "" {
			return predictorManifest(sklearnV1)
		}
		return manifestWithMeta(fmt.Sprintf("annotations: {canary-guard.dev/override: %q}", reason), sklearnV1)
	}
	tests := []struct {
		name          string
		old, new      string
		groups        []string
		wantRequested bool
		wantAllowed   bool
	}{
		{"set by a member of an override group", "", "incident 42", []string{"sre", "ml-engineers"}, true, true},
		{"set by someone outside the groups", "", "incident 42", []string{"sre"}, true, false},
		{"changed to a new reason", "incident 41", "incident 42", []string{"ml-engineers"}, true, true},
		{"stale: the same value as before", "incident 42", "incident 42", []string{"ml-engineers"}, false, false},
		{"stale modulo whitespace", "incident 42", " incident 42 ", []string{"ml-engineers"}, false, false},
		{"removed", "incident 42", "", []string{"ml-engineers"}, false, false},
		{"blank", "", "   ", []string{"ml-engineers"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := defaultFactsOptions()
			opts.Settings.Override.Groups = tt.groups
			f := mustBuildFacts(t, update(t, withOverride(tt.old), withOverride(tt.new)), opts)
			o := f.Override
			if o.Requested != tt.wantRequested || o.Allowed != tt.wantAllowed || o.Active != (tt.wantRequested && tt.wantAllowed) {
				t.Errorf("requested=%v allowed=%v active=%v, want %v %v", o.Requested, o.Allowed, o.Active, tt.wantRequested, tt.wantAllowed)
			}
			if o.Requested && o.Reason != "incident 42" {
				t.Errorf("reason = %q", o.Reason)
			}
		})
	}
	t.Run("not on CREATE", func(t *testing.T) {
		opts := defaultFactsOptions()
		opts.Settings.Override.Groups = []string{"ml-engineers"}
		req := &Request{Operation: OperationCreate, User: UserInfo{Groups: []string{"ml-engineers"}}, Object: isvc(t, withOverride("incident 42"))}
		if f := mustBuildFacts(t, req, opts); f.Override.Requested || f.Override.Active {
			t.Errorf("override on CREATE: %+v", f.Override)
		}
	})
}

func TestFacts_SecondsSinceLastStepFromTheOldStamp(t *testing.T) {
	stamped := func(at string) string {
		if at == "" {
			return predictorManifest(sklearnV1)
		}
		return manifestWithMeta(fmt.Sprintf("annotations: {canary-guard.dev/step-at: %q}", at), sklearnV1)
	}
	tests := []struct {
		name     string
		old, new string
		want     int64
	}{
		{"90 seconds ago", testNow.Add(-90 * time.Second).Format(time.RFC3339), "", 90},
		{"an hour ago, with a new stamp on the update", testNow.Add(-time.Hour).Format(time.RFC3339), testNow.Format(time.RFC3339), 3600},
		{"absent", "", "", -1},
		{"only on the new object", "", testNow.Format(time.RFC3339), -1},
		{"invalid", "yesterday", "", -1},
		{"in the future", testNow.Add(time.Minute).Format(time.RFC3339), "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, stamped(tt.old), stamped(tt.new))
			if f.Step.SecondsSinceLastStep != tt.want {
				t.Errorf("secondsSinceLastStep = %d, want %d", f.Step.SecondsSinceLastStep, tt.want)
			}
			if f.Step.LastStepAt != tt.old {
				t.Errorf("lastStepAt = %q, want %q", f.Step.LastStepAt, tt.old)
			}
		})
	}
}

func TestFacts_BadInputIsAnErrorNotAPanic(t *testing.T) {
	obj := isvc(t, predictorManifest(sklearnV1))
	tests := []struct {
		name string
		req  *Request
	}{
		{"UPDATE with no object", &Request{Operation: OperationUpdate, OldObject: obj}},
		{"CREATE with no object", &Request{Operation: OperationCreate}},
		{"UPDATE without oldObject", &Request{Operation: OperationUpdate, Object: obj}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := BuildFacts(tt.req, defaultFactsOptions())
			if err == nil || f != nil {
				t.Errorf("BuildFacts = %v, %v; want an error", f, err)
			}
		})
	}
}

func TestFacts_PredictorWithoutImplementationDoesNotPanic(t *testing.T) {
	empty := predictorManifest(`minReplicas: 1`)
	tests := []struct {
		name      string
		old, new  string
		wantModel bool
	}{
		{"none before and after", empty, predictorManifest(`minReplicas: 2`), false},
		{"a model added", empty, predictorManifest(sklearnV1, `minReplicas: 1`), true},
		{"the model removed", predictorManifest(sklearnV1, `minReplicas: 1`), empty, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			if p := componentByID(t, f, KindPredictor); p.ModelChanged != tt.wantModel {
				t.Errorf("modelChanged = %v, want %v (fields %v)", p.ModelChanged, tt.wantModel, p.ChangedFields)
			}
		})
	}
	t.Run("CREATE", func(t *testing.T) {
		f := mustBuildFacts(t, &Request{Operation: OperationCreate, Object: isvc(t, empty)}, defaultFactsOptions())
		if p := componentByID(t, f, KindPredictor); p.NewModel != "" || p.ModelChanged {
			t.Errorf("newModel=%q modelChanged=%v", p.NewModel, p.ModelChanged)
		}
	})
}

func TestFacts_CreateChangesNothing(t *testing.T) {
	f := mustBuildFacts(t, &Request{Operation: OperationCreate, Object: isvc(t, fmt.Sprintf(transformerBase,
		`containers: [{name: kserve-container, image: "registry.example/transformer:1"}]`))}, defaultFactsOptions())
	if f.Operation != OperationCreate || f.ModelChanged || f.RevisionChanged || len(f.MetadataChanged) > 0 {
		t.Errorf("operation=%s modelChanged=%v revisionChanged=%v metadataChanged=%v", f.Operation, f.ModelChanged, f.RevisionChanged, f.MetadataChanged)
	}
	if len(f.Components) != 2 {
		t.Errorf("components = %d, want predictor and transformer", len(f.Components))
	}
}

func TestFacts_DefaultedContainerNamesAreNotAModelChange(t *testing.T) {
	raw := `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1"}
  transformer:
    containers:
    - name: my-transformer
      image: registry.example/transformer:v1
`
	stored := strings.Replace(raw, "name: my-transformer", "name: kserve-container", 1)
	s := DefaultSettings()
	f, err := BuildFacts(update(t, stored, raw), FactsOptions{Settings: &s, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Components {
		if c.ModelChanged || c.RevisionChanged {
			t.Errorf("%s: modelChanged=%v revisionChanged=%v %v; KServe names a transformer's first container itself", c.ID, c.ModelChanged, c.RevisionChanged, c.ChangedFields)
		}
	}
}

func TestFacts_AddedTransformerIsANewRevisionNotAModelChange(t *testing.T) {
	base := `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1"}
`
	withTransformer := base + `  transformer:
    containers:
    - image: registry.example/transformer:v1
`
	s := DefaultSettings()
	f, err := BuildFacts(update(t, base, withTransformer), FactsOptions{Settings: &s, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	tr := f.Components[1]
	if tr.ID != "transformer" || !tr.RevisionChanged || tr.ModelChanged || f.AlwaysAdmit {
		t.Errorf("added transformer: %+v alwaysAdmit=%v", tr, f.AlwaysAdmit)
	}
}

func TestFacts_MetadataOthersRewriteCreatesNoRevision(t *testing.T) {
	tests := []struct {
		name, oldMeta, newMeta string
		wantRevision           bool
	}{
		{"canary-guard's step stamp", `annotations: {canary-guard.dev/step-at: "2026-11-25T12:00:00Z"}`, `annotations: {canary-guard.dev/step-at: "2026-11-25T12:05:00Z"}`, false},
		{"an override", ``, `annotations: {canary-guard.dev/override: "incident 42"}`, false},
		{"a legacy deploymentMode name for the stored one", `annotations: {serving.kserve.io/deploymentMode: Knative}`, `annotations: {serving.kserve.io/deploymentMode: Serverless}`, false},
		{"the local model label", `labels: {internal.serving.kserve.io/localmodel: iris}`, ``, false},
		{"another deploymentMode", `annotations: {serving.kserve.io/deploymentMode: Knative}`, `annotations: {serving.kserve.io/deploymentMode: Standard}`, true},
		{"a label of the user's", ``, `labels: {team: a}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, manifestWithMeta(tt.oldMeta, sklearnV1), manifestWithMeta(tt.newMeta, sklearnV1))
			if f.RevisionChanged != tt.wantRevision {
				t.Errorf("revisionChanged = %v (metadata %v), want %v", f.RevisionChanged, f.MetadataChanged, tt.wantRevision)
			}
		})
	}
}

func TestFacts_PredictorNameAndRename(t *testing.T) {
	const v2URI = `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`
	named := func(name, model string) string {
		if name == "" {
			return predictorManifest(model)
		}
		return predictorManifest("name: "+name, model)
	}
	for _, tt := range []struct {
		old, new    string
		newModel    string
		wantRenamed bool
	}{
		{"", "", v2URI, false},
		{"", "v2", v2URI, true},
		{"v2", "v2", v2URI, false},
		{"v2", "v3", v2URI, true},
		{"v2", "", v2URI, true},
		// KServe compares the URIs once its defaulter has moved a
		// framework block into model{}: one left beside model{} by a
		// client-side apply wins.
		{"v2", "v3", `tensorflow: {storageUri: "gs://models/iris/v2"}` + "\n    " + sklearnV1, true},
		// KServe refuses a rename that keeps the storage URI
		// (validatePredictorNameChange): its error speaks for it.
		{"", "v2", sklearnV1, false},
		{"v2", "", sklearnV1, false},
		{"v2", "v3", sklearnV1, false},
	} {
		f := updateFacts(t, named(tt.old, sklearnV1), named(tt.new, tt.newModel))
		if f.PredictorName != tt.new || f.PredictorRenamed != tt.wantRenamed {
			t.Errorf("%q → %q (%s): predictorName %q renamed %v, want %q, %v", tt.old, tt.new, tt.newModel, f.PredictorName, f.PredictorRenamed, tt.new, tt.wantRenamed)
		}
	}
}

// KServe builds an entry's predictor from the stable one after reconciling
// it (reconcileCanaryDeployments after buildPredictorResources), and
// reconcileModel has by then named the runtime it auto-selected in the
// stable's spec, in memory: the entry merged over it runs on that runtime
// unless it names its own. Its modelFormat.version selects nothing, and
// naming the runtime it runs on changes nothing.
func TestFacts_AStandardEntryRunsOnTheStableRuntime(t *testing.T) {
	const status = "status: {clusterServingRuntimeName: kserve-sklearnserver}\n"
	entry := func(model string) string {
		return `{predictor: {name: v2, model: ` + model + `}, trafficPercent: 10}`
	}
	v2 := `{modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`
	tests := []struct {
		name, newModel string
		wantModel      bool
		wantFields     []string
	}{
		{"a version alone", `{modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v2"}`, false, nil},
		{"the runtime it runs on named", `{modelFormat: {name: sklearn}, runtime: kserve-sklearnserver, storageUri: "gs://models/iris/v2"}`, false, nil},
		{"another runtime named", `{modelFormat: {name: sklearn}, runtime: kserve-mlserver, storageUri: "gs://models/iris/v2"}`,
			true, []string{"spec.canary[0].predictor.model.runtime"}},
		{"a version with a new model", `{modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v3"}`,
			true, []string{"spec.canary[0].predictor.model.storageUri"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, standardManifest("", stdStableV1, entry(v2))+status, standardManifest("", stdStableV1, entry(tt.newModel)))
			c := componentByID(t, f, "canary:v2")
			if c.VersionSelectsRuntime || c.ModelChanged != tt.wantModel || c.RevisionChanged != tt.wantModel ||
				!slices.Equal(c.ChangedFields, tt.wantFields) {
				t.Errorf("versionSelectsRuntime=%v modelChanged=%v revisionChanged=%v fields=%v, want false %v %v %v",
					c.VersionSelectsRuntime, c.ModelChanged, c.RevisionChanged, c.ChangedFields, tt.wantModel, tt.wantModel, tt.wantFields)
			}
		})
	}
}

// The rollout-level summaries open the rules about them: a wrong false
// would let OPA's index skip a rule that applies.
func TestFacts_RolloutSummariesOfPercentsAndComponents(t *testing.T) {
	manifest := func(pct string, transformer bool) string {
		m := fmt.Sprintf(`
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"}
    %s
`, percentLine(pct))
		if transformer {
			m += "  transformer:\n    containers: [{name: kserve-container, image: \"registry.example/transformer:1\"}]\n"
		}
		return m
	}
	tests := []struct {
		name                       string
		old, new                   string
		outOfRange, added, removed bool
	}{
		{name: "a step", old: manifest("10", false), new: manifest("35", false)},
		{name: "a rollback", old: manifest("35", true), new: manifest("0", true)},
		{name: "above 100", old: manifest("10", false), new: manifest("110", false), outOfRange: true},
		{name: "below 0", old: manifest("10", false), new: manifest("-5", false), outOfRange: true},
		{name: "100 is in range", old: manifest("85", false), new: manifest("100", false)},
		{name: "out of range before only", old: manifest("110", false), new: manifest("10", false)},
		{name: "a transformer added", old: manifest("", false), new: manifest("", true), added: true},
		{name: "a transformer removed", old: manifest("", true), new: manifest("", false), removed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			if f.PercentOutOfRange != tt.outOfRange || f.ComponentAdded != tt.added || f.ComponentRemoved != tt.removed {
				t.Errorf("percentOutOfRange, componentAdded, componentRemoved = %v, %v, %v; want %v, %v, %v",
					f.PercentOutOfRange, f.ComponentAdded, f.ComponentRemoved, tt.outOfRange, tt.added, tt.removed)
			}
		})
	}
	f := mustBuildFacts(t, &Request{Operation: OperationCreate, Object: isvc(t, manifest("", true))}, defaultFactsOptions())
	if f.ComponentAdded || f.ComponentRemoved {
		t.Errorf("a CREATE adds components: added %v, removed %v", f.ComponentAdded, f.ComponentRemoved)
	}
}

// Where canaryTrafficPercent routes nothing, the one model takes all
// traffic whatever it says: custom rules about rises must not see one.
func TestFacts_APercentThatRoutesNothingNeitherRisesNorSplits(t *testing.T) {
	standard := func(pct string) string {
		return standardManifest("", stdStableV1+"\n    canaryTrafficPercent: "+pct)
	}
	modelMesh := func(pct string) string {
		return strings.Replace(modelMeshWithTransformer, "  predictor:\n", "  predictor:\n    canaryTrafficPercent: "+pct+"\n", 1)
	}
	tests := []struct {
		name, old, new, wantReason string
	}{
		{"Standard mode", standard("10"), standard("60"), "Standard mode has no revisions"},
		{"ModelMesh beside a transformer", modelMesh("10"), modelMesh("60"), "ModelMesh serves the predictor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			p := componentByID(t, f, KindPredictor)
			if f.Raised || p.Raised() || p.CanaryInProgress || p.OldEffectivePercent != 100 || p.NewEffectivePercent != 100 {
				t.Errorf("raised %v, canaryInProgress %v, effective %d → %d; want no rise, no canary, 100 → 100",
					f.Raised, p.CanaryInProgress, p.OldEffectivePercent, p.NewEffectivePercent)
			}
			if !p.PercentChanged || ptrText(p.OldPercent) != "10" || ptrText(p.NewPercent) != "60" {
				t.Errorf("percent fields %s → %s (changed %v), want them as set", ptrText(p.OldPercent), ptrText(p.NewPercent), p.PercentChanged)
			}
			if !strings.Contains(p.CanaryReadyReason, tt.wantReason) {
				t.Errorf("canaryReadyReason %q, want it to say %q", p.CanaryReadyReason, tt.wantReason)
			}
		})
	}
}

// A status KServe wrote without the entry's: the entry's Deployment is not
// reconciled (yet, or failing), so nothing shows it serves. Without any
// status (a manifest in GitOps CI) readiness is unknown.
func TestFacts_AnEntryMissingFromAWrittenStatusIsNotReady(t *testing.T) {
	entryAt := func(p int, status string) string {
		return standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, p)) + status
	}
	tests := []struct {
		name, status, want string
	}{
		{"status written without the entry", "status: {deploymentMode: Standard}\n", ReadyFalse},
		{"no status at all", "", ReadyUnknown},
		{"the entry ready", "status: {deploymentMode: Standard, canaryStatuses: [{name: v2, ready: true, trafficPercent: 10}]}\n", ReadyTrue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, entryAt(10, tt.status), entryAt(35, ""))
			e := componentByID(t, f, "canary:v2")
			if e.CanaryReady != tt.want {
				t.Errorf("canaryReady %q (%s), want %q", e.CanaryReady, e.CanaryReadyReason, tt.want)
			}
		})
	}
}

// KServe's Hugging Face samples name the model with --model_id and no
// storage URI: the summary names it, rather than nothing.
func TestFacts_AModelNamedByItsModelIDArgument(t *testing.T) {
	withFormat := func(format, args string) string {
		return `
metadata: {name: qwen, namespace: models}
spec:
  predictor:
    model:
      modelFormat: {name: ` + format + `}
      args: [` + args + `]
`
	}
	tests := []struct{ name, format, oldArgs, newArgs, wantOld, wantNew string }{
		{"--model_id=", "huggingface", "--model_name=qwen, --model_id=Qwen/Qwen2.5-0.5B-Instruct", "--model_name=qwen, --model_id=Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct"},
		{"--model_id as two arguments", "huggingface", "--model_id, Qwen/A", "--model_id, Qwen/B", "Qwen/A", "Qwen/B"},
		{"the last --model_id counts", "huggingface", "--model_id=Qwen/A, --model_id=Qwen/B", "--model_id=Qwen/A, --model_id=Qwen/C", "Qwen/B", "Qwen/C"},
		{"no model_id", "huggingface", "--model_name=qwen", "--model_name=qwen2", "", ""},
		{"vLLM's --model", "vLLM", "--model, Qwen/A", "--model, Qwen/B", "Qwen/A", "Qwen/B"},
		{"--model is not the Hugging Face server's", "huggingface", "--model, Qwen/A", "--model, Qwen/B", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := componentByID(t, updateFacts(t, withFormat(tt.format, tt.oldArgs), withFormat(tt.format, tt.newArgs)), KindPredictor)
			if !p.ModelChanged || p.OldModel != tt.wantOld || p.NewModel != tt.wantNew {
				t.Errorf("modelChanged %v, model %q → %q; want a model change from %q to %q", p.ModelChanged, p.OldModel, p.NewModel, tt.wantOld, tt.wantNew)
			}
		})
	}
}

// KServe lets spec.predictor be renamed to an entry only when the storage
// URI changes (validatePredictorNameChange): promotableByRename follows
// that URI, not the model summary, which also counts --model_id and images.
func TestFacts_PromotableByRenameFollowsTheStorageURI(t *testing.T) {
	hf := func(id string) string {
		return `model: {modelFormat: {name: huggingface}, args: ["--model_id=` + id + `"]}`
	}
	custom := func(image, uri string) string {
		return `containers: [{name: kserve-container, image: "` + image + `", env: [{name: STORAGE_URI, value: "` + uri + `"}]}]`
	}
	tests := []struct {
		name          string
		stable, entry string
		want          bool
	}{
		{"another storageUri", stdStableV1, `{predictor: {name: v2, model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}}, trafficPercent: 50}`, true},
		{"the same storageUri, another runtime version", stdStableV1, `{predictor: {name: v2, model: {runtimeVersion: "1.4.0"}}, trafficPercent: 50}`, false},
		{"another --model_id, no storageUri", hf("Qwen/A"), `{predictor: {name: v2, model: {args: ["--model_id=Qwen/B"]}}, trafficPercent: 50}`, false},
		{"a custom container with another STORAGE_URI", custom("server:1", "gs://m/v1"),
			`{predictor: {name: v2, containers: [{name: kserve-container, env: [{name: STORAGE_URI, value: "gs://m/v2"}]}]}, trafficPercent: 50}`, true},
		{"a custom container with another image, the same STORAGE_URI", custom("server:1", "gs://m/v1"),
			`{predictor: {name: v2, containers: [{name: kserve-container, image: "server:2", env: [{name: STORAGE_URI, value: "gs://m/v1"}]}]}, trafficPercent: 50}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kept := range []bool{true, false} {
				next := standardManifest("", tt.stable)
				if kept {
					next = standardManifest("", tt.stable, tt.entry)
				}
				f := updateFacts(t, standardManifest("", tt.stable, tt.entry), next)
				if c := componentByID(t, f, "canary:v2"); c.PromotableByRename != tt.want {
					t.Errorf("entry kept: %v: promotableByRename = %v, want %v", kept, c.PromotableByRename, tt.want)
				}
			}
		})
	}
}

// serving.kserve.io/disable-auto-update is KServe's controller's to read:
// recorded before and after, and no revision of its own (set on a Ready
// InferenceService, KServe copies it nowhere).
func TestFacts_AutoUpdateDisabled(t *testing.T) {
	const on = `serving.kserve.io/disable-auto-update: "true"`
	tests := []struct {
		name          string
		oldAnn, new   string
		want          Transition
		wantRevisions bool
	}{
		{"set", "", on, Transition{New: true}, false},
		{"removed", on, "", Transition{Old: true}, false},
		{"kept with another annotation changed", on, on + `, team: a`, Transition{Old: true, New: true}, true},
		// Any other value is copied into the components' metadata.
		{"false is not set, and is a revision", "", `serving.kserve.io/disable-auto-update: "false"`, Transition{}, true},
		{"true over false", `serving.kserve.io/disable-auto-update: "false"`, on, Transition{New: true}, false},
		{"false removed", `serving.kserve.io/disable-auto-update: "false"`, "", Transition{}, true},
	}
	ready := "status: {conditions: [{type: Ready, status: \"True\"}]}\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, manifestWithMeta("annotations: {"+tt.oldAnn+"}", sklearnV1)+ready, manifestWithMeta("annotations: {"+tt.new+"}", sklearnV1))
			if !f.StatusReady {
				t.Error("statusReady = false, want the stored Ready condition")
			}
			if f.AutoUpdateDisabled != tt.want {
				t.Errorf("autoUpdateDisabled = %+v, want %+v", f.AutoUpdateDisabled, tt.want)
			}
			if f.RevisionChanged != tt.wantRevisions {
				t.Errorf("revisionChanged = %v (metadataChanged %v), want %v", f.RevisionChanged, f.MetadataChanged, tt.wantRevisions)
			}
		})
	}
}

// Every location a component loads a model from is listed, so a rule about
// storage locations sees the ones the model summary leaves out.
func TestFacts_StorageURIsListEveryLocation(t *testing.T) {
	tests := []struct {
		name      string
		predictor string
		want      []string
	}{
		{"model{}", `model: {modelFormat: {name: sklearn}, storageUri: "gs://m/v1"}`, []string{"gs://m/v1"}},
		{"a legacy block", `sklearn: {storageUri: "gs://m/v1"}`, []string{"gs://m/v1"}},
		{"storageUris beside model{}", `{model: {modelFormat: {name: sklearn}}, storageUris: [{uri: "gs://m/a", mountPath: /mnt/models/a}, {uri: "s3://other/b", mountPath: /mnt/models/b}]}`,
			[]string{"gs://m/a", "s3://other/b"}},
		{"a storage spec", `model: {modelFormat: {name: sklearn}, storage: {key: minio, path: sklearn/model.joblib}}`, []string{"storage:minio/sklearn/model.joblib"}},
		{"a custom container's STORAGE_URI", `containers: [{name: kserve-container, image: "server:1", env: [{name: STORAGE_URI, value: "gs://m/c"}]}]`, []string{"gs://m/c"}},
		{"a custom container without one", `containers: [{name: kserve-container, image: "server:1"}]`, nil},
		{"a Hugging Face model id", `model: {modelFormat: {name: huggingface}, args: ["--model_id=Qwen/A"]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, predictorManifest(sklearnV1), predictorManifest(tt.predictor))
			p := componentByID(t, f, KindPredictor)
			if !slices.Equal(p.NewStorageURIs, tt.want) {
				t.Errorf("newStorageUris = %q, want %q", p.NewStorageURIs, tt.want)
			}
			if !slices.Equal(p.OldStorageURIs, []string{"gs://models/iris/v1"}) {
				t.Errorf("oldStorageUris = %q, want the old storageUri", p.OldStorageURIs)
			}
		})
	}
}

// On an InferenceService that is not Ready KServe reconciles whatever the
// annotation says, and copies it into the revision template.
func TestFacts_AutoUpdateDisabledOnANotReadyObjectMakesARevision(t *testing.T) {
	const on = `annotations: {serving.kserve.io/disable-auto-update: "true"}`
	for _, status := range []string{"", "status: {conditions: [{type: Ready, status: \"False\"}]}\n"} {
		f := updateFacts(t, predictorManifest(sklearnV1)+status, manifestWithMeta(on, sklearnV1))
		if f.StatusReady || !f.RevisionChanged || !slices.Equal(f.MetadataChanged, []string{"metadata.annotations.serving.kserve.io/disable-auto-update"}) {
			t.Errorf("status %q: statusReady=%v revisionChanged=%v metadataChanged=%v, want a revision from the annotation", status, f.StatusReady, f.RevisionChanged, f.MetadataChanged)
		}
	}
}

func TestFacts_StorageURIsOfOtherComponents(t *testing.T) {
	tests := []struct {
		name, spec string
		id         string
		want       []string
	}{
		{"a transformer's storageUris and STORAGE_URI", `transformer: {storageUris: [{uri: "gs://t/a", mountPath: /mnt/a}], containers: [{name: kserve-container, image: "t:1", env: [{name: STORAGE_URI, value: "gs://t/b"}]}]}`,
			KindTransformer, []string{"gs://t/a", "gs://t/b"}},
		{"a storage spec with parameters", `predictor: {model: {modelFormat: {name: sklearn}, storage: {key: minio, path: iris/model, parameters: {type: s3, bucket: scratch}}}}`,
			KindPredictor, []string{"storage:minio{bucket=scratch,type=s3}/iris/model"}},
		{"a storage spec without a key, with a type: the default entry of that type", `predictor: {model: {modelFormat: {name: sklearn}, storage: {path: /iris, parameters: {type: s3}}}}`,
			KindPredictor, []string{"storage:default_s3{type=s3}/iris"}},
		{"an ART explainer's storage spec is not read", `explainer: {art: {type: SquareAttack, storage: {key: minio, path: art/model}}}`,
			KindExplainer, nil},
		{"an explainer's storageUris and ART storageUri", `explainer: {storageUris: [{uri: "gs://e/a", mountPath: /mnt/a}], art: {type: SquareAttack, storageUri: "gs://e/b"}}`,
			KindExplainer, []string{"gs://e/a", "gs://e/b"}},
		{"a storage spec without a key reads the default entry", `predictor: {model: {modelFormat: {name: sklearn}, storage: {path: iris}}}`,
			KindPredictor, []string{"storage:default/iris"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := "metadata: {name: my-model, namespace: models}\nspec:\n  predictor:\n    " + sklearnV1 + "\n"
			next := "metadata: {name: my-model, namespace: models}\nspec:\n  " + tt.spec + "\n"
			if tt.id != KindPredictor {
				next += "  predictor:\n    " + sklearnV1 + "\n"
			}
			f := updateFacts(t, base, next)
			if c := componentByID(t, f, tt.id); !slices.Equal(c.NewStorageURIs, tt.want) {
				t.Errorf("newStorageUris = %q, want %q", c.NewStorageURIs, tt.want)
			}
		})
	}
}

// A new entry is judged as written: renaming spec.predictor to it in the
// same update is accepted when its storage URI is not the stable's.
func TestFacts_PromotableByRenameOfANewEntry(t *testing.T) {
	f := updateFacts(t, standardManifest("", stdStableV1), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)))
	if c := componentByID(t, f, "canary:v2"); !c.PromotableByRename {
		t.Error("promotableByRename = false for a new entry with its own storage URI")
	}
}

// An entry that stops naming a runtime, where the status names no stable
// runtime, keeps counting as a model change (runtime-selection speaks for
// the stable components only).
func TestFacts_AnEntryDroppingItsRuntimeIsAModelChange(t *testing.T) {
	entry := `{predictor: {name: v2, model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"%s}}, trafficPercent: 20}`
	f := updateFacts(t, standardManifest("", stdStableV1, fmt.Sprintf(entry, ", runtime: kserve-mlserver")), standardManifest("", stdStableV1, fmt.Sprintf(entry, "")))
	if c := componentByID(t, f, "canary:v2"); c.RuntimeUnpinned || !c.ModelChanged {
		t.Errorf("runtimeUnpinned=%v modelChanged=%v, want a model change", c.RuntimeUnpinned, c.ModelChanged)
	}
}

// KServe gives a canary entry's Deployment no storageUris: an entry lists
// its merged model's storage URI only, where the stable lists both.
func TestFacts_AnEntryLoadsNoStorageUris(t *testing.T) {
	stable := stdStableV1 + "\n    storageUris: [{uri: \"gs://models/extra\", mountPath: /mnt/extra}]"
	f := updateFacts(t, standardManifest("", stable), standardManifest("", stable, fmt.Sprintf(stdCanaryV2, 10)))
	if c := componentByID(t, f, "canary:v2"); !slices.Equal(c.NewStorageURIs, []string{"gs://models/iris/v2"}) {
		t.Errorf("entry: newStorageUris = %q, want the entry's storageUri only", c.NewStorageURIs)
	}
	if p := componentByID(t, f, KindPredictor); !slices.Equal(p.NewStorageURIs, []string{"gs://models/iris/v1", "gs://models/extra"}) {
		t.Errorf("stable: newStorageUris = %q, want both", p.NewStorageURIs)
	}
}

// The stored value of each changed internal annotation is recorded, nil
// where there was none: what internal-annotation tells the user to put back.
func TestFacts_InternalAnnotationsOld(t *testing.T) {
	const key = "internal.serving.kserve.io/storage-spec"
	old := manifestWithMeta(`annotations: {`+key+`: "true"}`, sklearnV1)
	next := "metadata: {name: my-model, namespace: models}\nspec:\n  predictor:\n    annotations: {" + key + `: "x"}` + "\n    " + sklearnV1 + "\n"
	f := updateFacts(t, old, next)
	want := []string{key, "spec.predictor.annotations." + key}
	if !slices.Equal(f.InternalAnnotationsChanged, want) {
		t.Fatalf("internalAnnotationsChanged = %q, want %q", f.InternalAnnotationsChanged, want)
	}
	if v := f.InternalAnnotationsOld[key]; v == nil || *v != "true" {
		t.Errorf("old value of %s = %v, want \"true\"", key, v)
	}
	if v, ok := f.InternalAnnotationsOld["spec.predictor.annotations."+key]; !ok || v != nil {
		t.Errorf("old value of the predictor's = %v (recorded %v), want none", v, ok)
	}
	if got, err := json.Marshal(updateFacts(t, sklearnManifest(), sklearnManifest()).InternalAnnotationsOld); err != nil || string(got) != "{}" {
		t.Errorf("no change marshals as %s (%v), want {}", got, err)
	}
}

func sklearnManifest() string { return predictorManifest(sklearnV1) }
