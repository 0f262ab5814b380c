package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canary-guard/canary-guard/e2e/cluster"
	"github.com/canary-guard/canary-guard/policy"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/kserve/kserve/pkg/constants"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// TestScenarios is the end-to-end suite of the canary workflow (issue 3):
// every scenario drives its own InferenceService with kubectl against the
// real API server, KServe's controller and webhooks and canary-guard as the
// chart registers it, and checks both the answer the user sees and what
// KServe then did to the Knative traffic and the InferenceService status.
func TestScenarios(t *testing.T) {
	c := testCluster(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// 1. KServe's own rollout samples, applied in order.
	t.Run("01-kserve-rollout-samples", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s01-samples", isvcName)
		samples := filepath.Join(c.KServeDir(), rolloutSamplesIn)
		rev1, rev2 := s.rev("predictor", 1), s.rev("predictor", 2)

		s.admitted(s.apply(filepath.Join(samples, "default.yaml")), "default.yaml")
		s.waitRollout("predictor", rev1, latestAt(rev1, 100))

		a := s.apply(filepath.Join(samples, "canary.yaml"))
		s.admitted(a, "canary.yaml")
		s.noWarnings(a, "canary.yaml (the user chose 10 %)")
		s.waitRollout("predictor", rev1, latestAt(rev2, 10), prevAt(rev1, 90))

		s.admitted(s.apply(filepath.Join(samples, "pinned.yaml")), "pinned.yaml (canaryTrafficPercent 0)")
		s.storedPercent(0)
		s.waitRollout("predictor", rev1, latestAt(rev2, 0), prevAt(rev1, 100))

		// promotion.yaml removes the field: a rise 0 → 100 in one update.
		s.denied(s.apply(filepath.Join(samples, "promotion.yaml")), "promotion.yaml (0 → 100)",
			deniedByGuard,
			"[max-step] spec.predictor.canaryTrafficPercent 0 → absent (100 %) rises by 100; at most 10 from 0 %, as for a new model. Set 10 now, or leave it at 0.")
		s.storedPercent(0)
		s.waitRollout("predictor", rev1, latestAt(rev2, 0), prevAt(rev1, 100))
	})

	// 2. A model change with no canary: injected in inject mode, refused
	// with the fix in deny mode.
	t.Run("02-model-change-without-canary", func(t *testing.T) {
		t.Run("inject", func(t *testing.T) {
			s := newScenario(t, ctx, c, "s02-inject", "inject")
			a := s.startCanary(modelChange(2))
			s.warned(a, "the model change", guardWarning+"[canary-injected] spec.predictor: the model changes from "+modelURI(1)+" to "+modelURI(2),
				"spec.predictor.canaryTrafficPercent set to 10 (was absent)")
			isvc := s.get()
			if got := isvc.Annotations[tagRoutingKey]; got != "true" {
				t.Errorf("annotation %s = %q, want \"true\"", tagRoutingKey, got)
			}
			st := isvc.Status.Components[kservev1beta1.PredictorComponent]
			if l := findTarget(st.Traffic, s.rev("predictor", 2), true); l == nil || l.Tag != "latest" {
				t.Errorf("status traffic of the canary %+v, want tag latest (tag routing)", l)
			}
		})
		t.Run("deny", func(t *testing.T) {
			s := newScenario(t, ctx, c, "s02-deny", "deny")
			s.deploy(sklearnISVC(s.name, modelURI(1)))
			rev1 := s.rev("predictor", 1)
			fix := "Set spec.predictor.canaryTrafficPercent: 10 in the same update"

			// A storageUri change: canary-guard is up, so its answer (the
			// rule and the fix) is expected, not the chart's backstop,
			// which leaves out onModelChange: deny namespaces.
			a := s.changeModel(modelURI(2))
			if strings.Contains(a.stderr, "ValidatingAdmissionPolicy 'canary-guard-backstop'") {
				t.Errorf("a storageUri change with no percent (onModelChange: deny) was refused by the chart's backstop "+
					"ValidatingAdmissionPolicy while canary-guard is up (the API server runs policies before validating webhooks, "+
					"and the backstop does not leave out onModelChange: deny namespaces); the user is told canary-guard did not answer:\n%s", a.stderr)
				if a.err == nil {
					t.Fatal("admitted")
				}
			} else {
				s.denied(a, "a storageUri change with no percent (onModelChange: deny)", deniedByGuard, "[canary-required]", fix)
			}
			// A model change the chart's backstop does not look at
			// (runtimeVersion rewrites the image): canary-guard answers.
			s.denied(s.patch(`{"spec":{"predictor":{"model":{"runtimeVersion":"1.5.0"}}}}`),
				"a runtimeVersion change with no percent (onModelChange: deny)", deniedByGuard, "[canary-required]", fix)
			s.storedPercent(-1)
			s.waitRollout("predictor", rev1, latestAt(rev1, 100))

			// With the fix applied the change is admitted as the user wrote it.
			a = s.patch(`{"spec":{"predictor":{"canaryTrafficPercent":10,"model":{"storageUri":"` + modelURI(2) + `"}}}}`)
			s.admitted(a, "the model change with canaryTrafficPercent 10")
			s.noWarnings(a, "the model change with canaryTrafficPercent 10")
			s.storedPercent(10)
			s.waitRollout("predictor", rev1, latestAt(s.rev("predictor", 2), 10), prevAt(rev1, 90))
		})
	})

	// 3. A jump from 10 to 100 is refused with the next step.
	t.Run("03-jump-refused", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s03-jump", "jump")
		s.startCanary(modelChange(2))
		rev1, rev2 := s.rev("predictor", 1), s.rev("predictor", 2)
		s.denied(s.setPercent("100"), "10 → 100", deniedByGuard,
			"[max-step] spec.predictor.canaryTrafficPercent 10 → 100 rises by 90; at most 25 per update. Set 35 now, or 0 to roll back.")
		s.denied(s.setPercent("null"), "10 → promotion (field removed)", deniedByGuard,
			"10 → absent (100 %) rises by 90", "Set 35 now, or 0 to roll back")
		s.storedPercent(10)
		s.waitRollout("predictor", rev1, latestAt(rev2, 10), prevAt(rev1, 90))
	})

	// 4. Step by step to promotion.
	t.Run("04-steps-to-promotion", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s04-steps", "steps")
		s.startCanary(modelChange(2))
		rev1, rev2 := s.rev("predictor", 1), s.rev("predictor", 2)
		for _, p := range []int64{35, 60, 85} {
			a := s.setPercent(fmt.Sprint(p))
			s.admitted(a, fmt.Sprintf("the step to %d", p))
			s.noWarnings(a, fmt.Sprintf("the step to %d", p))
			s.storedPercent(p)
			s.waitRollout("predictor", rev1, latestAt(rev2, p), prevAt(rev1, 100-p))
		}
		a := s.setPercent("null")
		s.admitted(a, "the promotion (85 → field removed)")
		s.noWarnings(a, "the promotion")
		s.storedPercent(-1)
		s.waitRollout("predictor", rev2, latestAt(rev2, 100))
		if st := s.get().Status.Components[kservev1beta1.PredictorComponent]; st.PreviousRolledoutRevision != rev1 {
			t.Errorf("previousRolledoutRevision = %q, want %q", st.PreviousRolledoutRevision, rev1)
		}
	})

	// 4b. A scaling change skips the mutating webhook (the chart's
	// may-need-mutation matchCondition); a model change made with it does not.
	t.Run("04b-scaling-skips-mutation", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s04b-scaling", "scaling")
		s.deploy(sklearnISVC(s.name, modelURI(1)))
		calls := func(webhook string) float64 {
			t.Helper()
			n, err := c.CanaryGuardMetric(ctx, "canary_guard_admission_decisions_total", `webhook="`+webhook+`"`, `namespace="`+s.ns+`"`)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		mutate0, validate0 := calls("mutate"), calls("validate")
		a := s.patch(`{"spec":{"predictor":{"minReplicas":2,"maxReplicas":4,"containerConcurrency":8}}}`)
		s.admitted(a, "a scaling change")
		s.noWarnings(a, "a scaling change")
		s.storedPercent(-1)
		if got := calls("mutate") - mutate0; got != 0 {
			t.Errorf("the API server called the mutating webhook %v times for a scaling change, want 0", got)
		}
		if got := calls("validate") - validate0; got != 1 {
			t.Errorf("the API server called the validating webhook %v times for a scaling change, want 1", got)
		}

		a = s.patch(`{"spec":{"predictor":{"minReplicas":1,"model":{"storageUri":"` + modelURI(2) + `"}}}}`)
		s.warned(a, "a model change made with a scaling change", guardWarning+"[canary-injected] spec.predictor: the model changes from "+modelURI(1)+" to "+modelURI(2))
		s.storedPercent(10)
		if calls("mutate") == mutate0 {
			t.Error("the API server skipped the mutating webhook for a model change made with a scaling change")
		}
	})

	// 5. Rollback to 0 from several steps.
	t.Run("05-rollback", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s05-rollback", "rollback")
		s.startCanary(modelChange(2))
		rev1, rev2 := s.rev("predictor", 1), s.rev("predictor", 2)
		rollback := func(from int64) {
			t.Helper()
			s.admitted(s.setPercent("0"), fmt.Sprintf("the rollback from %d", from))
			s.storedPercent(0)
			s.waitRollout("predictor", rev1, latestAt(rev2, 0), prevAt(rev1, 100))
		}
		rollback(10)
		for _, p := range []int64{10, 35, 60} {
			s.admitted(s.setPercent(fmt.Sprint(p)), fmt.Sprintf("the step to %d", p))
			s.waitRollout("predictor", rev1, latestAt(rev2, p), prevAt(rev1, 100-p))
		}
		rollback(60)
	})

	// 6. No rise while the canary revision is not ready.
	t.Run("06-canary-not-ready", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s06-notready", "notready")
		s.deploy(sklearnISVC(s.name, modelURI(1)))
		rev1, rev2 := s.rev("predictor", 1), s.rev("predictor", 2)
		sim := c.Simulator()
		sim.HoldRevisions(s.ns, s.ksvc("predictor"), true)
		defer sim.HoldRevisions(s.ns, s.ksvc("predictor"), false)

		s.admitted(s.changeModel(modelURI(2)), "the model change")
		s.storedPercent(10)
		s.waitStatus("the status shows "+rev2+" created but not ready", func(isvc *kservev1beta1.InferenceService) (bool, string) {
			st := isvc.Status.Components[kservev1beta1.PredictorComponent]
			return isvc.Status.ObservedGeneration == isvc.Generation && st.LatestCreatedRevision == rev2 &&
					st.LatestReadyRevision == rev1 && st.LatestRolledoutRevision == rev1,
				fmt.Sprintf("generation %d observed %d; created=%q ready=%q rolledout=%q", isvc.Generation,
					isvc.Status.ObservedGeneration, st.LatestCreatedRevision, st.LatestReadyRevision, st.LatestRolledoutRevision)
		})
		s.denied(s.setPercent("35"), "10 → 35 while "+rev2+" is not ready", deniedByGuard,
			"[canary-not-ready]", "not ready", rev2)
		s.storedPercent(10)

		sim.HoldRevisions(s.ns, s.ksvc("predictor"), false)
		s.waitRollout("predictor", rev1, latestAt(rev2, 10), prevAt(rev1, 90))
		s.admitted(s.setPercent("35"), "10 → 35 once "+rev2+" is ready")
		s.waitRollout("predictor", rev1, latestAt(rev2, 35), prevAt(rev1, 65))
	})

	// 7. A new model in the middle of a rollout re-enters at 10 %.
	t.Run("07-mid-rollout-model-change", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s07-midrollout", "midrollout")
		s.startCanary(modelChange(2))
		rev1, rev2, rev3 := s.rev("predictor", 1), s.rev("predictor", 2), s.rev("predictor", 3)
		s.admitted(s.setPercent("35"), "10 → 35")
		s.waitRollout("predictor", rev1, latestAt(rev2, 35), prevAt(rev1, 65))

		a := s.changeModel(modelURI(3))
		s.admitted(a, "a new model at 35 %")
		s.warned(a, "a new model at 35 %", guardWarning+"[mid-rollout-restart]", "replaces the in-flight canary revision "+rev2,
			"was at 35 %", "re-enters at 10 %", "prev stays on "+rev1)
		s.warned(a, "a new model at 35 %", guardWarning+"[canary-injected]", "set to 10 (was 35)")
		s.storedPercent(10)
		s.waitRollout("predictor", rev1, latestAt(rev3, 10), prevAt(rev1, 90))
	})

	// 7b. The step interval: the model change is stamped, and an update
	// that back-dates or removes the stamp gets it back, so the next rise
	// is still refused.
	t.Run("07b-step-interval", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s07b-interval", "interval")
		s.startCanary(modelChange(2))
		stamp := s.get().Annotations[policy.AnnotationStepAt]
		if stamp == "" {
			t.Fatalf("the model change entering at 10 %% carries no %s stamp", policy.AnnotationStepAt)
		}
		for what, patch := range map[string]string{
			"back-dating the stamp": `{"metadata":{"annotations":{"` + policy.AnnotationStepAt + `":"2020-01-01T00:00:00Z"}}}`,
			"removing the stamp":    `{"metadata":{"annotations":{"` + policy.AnnotationStepAt + `":null}}}`,
		} {
			a := s.patch(patch)
			s.admitted(a, what)
			s.warned(a, what, guardWarning+"[step-stamp-kept]", "so it was kept at "+stamp)
			if got := s.get().Annotations[policy.AnnotationStepAt]; got != stamp {
				t.Errorf("after %s the stored stamp is %q, want %q", what, got, stamp)
			}
		}
		s.denied(s.setPercent("35"), "10 → 35 within the interval", "[step-interval]", "steps need 600 s between them")
		s.admitted(s.setPercent("0"), "the rollback")
		s.storedPercent(0)
	})

	// 8. The transformer is canaried on its own.
	t.Run("08-transformer-canary", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s08-transformer", "tr")
		manifest := func(tag string) string {
			return sklearnISVC(s.name, modelURI(1)) + `  transformer:
    containers:
    - name: kserve-container
      image: kserve/image-transformer:` + tag + "\n"
		}
		s.deploy(manifest("v1"))
		trRev1, trRev2 := s.rev("transformer", 1), s.rev("transformer", 2)
		s.waitRollout("transformer", trRev1, latestAt(trRev1, 100))

		a := s.apply(manifest("v2"))
		s.admitted(a, "the transformer image change")
		s.warned(a, "the transformer image change", guardWarning+"[canary-injected] spec.transformer: the model changes from kserve/image-transformer:v1 to kserve/image-transformer:v2",
			"spec.transformer.canaryTrafficPercent set to 10")
		isvc := s.get()
		s.storedComponentPercent(isvc.Spec.Transformer.CanaryTrafficPercent, "spec.transformer", 10)
		s.storedComponentPercent(isvc.Spec.Predictor.CanaryTrafficPercent, "spec.predictor", -1)
		s.waitRollout("transformer", trRev1, latestAt(trRev2, 10), prevAt(trRev1, 90))
		s.waitRollout("predictor", s.rev("predictor", 1), latestAt(s.rev("predictor", 1), 100))
	})

	// 9. Standard mode: canaryTrafficPercent is refused, spec.canary[] is
	// the canary.
	t.Run("09-standard-mode", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s09-standard", "std")
		manifest := strings.Replace(sklearnISVC(s.name, modelURI(1)), "metadata:\n", "metadata:\n  annotations:\n    serving.kserve.io/deploymentMode: Standard\n", 1)
		s.admitted(s.apply(manifest), "creating the Standard-mode InferenceService")
		stable := s.waitDeployment(constants.PredictorServiceName(s.name))
		s.waitStatus("the InferenceService is Ready in Standard mode", func(isvc *kservev1beta1.InferenceService) (bool, string) {
			return isvc.Status.DeploymentMode == "Standard" && isvc.Status.IsReady(),
				fmt.Sprintf("deploymentMode %q, conditions %+v", isvc.Status.DeploymentMode, isvc.Status.Conditions)
		})

		s.denied(s.patch(`{"spec":{"predictor":{"canaryTrafficPercent":10,"model":{"storageUri":"`+modelURI(2)+`"}}}}`),
			"a model change with canaryTrafficPercent 10 in Standard mode", deniedByGuard,
			"[standard-ignores-percent] spec.predictor.canaryTrafficPercent is ignored by KServe in Standard mode", "spec.canary[]")

		a := s.patch(`{"spec":{"canary":[{"trafficPercent":10,"predictor":{"name":"v2","model":{"modelFormat":{"name":"sklearn"},"storageUri":"` + modelURI(2) + `"}}}]}}`)
		s.admitted(a, "a spec.canary[] entry at 10 % with a new storageUri")
		canary := s.waitDeployment(constants.PredictorServiceName(s.name, "v2"))
		if got := canary.Spec.Template.Annotations[constants.StorageInitializerSourceUriInternalAnnotationKey]; got != modelURI(2) {
			t.Errorf("canary Deployment %s serves %q, want %q", canary.Name, got, modelURI(2))
		}
		if got := stable.Spec.Template.Annotations[constants.StorageInitializerSourceUriInternalAnnotationKey]; got != modelURI(1) {
			t.Errorf("stable Deployment %s serves %q, want %q", stable.Name, got, modelURI(1))
		}
		// A rise waits for the entry's status: until KServe writes it,
		// the canary counts as not ready.
		s.waitEntryReady("v2", 10)

		s.denied(s.setEntryPercent(60),
			"spec.canary[0].trafficPercent 10 → 60", deniedByGuard,
			"[max-step] spec.canary[0].trafficPercent (canary v2) 10 → 60 rises by 50; at most 25 per update. Set 35 now, or remove the entry to roll back.")
		s.admitted(s.setEntryPercent(35),
			"spec.canary[0].trafficPercent 10 → 35")
		if isvc := s.get(); len(isvc.Spec.Canary) != 1 || isvc.Spec.Canary[0].TrafficPercent != 35 {
			t.Errorf("stored spec.canary = %+v, want one entry at 35", isvc.Spec.Canary)
		}
		s.waitEntryReady("v2", 35)

		// A promotion that keeps the stable's name, the one KServe allows
		// for any model change: the stable Deployment rolls to the model
		// the canary ran, and the entry's Deployment goes.
		for _, step := range []int32{60, 85} {
			s.admitted(s.setEntryPercent(step), fmt.Sprintf("spec.canary[0].trafficPercent → %d", step))
			s.waitEntryReady("v2", step)
		}
		s.admitted(s.patch(`{"spec":{"canary":null,"predictor":{"model":{"storageUri":"`+modelURI(2)+`"}}}}`),
			"promoting v2 at 85 % by taking the predictor it ran, without a rename")
		waitUntil(t, ctx, time.Minute, "the stable Deployment serves the promoted model and the entry's is gone", func() (bool, string) {
			d := &appsv1.Deployment{}
			if err := c.Client().Get(ctx, types.NamespacedName{Namespace: s.ns, Name: constants.PredictorServiceName(s.name)}, d); err != nil {
				return false, err.Error()
			}
			got := d.Spec.Template.Annotations[constants.StorageInitializerSourceUriInternalAnnotationKey]
			err := c.Client().Get(ctx, types.NamespacedName{Namespace: s.ns, Name: constants.PredictorServiceName(s.name, "v2")}, &appsv1.Deployment{})
			return got == modelURI(2) && apierrors.IsNotFound(err), fmt.Sprintf("stable serves %q; entry's Deployment: %v", got, err)
		})
	})

	// 9b. Standard mode: KServe runs an entry on replicas taken from the
	// stable predictor's minReplicas; canary-guard's count of them must be
	// the controller's (read from the HorizontalPodAutoscalers it makes).
	t.Run("09b-standard-replicas", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s09b-std-replicas", "stdrep")
		manifest := strings.Replace(sklearnISVC(s.name, modelURI(1)), "metadata:\n", "metadata:\n  annotations:\n    serving.kserve.io/deploymentMode: Standard\n", 1)
		manifest = strings.Replace(manifest, "  predictor:\n", "  predictor:\n    minReplicas: 4\n", 1)
		s.admitted(s.apply(manifest), "creating a Standard-mode InferenceService with minReplicas 4")
		stable := constants.PredictorServiceName(s.name)
		canary := constants.PredictorServiceName(s.name, "v2")
		s.waitMinReplicas(stable, 4)

		a := s.patch(`{"spec":{"canary":[{"trafficPercent":10,"predictor":{"name":"v2","model":{"modelFormat":{"name":"sklearn"},"storageUri":"` + modelURI(2) + `"}}}]}}`)
		s.admitted(a, "a spec.canary[] entry at 10 %")
		s.warned(a, "a spec.canary[] entry at 10 %",
			guardWarning+"[standard-stable-replicas] spec.predictor: the spec.canary[] entries would run 1 replica (v2 0 → 1), taken from spec.predictor.minReplicas 4",
			"the stable predictor's minimum drops from 4 to 3 replicas", "To keep 4, set spec.predictor.minReplicas: 5 in the same update.")
		s.waitMinReplicas(canary, 1)
		s.waitMinReplicas(stable, 3)
		s.waitEntryReady("v2", 10)

		a = s.setEntryPercent(35)
		s.admitted(a, "spec.canary[0].trafficPercent 10 → 35")
		s.warned(a, "spec.canary[0].trafficPercent 10 → 35",
			guardWarning+"[standard-stable-replicas] spec.predictor: the spec.canary[] entries would run 2 replicas (v2 1 → 2)",
			"drops from 3 to 2 replicas", "To keep 3, set spec.predictor.minReplicas: 5")
		s.waitMinReplicas(canary, 2)
		s.waitMinReplicas(stable, 2)

		// The minReplicas the warning names gives the stable its 3 back.
		a = s.patch(`{"spec":{"predictor":{"minReplicas":5}}}`)
		s.admitted(a, "spec.predictor.minReplicas 4 → 5")
		s.noWarnings(a, "spec.predictor.minReplicas 4 → 5")
		s.waitMinReplicas(canary, 2)
		s.waitMinReplicas(stable, 3)

		// A promotion from 75 % of minReplicas 5: the entry runs 4, and
		// its Deployment becomes the stable one, which needs 5, while
		// KServe deletes the old stable's.
		for _, step := range []int32{60, 75} {
			s.admitted(s.setEntryPercent(step), fmt.Sprintf("spec.canary[0].trafficPercent → %d", step))
			s.waitEntryReady("v2", step)
		}
		s.waitMinReplicas(canary, 4)
		a = s.patch(`{"spec":{"canary":null,"predictor":{"name":"v2","model":{"storageUri":"` + modelURI(2) + `"}}}}`)
		s.admitted(a, "promoting v2 at 75 %")
		s.warned(a, "promoting v2 at 75 %",
			guardWarning+"[standard-promotion-replicas] spec.predictor: promoting v2 makes its Deployment "+canary+" the stable one",
			"while it runs 4 replicas of the 5 the stable needs", "so all traffic rests on 4 replicas until it has 5 ready.",
			"first set spec.canary[0].predictor.minReplicas: 5, wait until "+canary+" has 5 ready replicas, then promote.")
		s.waitMinReplicas(canary, 5)
		waitUntil(t, ctx, time.Minute, "the old stable Deployment "+stable+" is deleted", func() (bool, string) {
			err := c.Client().Get(ctx, types.NamespacedName{Namespace: s.ns, Name: stable}, &appsv1.Deployment{})
			return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
		})
	})

	// 10. warn and audit namespaces admit what enforce would refuse.
	t.Run("10-warn-and-audit", func(t *testing.T) {
		withCanary := `{"spec":{"predictor":{"canaryTrafficPercent":10,"model":{"storageUri":"` + modelURI(2) + `"}}}}`
		maxStep := "[max-step] spec.predictor.canaryTrafficPercent 10 → 100 rises by 90; at most 25 per update. Set 35 now, or 0 to roll back."
		for _, mode := range []string{"warn", "audit"} {
			t.Run(mode, func(t *testing.T) {
				s := newScenario(t, ctx, c, "s10-"+mode, "jump")
				s.startCanary(withCanary)
				rev2 := s.rev("predictor", 2)
				a := s.setPercent("100")
				s.admitted(a, "10 → 100 in a "+mode+" namespace")
				if mode == "warn" {
					s.warned(a, "10 → 100", guardWarning+strings.Replace(maxStep, "] ", "] (warn mode, not enforced) ", 1))
				} else {
					s.noWarnings(a, "10 → 100")
				}
				s.storedPercent(100)
				s.waitRollout("predictor", rev2, latestAt(rev2, 100))
			})
		}
	})

	// 11. Overrides: members of override.groups lift the rules once;
	// others are told their override is ignored.
	t.Run("11-override", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s11-override", "override")
		s.grantEdit("e2e-isvc-editors", "sre", "ml")
		s.startCanary(modelChange(2))
		jump := `{"metadata":{"annotations":{"canary-guard.dev/override":"INC-1"}},"spec":{"predictor":{"canaryTrafficPercent":100}}}`

		a := s.patch(jump, "--as=dev", "--as-group=ml")
		s.denied(a, "dev (group ml) overriding 10 → 100", deniedByGuard, "[max-step]", "Set 35 now")
		s.warned(a, "dev (group ml) overriding 10 → 100", guardWarning+"[override-ignored] dev may not override (not in override.groups)", "Ask a member of sre")
		s.storedPercent(10)

		a = s.patch(jump, "--as=oncall", "--as-group=sre")
		s.admitted(a, "oncall (group sre) overriding 10 → 100")
		s.warned(a, "oncall (group sre) overriding 10 → 100", guardWarning+`[override] rollout rules lifted for this update by oncall (override: "INC-1")`)
		s.warned(a, "oncall (group sre) overriding 10 → 100", guardWarning+"[max-step] overridden: spec.predictor.canaryTrafficPercent 10 → 100")
		isvc := s.get()
		if got := isvc.Annotations["canary-guard.dev/override"]; got != "INC-1" {
			t.Errorf("stored override annotation %q, want INC-1", got)
		}
		s.storedPercent(100)
		// The annotation is not in KServe's serviceAnnotationDisallowedList
		// here, so it reaches the revision template: revision 3 (the same
		// model as 2) takes all traffic.
		rev3 := s.rev("predictor", 3)
		s.waitRollout("predictor", rev3, latestAt(rev3, 100))
	})

	// 11b. A namespace's own exempt users pass canary-guard and the
	// backstop alike: their model change with no canary is stored as sent.
	t.Run("11b-namespace-exempt", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s11b-exempt", "exempt")
		s.grantEdit("e2e-isvc-editors-exempt", "release")
		s.deploy(sklearnISVC(s.name, modelURI(1)))
		a := s.changeModel(modelURI(2), "--as=release-bot", "--as-group=release")
		s.admitted(a, "release-bot (exempt in *-exempt namespaces) changing the model with no canary")
		s.storedPercent(-1)
		if uri := *s.get().Spec.Predictor.Model.StorageURI; uri != modelURI(2) {
			t.Errorf("stored storageUri %s, want %s", uri, modelURI(2))
		}
	})

	// 12. Server-side dry runs get the same answers and store nothing.
	t.Run("12-dry-run", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s12-dryrun", "dryrun")
		s.deploy(sklearnISVC(s.name, modelURI(1)))
		before := s.get()

		a := s.changeModel(modelURI(2), "--dry-run=server", "-o", "yaml")
		s.admitted(a, "a dry-run model change")
		s.warned(a, "a dry-run model change", guardWarning+"[canary-injected]")
		out := &kservev1beta1.InferenceService{}
		if err := yaml.Unmarshal([]byte(a.stdout), out); err != nil {
			t.Fatalf("kubectl -o yaml: %v", err)
		}
		s.storedComponentPercent(out.Spec.Predictor.CanaryTrafficPercent, "(dry-run answer) spec.predictor", 10)
		if out.Spec.Predictor.Model == nil || out.Spec.Predictor.Model.StorageURI == nil || *out.Spec.Predictor.Model.StorageURI != modelURI(2) {
			t.Errorf("dry-run answer's model %+v, want storageUri %s", out.Spec.Predictor.Model, modelURI(2))
		}
		after := s.get()
		// (resourceVersion is not compared: KServe may rewrite the status.)
		if after.Generation != before.Generation || *after.Spec.Predictor.Model.StorageURI != modelURI(1) ||
			after.Spec.Predictor.CanaryTrafficPercent != nil || after.Annotations[tagRoutingKey] != before.Annotations[tagRoutingKey] {
			t.Errorf("the dry run changed the stored object: generation %d → %d, storageUri %s, percent %s",
				before.Generation, after.Generation, *after.Spec.Predictor.Model.StorageURI, percentText(after.Spec.Predictor.CanaryTrafficPercent))
		}

		s.admitted(s.changeModel(modelURI(2)), "the model change")
		rev1, rev2 := s.rev("predictor", 1), s.rev("predictor", 2)
		s.waitRollout("predictor", rev1, latestAt(rev2, 10), prevAt(rev1, 90))
		real := s.setPercent("100")
		dry := s.setPercent("100", "--dry-run=server")
		s.denied(real, "10 → 100", deniedByGuard, "Set 35 now, or 0 to roll back")
		s.denied(dry, "10 → 100 (dry run)", deniedByGuard, "Set 35 now, or 0 to roll back")
		if strings.TrimSpace(real.stderr) != strings.TrimSpace(dry.stderr) {
			t.Errorf("the dry run's denial differs:\nreal: %s\ndry:  %s", real.stderr, dry.stderr)
		}
		s.storedPercent(10)
	})

	// 13. canary-guard down: the failure policies, matchConditions and
	// the backstop do what the README says. Last: it stops the webhook.
	t.Run("13-webhook-down", func(t *testing.T) {
		s := newScenario(t, ctx, c, "s13-outage", "canary")
		other := s.with("stable")
		backstop := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		if err := c.Client().Get(ctx, types.NamespacedName{Name: "canary-guard-backstop"}, backstop); err != nil {
			t.Fatalf("the chart's backstop ValidatingAdmissionPolicy is not registered: %v", err)
		}
		s.startCanary(modelChange(2))
		other.deploy(sklearnISVC(other.name, modelURI(1)))
		if fin := other.get().Finalizers; len(fin) == 0 {
			t.Fatalf("%s has no finalizer: the deletion would not exercise the KServe controller's update", other.name)
		}
		rev1, rev2 := s.rev("predictor", 1), s.rev("predictor", 2)

		if err := c.StopCanaryGuard(); err != nil {
			t.Fatal(err)
		}
		running := false
		defer func() {
			if !running {
				if err := c.StartCanaryGuard(ctx); err != nil {
					t.Errorf("restarting canary-guard: %v", err)
				}
			}
		}()

		// A rise needs the validating webhook (failurePolicy Fail).
		s.denied(s.setPercent("35"), "10 → 35 with canary-guard down",
			`failed calling webhook "validate.canary-guard.dev"`)
		s.storedPercent(10)

		// A rollback reaches neither webhook (matchCondition): the API
		// server neither waits for the mutating one nor fails open on it.
		failedOpen := func() float64 {
			text, _, err := c.Kubectl(ctx, "get", "--raw", "/metrics")
			if err != nil {
				t.Fatalf("reading the API server's metrics: %v", err)
			}
			return cluster.MetricValue(text, "apiserver_admission_webhook_fail_open_count", `name="mutate.canary-guard.dev"`)
		}
		before := failedOpen()
		s.admitted(s.setPercent("0"), "the rollback to 0 with canary-guard down")
		s.storedPercent(0)
		if n := failedOpen() - before; n != 0 {
			t.Errorf("the rollback called the mutating webhook: %v calls failed open", n)
		}
		s.waitRollout("predictor", rev1, latestAt(rev2, 0), prevAt(rev1, 100))

		// Only a rollback: a model change that keeps 0 % still needs
		// canary-guard, so it fails while canary-guard is down.
		s.denied(s.changeModel(modelURI(3)), "a model change at 0 % with canary-guard down",
			`failed calling webhook "validate.canary-guard.dev"`)
		if uri := *s.get().Spec.Predictor.Model.StorageURI; uri != modelURI(2) {
			t.Errorf("stored storageUri %s, want %s", uri, modelURI(2))
		}

		// A full cutover is refused by the backstop, in the API server.
		// Poll a dry run until the policy answers (the API server loads
		// policies asynchronously), then send the real update.
		var last answer
		waitUntil(t, ctx, 30*time.Second, "the backstop answers a dry-run cutover", func() (bool, string) {
			last = other.changeModel(modelURI(2), "--dry-run=server")
			return strings.Contains(last.stderr, "canary-guard backstop"), last.stderr
		})
		other.denied(other.changeModel(modelURI(2)), "a model change with no canary with canary-guard down",
			"ValidatingAdmissionPolicy 'canary-guard-backstop'", "canary-guard backstop:", "with no canaryTrafficPercent, which sends 100 % of traffic",
			"Set spec.predictor.canaryTrafficPercent: 10", "check the canary-guard pods")
		other.storedPercent(-1)
		if uri := *other.get().Spec.Predictor.Model.StorageURI; uri != modelURI(1) {
			t.Errorf("stored storageUri %s, want %s", uri, modelURI(1))
		}

		// Deletion completes: the KServe controller's finalizer removal
		// skips the webhooks (matchConditions).
		other.admitted(other.kubectl("delete", "inferenceservice", other.name, "--timeout=60s"), "deleting "+other.name)
		other.waitGone()

		if err := c.StartCanaryGuard(ctx); err != nil {
			t.Fatal(err)
		}
		running = true
		// From 0 the canary re-enters at the initial percent.
		a := s.setPercent("10")
		s.admitted(a, "0 → 10 with canary-guard back")
		s.storedPercent(10)
		s.waitRollout("predictor", rev1, latestAt(rev2, 10), prevAt(rev1, 90))
	})

	t.Logf("scenario suite: %s", time.Since(start).Round(100*time.Millisecond))
}

