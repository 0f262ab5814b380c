package policy

import (
	"math"
	"slices"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/kserve/kserve/pkg/constants"
)

// In Standard mode KServe v0.20 sizes each spec.canary[] entry by
// replicas, not by routing: the InferenceService's host reaches only the
// stable predictor's Service, and the replicas the entries run are taken
// from the stable predictor's minReplicas (canaryReplicaCount and the
// stable adjustment in its predictor reconciler). The functions below
// follow that code, so the policies can say what a step does to the
// stable's capacity.

// ReplicaFacts describes the replicas KServe configures in Standard mode
// for the stable predictor or a spec.canary[] entry.
type ReplicaFacts struct {
	// Old and New are the minimum replicas: an entry's fixed count, or
	// the stable predictor's minReplicas less the entries' (at least 1).
	Old int64 `json:"old"`
	New int64 `json:"new"`
	// The fields below are the stable predictor's only.
	// OldMinReplicas and NewMinReplicas are spec.predictor.minReplicas,
	// nil when unset (KServe then leaves the stable at 1, unadjusted).
	OldMinReplicas *int64 `json:"oldMinReplicas"`
	NewMinReplicas *int64 `json:"newMinReplicas"`
	// MaxReplicas is the new spec.predictor.maxReplicas, 0 when unset.
	MaxReplicas int64 `json:"maxReplicas"`
	// AutoscalerClass is the new object's serving.kserve.io/autoscalerClass
	// (the predictor's annotation, else the InferenceService's), else hpa.
	// A ServingRuntime may set it too; canary-guard does not see it.
	AutoscalerClass string `json:"autoscalerClass"`
	// MinReplicasToKeep is, when New < Old, the smallest
	// spec.predictor.minReplicas with which the stable keeps Old beside
	// the new entries; on CREATE, when New < NewMinReplicas, the smallest
	// with which it runs NewMinReplicas; 0 otherwise, or when none does.
	MinReplicasToKeep int64 `json:"minReplicasToKeep"`
	// MinReplicasToPromote is set on a promotion whose entry ran fewer
	// replicas than New: the smallest spec.predictor.minReplicas with
	// which the stable would have kept Old had the entry run New replicas
	// of its own minReplicas before the promotion (KServe refuses an
	// entry's minReplicas above the stable's); 0 otherwise, or when none does.
	MinReplicasToPromote int64 `json:"minReplicasToPromote"`
}

// maxMinReplicasSearch bounds the search for a spec.predictor.minReplicas
// that keeps the stable's replicas: with the entries' percents summing to
// nearly 100, none may exist.
const maxMinReplicasSearch = 1000

// setStandardReplicas records the replicas of the stable predictor
// (comps[0]) and of each spec.canary[] entry before and after the update.
func setStandardReplicas(comps []ComponentFacts, oldObj, newObj *v1beta1.InferenceService, create bool) {
	oldMin, newMin := oldObj.Spec.Predictor.MinReplicas, newObj.Spec.Predictor.MinReplicas
	stable := &ReplicaFacts{
		Old:             stableReplicas(&oldObj.Spec, oldMin),
		New:             stableReplicas(&newObj.Spec, newMin),
		OldMinReplicas:  widen(oldMin),
		NewMinReplicas:  widen(newMin),
		MaxReplicas:     int64(newObj.Spec.Predictor.MaxReplicas),
		AutoscalerClass: autoscalerClass(newObj),
	}
	switch {
	case create && newMin != nil && stable.New < int64(*newMin):
		stable.MinReplicasToKeep = minReplicasToKeep(&newObj.Spec, int64(*newMin))
	case stable.New < stable.Old:
		stable.MinReplicasToKeep = minReplicasToKeep(&newObj.Spec, stable.Old)
	}
	comps[0].Replicas = stable
	for i := range comps {
		c := &comps[i]
		if c.Kind != KindCanary {
			continue
		}
		r := &ReplicaFacts{}
		if e := canaryEntry(&oldObj.Spec, c.Name); c.InOld && e != nil {
			r.Old = canaryReplicas(oldMin, e)
			if c.Name == comps[0].PromotedCanary && r.Old < stable.New {
				stable.MinReplicasToPromote = minReplicasToPromote(&oldObj.Spec, c.Name, stable.New, stable.Old)
			}
		}
		if e := canaryEntry(&newObj.Spec, c.Name); c.InNew && e != nil {
			r.New = canaryReplicas(newMin, e)
		}
		c.Replicas = r
	}
}

