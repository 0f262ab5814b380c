package policy

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"sigs.k8s.io/yaml"
)

// FuzzBuildFacts decodes arbitrary old and new InferenceServices as the
// webhook does (encoding/json) and checks that BuildFacts never panics and
// that the facts it returns agree with themselves.
func FuzzBuildFacts(f *testing.F) {
	toJSON := func(manifest string) []byte {
		b, err := yaml.YAMLToJSON([]byte(manifest))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	pairs := [][2]string{
		{stableV1, newModelNoCanary},
		{stableV1, newModelAt10},
		{newModelAt10, newModelAt50},
		{canaryAt(10, true), canaryAt(35, true)},
		{canaryAt(10, true), canaryAt(100, true)},
		{canaryAt(35, true), canaryAt(0, true)},
		{canaryAt(35, false), canaryAt(-1, false)},
		{standardManifest("", stdStableV1), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10))},
		{standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 50))},
		{standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 50)), standardManifest("v2", stdStableV1)},
		{standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 50)), standardManifest("", stdStableV1)},
	}
	for _, p := range pairs {
		f.Add(toJSON(p[0]), toJSON(p[1]), true)
	}
	f.Add(toJSON(stableV1), toJSON(stableV1), false)
	f.Add([]byte(`{}`), []byte(`{"spec":{"transformer":{"containers":[{"image":"t:1"}]},"explainer":{"containers":[{"image":"e:1"}]}}}`), true)

	opts := FactsOptions{Now: testNow}
	f.Fuzz(func(t *testing.T, oldJSON, newJSON []byte, isUpdate bool) {
		req := &Request{Operation: OperationCreate, Namespace: "models", Name: "my-model",
			User: UserInfo{Username: "alice", Groups: []string{"ml-engineers"}}}
		newObj := &v1beta1.InferenceService{}
		newOK := json.Unmarshal(newJSON, newObj) == nil
		if newOK {
			req.Object = newObj
		}
		if isUpdate {
			req.Operation = OperationUpdate
			oldObj := &v1beta1.InferenceService{}
			if json.Unmarshal(oldJSON, oldObj) == nil {
				req.OldObject = oldObj
			}
		}
		facts, err := BuildFacts(req, opts)
		if req.Object == nil || (isUpdate && req.OldObject == nil) {
			if err == nil {
				t.Fatal("BuildFacts accepted a request without its objects")
			}
			return
		}
		if err != nil {
			return // a canary entry that cannot be merged: a clear error.
		}
		checkFacts(t, facts)
	})
}

// checkFacts asserts the invariants of a Facts document.
func checkFacts(t *testing.T, f *Facts) {
	t.Helper()
	if len(f.Components) == 0 || f.Components[0].ID != KindPredictor {
		t.Fatalf("components = %+v, want the predictor first", f.Components)
	}
	var model, revision, percent, raised bool
	for _, c := range f.Components {
		if c.ModelChanged && !c.RevisionChanged {
			t.Errorf("%s: modelChanged without revisionChanged", c.ID)
		}
		if !c.InOld && !c.InNew {
			t.Errorf("%s: in neither object", c.ID)
		}
		if f.AlwaysAdmit && c.Raised() {
			t.Errorf("alwaysAdmit (%s) although %s rises %d → %d", f.AlwaysAdmitReason, c.ID, c.OldEffectivePercent, c.NewEffectivePercent)
		}
		// A new model is always admitted only as a Knative dark launch: at
		// 0 %, all traffic stays on the rolled-out revision.
		darkLaunch := f.AlwaysAdmitReason == "rollback" && f.DeploymentMode == ModeKnative &&
			c.NewPercent != nil && *c.NewPercent == 0
		if f.AlwaysAdmit && c.ModelChanged && !darkLaunch {
			t.Errorf("alwaysAdmit (%s) although %s changes its model", f.AlwaysAdmitReason, c.ID)
		}
		model = model || c.ModelChanged
		revision = revision || c.RevisionChanged
		percent = percent || c.PercentChanged
		raised = raised || c.Raised() || c.PromotedCanary != ""
	}
	if f.ModelChanged != model || f.RevisionChanged != revision || f.PercentChanged != percent || f.Raised != raised {
		t.Errorf("summary model=%v revision=%v percent=%v raised=%v, components say %v %v %v %v",
			f.ModelChanged, f.RevisionChanged, f.PercentChanged, f.Raised, model, revision, percent, raised)
	}
	if f.ModelChanged && !f.RevisionChanged {
		t.Error("modelChanged without revisionChanged")
	}
	if f.AlwaysAdmit && (f.Operation != OperationUpdate || f.Raised || f.AlwaysAdmitReason == "") {
		t.Errorf("alwaysAdmit on %s raised=%v reason=%q", f.Operation, f.Raised, f.AlwaysAdmitReason)
	}
	if !f.AlwaysAdmit && f.AlwaysAdmitReason != "" {
		t.Errorf("alwaysAdmitReason %q without alwaysAdmit", f.AlwaysAdmitReason)
	}
	if f.Operation == OperationCreate && (f.ModelChanged || f.PercentChanged) {
		t.Errorf("CREATE compares the object with itself, yet modelChanged=%v percentChanged=%v", f.ModelChanged, f.PercentChanged)
	}
}
