package e2e

import (
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/canary-guard/canary-guard/policy"
)

// TestChartDeploymentModeCEL: the backstop and the rollback matchCondition
// decide whether an InferenceService is in Knative mode as canary-guard
// does (status, then annotations, then the namespace's default, names
// KServe does not know passed over), checked by evaluating the rendered CEL
// and canary-guard's rollout facts on the same objects and configuration.
func TestChartDeploymentModeCEL(t *testing.T) {
	r := renderChart(t, chartRelease, chartNamespace, "--set-json", `config={"defaultDeploymentMode":"Knative","namespaces":[`+
		`{"match":"legacy-*","defaultDeploymentMode":"RawDeployment"},{"match":"legacy-kn","defaultDeploymentMode":"Knative"},{"match":"team-?"}]}`)
	cm := &corev1.ConfigMap{}
	r.decode(t, "ConfigMap", chartFullname+"-config", cm)
	cfg, err := policy.ParseConfig([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("the chart's config.yaml: %v", err)
	}

	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	r.decode(t, "ValidatingAdmissionPolicy", chartFullname+"-backstop", vap)
	var knative string
	for _, v := range vap.Spec.Variables {
		if v.Name == "knative" {
			knative = v.Expression
		}
	}
	if knative == "" {
		t.Fatal("the backstop has no variable knative")
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	r.decode(t, "ValidatingWebhookConfiguration", chartFullname, vwc)
	var rollback string
	for _, mc := range vwc.Webhooks[0].MatchConditions {
		if mc.Name == "not-a-predictor-rollback" {
			rollback = mc.Expression
		}
	}
	if !strings.Contains(rollback, strings.TrimSpace(knative)) {
		t.Errorf("the rollback matchCondition does not resolve the mode as the backstop does:\n%s\nbackstop:\n%s", rollback, knative)
	}

	env, err := cel.NewEnv(cel.OptionalTypes(),
		cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType), cel.Variable("request", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	compiled, issues := env.Compile(knative)
	if issues.Err() != nil {
		t.Fatalf("the backstop's knative variable: %v\n%s", issues.Err(), knative)
	}
	program, err := env.Program(compiled)
	if err != nil {
		t.Fatal(err)
	}

	const modeKey = "serving.kserve.io/deploymentMode"
	cases := []struct {
		name, namespace, status string
		newMode, oldMode        string // the annotation, "" for none
	}{
		{name: "status wins over the annotation", namespace: "prod", status: "Standard", newMode: "Knative"},
		{name: "Knative status", namespace: "legacy-a", status: "Knative", newMode: "Standard"},
		{name: "legacy status name", namespace: "prod", status: "Serverless"},
		{name: "annotation without status", namespace: "prod", newMode: "RawDeployment"},
		{name: "unknown status name passed over", namespace: "prod", status: "Bogus", newMode: "Standard"},
		{name: "old annotation when the new one is unknown", namespace: "prod", newMode: "bogus", oldMode: "Standard"},
		{name: "top-level default", namespace: "prod"},
		{name: "namespace default", namespace: "legacy-a"},
		{name: "first matching entry wins", namespace: "legacy-kn"},
		{name: "entry without a default inherits the top level", namespace: "team-a"},
		{name: "glob ? matches one character", namespace: "team-ab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isvc := func(mode, status string) *kservev1beta1.InferenceService {
				o := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: tc.namespace}}
				if mode != "" {
					o.Annotations = map[string]string{modeKey: mode}
				}
				o.Status.DeploymentMode = status
				return o
			}
			newObj, oldObj := isvc(tc.newMode, ""), isvc(tc.oldMode, tc.status)
			facts, err := policy.BuildFacts(&policy.Request{Operation: "UPDATE", Namespace: tc.namespace, Name: "m", Object: newObj, OldObject: oldObj},
				policy.FactsOptions{Settings: cfg.For(tc.namespace)})
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := program.Eval(map[string]any{
				"object": toMap(t, newObj), "oldObject": toMap(t, oldObj), "request": map[string]any{"namespace": tc.namespace},
			})
			if err != nil {
				t.Fatalf("evaluating the backstop's knative variable: %v", err)
			}
			if got, want := out.Value() == true, facts.DeploymentMode == policy.ModeKnative; got != want {
				t.Errorf("the chart's CEL says Knative mode: %v; canary-guard resolves %s (from %s)", got, facts.DeploymentMode, facts.DeploymentModeSource)
			}
		})
	}
}

// toMap is obj in its JSON form, as the API server hands it to CEL.
func toMap(t *testing.T, obj any) map[string]any {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
