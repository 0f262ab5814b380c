package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/canary-guard/canary-guard/policy"
	"github.com/canary-guard/canary-guard/policy/suite"
)

// TestChartDeploymentModeCEL: the backstop and the rollback matchCondition
// decide whether an InferenceService is in Knative mode as canary-guard
// does (status, then annotations, then the namespace's default, names
// KServe does not know passed over), checked by evaluating the rendered CEL
// and canary-guard's rollout facts on the same objects and configuration.
func TestChartDeploymentModeCEL(t *testing.T) {
	r := renderChart(t, chartRelease, chartNamespace, "--set-json", `config={"defaultDeploymentMode":"Knative","namespaces":[`+
		`{"match":"legacy-*","defaultDeploymentMode":"RawDeployment"},{"match":"legacy-kn","defaultDeploymentMode":"Knative"},{"match":"team-?"},`+
		`{"match":"ops-[a-c]","defaultDeploymentMode":"Standard"},{"match":"ops-[^a-c]x","defaultDeploymentMode":"Standard"}]}`)
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
	// The mode both resolve, without what each compares it with: the
	// rollback condition also counts ModelMesh with a transformer.
	mode, ok := strings.CutSuffix(strings.TrimSpace(knative), "in ['Knative', 'Serverless']")
	if !ok {
		t.Fatalf("the backstop's knative variable does not end in the Knative modes:\n%s", knative)
	}
	rollback := rollbackCondition(t, r)
	if !strings.Contains(rollback, strings.TrimSpace(mode)) {
		t.Errorf("the rollback matchCondition does not resolve the mode as the backstop does:\n%s\nbackstop:\n%s", rollback, knative)
	}

	program := compileCEL(t, "the backstop's knative variable", knative)

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
		{name: "glob class", namespace: "ops-b"},
		{name: "glob class, no match", namespace: "ops-d"},
		{name: "negated glob class", namespace: "ops-dx"},
		{name: "negated glob class, no match", namespace: "ops-ax"},
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

// rollbackCondition is the rollback matchCondition, which both webhooks
// must carry word for word: the mutating webhook too may be down, and a
// rollback must not wait for it.
func rollbackCondition(t *testing.T, r *renderedChart) string {
	t.Helper()
	find := func(kind string, conds []admissionregistrationv1.MatchCondition) string {
		for _, mc := range conds {
			if mc.Name == rollbackCondName {
				return mc.Expression
			}
		}
		t.Fatalf("the %s webhook has no matchCondition %s", kind, rollbackCondName)
		return ""
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	r.decode(t, "ValidatingWebhookConfiguration", chartFullname, vwc)
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	r.decode(t, "MutatingWebhookConfiguration", chartFullname, mwc)
	validating := find("validating", vwc.Webhooks[0].MatchConditions)
	if mutating := find("mutating", mwc.Webhooks[0].MatchConditions); mutating != validating {
		t.Fatalf("the webhooks' %s conditions differ:\nmutating:   %s\nvalidating: %s", rollbackCondName, mutating, validating)
	}
	return validating
}

// compileCEL compiles an admission CEL expression over object, oldObject
// and request, as the API server's optional types allow.
func compileCEL(t *testing.T, what, expr string) cel.Program {
	t.Helper()
	return compileAdmissionCEL(t, what, expr)
}

// compileAdmissionCEL compiles expr in the API server's admission CEL
// environment as far as the chart uses it (optional types, the strings
// library), over object, oldObject, request and the extra variables.
func compileAdmissionCEL(t *testing.T, what, expr string, vars ...cel.EnvOption) cel.Program {
	t.Helper()
	opts := append([]cel.EnvOption{cel.OptionalTypes(), ext.Strings(ext.StringsVersion(2)),
		cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType), cel.Variable("request", cel.DynType)}, vars...)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		t.Fatal(err)
	}
	compiled, issues := env.Compile(expr)
	if issues.Err() != nil {
		t.Fatalf("%s: %v\n%s", what, issues.Err(), expr)
	}
	program, err := env.Program(compiled)
	if err != nil {
		t.Fatal(err)
	}
	return program
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

// TestChartRollbackConditionCEL: the webhooks' not-a-rollback
// matchCondition lets the API server skip canary-guard (so that it passes
// while canary-guard is down) for every kind of rollback, and only for
// updates canary-guard itself always admits.
func TestChartRollbackConditionCEL(t *testing.T) {
	expr := rollbackCondition(t, renderChart(t, chartRelease, chartNamespace))
	program := compileCEL(t, rollbackCondName, expr)

	pct := func(v int64) *int64 { return &v }
	uri := func(s string) *string { return &s }
	component := func(p *int64) kservev1beta1.ComponentExtensionSpec {
		return kservev1beta1.ComponentExtensionSpec{CanaryTrafficPercent: p}
	}
	knative := func(predictor, transformer, explainer *int64) *kservev1beta1.InferenceService {
		o := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "prod"}}
		o.Status.DeploymentMode = "Knative"
		o.Spec.Predictor.ComponentExtensionSpec = component(predictor)
		o.Spec.Predictor.Model = &kservev1beta1.ModelSpec{ModelFormat: kservev1beta1.ModelFormat{Name: "sklearn"},
			PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: uri("gs://models/v2")}}
		if transformer != nil {
			o.Spec.Transformer = &kservev1beta1.TransformerSpec{ComponentExtensionSpec: component(transformer)}
			o.Spec.Transformer.Containers = []corev1.Container{{Name: "kserve-container", Image: "transformer:v2"}}
		}
		if explainer != nil {
			o.Spec.Explainer = &kservev1beta1.ExplainerSpec{ComponentExtensionSpec: component(explainer)}
			o.Spec.Explainer.Containers = []corev1.Container{{Name: "kserve-container", Image: "explainer:v2"}}
		}
		return o
	}
	standard := func(canaries ...int32) *kservev1beta1.InferenceService {
		o := knative(nil, nil, nil)
		o.Status.DeploymentMode = "Standard"
		o.Spec.Predictor.Name = "stable"
		for i, p := range canaries {
			c := kservev1beta1.CanarySpec{TrafficPercent: p}
			c.Predictor.Name = []string{"v3", "v4"}[i]
			c.Predictor.Model = &kservev1beta1.ModelSpec{PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: uri("gs://models/" + c.Predictor.Name)}}
			o.Spec.Canary = append(o.Spec.Canary, c)
		}
		return o
	}
	edit := func(o *kservev1beta1.InferenceService, fs ...func(*kservev1beta1.InferenceService)) *kservev1beta1.InferenceService {
		for _, f := range fs {
			f(o)
		}
		return o
	}
	storageSpec := func(o *kservev1beta1.InferenceService) {
		o.Spec.Predictor.Model.StorageURI = nil
		o.Spec.Predictor.Model.Storage = &kservev1beta1.ModelStorageSpec{StorageSpec: kservev1beta1.StorageSpec{Path: uri("iris")}}
	}
	customContainer := func(o *kservev1beta1.InferenceService) {
		o.Spec.Predictor.Model = nil
		o.Spec.Predictor.Containers = []corev1.Container{{Name: "kserve-container", Image: "server:v2", Env: []corev1.EnvVar{{Name: "STORAGE_URI", Value: "gs://models/v2"}}}}
	}
	predictive := func(o *kservev1beta1.InferenceService) {
		o.Spec.Predictor.Model.Runtime = ptr.To("kserve-predictiveserver")
	}
	annotated := func(format string) func(*kservev1beta1.InferenceService) {
		return func(o *kservev1beta1.InferenceService) { o.Annotations = map[string]string{"modelFormat": format} }
	}
	cacheLabel := func(o *kservev1beta1.InferenceService) {
		o.Labels = map[string]string{"internal.serving.kserve.io/localmodel": "c"}
	}
	cacheAnnotations := func(o *kservev1beta1.InferenceService) {
		o.Annotations = map[string]string{"internal.serving.kserve.io/localmodel-sourceuri": "gs://models/v2", "internal.serving.kserve.io/localmodel-pvc-name": "c-gpu"}
	}

	cases := []struct {
		name     string
		old, new *kservev1beta1.InferenceService
		skipped  bool
	}{
		{"Knative predictor 10 → 0", knative(pct(10), nil, nil), knative(pct(0), nil, nil), true},
		{"Knative predictor 30 → 20", knative(pct(30), nil, nil), knative(pct(20), nil, nil), true},
		{"Knative predictor promoted → 0", knative(nil, nil, nil), knative(pct(0), nil, nil), true},
		{"Knative transformer 10 → 0", knative(nil, pct(10), nil), knative(nil, pct(0), nil), true},
		{"Knative explainer 25 → 0", knative(nil, nil, pct(25)), knative(nil, nil, pct(0)), true},
		{"Knative predictor and transformer to 0", knative(pct(10), pct(20), nil), knative(pct(0), pct(0), nil), true},
		{"Knative rollback with a label change", knative(pct(10), nil, nil),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) { o.Labels = map[string]string{"team": "a"} }), true},
		{"Knative predictor 10 → 35", knative(pct(10), nil, nil), knative(pct(35), nil, nil), false},
		{"Knative predictor promoted → 20", knative(nil, nil, nil), knative(pct(20), nil, nil), false},
		{"Knative predictor 10 → -5", knative(pct(10), nil, nil), knative(pct(-5), nil, nil), false},
		{"Knative predictor promoted by removing the field", knative(pct(85), nil, nil), knative(nil, nil, nil), false},
		{"Knative model change at 0", knative(pct(10), nil, nil),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.Model.StorageURI = uri("gs://models/v3") }), false},
		{"Knative rollback with a predictor label", knative(pct(10), nil, nil),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.Labels = map[string]string{"a": "b"} }), false},
		{"Knative transformer to 0 with a transformer image change", knative(nil, pct(10), nil),
			edit(knative(nil, pct(0), nil), func(o *kservev1beta1.InferenceService) { o.Spec.Transformer.Containers[0].Image = "t:v3" }), false},
		{"Knative rollback with an internal annotation", knative(pct(10), nil, nil),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) {
				o.Annotations = map[string]string{"internal.serving.kserve.io/storage-spec": "true"}
			}), false},
		// kserve-predictiveserver's --framework: a model change. The
		// annotation counts as KServe's defaulter leaves it (from the name
		// where absent), and beside that runtime alone.
		{"Knative lowered percent with kserve-predictiveserver's modelFormat annotation changed",
			edit(knative(pct(50), nil, nil), predictive, annotated("sklearn")),
			edit(knative(pct(40), nil, nil), predictive, annotated("xgboost")), false},
		{"Knative rollback of a manifest without kserve-predictiveserver's modelFormat annotation",
			edit(knative(pct(50), nil, nil), predictive, annotated("sklearn")),
			edit(knative(pct(0), nil, nil), predictive), true},
		{"Knative rollback that writes the modelFormat annotation on an object without it",
			edit(knative(pct(50), nil, nil), predictive),
			edit(knative(pct(0), nil, nil), predictive, annotated("sklearn")), true},
		{"Knative lowered percent with the modelFormat annotation changed beside kserve-predictiveserver as selected",
			edit(knative(pct(50), nil, nil), annotated("sklearn"), func(o *kservev1beta1.InferenceService) {
				o.Status.ClusterServingRuntimeName = "kserve-predictiveserver"
			}),
			edit(knative(pct(40), nil, nil), annotated("xgboost")), false},
		{"Knative rollback with a stale modelFormat annotation beside another runtime",
			edit(knative(pct(50), nil, nil), annotated("xgboost")),
			edit(knative(pct(0), nil, nil), annotated("sklearn")), true},
		{"Knative rollback with KServe's local model cache annotations added", knative(pct(10), nil, nil),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) {
				o.Annotations = map[string]string{"internal.serving.kserve.io/localmodel-sourceuri": "gs://models/v2", "internal.serving.kserve.io/localmodel-pvc-name": "c-gpu"}
			}), true},
		// Beside a storage spec KServe's defaulter leaves the local model
		// cache keys as written: they reach the pods.
		{"Knative rollback with local model cache keys beside a storage spec", edit(knative(pct(10), nil, nil), storageSpec),
			edit(knative(pct(0), nil, nil), storageSpec, cacheLabel, cacheAnnotations), false},
		{"Knative rollback with the local model cache label alone beside a storage spec", edit(knative(pct(10), nil, nil), storageSpec),
			edit(knative(pct(0), nil, nil), storageSpec, cacheLabel), false},
		{"Knative rollback of a custom container while KServe's defaulter adds the local model cache keys", edit(knative(pct(10), nil, nil), customContainer),
			edit(knative(pct(0), nil, nil), customContainer, cacheLabel, cacheAnnotations), true},
		// KServe's defaulter turns the token off where its configuration
		// says so, on the first update after that configuration changed.
		{"Knative rollback while KServe's defaulter adds automountServiceAccountToken: false", knative(pct(10), nil, nil),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.AutomountServiceAccountToken = ptr.To(false) }), true},
		{"Knative rollback with automountServiceAccountToken turned on", knative(pct(10), nil, nil),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.AutomountServiceAccountToken = ptr.To(true) }), false},
		{"Knative rollback while KServe's defaulter adds the local model cache label", knative(pct(10), nil, nil),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) {
				o.Labels = map[string]string{"internal.serving.kserve.io/localmodel": "c"}
			}), true},
		{"Knative rollback with KServe's local model cache annotations removed", edit(knative(pct(10), nil, nil), func(o *kservev1beta1.InferenceService) {
			o.Annotations = map[string]string{"internal.serving.kserve.io/localmodel-sourceuri": "gs://models/v2", "internal.serving.kserve.io/localmodel-pvc-name": "c-gpu"}
		}), knative(pct(0), nil, nil), true},
		{"Knative transformer added at 0", knative(pct(10), nil, nil), knative(pct(10), pct(0), nil), false},
		{"Knative predictor -5 → 0", knative(pct(-5), nil, nil), knative(pct(0), nil, nil), false},
		{"Knative predictor to 0 beside a transformer left at 150", knative(pct(10), pct(150), nil), knative(pct(0), pct(150), nil), false},
		{"Knative predictor to 0 beside a transformer left at -5", knative(pct(10), pct(-5), nil), knative(pct(0), pct(-5), nil), false},
		{"Standard entry lowered beside a predictor percent -5 → 0", edit(standard(20), func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.CanaryTrafficPercent = pct(-5) }),
			edit(standard(10), func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.CanaryTrafficPercent = pct(0) }), false},
		{"Standard predictor 10 → 0 (ignored by KServe)", edit(knative(pct(10), nil, nil), func(o *kservev1beta1.InferenceService) { o.Status.DeploymentMode = "Standard" }),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) { o.Status.DeploymentMode = "Standard" }), false},
		{"ModelMesh transformer 10 → 0 (rolled out as in Knative mode)", edit(knative(nil, pct(10), nil), func(o *kservev1beta1.InferenceService) { o.Status.DeploymentMode = "ModelMesh" }),
			edit(knative(nil, pct(0), nil), func(o *kservev1beta1.InferenceService) { o.Status.DeploymentMode = "ModelMesh" }), true},
		{"ModelMesh predictor 10 → 0 without a transformer (no canary)", edit(knative(pct(10), nil, nil), func(o *kservev1beta1.InferenceService) { o.Status.DeploymentMode = "ModelMesh" }),
			edit(knative(pct(0), nil, nil), func(o *kservev1beta1.InferenceService) { o.Status.DeploymentMode = "ModelMesh" }), false},
		{"Standard canary entry removed", standard(20), standard(), true},
		{"Standard one of two entries removed", standard(20, 10), standard(20), true},
		{"Standard canary entry 20 → 0", standard(20), standard(0), true},
		{"Standard canary entry 20 → 10", standard(20), standard(10), true},
		{"Standard canary entry 20 → 45", standard(20), standard(45), false},
		{"Standard canary entry added at 0", standard(), standard(0), false},
		{"Standard canary entry model change at 0", standard(20),
			edit(standard(0), func(o *kservev1beta1.InferenceService) {
				o.Spec.Canary[0].Predictor.Model.StorageURI = uri("gs://models/v9")
			}), false},
		{"Standard promotion", standard(100),
			edit(standard(), func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.Name = "v3" }), false},
	}
	// skips evaluates the condition and checks that whatever it lets the
	// API server skip, canary-guard always admits.
	skips := func(t *testing.T, oldObj, newObj *kservev1beta1.InferenceService) bool {
		t.Helper()
		out, _, err := program.Eval(map[string]any{
			"object": toMap(t, newObj), "oldObject": toMap(t, oldObj),
			"request": map[string]any{"operation": "UPDATE", "namespace": "prod"},
		})
		if err != nil {
			t.Fatalf("evaluating %s: %v", rollbackCondName, err)
		}
		skipped := out.Value() == false
		facts, err := policy.BuildFacts(&policy.Request{Operation: "UPDATE", Namespace: "prod", Name: "m", Object: newObj, OldObject: oldObj},
			policy.FactsOptions{Settings: policy.DefaultConfig().For("prod")})
		if err != nil {
			t.Fatal(err)
		}
		if skipped && !facts.AlwaysAdmit {
			t.Errorf("skipped by the API server, but canary-guard would evaluate it (not always admitted)")
		}
		return skipped
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if skipped := skips(t, tc.old, tc.new); skipped != tc.skipped {
				t.Errorf("the API server skips canary-guard: %v, want %v", skipped, tc.skipped)
			}
		})
	}
	// Every combination of percents on a predictor and a transformer, in
	// either mode: nothing skipped that canary-guard would evaluate.
	t.Run("every combination of percents", func(t *testing.T) {
		values := []*int64{nil, pct(-5), pct(0), pct(10), pct(30), pct(100), pct(150)}
		for _, mode := range []string{"Knative", "Standard", "ModelMesh"} {
			for _, po := range values {
				for _, pn := range values {
					for _, to := range values {
						for _, tn := range values {
							oldObj, newObj := knative(po, pct(1), nil), knative(pn, pct(1), nil)
							oldObj.Spec.Transformer.CanaryTrafficPercent, newObj.Spec.Transformer.CanaryTrafficPercent = to, tn
							oldObj.Status.DeploymentMode, newObj.Status.DeploymentMode = mode, mode
							if skips(t, oldObj, newObj); t.Failed() {
								t.Fatalf("%s mode: predictor %s → %s, transformer %s → %s", mode, text(po), text(pn), text(to), text(tn))
							}
						}
					}
					oldObj, newObj := knative(po, nil, nil), knative(pn, nil, nil)
					oldObj.Status.DeploymentMode, newObj.Status.DeploymentMode = mode, mode
					if skips(t, oldObj, newObj); t.Failed() {
						t.Fatalf("%s mode, no transformer: predictor %s → %s", mode, text(po), text(pn))
					}
				}
			}
		}
	})
}

