package policy

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A percent an apply declares (Flux and Argo CD's server-side apply own it
// in managedFields; kubectl's and Argo CD's client-side apply record it in
// last-applied-configuration) is not injected over: the next sync of the
// same manifest would set it back, raising the new model to it without a
// commit or failing every sync on max-step. Validation refuses the model
// change with the percent to write in the manifest instead.
func TestMutate_NoInjectionOverAPercentAnApplyDeclares(t *testing.T) {
	at100 := strings.Replace(newModelAt10, "10", "100", 1)
	old100 := strings.Replace(stableV1, `storageUri: "gs://models/v1"}`, `storageUri: "gs://models/v1"}`+"\n    canaryTrafficPercent: 100", 1)
	owning := func(op metav1.ManagedFieldsOperationType, fields string) []metav1.ManagedFieldsEntry {
		return []metav1.ManagedFieldsEntry{{Manager: "kustomize-controller", Operation: op, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}}
	}
	const percentOwned = `{"f:spec":{"f:predictor":{"f:canaryTrafficPercent":{},"f:model":{"f:storageUri":{}}}}}`
	const percentNotOwned = `{"f:spec":{"f:predictor":{"f:model":{"f:storageUri":{}}}}}`
	tests := []struct {
		name          string
		old, new      string // old defaults to stableV1
		managedFields []metav1.ManagedFieldsEntry
		lastApplied   string
		staleApplied  bool // the old object carries the same annotation
		wantInjected  bool
		wantBy        string // whose percent, when not injected
	}{
		{name: "100 owned by a server-side apply", new: at100, managedFields: owning(metav1.ManagedFieldsOperationApply, percentOwned),
			wantBy: `the server-side apply of field manager "kustomize-controller"`},
		{name: "100 recorded by kubectl's client-side apply", new: at100,
			lastApplied: `{"spec":{"predictor":{"canaryTrafficPercent":100,"model":{"storageUri":"gs://models/v2"}}}}`,
			wantBy:      "kubectl apply (its kubectl.kubernetes.io/last-applied-configuration)"},
		{name: "100 set by an update (kubectl patch)", new: at100, managedFields: owning(metav1.ManagedFieldsOperationUpdate, percentOwned), wantInjected: true},
		{name: "100 the server-side apply does not own", new: at100, managedFields: owning(metav1.ManagedFieldsOperationApply, percentNotOwned), wantInjected: true},
		{name: "absent, server-side apply", new: newModelNoCanary, managedFields: owning(metav1.ManagedFieldsOperationApply, percentNotOwned), wantInjected: true},
		{name: "absent, client-side apply", new: newModelNoCanary,
			lastApplied: `{"spec":{"predictor":{"model":{"storageUri":"gs://models/v2"}}}}`, wantInjected: true},
		{name: "last-applied-configuration that does not parse", new: at100, lastApplied: `{`, wantInjected: true},
		// kubectl apply once, then a server-side apply that does not own
		// the percent (a move to a GitOps tool): the annotation stays as
		// kubectl left it, and speaks for no apply any more; the percent
		// stays as it was, 100.
		{name: "100 kept, in a last-applied-configuration this update left as it was", old: old100, new: at100,
			lastApplied:   `{"spec":{"predictor":{"canaryTrafficPercent":100,"model":{"storageUri":"gs://models/v1"}}}}`,
			staleApplied:  true,
			managedFields: owning(metav1.ManagedFieldsOperationApply, percentNotOwned), wantInjected: true},
		// A re-apply of the same manifest over an object changed since
		// (a self-heal after a kubectl patch): the annotation stays, and
		// the update writes the percent it records.
		{name: "100 written back, as the unchanged last-applied-configuration records it", new: at100,
			lastApplied:  `{"spec":{"predictor":{"canaryTrafficPercent":100,"model":{"storageUri":"gs://models/v2"}}}}`,
			staleApplied: true,
			wantBy:       "kubectl apply (its kubectl.kubernetes.io/last-applied-configuration)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, "")
			old := tc.old
			if old == "" {
				old = stableV1
			}
			req := update(t, old, tc.new)
			req.Object.ManagedFields = tc.managedFields
			if tc.lastApplied != "" {
				req.Object.Annotations = map[string]string{annotationLastApplied: tc.lastApplied}
			}
			if tc.staleApplied {
				req.OldObject.Annotations = map[string]string{annotationLastApplied: tc.lastApplied}
			}
			m, err := g.Mutate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			injected := false
			for _, p := range m.Patches {
				injected = injected || p.Path == "/spec/predictor/canaryTrafficPercent"
			}
			if injected != tc.wantInjected {
				t.Fatalf("injected = %v, want %v; patches %+v", injected, tc.wantInjected, m.Patches)
			}
			if injected {
				return
			}
			// The mutating webhook says whose percent it left alone.
			if len(m.Warnings) != 1 || m.Warnings[0].Rule != "percent-applied" || !strings.Contains(m.Warnings[0].Msg, tc.wantBy) ||
				!strings.Contains(m.Warnings[0].Msg, "Write spec.predictor.canaryTrafficPercent: 10 with the new model in the manifest") {
				t.Errorf("warnings %v, want percent-applied naming %s", m.Warnings, tc.wantBy)
			}
			d, err := g.Validate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed || len(d.Denials) != 1 || d.Denials[0].Rule != "initial-percent" ||
				!strings.Contains(d.Denials[0].Msg, "Set spec.predictor.canaryTrafficPercent: 10 (or less)") {
				t.Errorf("validation allowed=%v denials %v, want the initial-percent denial with the percent to set", d.Allowed, d.Denials)
			}
		})
	}
}
