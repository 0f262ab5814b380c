package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
)

// entry is a spec.canary[] entry at percent, with its own minReplicas
// when min is not nil.
func entry(name string, percent int32, min *int32) v1beta1.CanarySpec {
	e := v1beta1.CanarySpec{TrafficPercent: percent}
	e.Predictor.Name = name
	e.Predictor.MinReplicas = min
	return e
}

func TestStandardReplicas_FollowKServe(t *testing.T) {
	tests := []struct {
		name        string
		stableMin   *int32
		entries     []v1beta1.CanarySpec
		wantEntries []int64
		wantStable  int64
	}{
		{"no minReplicas: the default 1, not adjusted", nil, []v1beta1.CanarySpec{entry("v2", 10, nil)}, []int64{1}, 1},
		{"no entries", ptr(int32(4)), nil, nil, 4},
		{"10 % of 4 rounds up to 1", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 10, nil)}, []int64{1}, 3},
		{"35 % of 4", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 35, nil)}, []int64{2}, 2},
		{"60 % of 4", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 60, nil)}, []int64{3}, 1},
		{"85 % of 4: the stable keeps at least 1", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 85, nil)}, []int64{4}, 1},
		{"0 % runs no replicas", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 0, nil)}, []int64{0}, 4},
		{"an entry's minReplicas wins over its percent", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 0, ptr(int32(2)))}, []int64{2}, 2},
		{"two entries", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 10, nil), entry("v3", 10, nil)}, []int64{1, 1}, 2},
		{"33 % of 10", ptr(int32(10)), []v1beta1.CanarySpec{entry("v2", 33, nil)}, []int64{4}, 6},
		{"minReplicas 0 with an entry is raised to 1", ptr(int32(0)), []v1beta1.CanarySpec{entry("v2", 10, nil)}, []int64{0}, 1},
		{"minReplicas 0 without entries stays 0", ptr(int32(0)), nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := v1beta1.InferenceServiceSpec{Canary: tt.entries}
			spec.Predictor.MinReplicas = tt.stableMin
			for i := range tt.entries {
				if got := canaryReplicas(tt.stableMin, &tt.entries[i]); got != tt.wantEntries[i] {
					t.Errorf("entry %s: %d replicas, want %d", tt.entries[i].Predictor.Name, got, tt.wantEntries[i])
				}
			}
			if got := stableReplicas(&spec, tt.stableMin); got != tt.wantStable {
				t.Errorf("stable: %d replicas, want %d", got, tt.wantStable)
			}
		})
	}
}

func TestMinReplicasToKeep(t *testing.T) {
	tests := []struct {
		name      string
		stableMin *int32
		entries   []v1beta1.CanarySpec
		want      int64
		keep      int64
	}{
		{"entries sized by percent grow with it", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 35, nil)}, 3, 5},
		{"entries of fixed size do not", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 10, ptr(int32(4)))}, 3, 7},
		{"from an unset minReplicas", nil, []v1beta1.CanarySpec{entry("v2", 50, nil)}, 2, 4},
		{"none when the entries take every replica", ptr(int32(4)), []v1beta1.CanarySpec{entry("v2", 60, nil), entry("v3", 40, nil)}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := v1beta1.InferenceServiceSpec{Canary: tt.entries}
			spec.Predictor.MinReplicas = tt.stableMin
			if got := minReplicasToKeep(&spec, tt.want); got != tt.keep {
				t.Errorf("minReplicasToKeep(%d) = %d, want %d", tt.want, got, tt.keep)
			}
		})
	}
}