// TestChartRollbackChangingTheStepStampReachesTheMutatingWebhook: where a
// step interval is configured, a rollback or lowered percent that changes
// canary-guard's step stamp still reaches the mutating webhook (which fails
// open), so that the stamp is put back; the validating webhook still skips
// it, so that a rollback never waits for canary-guard.
func TestChartRollbackChangingTheStepStampReachesTheMutatingWebhook(t *testing.T) {
	conditions := func(r *renderedChart) (mutating, validating cel.Program) {
		find := func(conds []admissionregistrationv1.MatchCondition) string {
			for _, mc := range conds {
				if mc.Name == rollbackCondName {
					return mc.Expression
				}
			}
			t.Fatalf("no matchCondition %s", rollbackCondName)
			return ""
		}
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		r.decode(t, "ValidatingWebhookConfiguration", chartFullname, vwc)
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		r.decode(t, "MutatingWebhookConfiguration", chartFullname, mwc)
		return compileCEL(t, "mutating "+rollbackCondName, find(mwc.Webhooks[0].MatchConditions)),
			compileCEL(t, "validating "+rollbackCondName, find(vwc.Webhooks[0].MatchConditions))
	}
	isvc := func(percent int64, stamp string) map[string]any {
		o := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "prod", Annotations: map[string]string{}}}
		if stamp != "" {
			o.Annotations["canary-guard.dev/step-at"] = stamp
		}
		o.Status.DeploymentMode = "Knative"
		o.Spec.Predictor.CanaryTrafficPercent = &percent
		o.Spec.Predictor.Model = &kservev1beta1.ModelSpec{ModelFormat: kservev1beta1.ModelFormat{Name: "sklearn"},
			PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: ptr.To("gs://models/v2")}}
		return toMap(t, o)
	}
	calls := func(p cel.Program, oldObj, newObj map[string]any) bool {
		out, _, err := p.Eval(map[string]any{"object": newObj, "oldObject": oldObj,
			"request": map[string]any{"operation": "UPDATE", "namespace": "prod"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Value() == true
	}
	const stamp = "2026-11-25T11:55:00Z"
	cases := []struct {
		name                 string
		old, new             map[string]any
		mutating, validating bool
	}{
		{"lowered, stamp kept", isvc(60, stamp), isvc(59, stamp), false, false},
		{"lowered, stamp back-dated", isvc(60, stamp), isvc(59, "2020-01-01T00:00:00Z"), true, false},
		{"rolled back, stamp removed", isvc(60, stamp), isvc(0, ""), true, false},
		{"rolled back, stamp kept", isvc(60, stamp), isvc(0, stamp), false, false},
	}
	mutating, validating := conditions(renderChart(t, chartRelease, chartNamespace, "--set", "config.minStepIntervalSeconds=600"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := calls(mutating, tc.old, tc.new); got != tc.mutating {
				t.Errorf("the API server calls the mutating webhook: %v, want %v", got, tc.mutating)
			}
			if got := calls(validating, tc.old, tc.new); got != tc.validating {
				t.Errorf("the API server calls the validating webhook: %v, want %v", got, tc.validating)
			}
		})
	}
	// Without an interval there is no stamp to keep; a mutating webhook
	// that fails closed must not hold up a rollback.
	for _, args := range [][]string{nil, {"--set", "config.minStepIntervalSeconds=600", "--set", "webhook.mutating.failurePolicy=Fail"}} {
		mutating, _ := conditions(renderChart(t, chartRelease, chartNamespace, args...))
		if calls(mutating, isvc(60, stamp), isvc(0, "")) {
			t.Errorf("with %v the mutating webhook is called for a rollback", args)
		}
	}
}

// TestChartMutationConditionCEL: the mutating webhook's may-need-mutation
// condition skips updates that leave it nothing to do, and still sends it
// every change of canary-guard's step stamp, which it puts back.
func TestChartMutationConditionCEL(t *testing.T) {
	program := mutationCondition(t)
	// A step interval anywhere in the configuration: every step gets a
	// stamp, so a change of the percent reaches the mutating webhook.
	withInterval := mutationCondition(t, "--set-json", `config.namespaces=[{"match":"prod-*","minStepIntervalSeconds":300}]`)

	uri := func(s string) *string { return &s }
	isvc := func(annotations map[string]string, f ...func(*kservev1beta1.InferenceService)) *kservev1beta1.InferenceService {
		o := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "prod",
			Annotations: map[string]string{"serving.kserve.io/enable-tag-routing": "true"}}}
		for k, v := range annotations {
			o.Annotations[k] = v
		}
		o.Spec.Predictor.Model = &kservev1beta1.ModelSpec{ModelFormat: kservev1beta1.ModelFormat{Name: "sklearn"},
			PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: uri("gs://models/v2")}}
		for _, edit := range f {
			edit(o)
		}
		return o
	}
	const stamp = policy.AnnotationStepAt
	at := func(v string) map[string]string { return map[string]string{stamp: v} }
	const gpu corev1.ResourceName = "nvidia.com/gpu"
	withResources := func(name corev1.ResourceName, q string) func(*kservev1beta1.InferenceService) {
		return func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.Model.Resources.Limits = corev1.ResourceList{name: resource.MustParse(q)}
		}
	}
	cases := []struct {
		name     string
		old, new *kservev1beta1.InferenceService
		called   bool
		// calledWithInterval, where it differs from called.
		calledWithInterval *bool
	}{
		{"an annotation change", isvc(at("2026-11-25T12:00:00Z")), isvc(map[string]string{stamp: "2026-11-25T12:00:00Z", "team": "a"}), false, nil},
		{"a scaling change", isvc(nil), isvc(nil, func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.MinReplicas = ptr.To(int32(2)) }), false, nil},
		{"pod labels, placement and logging", isvc(nil), isvc(nil, func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.Labels = map[string]string{"team": "vision"}
			o.Spec.Predictor.NodeSelector = map[string]string{"pool": "inference"}
			o.Spec.Predictor.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
			o.Spec.Predictor.Logger = &kservev1beta1.LoggerSpec{Mode: kservev1beta1.LogAll}
		}), false, nil},
		{"the model's memory", isvc(nil, withResources(corev1.ResourceMemory, "2Gi")), isvc(nil, withResources(corev1.ResourceMemory, "4Gi")), false, nil},
		{"the model's resources set", isvc(nil), isvc(nil, withResources(corev1.ResourceCPU, "2")), false, nil},
		{"the model's resources removed", isvc(nil, withResources(corev1.ResourceCPU, "2")), isvc(nil), false, nil},
		{"the model's GPUs counted again", isvc(nil, withResources(gpu, "1")), isvc(nil, withResources(gpu, "2")), false, nil},
		// A GPU may swap the serving image (TensorFlow Serving, TorchServe): canary-guard decides.
		{"a GPU added to the model", isvc(nil, withResources(corev1.ResourceCPU, "2")), isvc(nil, withResources(gpu, "1")), true, nil},
		{"a MIG profile removed from the model", isvc(nil, withResources("nvidia.com/mig-1g.5gb", "1")), isvc(nil), true, nil},
		{"the model's memory and its storage URI", isvc(nil), isvc(nil, withResources(corev1.ResourceMemory, "4Gi"), func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.Model.StorageURI = uri("gs://models/v3")
		}), true, nil},
		{"the model's memory, its runtime removed", isvc(nil, func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.Model.Runtime = ptr.To("kserve-tensorflow-serving")
		}),
			isvc(nil, withResources(corev1.ResourceMemory, "4Gi")), true, nil},
		{"model{} replaced by a legacy block", isvc(nil), isvc(nil, func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.Model = nil
			o.Spec.Predictor.Tensorflow = &kservev1beta1.TFServingSpec{PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: uri("gs://models/v2")}}
		}), true, nil},
		// A pod annotation may name the storage secret (serving.kserve.io/storageSecretName).
		{"a pod annotation removed", isvc(nil, func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.Annotations = map[string]string{"a": "b"} }), isvc(nil), true, nil},
		{"a model change", isvc(nil), isvc(nil, func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.Model.StorageURI = uri("gs://models/v3") }), true, nil},
		{"a model change with a pod label", isvc(nil), isvc(nil, func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.Model.StorageURI = uri("gs://models/v3")
			o.Spec.Predictor.Labels = map[string]string{"team": "vision"}
		}), true, nil},
		{"a step", isvc(nil, func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.CanaryTrafficPercent = ptr.To(int64(10)) }),
			isvc(nil, func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.CanaryTrafficPercent = ptr.To(int64(35)) }), false, ptr.To(true)},
		{"a promotion", isvc(nil, func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.CanaryTrafficPercent = ptr.To(int64(85)) }),
			isvc(nil), false, ptr.To(true)},
		{"a step with a model change", isvc(nil, func(o *kservev1beta1.InferenceService) { o.Spec.Predictor.CanaryTrafficPercent = ptr.To(int64(10)) }),
			isvc(nil, func(o *kservev1beta1.InferenceService) {
				o.Spec.Predictor.CanaryTrafficPercent = ptr.To(int64(35))
				o.Spec.Predictor.Model.StorageURI = uri("gs://models/v3")
			}), true, nil},
		{"a step on an object without tag routing", isvc(nil, func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.CanaryTrafficPercent = ptr.To(int64(10))
			delete(o.Annotations, "serving.kserve.io/enable-tag-routing")
		}), isvc(nil, func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.CanaryTrafficPercent = ptr.To(int64(35))
			delete(o.Annotations, "serving.kserve.io/enable-tag-routing")
		}), true, nil},
		{"a container added to a predictor", isvc(nil), isvc(nil, func(o *kservev1beta1.InferenceService) {
			o.Spec.Predictor.Containers = []corev1.Container{{Name: "sidecar", Image: "proxy:v1"}}
		}), true, nil},
		{"the step stamp back-dated", isvc(at("2026-11-25T12:00:00Z")), isvc(at("2026-11-25T10:00:00Z")), true, nil},
		{"the step stamp removed", isvc(at("2026-11-25T12:00:00Z")), isvc(nil), true, nil},
		{"the step stamp emptied", isvc(at("2026-11-25T12:00:00Z")), isvc(at("")), true, nil},
		{"a step stamp added", isvc(nil), isvc(at("2026-11-25T12:00:00Z")), true, nil},
		{"all annotations removed", isvc(at("2026-11-25T12:00:00Z")), isvc(nil, func(o *kservev1beta1.InferenceService) { o.Annotations = nil }), true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]bool{"without a step interval": tc.called, "with a step interval": tc.called}
			if tc.calledWithInterval != nil {
				want["with a step interval"] = *tc.calledWithInterval
			}
			for config, p := range map[string]cel.Program{"without a step interval": program, "with a step interval": withInterval} {
				out, _, err := p.Eval(map[string]any{
					"object": toMap(t, tc.new), "oldObject": toMap(t, tc.old),
					"request": map[string]any{"operation": "UPDATE", "namespace": "prod"},
				})
				if err != nil {
					t.Fatalf("evaluating may-need-mutation: %v", err)
				}
				if called := out.Value() == true; called != want[config] {
					t.Errorf("%s: the API server calls the mutating webhook: %v, want %v", config, called, want[config])
				}
			}
		})
	}
}