// waitDeployment waits until Deployment name in the scenario's namespace
// exists and is available, as the simulator reports it.
func (s *scenario) waitDeployment(name string) *appsv1.Deployment {
	s.t.Helper()
	d := &appsv1.Deployment{}
	waitUntil(s.t, s.ctx, time.Minute, "Deployment "+name+" is available", func() (bool, string) {
		if err := s.c.Client().Get(s.ctx, types.NamespacedName{Namespace: s.ns, Name: name}, d); err != nil {
			return false, err.Error()
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == "True" && d.Status.ObservedGeneration == d.Generation {
				return true, ""
			}
		}
		return false, fmt.Sprintf("status %+v", d.Status)
	})
	return d
}

// waitMinReplicas waits until the HorizontalPodAutoscaler KServe makes for
// a Standard-mode Deployment has the given minimum.
func (s *scenario) waitMinReplicas(name string, want int32) {
	s.t.Helper()
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	waitUntil(s.t, s.ctx, time.Minute, fmt.Sprintf("HorizontalPodAutoscaler %s has minReplicas %d", name, want), func() (bool, string) {
		if err := s.c.Client().Get(s.ctx, types.NamespacedName{Namespace: s.ns, Name: name}, hpa); err != nil {
			return false, err.Error()
		}
		got := int32(1)
		if hpa.Spec.MinReplicas != nil {
			got = *hpa.Spec.MinReplicas
		}
		return got == want, fmt.Sprintf("minReplicas %d", got)
	})
}

// grantEdit lets the given (impersonated) groups edit InferenceServices.
func (s *scenario) grantEdit(name string, groups ...string) {
	s.t.Helper()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"serving.kserve.io"},
			Resources: []string{"inferenceservices"},
			Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
		}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
	}
	for _, g := range groups {
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	if err := s.c.Client().Create(s.ctx, role); err != nil {
		s.t.Fatal(err)
	}
	if err := s.c.Client().Create(s.ctx, binding); err != nil {
		s.t.Fatal(err)
	}
	// The API server's RBAC authorizer learns of the binding from a watch.
	for _, g := range groups {
		waitUntil(s.t, s.ctx, 30*time.Second, "group "+g+" may patch InferenceServices", func() (bool, string) {
			ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
			defer cancel()
			out, _, _ := s.c.Kubectl(ctx, "auth", "can-i", "patch", "inferenceservices.serving.kserve.io", "-n", s.ns, "--as=e2e-user", "--as-group="+g)
			return strings.TrimSpace(out) == "yes", out
		})
	}
}