func TestFacts_StandardReplicas(t *testing.T) {
	stable := func(min int) string {
		return fmt.Sprintf("minReplicas: %d\n    maxReplicas: 8\n    %s", min, stdStableV1)
	}
	tests := []struct {
		name                       string
		old, new                   string
		wantOld, wantNew, wantKeep int64
		wantEntryOld, wantEntryNew int64
	}{
		{"a step takes a replica from the stable",
			standardManifest("", stable(4), fmt.Sprintf(stdCanaryV2, 10)), standardManifest("", stable(4), fmt.Sprintf(stdCanaryV2, 35)),
			3, 2, 5, 1, 2},
		{"a new entry",
			standardManifest("", stable(4)), standardManifest("", stable(4), fmt.Sprintf(stdCanaryV2, 10)),
			4, 3, 5, 0, 1},
		{"removing the entry gives them back",
			standardManifest("", stable(4), fmt.Sprintf(stdCanaryV2, 35)), standardManifest("", stable(4)),
			2, 4, 0, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			p := componentByID(t, f, KindPredictor).Replicas
			if p == nil {
				t.Fatal("predictor replicas = nil in Standard mode")
			}
			if p.Old != tt.wantOld || p.New != tt.wantNew || p.MinReplicasToKeep != tt.wantKeep {
				t.Errorf("stable replicas %d -> %d, keep with %d; want %d -> %d, keep with %d",
					p.Old, p.New, p.MinReplicasToKeep, tt.wantOld, tt.wantNew, tt.wantKeep)
			}
			if ptrText(p.OldMinReplicas) != "4" || ptrText(p.NewMinReplicas) != "4" || p.MaxReplicas != 8 || p.AutoscalerClass != "hpa" {
				t.Errorf("minReplicas %s -> %s, maxReplicas %d, autoscalerClass %q; want 4 -> 4, 8, hpa",
					ptrText(p.OldMinReplicas), ptrText(p.NewMinReplicas), p.MaxReplicas, p.AutoscalerClass)
			}
			c := componentByID(t, f, "canary:v2").Replicas
			if c == nil || c.Old != tt.wantEntryOld || c.New != tt.wantEntryNew {
				t.Errorf("entry replicas %+v, want %d -> %d", c, tt.wantEntryOld, tt.wantEntryNew)
			}
		})
	}

	t.Run("the autoscaler class: the predictor's annotation over the InferenceService's", func(t *testing.T) {
		withClass := func(isvcClass, predictorClass string) string {
			m := standardManifest("", stable(4))
			m = strings.Replace(m, "annotations: {", "annotations: {serving.kserve.io/autoscalerClass: "+isvcClass+", ", 1)
			if predictorClass != "" {
				m = strings.Replace(m, "  predictor:\n", "  predictor:\n    annotations: {serving.kserve.io/autoscalerClass: "+predictorClass+"}\n", 1)
			}
			return m
		}
		for _, tt := range []struct{ isvc, predictor, want string }{{"none", "", "none"}, {"none", "external", "external"}} {
			f := updateFacts(t, withClass(tt.isvc, tt.predictor), withClass(tt.isvc, tt.predictor))
			if got := componentByID(t, f, KindPredictor).Replicas.AutoscalerClass; got != tt.want {
				t.Errorf("InferenceService %s, predictor %q: class %q, want %q", tt.isvc, tt.predictor, got, tt.want)
			}
		}
	})

	t.Run("a CREATE with entries names the minReplicas for a full stable", func(t *testing.T) {
		req := &Request{Operation: OperationCreate, Object: isvc(t, standardManifest("", stable(4), fmt.Sprintf(stdCanaryV2, 50)))}
		f, err := BuildFacts(req, FactsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := componentByID(t, f, KindPredictor).Replicas
		if p.Old != 2 || p.New != 2 || p.MinReplicasToKeep != 8 {
			t.Errorf("stable replicas %d -> %d, keep with %d; want 2 -> 2, a stable of 4 with 8", p.Old, p.New, p.MinReplicasToKeep)
		}
	})

	t.Run("a promotion onto fewer replicas names the minReplicas that prepares it", func(t *testing.T) {
		v2 := `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`
		for _, tt := range []struct {
			percent           int
			wantEntry, wantTo int64
		}{
			{50, 2, 6}, // the entry needs 4 of its own, the stable keeps its 2
			{75, 3, 4}, // the stable keeps its 1 at minReplicas 4 already
			{100, 4, 0},
		} {
			f := updateFacts(t,
				standardManifest("", stable(4), fmt.Sprintf(stdCanaryV2, tt.percent)),
				standardManifest("v2", fmt.Sprintf("minReplicas: 4\n    maxReplicas: 8\n    %s", v2)))
			p := componentByID(t, f, KindPredictor)
			if p.PromotedCanary != "v2" || p.Replicas.New != 4 {
				t.Fatalf("promoted %q, stable needs %d; want v2, 4", p.PromotedCanary, p.Replicas.New)
			}
			if e := componentByID(t, f, "canary:v2").Replicas; e.Old != tt.wantEntry || p.Replicas.MinReplicasToPromote != tt.wantTo {
				t.Errorf("%d %%: entry ran %d, minReplicasToPromote %d; want %d, %d", tt.percent, e.Old, p.Replicas.MinReplicasToPromote, tt.wantEntry, tt.wantTo)
			}
		}
	})

	t.Run("Knative mode has none", func(t *testing.T) {
		f := updateFacts(t,
			"metadata: {name: m}\nspec:\n  predictor:\n    minReplicas: 4\n    model: {modelFormat: {name: sklearn}, storageUri: gs://m/v1}",
			"metadata: {name: m}\nspec:\n  predictor:\n    minReplicas: 2\n    model: {modelFormat: {name: sklearn}, storageUri: gs://m/v1}")
		if r := componentByID(t, f, KindPredictor).Replicas; r != nil {
			t.Errorf("replicas %+v, want nil outside Standard mode", r)
		}
	})
}