func text(p *int64) string {
	if p == nil {
		return "absent"
	}
	return strconv.FormatInt(*p, 10)
}

// TestChartBackstopStorageUriCEL: the backstop reads the predictor's
// storage URI in both forms, so an object stored before KServe's defaulter
// moved its legacy block into model{} is no model change when only the
// form changes, and is one when the URI does.
func TestChartBackstopStorageUriCEL(t *testing.T) {
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	renderChart(t, chartRelease, chartNamespace).decode(t, "ValidatingAdmissionPolicy", chartFullname+"-backstop", vap)
	programs := map[string]cel.Program{}
	for _, v := range vap.Spec.Variables {
		if v.Name == "oldUri" || v.Name == "newUri" {
			programs[v.Name] = compileCEL(t, "the backstop's "+v.Name, v.Expression)
		}
	}
	if len(programs) != 2 {
		t.Fatalf("the backstop has variables %v, want oldUri and newUri", programs)
	}
	uri := func(s string) *string { return &s }
	legacy := func(u string) *kservev1beta1.InferenceService {
		o := &kservev1beta1.InferenceService{}
		o.Spec.Predictor.SKLearn = &kservev1beta1.SKLearnSpec{PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: uri(u)}}
		return o
	}
	model := func(u string) *kservev1beta1.InferenceService {
		o := &kservev1beta1.InferenceService{}
		o.Spec.Predictor.Model = &kservev1beta1.ModelSpec{ModelFormat: kservev1beta1.ModelFormat{Name: "sklearn"},
			PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: uri(u)}}
		return o
	}
	custom := &kservev1beta1.InferenceService{}
	custom.Spec.Predictor.Containers = []corev1.Container{{Name: "kserve-container", Image: "server:1"}}
	cases := []struct {
		name             string
		old, new         *kservev1beta1.InferenceService
		wantOld, wantNew string
	}{
		{"legacy block stored, rewritten by the defaulter", legacy("gs://m/v1"), model("gs://m/v1"), "gs://m/v1", "gs://m/v1"},
		{"legacy block, new URI", legacy("gs://m/v1"), legacy("gs://m/v2"), "gs://m/v1", "gs://m/v2"},
		{"legacy block stored, new URI in model{}", legacy("gs://m/v1"), model("gs://m/v2"), "gs://m/v1", "gs://m/v2"},
		{"model{}", model("gs://m/v1"), model("gs://m/v2"), "gs://m/v1", "gs://m/v2"},
		{"no storage URI", custom, custom, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]any{"object": toMap(t, tc.new), "oldObject": toMap(t, tc.old)}
			for name, want := range map[string]string{"oldUri": tc.wantOld, "newUri": tc.wantNew} {
				out, _, err := programs[name].Eval(vars)
				if err != nil {
					t.Fatalf("evaluating %s: %v", name, err)
				}
				if out.Value() != want {
					t.Errorf("%s = %v, want %q", name, out.Value(), want)
				}
			}
		})
	}
}

