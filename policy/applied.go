package policy

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// annotationLastApplied is where kubectl's client-side apply (and Argo CD's
// default sync) records the manifest it applied.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// appliedPercents tells, for one request, which component percents an
// apply declares.
type appliedPercents struct {
	req    *Request
	fields []metav1.ManagedFieldsEntry
	loaded bool
}

// declared reports whether an apply declares the canaryTrafficPercent
// the component at path ("spec.predictor") has in the request's object, and
// names the apply: the request says so (Request.Applied), a server-side
// apply owns it (a managedFields entry of operation Apply, as Flux and
// Argo CD's ServerSideApply write), or kubectl's client-side apply recorded
// it in its last-applied-configuration. The next apply of the same
// manifest sets that value again, so a percent injected over it would not
// stay: the GitOps tool would raise the new model to the manifest's
// percent on its next sync, or fail every sync on max-step.
//
// It runs only where a percent would be injected over one the object has,
// so the managed fields are read from the raw object then, not decoded
// for every request, and once for all the components of the request.
func (a *appliedPercents) declared(path string) (by string, ok bool) {
	req := a.req
	component, ok := strings.CutPrefix(path, "spec.")
	if !ok || strings.Contains(component, ".") {
		return "", false
	}
	if req.Applied {
		return "the apply of this manifest", true
	}
	if la, ok := req.Object.Annotations[annotationLastApplied]; ok {
		if v, ok := lastAppliedPercent(la, component); ok && lastAppliedSpeaksFor(req, la, component, v) {
			return "kubectl apply (its " + annotationLastApplied + ")", true
		}
	}
	if !a.loaded {
		a.fields, a.loaded = managedFields(req), true
	}
	for _, e := range a.fields {
		if e.Operation == metav1.ManagedFieldsOperationApply && e.FieldsV1 != nil && ownsPercent(e.FieldsV1.Raw, component) {
			return "the server-side apply of field manager " + strconv.Quote(e.Manager), true
		}
	}
	return "", false
}

// lastAppliedPercent is the canaryTrafficPercent of component recorded in
// a last-applied-configuration, when it records one.
func lastAppliedPercent(la, component string) (json.RawMessage, bool) {
	var m struct {
		Spec map[string]map[string]json.RawMessage `json:"spec"`
	}
	if json.Unmarshal([]byte(la), &m) != nil {
		return nil, false
	}
	v, ok := m.Spec[component]["canaryTrafficPercent"]
	return v, ok && string(v) != "null"
}

// lastAppliedSpeaksFor reports whether the last-applied-configuration la
// speaks for this update. kubectl's client-side apply rewrites it with
// every manifest it applies; one left as it was is from an earlier apply,
// which still speaks where this update writes the percent it records (a
// re-apply of the same manifest over an object changed since: kubectl's
// three-way patch sends the percent where the object differs from it). A
// copy kubectl left behind when the object moved to another writer (a
// server-side apply by a GitOps tool) speaks for none.
func lastAppliedSpeaksFor(req *Request, la, component string, recorded json.RawMessage) bool {
	if req.OldObject == nil || req.OldObject.Annotations[annotationLastApplied] != la {
		return true
	}
	newPct, oldPct := specPercent(&req.Object.Spec, component), specPercent(&req.OldObject.Spec, component)
	return newPct != nil && string(recorded) == strconv.FormatInt(*newPct, 10) && !equalPtr(newPct, oldPct)
}

// specPercent is the canaryTrafficPercent of a component of spec.
func specPercent(spec *v1beta1.InferenceServiceSpec, component string) *int64 {
	if ext := componentExtension(spec, component); ext != nil {
		return ext.CanaryTrafficPercent
	}
	return nil
}

// componentExtension is the extension spec (canaryTrafficPercent,
// replicas, ...) of the predictor, transformer or explainer of spec; nil
// where the component is absent.
func componentExtension(spec *v1beta1.InferenceServiceSpec, component string) *v1beta1.ComponentExtensionSpec {
	switch component {
	case KindPredictor:
		return &spec.Predictor.ComponentExtensionSpec
	case KindTransformer:
		if spec.Transformer != nil {
			return &spec.Transformer.ComponentExtensionSpec
		}
	case KindExplainer:
		if spec.Explainer != nil {
			return &spec.Explainer.ComponentExtensionSpec
		}
	}
	return nil
}

// managedFields are the object's managed fields: decoded where the whole
// object was, else read from the raw object (the webhooks decode only what
// the rollout facts need).
func managedFields(req *Request) []metav1.ManagedFieldsEntry {
	if len(req.Object.ManagedFields) > 0 {
		return req.Object.ManagedFields
	}
	raw := req.ObjectJSON
	if len(raw) == 0 && req.LoadObjects != nil {
		var err error
		if raw, _, err = req.LoadObjects(); err != nil {
			return nil
		}
	}
	var obj struct {
		Metadata struct {
			ManagedFields []metav1.ManagedFieldsEntry `json:"managedFields"`
		} `json:"metadata"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	return obj.Metadata.ManagedFields
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
