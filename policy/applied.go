package policy

import (
	"encoding/json"
	"strings"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// annotationLastApplied is where kubectl's client-side apply (and Argo CD's
// default sync) records the manifest it applied.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// appliedPercent reports whether an apply declares the canaryTrafficPercent
// of the component at path ("spec.predictor") in obj: a server-side apply
// owns it (a managedFields entry of operation Apply, as Flux and Argo CD's
// ServerSideApply write), or kubectl's client-side apply recorded it in its
// last-applied-configuration. The next apply of the same manifest sets that
// value again, so a percent injected over it would not stay: the GitOps
// tool would raise the new model to the manifest's percent on its next
// sync, or fail every sync on max-step.
func appliedPercent(obj *v1beta1.InferenceService, path string) bool {
	component, ok := strings.CutPrefix(path, "spec.")
	if !ok || strings.Contains(component, ".") {
		return false
	}
	for i := range obj.ManagedFields {
		e := &obj.ManagedFields[i]
		if e.Operation == metav1.ManagedFieldsOperationApply && e.FieldsV1 != nil && ownsPercent(e.FieldsV1.Raw, component) {
			return true
		}
	}
	if la, ok := obj.Annotations[annotationLastApplied]; ok {
		var m struct {
			Spec map[string]map[string]json.RawMessage `json:"spec"`
		}
		if json.Unmarshal([]byte(la), &m) == nil {
			v, ok := m.Spec[component]["canaryTrafficPercent"]
			return ok && string(v) != "null"
		}
	}
	return false
}

// ownsPercent reports whether a managedFields entry's fieldsV1 holds
// spec.<component>.canaryTrafficPercent.
func ownsPercent(fieldsV1 []byte, component string) bool {
	var f struct {
		Spec map[string]map[string]json.RawMessage `json:"f:spec"`
	}
	if json.Unmarshal(fieldsV1, &f) != nil {
		return false
	}
	_, ok := f.Spec["f:"+component]["f:canaryTrafficPercent"]
	return ok
}
