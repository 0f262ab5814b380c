package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestChartUninstallHookUnregistersOnlyItsWebhooks runs the chart's
// pre-delete hook as its Job would, on the API server: the Job's arguments,
// as the hook's ServiceAccount with the RBAC the chart renders for it. It
// deletes the release's two webhook configurations, a retry finds nothing
// to do, and it may delete no other webhook configuration. The hook's pod
// is selected by none of the chart's Service, budget or network policy.
func TestChartUninstallHookUnregistersOnlyItsWebhooks(t *testing.T) {
	c := testCluster(t)
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const release, ns = "cg-uninstall", "cg-uninstall"
	chart := renderChart(t, release, ns, "--set", "networkPolicy.enabled=true")
	fullname := release + "-canary-guard"

	// The hook's objects are pre-delete hooks, the ServiceAccount and its
	// RBAC weighted before the Job.
	job := &batchv1.Job{}
	chart.decode(t, "Job", fullname+"-uninstall", job)
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Job"} {
		d := chart.find(kind, fullname+"-uninstall")
		if d == nil {
			t.Fatalf("the chart renders no %s %s-uninstall", kind, fullname)
		}
		a := d.obj.GetAnnotations()
		wantWeight := "-10"
		if kind == "Job" {
			wantWeight = "0"
		}
		if a["helm.sh/hook"] != "pre-delete" || a["helm.sh/hook-weight"] != wantWeight ||
			!strings.Contains(a["helm.sh/hook-delete-policy"], "hook-succeeded") {
			t.Errorf("%s %s: annotations %v, want a pre-delete hook of weight %s, deleted once it succeeds", kind, d.name, a, wantWeight)
		}
	}
	// A mesh sidecar would keep the pod, so the Job, from completing.
	if got := job.Spec.Template.Annotations["sidecar.istio.io/inject"]; got != "false" {
		t.Errorf("the hook's pod has sidecar.istio.io/inject=%q, want \"false\"", got)
	}
	pod := labels.Set(job.Spec.Template.Labels)
	svc := &corev1.Service{}
	chart.decode(t, "Service", fullname, svc)
	if labels.SelectorFromSet(svc.Spec.Selector).Matches(pod) {
		t.Errorf("the Service's selector %v selects the hook's pod %v", svc.Spec.Selector, pod)
	}
	for _, kind := range []string{"PodDisruptionBudget", "NetworkPolicy"} {
		for _, d := range chart.docs {
			if d.gvk.Kind != kind {
				continue
			}
			path := []string{"spec", "podSelector", "matchLabels"}
			if kind == "PodDisruptionBudget" {
				path = []string{"spec", "selector", "matchLabels"}
			}
			sel, _, err := unstructured.NestedStringMap(d.obj.Object, path...)
			if err != nil {
				t.Fatalf("%s %s: %v", kind, d.name, err)
			}
			if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(pod) {
				t.Errorf("%s %s selects the hook's pod %v", kind, d.name, pod)
			}
		}
	}

	// The hook's identity, as rendered, and webhook configurations of the
	// release's name beside the suite's own.
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var created []client.Object
	t.Cleanup(func() {
		for _, obj := range created {
			if err := cl.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s: %v", obj.GetName(), err)
			}
		}
	})
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		obj := chart.find(kind, fullname+"-uninstall").obj.DeepCopy()
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatalf("creating the hook's %s: %v", kind, err)
		}
		created = append(created, obj)
	}
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: fullname}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: fullname}},
	} {
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		created = append(created, obj)
	}
	spec := job.Spec.Template.Spec
	kubeconfig, err := c.AddUser(fmt.Sprintf("system:serviceaccount:%s:%s", ns, spec.ServiceAccountName),
		"system:serviceaccounts", "system:serviceaccounts:"+ns)
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		bin := filepath.Join(repoRoot(t), "bin", "canary-guard")
		out, err := exec.CommandContext(ctx, bin, append(args, "--kubeconfig", kubeconfig)...).CombinedOutput()
		return string(out), err
	}

	args := spec.Containers[0].Args
	out, err := run(args...)
	want := fmt.Sprintf("MutatingWebhookConfiguration %[1]s: deleted\nValidatingWebhookConfiguration %[1]s: deleted\n", fullname)
	if err != nil || out != want {
		t.Fatalf("canary-guard %s: %v\n%s\nwant:\n%s", strings.Join(args, " "), err, out, want)
	}
	for _, obj := range []client.Object{&admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}} {
		if err := cl.Get(ctx, client.ObjectKey{Name: fullname}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s is still there: %v", obj, fullname, err)
		}
	}
	// A retried Job finds nothing left and succeeds.
	if out, err := run(args...); err != nil || !strings.Contains(out, "already gone") {
		t.Errorf("a second run: %v\n%s", err, out)
	}
	// The suite's own webhook configurations are out of its reach.
	out, err = run("unregister", "--webhook-configuration="+suiteWebhookConfiguration(t, cl))
	if err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("the hook deleted another release's webhook configuration: %v\n%s", err, out)
	}
}

// suiteWebhookConfiguration is the name of a validating webhook
// configuration the suite registered (canary-guard's own).
func suiteWebhookConfiguration(t *testing.T, cl client.Client) string {
	t.Helper()
	list := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	if err := cl.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	for _, w := range list.Items {
		for _, h := range w.Webhooks {
			if h.Name == "validate.canary-guard.dev" {
				return w.Name
			}
		}
	}
	t.Fatal("no canary-guard webhook configuration is registered")
	return ""
}