// TestFacts_UnscaledEntryHintFollowsKServe: the "cannot become ready" hint
// is for an entry whose Deployment KServe sizes to 0, which only the
// autoscaler class none does (createRawDefaultDeployment sets replicas
// from minReplicas only for none; hpa and keda leave them to the
// Deployment's default and the scaler, and a canary entry's ScaledObject
// gets no triggers, AutoScaling being cleared by buildCanaryPredictor).
// It names minReplicas: 1 only where KServe accepts it (an entry's
// minReplicas may not exceed the stable's).
func TestFacts_UnscaledEntryHintFollowsKServe(t *testing.T) {
	manifest := func(class, stableMin string, pct int) string {
		return fmt.Sprintf(`apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: sklearn-iris
  annotations:
    serving.kserve.io/deploymentMode: Standard
    serving.kserve.io/autoscalerClass: %s
spec:
  predictor:%s
    model:
      modelFormat: {name: sklearn}
      storageUri: gs://kfserving-examples/models/sklearn/1.0/model
  canary:
  - predictor:
      name: v2
      model:
        modelFormat: {name: sklearn}
        storageUri: gs://kfserving-examples/models/sklearn/1.0/model-2
    trafficPercent: %d
status:
  deploymentMode: Standard
  canaryStatuses:
  - {name: v2, ready: false, trafficPercent: 0}
`, class, stableMin, pct)
	}
	tests := []struct {
		name, class, stableMin string
		wantHint               bool
	}{
		{"none: 0 replicas", "none", "\n    minReplicas: 4", true},
		{"none, stable minReplicas unset (1)", "none", "", true},
		{"keda: the Deployment keeps its default replica", "keda", "\n    minReplicas: 4", false},
		{"hpa: floored at 1", "hpa", "\n    minReplicas: 4", false},
		{"none, stable minReplicas 0: KServe refuses an entry's minReplicas 1", "none", "\n    minReplicas: 0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := manifest(tt.class, tt.stableMin, 0)
			f, err := BuildFacts(update(t, old, manifest(tt.class, tt.stableMin, 10)), FactsOptions{Settings: &DefaultConfig().Defaults, Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			var reason string
			for _, c := range f.Components {
				if c.Kind == KindCanary {
					reason = c.CanaryReadyReason
				}
			}
			if got := strings.Contains(reason, "minReplicas: 1"); got != tt.wantHint {
				t.Errorf("reason %q: hint %v, want %v", reason, got, tt.wantHint)
			}
		})
	}
}