// mutationCondition compiles the chart's may-need-mutation matchCondition,
// rendered with the given helm arguments.
func mutationCondition(t *testing.T, args ...string) cel.Program {
	t.Helper()
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	renderChart(t, chartRelease, chartNamespace, args...).decode(t, "MutatingWebhookConfiguration", chartFullname, mwc)
	for _, mc := range mwc.Webhooks[0].MatchConditions {
		if mc.Name == "may-need-mutation" {
			return compileCEL(t, "may-need-mutation", mc.Expression)
		}
	}
	t.Fatal("the mutating webhook has no matchCondition may-need-mutation")
	return nil
}

// TestChartMutationConditionSkipsOnlyUpdatesWithNothingToPatch: over every
// update of the shipped bundle's suite (steps, rollbacks, model changes in
// every form, Standard-mode entries, overrides), the API server may skip
// the mutating webhook only where canary-guard would patch nothing.
func TestChartMutationConditionSkipsOnlyUpdatesWithNothingToPatch(t *testing.T) {
	// The chart renders the condition from its config; each case is
	// checked against the one its own configuration would render.
	program := mutationCondition(t)
	withInterval := mutationCondition(t, "--set", "config.minStepIntervalSeconds=60")
	s, err := suite.Load(filepath.Join(repoRoot(t), "rego", "canary_guard_suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&suite.Runner{}).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	manifest := func(m *suite.Manifest) map[string]any {
		var obj map[string]any
		if err := yaml.Unmarshal(*m, &obj); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	skipped := 0
	for i, c := range s.Cases {
		out := res.Cases[i].Outcome
		if c.Old == nil || c.New == nil || out == nil {
			continue // a CREATE always reaches it; a file case or an error has no patch to check
		}
		p := program
		if stepIntervalOn(t, s, &c) {
			p = withInterval
		}
		val, _, err := p.Eval(map[string]any{
			"object": manifest(c.New), "oldObject": manifest(c.Old),
			"request": map[string]any{"operation": "UPDATE", "namespace": s.Namespace},
		})
		if err != nil {
			t.Fatalf("%s: evaluating may-need-mutation: %v", c.Name, err)
		}
		if val.Value() == true {
			continue
		}
		skipped++
		if patches := out.Mutation.Patches; len(patches) > 0 {
			t.Errorf("%s: the API server skips the mutating webhook, which would patch %v", c.Name, patches)
		}
		if warnings := out.Mutation.Warnings; len(warnings) > 0 {
			t.Errorf("%s: the API server skips the mutating webhook, which would warn %v", c.Name, warnings)
		}
	}
	if skipped == 0 {
		t.Fatal("no case of the suite skips the mutating webhook: the check checked nothing")
	}
	t.Logf("%d of %d cases skip the mutating webhook", skipped, len(s.Cases))
}

// TestChartBackstopNeverDeniesWhatCanaryGuardAdmits: with canary-guard up,
// its webhooks and the backstop both see an update (the backstop on the
// object the mutating webhook patched), so the backstop must admit every
// update canary-guard admits. Each case runs through canary-guard's
// webhooks in process (policy/suite.Evaluate, the chart's configuration)
// and through the rendered backstop, evaluated with its variables in order.
func TestChartBackstopNeverDeniesWhatCanaryGuardAdmits(t *testing.T) {
	r := renderChart(t, chartRelease, chartNamespace, "--set-json", `config={"override":{"groups":["sre"]},"exempt":{"users":["release-bot"]},`+
		`"namespaces":[{"match":"prod-*","exempt":{"users":["prod-bot"]}},{"match":"staging-*","enforcement":"warn"}]}`)
	cm := &corev1.ConfigMap{}
	r.decode(t, "ConfigMap", chartFullname+"-config", cm)
	cfg, err := policy.ParseConfig([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("the chart's config.yaml: %v", err)
	}
	p, _, err := policy.Loader{}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := policy.NewGuard(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	r.decode(t, "ValidatingAdmissionPolicy", chartFullname+"-backstop", vap)

	uri := func(s string) *string { return &s }
	isvc := func(ns, name string, pct *int64, model string) *kservev1beta1.InferenceService {
		o := &kservev1beta1.InferenceService{TypeMeta: metav1.TypeMeta{APIVersion: "serving.kserve.io/v1beta1", Kind: "InferenceService"},
			ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: ns, Annotations: map[string]string{"serving.kserve.io/enable-tag-routing": "true"}}}
		o.Spec.Predictor.Name = name
		o.Spec.Predictor.CanaryTrafficPercent = pct
		o.Spec.Predictor.Model = &kservev1beta1.ModelSpec{ModelFormat: kservev1beta1.ModelFormat{Name: "sklearn"},
			PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: uri(model)}}
		return o
	}
	// stopped sets serving.kserve.io/stop on the InferenceService and on
	// the predictor ("" leaves one unset).
	stopped := func(o *kservev1beta1.InferenceService, onISVC, onPredictor string) *kservev1beta1.InferenceService {
		if onISVC != "" {
			o.Annotations["serving.kserve.io/stop"] = onISVC
		}
		if onPredictor != "" {
			o.Spec.Predictor.Annotations = map[string]string{"serving.kserve.io/stop": onPredictor}
		}
		return o
	}
	// cleared is the status KServe leaves at a stop: the deployment mode
	// and a PredictorReady condition, no revisions.
	cleared := func(o *kservev1beta1.InferenceService) *kservev1beta1.InferenceService {
		o.Status.DeploymentMode = "Knative"
		return o
	}
	// rolledOut keeps the rolled-out revision KServe leaves in the status
	// at a stop of the predictor alone.
	rolledOut := func(o *kservev1beta1.InferenceService) *kservev1beta1.InferenceService {
		o.Status.Components = map[kservev1beta1.ComponentType]kservev1beta1.ComponentStatusSpec{
			kservev1beta1.PredictorComponent: {LatestRolledoutRevision: "m-predictor-00001"},
		}
		return o
	}
	// routesDeleted is the status after a resume of a predictor stopped on
	// its own with its percent kept: the new service's first revision, and
	// the rolled-out one of the deleted service.
	routesDeleted := func(o *kservev1beta1.InferenceService) *kservev1beta1.InferenceService {
		o.Status.DeploymentMode = "Serverless"
		o.Status.Components = map[kservev1beta1.ComponentType]kservev1beta1.ComponentStatusSpec{
			kservev1beta1.PredictorComponent: {LatestCreatedRevision: "m-predictor-00001", LatestReadyRevision: "m-predictor-00001", LatestRolledoutRevision: "m-predictor-00003"},
		}
		return o
	}
	cases := []struct {
		name, namespace, user string
		groups                []string
		old, new              *kservev1beta1.InferenceService
	}{
		{name: "model change (injected)", namespace: "team-a", user: "alice",
			old: isvc("team-a", "", nil, "gs://m/v1"), new: isvc("team-a", "", nil, "gs://m/v2")},
		{name: "exempt user", namespace: "team-a", user: "release-bot",
			old: isvc("team-a", "", nil, "gs://m/v1"), new: isvc("team-a", "", nil, "gs://m/v2")},
		{name: "exempt in its entry only", namespace: "prod-a", user: "prod-bot",
			old: isvc("prod-a", "", nil, "gs://m/v1"), new: isvc("prod-a", "", nil, "gs://m/v2")},
		{name: "warn namespace", namespace: "staging-a", user: "alice",
			old: isvc("staging-a", "", nil, "gs://m/v1"), new: isvc("staging-a", "", nil, "gs://m/v2")},
		{name: "predictor name removed with a new model", namespace: "team-a", user: "alice",
			old: isvc("team-a", "blue", nil, "gs://m/v1"), new: isvc("team-a", "", nil, "gs://m/v2")},
		{name: "predictor name removed with a new model, prod", namespace: "prod-a", user: "alice",
			old: isvc("prod-a", "blue", nil, "gs://m/v1"), new: isvc("prod-a", "", nil, "gs://m/v2")},
		// KServe deleted the stopped predictor's Knative Service: no
		// canary to enter beside (stopped-model-change warns).
		{name: "model change while stopped", namespace: "team-a", user: "alice",
			old: stopped(isvc("team-a", "", nil, "gs://m/v1"), "true", ""), new: stopped(isvc("team-a", "", nil, "gs://m/v2"), "true", "")},
		{name: "model change while the predictor is stopped", namespace: "team-a", user: "alice",
			old: stopped(isvc("team-a", "", nil, "gs://m/v1"), "", "True"), new: stopped(isvc("team-a", "", nil, "gs://m/v2"), "", "True")},
		{name: "model change with the stop", namespace: "team-a", user: "alice",
			old: isvc("team-a", "", nil, "gs://m/v1"), new: stopped(isvc("team-a", "", nil, "gs://m/v2"), "true", "")},
		{name: "model change with the resume (injected: no status shows the stop took effect)", namespace: "team-a", user: "alice",
			old: stopped(isvc("team-a", "", nil, "gs://m/v1"), "true", ""), new: isvc("team-a", "", nil, "gs://m/v2")},
		{name: "model change with the resume after KServe cleared the status", namespace: "team-a", user: "alice",
			old: cleared(stopped(isvc("team-a", "", nil, "gs://m/v1"), "true", "")), new: isvc("team-a", "", nil, "gs://m/v2")},
		{name: "model change with the resume of a predictor stopped on its own", namespace: "team-a", user: "alice",
			old: rolledOut(cleared(stopped(isvc("team-a", "", nil, "gs://m/v1"), "", "true"))), new: isvc("team-a", "", nil, "gs://m/v2")},
		// Resumed with its percent: the route names the deleted service's
		// revision and nothing serves; a percent would keep it so.
		{name: "model change where the route names a deleted revision", namespace: "team-a", user: "alice",
			old: routesDeleted(isvc("team-a", "", ptr.To[int64](35), "gs://m/v1")), new: isvc("team-a", "", nil, "gs://m/v2")},
		// Kept running by its own "false" under a stopped InferenceService:
		// all traffic goes to the latest revision (stop-override warns).
		{name: "model change on a predictor running under a stopped InferenceService", namespace: "team-a", user: "alice",
			old: cleared(stopped(isvc("team-a", "", nil, "gs://m/v1"), "true", "false")), new: stopped(isvc("team-a", "", nil, "gs://m/v2"), "true", "false")},
		// Resumed with the predictor kept running: KServe rolls out the
		// revision it serves at once, and the new model enters as a canary.
		{name: "model change with the resume of the InferenceService, the predictor kept running (injected)", namespace: "team-a", user: "alice",
			old: cleared(stopped(isvc("team-a", "", nil, "gs://m/v1"), "true", "false")), new: stopped(isvc("team-a", "", nil, "gs://m/v2"), "", "false")},
		// Resumed without it, before the new service's first rollout: a
		// percent would name the deleted revision (resume-cutover warns).
		{name: "model change before the resumed predictor is rolled out", namespace: "team-a", user: "alice",
			old: routesDeleted(isvc("team-a", "", nil, "gs://m/v1")), new: isvc("team-a", "", nil, "gs://m/v2")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			newJSON, err := json.Marshal(tc.new)
			if err != nil {
				t.Fatal(err)
			}
			req := &policy.Request{Operation: "UPDATE", Namespace: tc.namespace, Name: "m", Object: tc.new, ObjectJSON: newJSON, OldObject: tc.old,
				User: policy.UserInfo{Username: tc.user, Groups: tc.groups}}
			out, err := suite.Evaluate(context.Background(), g, req)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Decision.Allowed {
				t.Fatalf("canary-guard denies this update (%s): not a case for this test", out.Decision.Message())
			}
			vars := map[string]any{
				"object": toMap(t, out.PatchedObject), "oldObject": toMap(t, tc.old),
				"request": map[string]any{"namespace": tc.namespace, "operation": "UPDATE",
					"userInfo": map[string]any{"username": tc.user, "groups": append([]string{}, tc.groups...)}},
			}
			evalBackstopVariables(t, vap, vars, nil)
			for _, v := range vap.Spec.Validations {
				val, _, err := compileBackstopCEL(t, "validation", v.Expression).Eval(vars)
				if err != nil || val.Value() != true {
					t.Errorf("canary-guard admits this update (%v), the backstop denies it (%v, %v)", out.Decision.Reason, val, err)
				}
			}
		})
	}
}

// evalBackstopVariables evaluates the backstop's variables in order (only
// those named, if any) over vars, and sets vars["variables"] to them, as
// the API server does before its validations.
func evalBackstopVariables(t *testing.T, vap *admissionregistrationv1.ValidatingAdmissionPolicy, vars map[string]any, only []string) map[string]any {
	t.Helper()
	variables := map[string]any{}
	vars["variables"] = variables
	for _, v := range vap.Spec.Variables {
		if only != nil && !slices.Contains(only, v.Name) {
			continue
		}
		val, _, err := compileBackstopCEL(t, v.Name, v.Expression).Eval(vars)
		if err != nil {
			t.Fatalf("the backstop's variable %s: %v", v.Name, err)
		}
		variables[v.Name] = val
	}
	return variables
}

// compileBackstopCEL compiles one of the backstop's expressions, with the
// variables the earlier ones define.
func compileBackstopCEL(t *testing.T, what, expr string) cel.Program {
	t.Helper()
	return compileAdmissionCEL(t, what, expr, cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)))
}

