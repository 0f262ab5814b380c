package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	knservingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/canary-guard/canary-guard/e2e/cluster"
)

// Texts kubectl shows for canary-guard's answers.
const (
	deniedByGuard = `admission webhook "validate.canary-guard.dev" denied the request: canary-guard denied this update:`
	guardWarning  = "Warning: canary-guard: "
)

// scenario is one InferenceService in its own namespace, driven with
// kubectl as a user would and observed with the controller-runtime client.
type scenario struct {
	t    *testing.T
	c    *cluster.Cluster
	ctx  context.Context
	ns   string
	name string
}

// newScenario creates namespace ns for InferenceService name.
func newScenario(t *testing.T, ctx context.Context, c *cluster.Cluster, ns, name string) *scenario {
	t.Helper()
	if err := c.Client().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return &scenario{t: t, c: c, ctx: ctx, ns: ns, name: name}
}

// with returns the scenario for another InferenceService in the same namespace.
func (s *scenario) with(name string) *scenario {
	o := *s
	o.name = name
	return &o
}

// ksvc is the Knative Service of a component ("predictor", "transformer").
func (s *scenario) ksvc(component string) string { return s.name + "-" + component }

// rev is the name of revision n of a component.
func (s *scenario) rev(component string, n int) string {
	return cluster.RevisionName(s.ksvc(component), n)
}

// answer is what kubectl printed for one command.
type answer struct {
	cmd            string
	stdout, stderr string
	err            error
}

func (a answer) String() string {
	return fmt.Sprintf("$ kubectl %s\n%s%s", a.cmd, a.stdout, a.stderr)
}