// minReplicasToPromote finds the smallest spec.predictor.minReplicas of
// spec, at least the entry's size, with which the stable keeps want
// replicas beside the entry name sized to size replicas by its own
// minReplicas. 0 when none up to maxMinReplicasSearch more does.
func minReplicasToPromote(spec *v1beta1.InferenceServiceSpec, name string, size, want int64) int64 {
	prepared := *spec
	prepared.Canary = slices.Clone(spec.Canary)
	e := canaryEntry(&prepared, name)
	if e == nil || size > math.MaxInt32 {
		return 0
	}
	size32 := int32(size)
	e.Predictor.MinReplicas = &size32
	from := size
	if m := spec.Predictor.MinReplicas; m != nil {
		from = max(from, int64(*m))
	}
	return searchMinReplicas(&prepared, from, want)
}

func widen(p *int32) *int64 {
	if p == nil {
		return nil
	}
	return ptr(int64(*p))
}

// autoscalerClass resolves the stable predictor's autoscaler class as
// KServe's buildObjectMeta merges annotations: the component's over the
// InferenceService's.
func autoscalerClass(obj *v1beta1.InferenceService) string {
	if c := obj.Spec.Predictor.Annotations[constants.AutoscalerClass]; c != "" {
		return c
	}
	if c := obj.Annotations[constants.AutoscalerClass]; c != "" {
		return c
	}
	return string(constants.DefaultAutoscalerClass)
}

func canaryEntry(spec *v1beta1.InferenceServiceSpec, name string) *v1beta1.CanarySpec {
	for i := range spec.Canary {
		if spec.Canary[i].Predictor.Name == name {
			return &spec.Canary[i]
		}
	}
	return nil
}

// canaryReplicas is the fixed replica count of a canary entry: its own
// minReplicas, else its trafficPercent of the stable's minReplicas
// (default 1), rounded up.
func canaryReplicas(stableMin *int32, e *v1beta1.CanarySpec) int64 {
	if e.Predictor.MinReplicas != nil {
		return int64(*e.Predictor.MinReplicas)
	}
	stable := int64(1)
	if stableMin != nil {
		stable = int64(*stableMin)
	}
	// The same float rounding as KServe's, so both agree at every value.
	return int64(math.Ceil(float64(stable) * float64(e.TrafficPercent) / 100))
}

// stableReplicas is the stable predictor's minimum replicas with stableMin
// as its minReplicas: that less the entries' replicas, at least 1. KServe
// adjusts it only when minReplicas is set; unset means its default, 1.
func stableReplicas(spec *v1beta1.InferenceServiceSpec, stableMin *int32) int64 {
	if stableMin == nil {
		return 1
	}
	if len(spec.Canary) == 0 {
		return int64(*stableMin)
	}
	n := int64(*stableMin)
	for i := range spec.Canary {
		n -= canaryReplicas(stableMin, &spec.Canary[i])
	}
	return max(n, 1)
}

// minReplicasToKeep finds the smallest spec.predictor.minReplicas above
// the current one with which the stable keeps want replicas beside the
// entries of spec; entries sized by percent grow with it. 0 when none up
// to maxMinReplicasSearch more does.
func minReplicasToKeep(spec *v1beta1.InferenceServiceSpec, want int64) int64 {
	from := int64(1)
	if m := spec.Predictor.MinReplicas; m != nil {
		from = int64(*m) + 1
	}
	return searchMinReplicas(spec, from, want)
}

// searchMinReplicas returns the smallest spec.predictor.minReplicas from
// from on with which the stable keeps want replicas beside the entries of
// spec, or 0 when none up to maxMinReplicasSearch more does.
func searchMinReplicas(spec *v1beta1.InferenceServiceSpec, from, want int64) int64 {
	for m := from; m < from+maxMinReplicasSearch && m <= math.MaxInt32; m++ {
		m32 := int32(m)
		if stableReplicas(spec, &m32) >= want {
			return m
		}
	}
	return 0
}