// TestChartBackstopOverrideIsTrimmed: the backstop reads the override's
// reason as canary-guard does, trimmed: a blank one, or one that changes
// only in spaces, is no override.
func TestChartBackstopOverrideIsTrimmed(t *testing.T) {
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	renderChart(t, chartRelease, chartNamespace, "--set-json", `config={"override":{"groups":["sre"]}}`).
		decode(t, "ValidatingAdmissionPolicy", chartFullname+"-backstop", vap)
	obj := func(reason *string) map[string]any {
		o := map[string]any{"metadata": map[string]any{"name": "m"}}
		if reason != nil {
			o["metadata"].(map[string]any)["annotations"] = map[string]any{policy.AnnotationOverride: *reason}
		}
		return o
	}
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name     string
		old, new *string
		fresh    bool
	}{
		{"a reason set", nil, s("incident 42"), true},
		{"a new reason", s("incident 41"), s("incident 42"), true},
		{"a blank reason", nil, s("  "), false},
		{"only spaces added", s("incident 42"), s(" incident 42 "), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]any{"object": obj(tc.new), "oldObject": obj(tc.old),
				"request": map[string]any{"namespace": "prod", "operation": "UPDATE", "userInfo": map[string]any{"username": "oncall", "groups": []string{"sre"}}}}
			variables := evalBackstopVariables(t, vap, vars, []string{"namespaceRules", "rule", "freshOverride"})
			if got := variables["freshOverride"].(ref.Val).Value(); got != tc.fresh {
				t.Errorf("freshOverride = %v, want %v", got, tc.fresh)
			}
		})
	}
}

