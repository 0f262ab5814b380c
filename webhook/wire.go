package webhook

import (
	"bytes"
	"errors"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	knservingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// The wire types are the parts of an AdmissionReview and of an
// InferenceService that canary-guard reads, decoded in one pass. Decoding
// whole objects (managed fields, conditions with their timestamps, URLs)
// cost more than the policy evaluation; skipped fields are only scanned.
// Whatever the rollout facts read must be here: the facts are tested to
// be the same as from fully decoded objects.

// wireReview is an AdmissionReview (v1, or v1beta1, which has the same
// wire format).
type wireReview struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Request    *wireRequest `json:"request"`
}

// wireRequest is an AdmissionRequest whose objects are InferenceServices.
type wireRequest struct {
	UID         types.UID                 `json:"uid"`
	Kind        metav1.GroupVersionKind   `json:"kind"`
	SubResource string                    `json:"subResource,omitempty"`
	Name        string                    `json:"name,omitempty"`
	Namespace   string                    `json:"namespace,omitempty"`
	Operation   admissionv1.Operation     `json:"operation"`
	UserInfo    authenticationv1.UserInfo `json:"userInfo"`
	Object      *wireInferenceService     `json:"object,omitempty"`
	OldObject   *wireInferenceService     `json:"oldObject,omitempty"`
	DryRun      *bool                     `json:"dryRun,omitempty"`
}

// wireHead is a review without its objects: when the objects do not
// decode as InferenceServices, enough to say what the request is, or to
// admit one that is never evaluated (DELETE, a subresource).
type wireHead struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *struct {
		UID         types.UID               `json:"uid"`
		Kind        metav1.GroupVersionKind `json:"kind"`
		SubResource string                  `json:"subResource,omitempty"`
		Operation   admissionv1.Operation   `json:"operation"`
	} `json:"request"`
}

// wireRaw holds a review's objects as they came, for rules that read
// input.object and input.oldObject.
type wireRaw struct {
	Request *struct {
		Object    rawJSON `json:"object"`
		OldObject rawJSON `json:"oldObject"`
	} `json:"request"`
}

// rawJSON keeps a JSON value's bytes (null counts as absent).
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	if string(b) != "null" {
		*r = append((*r)[:0], b...)
	}
	return nil
}

// wireInferenceService decodes an InferenceService straight into KServe's
// type: the spec in place, the metadata and status through the wire types
// below. Decoding the spec into a wire struct and copying it over
// allocated and copied the large spec type twice per object.
type wireInferenceService struct {
	obj *v1beta1.InferenceService
	// specStart and specEnd are where the spec lies in the decoded input;
	// specJSON is set from them once the input is decoded (setSpecJSON).
	specStart, specEnd int64
	specJSON           []byte
}

// wireObjectFields are the fields of an InferenceService that are read;
// Spec points into the InferenceService being decoded.
type wireObjectFields struct {
	APIVersion string         `json:"apiVersion,omitempty"`
	Kind       string         `json:"kind,omitempty"`
	Metadata   wireObjectMeta `json:"metadata"`
	Spec       wireSpec       `json:"spec"`
	Status     wireStatus     `json:"status"`
}

// wireSpec decodes a spec in place and records where its JSON lies in the
// decoder's input, for the comparison of raw specs (policy.Request.SpecJSON).
type wireSpec struct {
	spec       *v1beta1.InferenceServiceSpec
	start, end int64
	// repeated is set when the object has more than one spec member: they
	// are merged into one spec, and no single span holds it.
	repeated bool
}

func (s *wireSpec) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	s.repeated = s.repeated || s.end > 0
	s.start = dec.InputOffset()
	if err := jsonv2.UnmarshalDecode(dec, s.spec); err != nil {
		return err
	}
	s.end = dec.InputOffset()
	return nil
}

