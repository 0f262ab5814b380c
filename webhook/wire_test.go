package webhook

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"
	knservingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/canary-guard/canary-guard/bench/load"
	"github.com/canary-guard/canary-guard/policy"
)

// TestWireDecodingKeepsEveryFact checks that the one-pass decoding, which
// skips what canary-guard does not read, yields the same rollout facts and
// the same spec as fully decoded InferenceServices, on the load corpus
// (stored objects with managed fields and status) and the handler tests'
// objects.
func TestWireDecodingKeepsEveryFact(t *testing.T) {
	cases, err := load.Corpus(load.CorpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{
		"step":         review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10),
		"model change": review("UPDATE", "InferenceService", isvcV2, isvcV1),
		"promotion":    review("UPDATE", "InferenceService", isvcV2Promoted, isvcV2At10),
		"create":       review("CREATE", "InferenceService", isvcV1, ""),
		// The runtime KServe selected, named: the status says which.
		"selected runtime named": review("UPDATE", "InferenceService",
			strings.Replace(isvcV1, `"storageUri"`, `"runtime":"kserve-tensorflow-serving","storageUri"`, 1),
			strings.Replace(isvcV1, `}}}}`, `}}},"status":{"clusterServingRuntimeName":"kserve-tensorflow-serving","servingRuntimeName":"x"}}`, 1)),
		// Only the Ready condition counts (statusReady), wherever it is.
		"conditions": review("UPDATE", "InferenceService", isvcV2At10,
			strings.Replace(isvcV2At10, `}}}}`, `}}},"status":{"conditions":[{"type":"PredictorReady","status":"True"},{"type":"Ready","status":"False","reason":"RevisionFailed","lastTransitionTime":"2026-11-25T10:00:00Z"}]}}`, 1)),
		// A repeated conditions member replaces the earlier one.
		"repeated conditions": review("UPDATE", "InferenceService", isvcV2At10,
			strings.Replace(isvcV2At10, `}}}}`, `}}},"status":{"conditions":[{"type":"Ready","status":"False"}],"conditions":[{"type":"Ready","status":"True"}]}}`, 1)),
		"repeated conditions, the last empty": review("UPDATE", "InferenceService", isvcV2At10,
			strings.Replace(isvcV2At10, `}}}}`, `}}},"status":{"conditions":[{"type":"Ready","status":"True"}],"conditions":[]}}`, 1)),
		// A repeated spec member is merged into one spec: the model
		// change in the first must not hide behind a step in the second.
		"repeated spec": review("UPDATE", "InferenceService",
			strings.Replace(isvcV2, `}}}}`, `}}},"spec":{"predictor":{"canaryTrafficPercent":35}}}`, 1),
			strings.Replace(isvcV1, `}}}}`, `}}},"spec":{"predictor":{"canaryTrafficPercent":10}}}`, 1)),
	}
	for _, c := range cases {
		bodies[c.Name] = string(c.Body)
	}
	settings := policy.DefaultSettings()
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			fast, err := decodeReview([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			wire, err := decode(fast.Request)
			if err != nil {
				t.Fatal(err)
			}
			// The raw specs, which let a step skip the comparison of the
			// decoded ones, are the specs' JSON objects; an object with
			// more than one spec member has none.
			for _, spec := range [][]byte{wire.SpecJSON, wire.OldSpecJSON} {
				if spec != nil && (!json.Valid(spec) || spec[0] != '{') {
					t.Errorf("raw spec is not a JSON object: %.80q", spec)
				}
			}
			rawSpecs := wire.SpecJSON != nil && (wire.OldSpecJSON != nil || wire.Operation != "UPDATE")
			if want := name != "repeated spec"; rawSpecs != want {
				t.Errorf("raw specs kept: %v, want %v", rawSpecs, want)
			}
			var full admissionv1.AdmissionReview
			if err := unmarshal([]byte(body), &full); err != nil {
				t.Fatal(err)
			}
			whole := &policy.Request{Operation: wire.Operation, Namespace: wire.Namespace, Name: wire.Name, User: wire.User}
			if whole.Object, err = fullInferenceService(full.Request.Object.Raw); err != nil {
				t.Fatal(err)
			}
			if whole.OldObject, err = fullInferenceService(full.Request.OldObject.Raw); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
			want, err := policy.BuildFacts(whole, policy.FactsOptions{Settings: &settings, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			got, err := policy.BuildFacts(wire, policy.FactsOptions{Settings: &settings, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("facts differ:\n wire: %+v\n full: %+v", got, want)
			}
			if name == "conditions" && got.StatusReady {
				t.Error("statusReady = true, want the Ready condition's False")
			}
			if !reflect.DeepEqual(wire.Object.Spec, whole.Object.Spec) || !reflect.DeepEqual(wire.Object.Annotations, whole.Object.Annotations) ||
				!reflect.DeepEqual(wire.Object.Labels, whole.Object.Labels) {
				t.Error("spec, labels or annotations differ from the fully decoded object")
			}
		})
	}
}

func fullInferenceService(raw []byte) (*v1beta1.InferenceService, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	obj := &v1beta1.InferenceService{}
	return obj, unmarshal(raw, obj)
}

func TestWireDecodingKeepsTheLatestRevisionTarget(t *testing.T) {
	status := func(traffic string) string {
		return `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"m"},"spec":{"predictor":{}},` +
			`"status":{"components":{"predictor":{"latestReadyRevision":"m-2","traffic":` + traffic + `}}}}`
	}
	many := strings.Repeat(`{"revisionName":"m-1","percent":0,"tag":"x"},`, 10000)
	tests := []struct {
		name, traffic string
		want          *int64 // the latest target's percent, nil for none kept
		wantRevision  string // the revision every target names, "" where they differ
	}{
		{"split", `[{"tag":"prev","revisionName":"m-1","percent":90},{"tag":"latest","latestRevision":true,"revisionName":"m-2","percent":10}]`, pct(10), ""},
		{"split with itself", `[{"tag":"latest","latestRevision":true,"revisionName":"m-1","percent":10},{"tag":"prev","revisionName":"m-1","percent":90}]`, pct(10), "m-1"},
		{"one target", `[{"tag":"latest","latestRevision":true,"revisionName":"m-1","percent":100}]`, pct(100), "m-1"},
		{"the first latest target wins", `[{"latestRevision":true,"percent":35},{"latestRevision":true,"percent":10}]`, pct(35), ""},
		{"latest without a percent is 0", `[{"latestRevision":true}]`, pct(0), ""},
		{"no latest target", `[{"revisionName":"m-1","percent":100}]`, nil, ""},
		{"null", `null`, nil, ""},
		{"many targets read past", `[` + many + `{"latestRevision":true,"percent":25}]`, pct(25), ""},
		{"many targets of one revision", `[` + many + `{"latestRevision":true,"revisionName":"m-1","percent":25}]`, pct(25), "m-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(status(tt.traffic))
			obj, err := decodeInferenceService(raw)
			if err != nil {
				t.Fatal(err)
			}
			traffic := obj.Status.Components["predictor"].Traffic
			switch {
			case tt.want == nil && len(traffic) != 0:
				t.Errorf("traffic %+v, want none kept", traffic)
			case tt.want != nil && (len(traffic) == 0 || traffic[0].Percent == nil || *traffic[0].Percent != *tt.want ||
				traffic[0].LatestRevision == nil || !*traffic[0].LatestRevision):
				t.Errorf("traffic %+v, want a latest-revision target at %d first", traffic, *tt.want)
			}
			if tt.want == nil {
				return
			}
			whole, err := fullInferenceService(raw)
			if err != nil {
				t.Fatal(err)
			}
			full := whole.Status.Components["predictor"].Traffic
			if got, want := oneRevision(traffic), oneRevision(full); got != want || got != tt.wantRevision {
				t.Errorf("targets all name %q, the full decode's %q, want %q", got, want, tt.wantRevision)
			}
			if (len(traffic) > 1) != (len(full) > 1) {
				t.Errorf("%d targets kept, want more than one exactly where the full decode has (%d)", len(traffic), len(full))
			}
		})
	}
	if _, err := decodeInferenceService([]byte(status(`{"percent":10}`))); err == nil {
		t.Error("traffic as an object decoded without an error")
	}
}

// oneRevision is the revision every target names, "" where they differ.
func oneRevision(traffic []knservingv1.TrafficTarget) string {
	if len(traffic) == 0 {
		return ""
	}
	for _, t := range traffic[1:] {
		if t.RevisionName != traffic[0].RevisionName {
			return ""
		}
	}
	return traffic[0].RevisionName
}

func pct(v int64) *int64 { return &v }