// TestChartBackstopMessageNamesCanaryGuardsNextStep: where the backstop
// refuses an update canary-guard refuses too, its message names the step
// canary-guard names: keep a predictor's name, finish a running canary in
// a namespace that takes no new model mid-rollout, else set the percent.
func TestChartBackstopMessageNamesCanaryGuardsNextStep(t *testing.T) {
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	renderChart(t, chartRelease, chartNamespace, "--set-json", `config={"namespaces":[{"match":"prod-*","midRolloutModelChange":"deny"}]}`).
		decode(t, "ValidatingAdmissionPolicy", chartFullname+"-backstop", vap)
	isvc := func(ns, name string, pct *int64, model string) *kservev1beta1.InferenceService {
		o := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: ns}}
		o.Spec.Predictor.Name = name
		o.Spec.Predictor.CanaryTrafficPercent = pct
		o.Spec.Predictor.Model = &kservev1beta1.ModelSpec{ModelFormat: kservev1beta1.ModelFormat{Name: "sklearn"},
			PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: ptr.To(model)}}
		return o
	}
	for _, tc := range []struct {
		name     string
		old, new *kservev1beta1.InferenceService
		want     string
	}{
		{"a plain model change", isvc("team-a", "", nil, "gs://m/v1"), isvc("team-a", "", nil, "gs://m/v2"),
			"Set spec.predictor.canaryTrafficPercent: 10 in the same update."},
		{"a new model while a canary runs, restart namespace", isvc("team-a", "", ptr.To(int64(35)), "gs://m/v2"), isvc("team-a", "", nil, "gs://m/v3"),
			"Set spec.predictor.canaryTrafficPercent: 10 in the same update."},
		{"a new model while a canary runs, deny namespace", isvc("prod-a", "", ptr.To(int64(35)), "gs://m/v2"), isvc("prod-a", "", nil, "gs://m/v3"),
			"A canary is running (spec.predictor.canaryTrafficPercent 35) and this namespace takes no new model mid-rollout: promote it (remove canaryTrafficPercent) or roll it back (set it to 0) first."},
		// No canary runs without a percent, nor at 100: the plain step.
		{"a plain model change, deny namespace", isvc("prod-a", "", nil, "gs://m/v1"), isvc("prod-a", "", nil, "gs://m/v2"),
			"Set spec.predictor.canaryTrafficPercent: 10 in the same update."},
		{"a model change after a promotion to 100, deny namespace", isvc("prod-a", "", ptr.To(int64(100)), "gs://m/v1"), isvc("prod-a", "", nil, "gs://m/v2"),
			"Set spec.predictor.canaryTrafficPercent: 10 in the same update."},
		{"a new model under a new predictor name", isvc("team-a", "", nil, "gs://m/v1"), isvc("team-a", "blue", nil, "gs://m/v2"),
			"keep spec.predictor.name as it was and set spec.predictor.canaryTrafficPercent: 10 in the same update."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]any{"object": toMap(t, tc.new), "oldObject": toMap(t, tc.old),
				"request": map[string]any{"namespace": tc.new.Namespace, "operation": "UPDATE", "userInfo": map[string]any{"username": "alice", "groups": []string{}}}}
			evalBackstopVariables(t, vap, vars, nil)
			v := vap.Spec.Validations[0]
			if allowed, _, err := compileBackstopCEL(t, "validation", v.Expression).Eval(vars); err != nil || allowed.Value() != false {
				t.Fatalf("the backstop admits this update (%v, %v): not a case for this test", allowed, err)
			}
			msg, _, err := compileBackstopCEL(t, "messageExpression", v.MessageExpression).Eval(vars)
			if err != nil {
				t.Fatal(err)
			}
			if s, _ := msg.Value().(string); !strings.Contains(s, tc.want) {
				t.Errorf("message %q\nwant it to contain %q", s, tc.want)
			}
		})
	}
}