// UnmarshalJSONFrom decodes with the options of the decoder it is given.
func (w *wireInferenceService) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	obj := new(v1beta1.InferenceService)
	f := wireObjectFields{Spec: wireSpec{spec: &obj.Spec}}
	if err := jsonv2.UnmarshalDecode(dec, &f); err != nil {
		return err
	}
	// Set on every call: a repeated object member replaces the whole
	// object, and the span of an earlier one must not outlive it.
	w.specStart, w.specEnd = 0, 0
	if !f.Spec.repeated {
		w.specStart, w.specEnd = f.Spec.start, f.Spec.end
	}
	obj.TypeMeta = metav1.TypeMeta{APIVersion: f.APIVersion, Kind: f.Kind}
	obj.ObjectMeta = metav1.ObjectMeta{
		Name: f.Metadata.Name, Namespace: f.Metadata.Namespace, UID: f.Metadata.UID,
		ResourceVersion: f.Metadata.ResourceVersion, Generation: f.Metadata.Generation,
		Labels: f.Metadata.Labels, Annotations: f.Metadata.Annotations,
	}
	st := &obj.Status
	st.ObservedGeneration = f.Status.ObservedGeneration
	st.DeploymentMode = f.Status.DeploymentMode
	st.ServingRuntimeName, st.ClusterServingRuntimeName = f.Status.ServingRuntimeName, f.Status.ClusterServingRuntimeName
	if len(f.Status.Components) > 0 {
		st.Components = make(map[v1beta1.ComponentType]v1beta1.ComponentStatusSpec, len(f.Status.Components))
		for k, c := range f.Status.Components {
			cs := v1beta1.ComponentStatusSpec{
				LatestReadyRevision: c.LatestReadyRevision, LatestCreatedRevision: c.LatestCreatedRevision,
				PreviousRolledoutRevision: c.PreviousRolledoutRevision, LatestRolledoutRevision: c.LatestRolledoutRevision,
			}
			cs.Traffic = c.Traffic.targets()
			st.Components[k] = cs
		}
	}
	for _, c := range f.Status.CanaryStatuses {
		st.CanaryStatuses = append(st.CanaryStatuses, v1beta1.CanaryStatus{Name: c.Name, Ready: c.Ready, TrafficPercent: c.TrafficPercent})
	}
	if f.Status.Conditions.found {
		st.Conditions = duckv1.Conditions{{Type: apis.ConditionReady, Status: f.Status.Conditions.status}}
	}
	w.obj = obj
	return nil
}

type wireObjectMeta struct {
	Name            string            `json:"name,omitempty"`
	Namespace       string            `json:"namespace,omitempty"`
	UID             types.UID         `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Generation      int64             `json:"generation,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
	ManagedFields   skipped           `json:"managedFields"`
}

type wireStatus struct {
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	DeploymentMode     string `json:"deploymentMode,omitempty"`
	ServingRuntimeName string `json:"servingRuntimeName,omitempty"`
	// ClusterServingRuntimeName and ServingRuntimeName name the runtime
	// KServe selected for a predictor whose spec names none.
	ClusterServingRuntimeName string                                        `json:"clusterServingRuntimeName,omitempty"`
	Components                map[v1beta1.ComponentType]wireComponentStatus `json:"components,omitempty"`
	CanaryStatuses            []wireCanaryStatus                            `json:"canaryStatuses,omitempty"`
	Conditions                wireReady                                     `json:"conditions"`
	ModelStatus               skipped                                       `json:"modelStatus"`
}

type wireComponentStatus struct {
	LatestReadyRevision       string           `json:"latestReadyRevision,omitempty"`
	LatestCreatedRevision     string           `json:"latestCreatedRevision,omitempty"`
	PreviousRolledoutRevision string           `json:"previousRolledoutRevision,omitempty"`
	LatestRolledoutRevision   string           `json:"latestRolledoutRevision,omitempty"`
	Traffic                   wireLatestTarget `json:"traffic"`
}

// wireLatestTarget keeps what the facts read of a route's traffic: its
// first latest-revision target (trafficLag), and whether every target
// names the same revision (routesOneRevision). It reads past the others
// without keeping them: a status may list many.
type wireLatestTarget struct {
	latest wireTrafficTarget
	found  bool
	// count targets were read; revision is the first one's revisionName,
	// and oneRevision says every target named it.
	count       int
	revision    string
	oneRevision bool
}

func (l *wireLatestTarget) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	// A repeated traffic member replaces the earlier one, as in a full decode.
	*l = wireLatestTarget{}
	return eachElement(dec, "traffic", func(dec *jsontext.Decoder) error {
		var t wireTrafficTarget
		if err := jsonv2.UnmarshalDecode(dec, &t); err != nil {
			return err
		}
		l.count++
		switch {
		case l.count == 1:
			l.revision, l.oneRevision = t.RevisionName, true
		case t.RevisionName != l.revision:
			l.oneRevision = false
		}
		if t.LatestRevision && !l.found {
			l.latest, l.found = t, true
		}
		return nil
	})
}

