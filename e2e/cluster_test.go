package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	knservingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/canary-guard/canary-guard/e2e/cluster"
)

const (
	modelsNS         = "models"
	tagRoutingKey    = "serving.kserve.io/enable-tag-routing"
	isvcName         = "my-model"
	predictorKsvc    = "my-model-predictor"
	firstRevision    = "my-model-predictor-00001"
	secondRevision   = "my-model-predictor-00002"
	rolloutSamplesIn = "docs/samples/v1beta1/rollout"
)

// auditEvent is the part of an audit.k8s.io/v1 Event the tests read.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	Annotations map[string]string `json:"annotations"`
}

func auditEvents(t *testing.T, path string) []auditEvent {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var events []auditEvent
	for line := range strings.Lines(string(data)) {
		var e auditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit log %s: %v", path, err)
		}
		events = append(events, e)
	}
	return events
}

// waitUntil polls cond every 200ms until it holds or timeout passes; the
// last detail it returned goes into the failure.
func waitUntil(t *testing.T, ctx context.Context, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	start := time.Now()
	for {
		ok, detail := cond()
		if ok {
			t.Logf("%s after %s", what, time.Since(start).Round(10*time.Millisecond))
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out after %s waiting until %s; last: %s", timeout, what, detail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func traffic(targets []knservingv1.TrafficTarget) string {
	var parts []string
	for _, t := range targets {
		latest, percent := false, int64(-1)
		if t.LatestRevision != nil {
			latest = *t.LatestRevision
		}
		if t.Percent != nil {
			percent = *t.Percent
		}
		parts = append(parts, fmt.Sprintf("{rev=%q latest=%v percent=%d tag=%q}", t.RevisionName, latest, percent, t.Tag))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// findTarget returns the target matching revision (or latestRevision when
// revision is "") and tag.
func findTarget(targets []knservingv1.TrafficTarget, revision string, latest bool) *knservingv1.TrafficTarget {
	for i, t := range targets {
		isLatest := t.LatestRevision != nil && *t.LatestRevision
		if isLatest == latest && (revision == "" || t.RevisionName == revision) {
			return &targets[i]
		}
	}
	return nil
}

func percentIs(t *knservingv1.TrafficTarget, p int64) bool {
	return t != nil && t.Percent != nil && *t.Percent == p
}

// TestControlPlane_KServeRolloutSamples applies KServe's own rollout
// samples (default.yaml, then canary.yaml) with kubectl against the real
// API server, KServe's controller and webhooks, and canary-guard with the
// chart's webhook registrations.
func TestControlPlane_KServeRolloutSamples(t *testing.T) {
	testStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	c := testCluster(t)
	k8s := c.Client()

	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: modelsNS}}); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(c.KServeDir(), rolloutSamplesIn)
	apply := func(file string) {
		t.Helper()
		stdout, stderr, err := c.Kubectl(ctx, "apply", "-n", modelsNS, "-f", filepath.Join(samples, file))
		if err != nil {
			t.Fatalf("kubectl apply %s: %v", file, err)
		}
		t.Logf("kubectl apply %s: %s %s", file, strings.TrimSpace(stdout), strings.TrimSpace(stderr))
	}
	isvcKey := types.NamespacedName{Namespace: modelsNS, Name: isvcName}
	getISVC := func() (*kservev1beta1.InferenceService, string) {
		isvc := &kservev1beta1.InferenceService{}
		if err := k8s.Get(ctx, isvcKey, isvc); err != nil {
			return nil, err.Error()
		}
		return isvc, ""
	}

	// 1. default.yaml: the first revision rolls out at 100 %.
	apply("default.yaml")
	waitUntil(t, ctx, 2*time.Minute, "latestRolledoutRevision is "+firstRevision, func() (bool, string) {
		isvc, msg := getISVC()
		if isvc == nil {
			return false, msg
		}
		p := isvc.Status.Components[kservev1beta1.PredictorComponent]
		return p.LatestRolledoutRevision == firstRevision,
			fmt.Sprintf("predictor status: created=%q ready=%q rolledout=%q traffic=%s",
				p.LatestCreatedRevision, p.LatestReadyRevision, p.LatestRolledoutRevision, traffic(p.Traffic))
	})
	isvc, msg := getISVC()
	if isvc == nil {
		t.Fatal(msg)
	}
	// KServe's defaulting webhook ran: tensorflow: became model{modelFormat}.
	if m := isvc.Spec.Predictor.Model; m == nil || m.ModelFormat.Name != "tensorflow" {
		t.Errorf("stored spec.predictor.model = %+v, want modelFormat.name tensorflow (KServe's defaulter)", m)
	}
	// canary-guard's mutating webhook turned on tag routing on CREATE.
	if got := isvc.Annotations[tagRoutingKey]; got != "true" {
		t.Errorf("annotation %s = %q, want \"true\" (injected by canary-guard on CREATE); annotations: %v", tagRoutingKey, got, isvc.Annotations)
	}

	// 2. canary.yaml: a model change entering at 10 %.
	apply("canary.yaml")
	ksvcKey := types.NamespacedName{Namespace: modelsNS, Name: predictorKsvc}
	waitUntil(t, ctx, 2*time.Minute, "the Knative Service splits 10/90 with prev on "+firstRevision, func() (bool, string) {
		ksvc := &knservingv1.Service{}
		if err := k8s.Get(ctx, ksvcKey, ksvc); err != nil {
			return false, err.Error()
		}
		latest := findTarget(ksvc.Spec.Traffic, "", true)
		prev := findTarget(ksvc.Spec.Traffic, firstRevision, false)
		ok := len(ksvc.Spec.Traffic) == 2 && percentIs(latest, 10) && percentIs(prev, 90) && prev.Tag == "prev"
		return ok, "ksvc spec.traffic " + traffic(ksvc.Spec.Traffic)
	})
	waitUntil(t, ctx, 2*time.Minute, "the InferenceService status shows the 10/90 split", func() (bool, string) {
		isvc, msg := getISVC()
		if isvc == nil {
			return false, msg
		}
		p := isvc.Status.Components[kservev1beta1.PredictorComponent]
		latest := findTarget(p.Traffic, secondRevision, true)
		prev := findTarget(p.Traffic, firstRevision, false)
		ok := p.LatestCreatedRevision == secondRevision && p.LatestReadyRevision == secondRevision &&
			p.LatestRolledoutRevision == firstRevision && percentIs(latest, 10) && percentIs(prev, 90) && prev.Tag == "prev"
		return ok, fmt.Sprintf("predictor status: created=%q ready=%q rolledout=%q traffic=%s",
			p.LatestCreatedRevision, p.LatestReadyRevision, p.LatestRolledoutRevision, traffic(p.Traffic))
	})
	isvc, msg = getISVC()
	if isvc == nil {
		t.Fatal(msg)
	}
	if p := isvc.Spec.Predictor.CanaryTrafficPercent; p == nil || *p != 10 {
		t.Errorf("stored canaryTrafficPercent = %v, want 10", p)
	}
	if m := isvc.Spec.Predictor.Model; m == nil || m.StorageURI == nil || !strings.HasSuffix(*m.StorageURI, "flowers-2") {
		t.Errorf("stored spec.predictor.model = %+v, want storageUri .../flowers-2", m)
	}
	if latest := findTarget(isvc.Status.Components[kservev1beta1.PredictorComponent].Traffic, secondRevision, true); latest == nil || latest.Tag != "latest" {
		t.Errorf("status traffic of the canary: %+v, want tag latest (tag routing)", latest)
	}

	// Nothing in this flow may be denied: not the user's applies, not the
	// KServe controller's own updates (finalizers, status).
	// The control plane is shared with the scenario suite: count only
	// this test's namespace.
	denied, err := c.CanaryGuardMetric(ctx, "canary_guard_admission_decisions_total", `outcome="denied"`, `namespace="`+modelsNS+`"`)
	if err != nil {
		t.Fatal(err)
	}
	errored, err := c.CanaryGuardMetric(ctx, "canary_guard_admission_decisions_total", `outcome="errored"`, `namespace="`+modelsNS+`"`)
	if err != nil {
		t.Fatal(err)
	}
	if denied != 0 || errored != 0 {
		t.Errorf("canary-guard denied %v and errored on %v requests; want none\n%s", denied, errored, c.LogTail("canary-guard", 30))
	}
	// The API server's audit log shows every write and the webhooks it
	// called: no request at all may have failed in canary-guard, and the
	// KServe controller's own writes to the InferenceService (its finalizer
	// patch) must succeed without calling canary-guard at all: the chart's
	// matchConditions skip updates that change neither spec, labels nor
	// annotations, so they pass even while canary-guard is down.
	controllerWrites := 0
	for _, e := range auditEvents(t, c.AuditLogPath()) {
		if e.ObjectRef.Namespace != modelsNS {
			continue // another test's namespace on the shared control plane
		}
		if strings.Contains(e.ResponseStatus.Message, "canary-guard.dev") {
			t.Errorf("%s %s %s/%s by %s failed in canary-guard: %s", e.Verb, e.ObjectRef.Resource, e.ObjectRef.Subresource,
				e.ObjectRef.Name, e.User.Username, e.ResponseStatus.Message)
		}
		if e.User.Username == cluster.KServeManagerUser && e.ObjectRef.Resource == "inferenceservices" &&
			e.ObjectRef.Subresource == "" && e.ObjectRef.Name == isvcName {
			for k, v := range e.Annotations {
				if strings.Contains(v, "canary-guard.dev") {
					t.Errorf("%s of the InferenceService by the KServe controller was sent to canary-guard (%s: %s)", e.Verb, k, v)
				}
			}
			if e.ResponseStatus.Code >= 300 && e.ResponseStatus.Code != 409 {
				t.Errorf("%s of the InferenceService by the KServe controller failed: %d %s", e.Verb, e.ResponseStatus.Code, e.ResponseStatus.Message)
			}
			controllerWrites++
		}
	}
	if controllerWrites == 0 {
		t.Error("the audit log shows no write of the KServe controller to the InferenceService (its finalizer patch)")
	}
	t.Logf("the KServe controller wrote the InferenceService %d time(s) without calling canary-guard (finalizers); status goes to /status, which canary-guard does not intercept", controllerWrites)
	t.Logf("total test time %s (shared control plane start-up %s)", time.Since(testStart).Round(100*time.Millisecond), c.StartupDuration().Round(100*time.Millisecond))
}
