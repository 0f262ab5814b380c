package policy

import (
	"math"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
)

// In Standard mode KServe v0.20 sizes each spec.canary[] entry by
// replicas, not by routing: the InferenceService's host reaches only the
// stable predictor's Service, and the replicas the entries run are taken
// from the stable predictor's minReplicas (canaryReplicaCount and the
// stable adjustment in its predictor reconciler). The functions below
// follow that code, so the policies can say what a step does to the
// stable's capacity.

// maxMinReplicasSearch bounds the search for a spec.predictor.minReplicas
// that keeps the stable's replicas: with the entries' percents summing to
// nearly 100, none may exist.
const maxMinReplicasSearch = 1000

// setStandardReplicas records the replicas of the stable predictor
// (comps[0]) and of each spec.canary[] entry before and after the update.
func setStandardReplicas(comps []ComponentFacts, oldObj, newObj *v1beta1.InferenceService) {
	pred := &comps[0]
	pred.OldReplicas = stableReplicas(&oldObj.Spec, oldObj.Spec.Predictor.MinReplicas)
	pred.NewReplicas = stableReplicas(&newObj.Spec, newObj.Spec.Predictor.MinReplicas)
	for i := range comps {
		c := &comps[i]
		if c.Kind != KindCanary {
			continue
		}
		if e := canaryEntry(&oldObj.Spec, c.Name); c.InOld && e != nil {
			c.OldReplicas = canaryReplicas(oldObj.Spec.Predictor.MinReplicas, e)
		}
		if e := canaryEntry(&newObj.Spec, c.Name); c.InNew && e != nil {
			c.NewReplicas = canaryReplicas(newObj.Spec.Predictor.MinReplicas, e)
		}
	}
	if pred.NewReplicas < pred.OldReplicas {
		pred.MinReplicasToKeep = minReplicasToKeep(&newObj.Spec, pred.OldReplicas)
	}
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
	from := int32(1)
	if m := spec.Predictor.MinReplicas; m != nil {
		from = *m + 1
	}
	for m := from; m < from+maxMinReplicasSearch; m++ {
		if stableReplicas(spec, &m) >= want {
			return int64(m)
		}
	}
	return 0
}