// targets gives the traffic as the facts read it: the latest-revision
// target and, where there were others, one that stands for them, naming
// the revision they all name, or none where they differ.
func (l *wireLatestTarget) targets() []knservingv1.TrafficTarget {
	if !l.found {
		return nil
	}
	latest := knservingv1.TrafficTarget{LatestRevision: &l.latest.LatestRevision, Percent: &l.latest.Percent, RevisionName: l.latest.RevisionName}
	if l.count == 1 {
		return []knservingv1.TrafficTarget{latest}
	}
	other := knservingv1.TrafficTarget{}
	if l.oneRevision {
		other.RevisionName = l.revision
	}
	return []knservingv1.TrafficTarget{latest, other}
}

// eachElement calls decodeOne for each element of the JSON array dec is
// at; null is an array without elements.
func eachElement(dec *jsontext.Decoder, name string, decodeOne func(*jsontext.Decoder) error) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '[':
	default:
		return fmt.Errorf("%s: want an array, got %v", name, dec.PeekKind())
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		if err := decodeOne(dec); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// wireTrafficTarget is what the facts read of a route's traffic target:
// whether it follows the latest revision, its percent (absent is 0), and
// the revision it names.
type wireTrafficTarget struct {
	LatestRevision bool    `json:"latestRevision,omitempty"`
	Percent        int64   `json:"percent,omitempty"`
	Tag            skipped `json:"tag"`
	RevisionName   string  `json:"revisionName"`
	URL            skipped `json:"url"`
}

// wireReady keeps the status of the Ready condition, the only condition
// the facts read (KServe's controller skips a Ready InferenceService that
// disables auto-update), and reads past the others.
type wireReady struct {
	status corev1.ConditionStatus
	found  bool
}

func (r *wireReady) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	// A repeated conditions member replaces the earlier one, as in a full decode.
	*r = wireReady{}
	return eachElement(dec, "conditions", func(dec *jsontext.Decoder) error {
		var c wireCondition
		if err := jsonv2.UnmarshalDecode(dec, &c); err != nil {
			return err
		}
		if c.Type == string(apis.ConditionReady) && !r.found {
			r.status, r.found = corev1.ConditionStatus(c.Status), true
		}
		return nil
	})
}

type wireCondition struct {
	Type               string  `json:"type"`
	Status             string  `json:"status"`
	LastTransitionTime skipped `json:"lastTransitionTime"`
	Reason             skipped `json:"reason"`
	Message            skipped `json:"message"`
	Severity           skipped `json:"severity"`
}

type wireCanaryStatus struct {
	Name           string `json:"name"`
	Ready          bool   `json:"ready"`
	TrafficPercent int32  `json:"trafficPercent"`
}

// skipped reads past a member the facts do not need. The large ones
// (managed fields, conditions) are declared with it rather than
// left unknown: the decoder reads past an unknown member token by token,
// ReadValue scans it in one pass, about a third faster
// (BenchmarkDecodeCorpus).
type skipped struct{}

func (*skipped) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	_, err := dec.ReadValue()
	return err
}

// setSpecJSON points specJSON at the spec in input, the bytes w was
// decoded from. The slice shares input's memory.
func (w *wireInferenceService) setSpecJSON(input []byte) {
	if w == nil || w.specEnd <= w.specStart || w.specEnd > int64(len(input)) {
		return
	}
	// The offsets start after the member name: drop the colon.
	w.specJSON = bytes.TrimLeft(input[w.specStart:w.specEnd], ": \t\r\n")
}

// inferenceService is the decoded InferenceService.
func (w *wireInferenceService) inferenceService() (*v1beta1.InferenceService, error) {
	if w.obj == nil {
		return nil, errors.New("the object was not decoded")
	}
	if kind := w.obj.Kind; kind != "" && kind != "InferenceService" {
		return nil, fmt.Errorf("object is a %s, not an InferenceService", kind)
	}
	return w.obj, nil
}

// decodeOptions make JSON decoding match the API server's: field names
// are case-sensitive (encoding/json would read "Spec" or "sPec" as spec,
// so the decision would be about another object than the one the API
// server stores, patches and gives the policies), the last duplicate key
// wins, unknown fields are ignored. The decoder is the JSON v2
// implementation (github.com/go-json-experiment/json, the basis of Go's
// encoding/json/v2): case-sensitive by default and, on a review with two
// stored InferenceServices, about twice as fast as sigs.k8s.io/json with a
// third of the allocations.
var decodeOptions = jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// unmarshal decodes with decodeOptions.
func unmarshal(data []byte, v any) error {
	return jsonv2.Unmarshal(data, v, decodeOptions)
}

// decodeInferenceService decodes one object.
func decodeInferenceService(raw []byte) (*v1beta1.InferenceService, error) {
	var w wireInferenceService
	if err := unmarshal(raw, &w); err != nil {
		return nil, err
	}
	return w.inferenceService()
}