// TestChartUnenforcedRequestsFailOpen: requests canary-guard admits
// whatever its rules say (a namespace in warn or audit mode, an exempt user
// or group, as the request's namespace entry sets them, first match wins)
// go to a second validating webhook that fails open, and every other
// request to the fail-closed one: exactly one of the two is called.
func TestChartUnenforcedRequestsFailOpen(t *testing.T) {
	r := renderChart(t, chartRelease, chartNamespace,
		"--set", "config.exempt.groups={release-bots}",
		"--set", "config.namespaces[0].match=*-warn", "--set", "config.namespaces[0].enforcement=warn",
		"--set", "config.namespaces[1].match=*-audit", "--set", "config.namespaces[1].enforcement=audit",
		"--set", "config.namespaces[2].match=team-*", "--set", "config.namespaces[2].exempt.users={deployer}",
		"--set", "config.namespaces[3].match=locked-*", "--set-json", `config.namespaces[3].exempt={"groups":[]}`,
		"--set", "config.namespaces[4].match=prod-warn", "--set", "config.namespaces[4].enforcement=enforce")
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	r.decode(t, "ValidatingWebhookConfiguration", chartFullname, vwc)
	if len(vwc.Webhooks) != 2 {
		t.Fatalf("%d validating webhooks, want the fail-closed one and the fail-open one", len(vwc.Webhooks))
	}
	condition := func(i int, name string) cel.Program {
		w := vwc.Webhooks[i]
		for _, mc := range w.MatchConditions {
			if mc.Name == name {
				return compileCEL(t, name, mc.Expression)
			}
		}
		t.Fatalf("webhook %s has no matchCondition %s", w.Name, name)
		return nil
	}
	closed, open := vwc.Webhooks[0], vwc.Webhooks[1]
	if closed.Name != "validate.canary-guard.dev" || *closed.FailurePolicy != admissionregistrationv1.Fail ||
		open.Name != "validate-unenforced.canary-guard.dev" || *open.FailurePolicy != admissionregistrationv1.Ignore {
		t.Fatalf("webhooks %s (%s) and %s (%s), want validate.canary-guard.dev failing closed, then validate-unenforced.canary-guard.dev failing open",
			closed.Name, *closed.FailurePolicy, open.Name, *open.FailurePolicy)
	}
	enforced, unenforced := condition(0, "enforced"), condition(1, "not-enforced")
	cases := []struct {
		namespace, user string
		groups          []string
		failsOpen       bool
	}{
		{"prod", "alice", nil, false},
		{"prod", "bot", []string{"release-bots"}, true},
		{"ml-warn", "alice", nil, true},
		{"ml-audit", "alice", nil, true},
		{"team-a", "deployer", nil, true},
		{"team-a", "bot", []string{"release-bots"}, true},
		{"team-a", "alice", nil, false},
		{"locked-a", "bot", []string{"release-bots"}, false},
		// First match wins: *-warn comes before prod-warn.
		{"prod-warn", "alice", nil, true},
	}
	for _, tc := range cases {
		groups := []any{}
		for _, g := range tc.groups {
			groups = append(groups, g)
		}
		vars := map[string]any{"request": map[string]any{"namespace": tc.namespace,
			"userInfo": map[string]any{"username": tc.user, "groups": groups}}}
		outClosed, _, err := enforced.Eval(vars)
		if err != nil {
			t.Fatal(err)
		}
		outOpen, _, err := unenforced.Eval(vars)
		if err != nil {
			t.Fatal(err)
		}
		if outOpen.Value() != tc.failsOpen || outClosed.Value() == outOpen.Value() {
			t.Errorf("%s as %s %v: fail-closed webhook called %v, fail-open %v; want fail-open %v, and exactly one",
				tc.namespace, tc.user, tc.groups, outClosed.Value(), outOpen.Value(), tc.failsOpen)
		}
	}

	// Nothing the configuration lets through: one webhook.
	for name, args := range map[string][]string{
		"default values":                  nil,
		"an entry that lets none through": {"--set", "config.namespaces[0].match=prod-*", "--set", "config.namespaces[0].maxStepPercent=10"},
	} {
		vwc = &admissionregistrationv1.ValidatingWebhookConfiguration{}
		renderChart(t, chartRelease, chartNamespace, args...).decode(t, "ValidatingWebhookConfiguration", chartFullname, vwc)
		if len(vwc.Webhooks) != 1 {
			t.Errorf("%s: %d validating webhooks, want 1", name, len(vwc.Webhooks))
		}
	}
}

// stepIntervalOn reports whether the configuration a suite case runs with
// sets a step interval anywhere, as the chart's may-need-mutation reads it.
func stepIntervalOn(t *testing.T, s *suite.Suite, c *suite.Case) bool {
	t.Helper()
	config := s.Config
	if c.Config != nil {
		config = *c.Config
	}
	if c.ConfigFile != "" || s.ConfigFile != "" && c.Config == nil {
		t.Fatalf("%s: a configuration file; give the shipped suite's configurations inline", c.Name)
	}
	cfg, err := policy.ParseConfig([]byte(config))
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return cfg.StepIntervalSet()
}