// warnings are the admission warnings kubectl printed.
func (a answer) warnings() []string {
	var out []string
	for line := range strings.Lines(a.stderr) {
		if strings.HasPrefix(line, "Warning: ") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// kubectl runs bin/kubectl in the scenario's namespace.
func (s *scenario) kubectl(args ...string) answer {
	s.t.Helper()
	args = append([]string{"-n", s.ns}, args...)
	ctx, cancel := context.WithTimeout(s.ctx, 90*time.Second)
	defer cancel()
	stdout, stderr, err := s.c.Kubectl(ctx, args...)
	a := answer{cmd: strings.Join(args, " "), stdout: stdout, stderr: stderr, err: err}
	s.t.Log(a.String())
	return a
}

// apply applies a manifest (YAML text or, when it names a file, that file).
func (s *scenario) apply(manifest string, extra ...string) answer {
	s.t.Helper()
	file := manifest
	if strings.Contains(manifest, "\n") {
		file = filepath.Join(s.t.TempDir(), s.name+".yaml")
		if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	return s.kubectl(append([]string{"apply", "-f", file}, extra...)...)
}

// patch merge-patches the InferenceService.
func (s *scenario) patch(patch string, extra ...string) answer {
	s.t.Helper()
	return s.kubectl(append([]string{"patch", "inferenceservice", s.name, "--type=merge", "-p", patch}, extra...)...)
}

// setPercent sets (or, with "null", removes) the predictor's canaryTrafficPercent.
func (s *scenario) setPercent(p string, extra ...string) answer {
	s.t.Helper()
	return s.patch(`{"spec":{"predictor":{"canaryTrafficPercent":`+p+`}}}`, extra...)
}

// setEntryPercent sets the trafficPercent of the first spec.canary[] entry.
func (s *scenario) setEntryPercent(p int32) answer {
	s.t.Helper()
	return s.kubectl("patch", "inferenceservice", s.name, "--type=json", "-p",
		fmt.Sprintf(`[{"op":"replace","path":"/spec/canary/0/trafficPercent","value":%d}]`, p))
}

// waitEntryReady waits until the status has the only spec.canary[] entry,
// name, ready at percent p.
func (s *scenario) waitEntryReady(name string, p int32) {
	s.t.Helper()
	s.waitStatus(fmt.Sprintf("canary %s is ready at %d %%", name, p), func(isvc *kservev1beta1.InferenceService) (bool, string) {
		cs := isvc.Status.CanaryStatuses
		return len(cs) == 1 && cs[0].Name == name && cs[0].Ready && cs[0].TrafficPercent == p, fmt.Sprintf("canaryStatuses %+v", cs)
	})
}

// changeModel sets the predictor's storageUri, leaving the percent alone.
func (s *scenario) changeModel(uri string, extra ...string) answer {
	s.t.Helper()
	return s.patch(`{"spec":{"predictor":{"model":{"storageUri":"`+uri+`"}}}}`, extra...)
}

// admitted fails the test unless kubectl succeeded.
func (s *scenario) admitted(a answer, what string) {
	s.t.Helper()
	if a.err != nil {
		s.t.Fatalf("%s: want admitted, got %v", what, a.err)
	}
}

// denied fails the test unless kubectl failed; the error must contain
// every text in want.
func (s *scenario) denied(a answer, what string, want ...string) {
	s.t.Helper()
	if a.err == nil {
		s.t.Fatalf("%s: want denied, got admitted\n%s", what, a)
	}
	for _, w := range want {
		if !strings.Contains(a.stderr, w) {
			s.t.Errorf("%s: the error does not contain %q:\n%s", what, w, a.stderr)
		}
	}
}

// warned checks that one of the warnings kubectl printed contains all of want.
func (s *scenario) warned(a answer, what string, want ...string) {
	s.t.Helper()
	for _, w := range a.warnings() {
		all := true
		for _, x := range want {
			all = all && strings.Contains(w, x)
		}
		if all {
			return
		}
	}
	s.t.Errorf("%s: no warning contains all of %q; warnings: %q", what, want, a.warnings())
}

// noWarnings checks that kubectl printed no warning.
func (s *scenario) noWarnings(a answer, what string) {
	s.t.Helper()
	if w := a.warnings(); len(w) > 0 {
		s.t.Errorf("%s: want no warning, got %q", what, w)
	}
}

// get reads the stored InferenceService.
func (s *scenario) get() *kservev1beta1.InferenceService {
	s.t.Helper()
	isvc := &kservev1beta1.InferenceService{}
	if err := s.c.Client().Get(s.ctx, types.NamespacedName{Namespace: s.ns, Name: s.name}, isvc); err != nil {
		s.t.Fatal(err)
	}
	return isvc
}

// storedPercent checks the stored predictor canaryTrafficPercent (-1: absent).
func (s *scenario) storedPercent(want int64) {
	s.t.Helper()
	s.storedComponentPercent(s.get().Spec.Predictor.CanaryTrafficPercent, "spec.predictor", want)
}

func (s *scenario) storedComponentPercent(got *int64, path string, want int64) {
	s.t.Helper()
	switch {
	case want < 0 && got != nil:
		s.t.Errorf("stored %s.canaryTrafficPercent = %d, want absent", path, *got)
	case want >= 0 && (got == nil || *got != want):
		s.t.Errorf("stored %s.canaryTrafficPercent = %s, want %d", path, percentText(got), want)
	}
}

func percentText(p *int64) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprint(*p)
}

// target is one expected traffic target.
type target struct {
	rev     string // the revision (for latest: the one it resolves to)
	latest  bool
	percent int64
	tag     string // checked when set
}

func (w target) String() string {
	kind := "rev " + w.rev
	if w.latest {
		kind = "latest=" + w.rev
	}
	if w.tag != "" {
		kind += " tag " + w.tag
	}
	return fmt.Sprintf("%s %d%%", kind, w.percent)
}

func latestAt(rev string, percent int64) target {
	return target{rev: rev, latest: true, percent: percent}
}

func prevAt(rev string, percent int64) target {
	return target{rev: rev, percent: percent, tag: "prev"}
}

// matchTraffic reports whether targets are exactly want. Latest targets of
// a Knative Service's spec name no revision (resolved false).
func matchTraffic(targets []knservingv1.TrafficTarget, want []target, resolved bool) bool {
	if len(targets) != len(want) {
		return false
	}
	used := make([]bool, len(targets))
	for _, w := range want {
		found := false
		for i, t := range targets {
			isLatest := t.LatestRevision != nil && *t.LatestRevision
			rev := t.RevisionName
			if !resolved && isLatest && rev == "" {
				rev = w.rev
			}
			if used[i] || isLatest != w.latest || rev != w.rev || !percentIs(&targets[i], w.percent) ||
				(w.tag != "" && t.Tag != w.tag) {
				continue
			}
			used[i], found = true, true
			break
		}
		if !found {
			return false
		}
	}
	return true
}

// waitRollout waits until a component's traffic is want everywhere: the
// Knative Service's spec.traffic (what KServe asked for) and status.traffic
// (what the simulated Knative route resolved) and the InferenceService's
// status, with latestRolledoutRevision rolledOut and status caught up with
// the stored generation, so that the next update is judged on current status.
func (s *scenario) waitRollout(component, rolledOut string, want ...target) {
	s.t.Helper()
	s.waitStatus(fmt.Sprintf("%s/%s %s traffic %v, rolled out %s", s.ns, s.name, component, want, rolledOut),
		func(isvc *kservev1beta1.InferenceService) (bool, string) {
			ksvc := &knservingv1.Service{}
			if err := s.c.Client().Get(s.ctx, types.NamespacedName{Namespace: s.ns, Name: s.ksvc(component)}, ksvc); err != nil {
				return false, err.Error()
			}
			st := isvc.Status.Components[kservev1beta1.ComponentType(component)]
			detail := fmt.Sprintf("generation %d observed %d; ksvc spec.traffic %s status.traffic %s; isvc status: created=%q ready=%q rolledout=%q traffic=%s",
				isvc.Generation, isvc.Status.ObservedGeneration, traffic(ksvc.Spec.Traffic), traffic(ksvc.Status.Traffic),
				st.LatestCreatedRevision, st.LatestReadyRevision, st.LatestRolledoutRevision, traffic(st.Traffic))
			ok := isvc.Status.ObservedGeneration == isvc.Generation &&
				matchTraffic(ksvc.Spec.Traffic, want, false) && matchTraffic(ksvc.Status.Traffic, want, true) &&
				matchTraffic(st.Traffic, want, true) && st.LatestRolledoutRevision == rolledOut &&
				st.LatestCreatedRevision == st.LatestReadyRevision
			return ok, detail
		})
}

// waitStatus polls the stored InferenceService until cond holds.
func (s *scenario) waitStatus(what string, cond func(*kservev1beta1.InferenceService) (bool, string)) {
	s.t.Helper()
	waitUntil(s.t, s.ctx, time.Minute, what, func() (bool, string) {
		isvc := &kservev1beta1.InferenceService{}
		if err := s.c.Client().Get(s.ctx, types.NamespacedName{Namespace: s.ns, Name: s.name}, isvc); err != nil {
			return false, err.Error()
		}
		return cond(isvc)
	})
}

// waitGone waits until the InferenceService no longer exists.
func (s *scenario) waitGone() {
	s.t.Helper()
	waitUntil(s.t, s.ctx, time.Minute, s.ns+"/"+s.name+" is gone", func() (bool, string) {
		isvc := &kservev1beta1.InferenceService{}
		err := s.c.Client().Get(s.ctx, types.NamespacedName{Namespace: s.ns, Name: s.name}, isvc)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("still there: deletionTimestamp %v, finalizers %v", isvc.DeletionTimestamp, isvc.Finalizers)
	})
}

// sklearnISVC is a Knative-mode InferenceService manifest.
func sklearnISVC(name, uri string) string {
	return fmt.Sprintf(`apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: %s
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: %s
`, name, uri)
}

// deploy creates the InferenceService from manifest and waits until its
// first predictor revision has all traffic.
func (s *scenario) deploy(manifest string) {
	s.t.Helper()
	s.admitted(s.apply(manifest), "creating "+s.name)
	s.waitRollout("predictor", s.rev("predictor", 1), latestAt(s.rev("predictor", 1), 100))
}

// startCanary deploys model v1, changes it to v2 with the given patch and
// waits for the 10/90 split; it returns kubectl's answer to the change.
func (s *scenario) startCanary(patch string) answer {
	s.t.Helper()
	s.deploy(sklearnISVC(s.name, modelURI(1)))
	a := s.patch(patch)
	s.admitted(a, "the model change")
	s.storedPercent(10)
	s.waitRollout("predictor", s.rev("predictor", 1), latestAt(s.rev("predictor", 2), 10), prevAt(s.rev("predictor", 1), 90))
	return a
}

// modelURI is version v of the test model.
func modelURI(v int) string {
	return fmt.Sprintf("gs://kfserving-examples/models/sklearn/1.0/model-v%d", v)
}

// modelChange is a merge patch changing the predictor's model to version v.
func modelChange(v int) string {
	return `{"spec":{"predictor":{"model":{"storageUri":"` + modelURI(v) + `"}}}}`
}
