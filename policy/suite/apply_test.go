package suite

import (
	"fmt"
	"strings"
	"testing"
)

// An apply removes only what it set before: a percent canary-guard
// injected, and tag routing, stay when the manifest leaves them out.
func TestManifests_ApplyKeepsWhatTheApplyDidNotSet(t *testing.T) {
	const manifest = `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: m, namespace: models, annotations: {team: a}}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: gs://b/v2}
`
	stored := func(meta string) string {
		return `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: m
  namespace: models
` + meta + `
spec:
  predictor:
    canaryTrafficPercent: 10
    model: {modelFormat: {name: sklearn}, storageUri: gs://b/v2}
`
	}
	const annotations = `{serving.kserve.io/enable-tag-routing: "true", team: a, owner: x}`
	// entries writes managedFields entries (manager, operation, fieldsV1)
	// and the annotations.
	entries := func(annotations string, e ...[3]string) string {
		out := "  managedFields:\n"
		for _, x := range e {
			out += "  - {manager: " + x[0] + ", operation: " + x[1] + ", fieldsType: FieldsV1, fieldsV1: " + x[2] + "}\n"
		}
		return out + "  annotations: " + annotations
	}
	ssa := func(fields string) string {
		return entries(annotations, [3]string{"argocd-controller", "Apply", fields})
	}
	const owning = `{f:metadata: {f:annotations: {f:owner: {}}}, f:spec: {f:predictor: {f:canaryTrafficPercent: {}}}}`
	// ssaBeside adds another manager's entry holding the same fields.
	ssaBeside := func(manager, operation string) string {
		return entries(annotations, [3]string{"argocd-controller", "Apply", owning}, [3]string{manager, operation, owning})
	}
	csa := func(lastApplied string) string {
		return fmt.Sprintf("  annotations: {serving.kserve.io/enable-tag-routing: \"true\", team: a, owner: x, kubectl.kubernetes.io/last-applied-configuration: '%s'}", lastApplied)
	}
	tests := []struct {
		name         string
		meta         string
		fieldManager string
		wantPercent  string // "" for none
		wantOwner    bool   // the owner annotation stays
	}{
		{"server-side apply that never set them", ssa(`{f:metadata: {f:annotations: {f:team: {}}}, f:spec: {f:predictor: {f:model: {}}}}`), "", "10", true},
		{"server-side apply that set them", ssa(owning), "", "", false},
		// Shared ownership: the apply drops only its own.
		{"server-side apply that set them beside another manager", ssaBeside("kubectl-edit", "Update"), "", "10", true},
		{"another manager's server-side apply set them", ssaBeside("kubectl", "Apply"), "kustomize-controller", "10", true},
		{"the named manager set them", ssa(owning), "argocd-controller", "", false},
		{"client-side apply that never set them", csa(`{"metadata":{"annotations":{"team":"a"}},"spec":{"predictor":{}}}`), "", "10", true},
		{"client-side apply that set them", csa(`{"metadata":{"annotations":{"owner":"x"}},"spec":{"predictor":{"canaryTrafficPercent":85}}}`), "", "", false},
		// A server-side apply took over: the copy kubectl left behind speaks for none.
		{"a stale last-applied-configuration beside a server-side apply",
			entries(`{serving.kserve.io/enable-tag-routing: "true", team: a, owner: x, kubectl.kubernetes.io/last-applied-configuration: '{"metadata":{"annotations":{"owner":"x"}},"spec":{"predictor":{"canaryTrafficPercent":35}}}'}`,
				[3]string{"argocd-controller", "Apply", `{f:spec: {f:predictor: {f:model: {}}}}`}),
			"", "10", true},
		{"no record of any apply", `  annotations: {serving.kserve.io/enable-tag-routing: "true", owner: x}`, "", "10", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, err := ParseManifest([]byte(stored(tt.meta)))
			if err != nil {
				t.Fatal(err)
			}
			newDoc, err := ParseManifest([]byte(manifest))
			if err != nil {
				t.Fatal(err)
			}
			req, err := Manifests{Old: old, New: newDoc, Apply: true, FieldManager: tt.fieldManager}.Request()
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p := req.Object.Spec.Predictor.CanaryTrafficPercent; p != nil {
				got = fmt.Sprint(*p)
			}
			if got != tt.wantPercent {
				t.Errorf("canaryTrafficPercent = %q, want %q", got, tt.wantPercent)
			}
			annotations := req.Object.Annotations
			if annotations["serving.kserve.io/enable-tag-routing"] != "true" || annotations["team"] != "a" {
				t.Errorf("annotations %v, want tag routing kept and the manifest's team", annotations)
			}
			if _, ok := annotations["owner"]; ok != tt.wantOwner {
				t.Errorf("owner annotation kept = %v, want %v", ok, tt.wantOwner)
			}
			if _, ok := annotations[annotationLastApplied]; ok {
				t.Error("the stored last-applied-configuration was carried over: an apply writes its own")
			}
		})
	}
	t.Run("several server-side appliers need the syncing one named", func(t *testing.T) {
		old, _ := ParseManifest([]byte(stored(ssaBeside("kubectl", "Apply"))))
		newDoc, _ := ParseManifest([]byte(manifest))
		_, err := Manifests{Old: old, New: newDoc, Apply: true}.Request()
		if err == nil || !strings.Contains(err.Error(), "argocd-controller, kubectl") || !strings.Contains(err.Error(), "--field-manager") {
			t.Errorf("err = %v, want the managers named and --field-manager asked for", err)
		}
	})
	t.Run("without --apply the manifest is the whole object", func(t *testing.T) {
		old, _ := ParseManifest([]byte(stored(ssa(`{}`))))
		newDoc, _ := ParseManifest([]byte(manifest))
		req, err := Manifests{Old: old, New: newDoc}.Request()
		if err != nil {
			t.Fatal(err)
		}
		if req.Object.Spec.Predictor.CanaryTrafficPercent != nil {
			t.Errorf("canaryTrafficPercent = %d, want none", *req.Object.Spec.Predictor.CanaryTrafficPercent)
		}
	})
}
