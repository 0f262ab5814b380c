package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func fakeDoctor(t *testing.T, objs ...client.Object) *doctor {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kservev1beta1.AddToScheme, cmapi.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return &doctor{
		c:         fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build(),
		namespace: "canary-guard", release: "canary-guard", kserveNS: "kserve", knativeNS: "knative-serving",
	}
}

func findings(d *doctor) string {
	var b strings.Builder
	for _, c := range d.checks {
		switch {
		case !c.ok:
			b.WriteString("FAIL ")
		case c.warning:
			b.WriteString("warn ")
		default:
			b.WriteString("ok ")
		}
		b.WriteString(c.text + "\n")
	}
	return b.String()
}

func TestDoctor_CertManagerCertificateStatusIsReadThroughItsTypes(t *testing.T) {
	cert := func(status cmmeta.ConditionStatus, msg string) *cmapi.Certificate {
		return &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: "canary-guard", Name: "canary-guard"},
			Status: cmapi.CertificateStatus{Conditions: []cmapi.CertificateCondition{
				{Type: cmapi.CertificateConditionReady, Status: status, Message: msg},
			}},
		}
	}
	d := fakeDoctor(t, cert(cmmeta.ConditionTrue, ""))
	d.checkCertManager(context.Background())
	if got := findings(d); !strings.HasPrefix(got, "ok cert-manager Certificate canary-guard/canary-guard is Ready") {
		t.Errorf("ready certificate: %s", got)
	}
	d = fakeDoctor(t, cert(cmmeta.ConditionFalse, "Issuing certificate as Secret does not exist"))
	d.checkCertManager(context.Background())
	if got := findings(d); !strings.HasPrefix(got, "FAIL") || !strings.Contains(got, "Secret does not exist") {
		t.Errorf("unready certificate: %s", got)
	}
}

func TestDoctor_StepIntervalNeedsTheAnnotationInKServesDisallowedList(t *testing.T) {
	guardConfig := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "canary-guard", Name: "canary-guard-config"},
		Data:       map[string]string{"config.yaml": "minStepIntervalSeconds: 300\n"},
	}
	kserveConfig := func(list string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "kserve", Name: "inferenceservice-config"},
			Data:       map[string]string{"inferenceService": `{"serviceAnnotationDisallowedList": [` + list + `]}`},
		}
	}
	// The chart renders may-need-mutation from its config: with a step
	// interval, a change of the percent is not among the fields it ignores.
	mutating := func(ignored string) *admissionregistrationv1.MutatingWebhookConfiguration {
		return &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "canary-guard"},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.canary-guard.dev", MatchConditions: []admissionregistrationv1.MatchCondition{
				{Name: "may-need-mutation", Expression: "object.spec.predictor.exists(k, !(k in [" + ignored + "]))"},
			}}},
		}
	}
	withInterval := mutating("'minReplicas', 'labels'")
	d := fakeDoctor(t, guardConfig, kserveConfig(`"other"`), withInterval)
	d.checkStepAnnotation(context.Background())
	if got := findings(d); !strings.HasPrefix(got, "FAIL") || !strings.Contains(got, "lacks canary-guard.dev/step-at") {
		t.Errorf("missing annotation: %s", got)
	}
	d = fakeDoctor(t, guardConfig, kserveConfig(`"canary-guard.dev/step-at"`), withInterval)
	d.checkStepAnnotation(context.Background())
	if got := findings(d); !strings.HasPrefix(got, "ok") {
		t.Errorf("annotation present: %s", got)
	}
	// Rendered without an interval, then the ConfigMap edited: steps
	// would skip the mutating webhook and never be stamped.
	d = fakeDoctor(t, guardConfig, kserveConfig(`"canary-guard.dev/step-at"`), mutating("'minReplicas', 'labels', 'canaryTrafficPercent'"))
	d.checkStepAnnotation(context.Background())
	if got := findings(d); !strings.HasPrefix(got, "FAIL a step interval is configured, but the MutatingWebhookConfiguration canary-guard was rendered without one") {
		t.Errorf("condition rendered without the interval: %s", got)
	}
}

func TestDoctor_RevisionGCThatDropsThePreviousModelFails(t *testing.T) {
	gc := func(data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "knative-serving", Name: "config-gc"}, Data: data}
	}
	tests := []struct {
		name string
		objs []client.Object
		want string
	}{
		{name: "defaults", want: "ok"},
		{name: "min-non-active-revisions 0", objs: []client.Object{gc(map[string]string{"min-non-active-revisions": "0"})}, want: "FAIL"},
		{name: "max-non-active-revisions 0", objs: []client.Object{gc(map[string]string{"max-non-active-revisions": "0"})}, want: "FAIL"},
		{name: "kept", objs: []client.Object{gc(map[string]string{"min-non-active-revisions": "2"})}, want: "ok"},
	}
	for _, tc := range tests {
		d := fakeDoctor(t, tc.objs...)
		d.checkRevisionGC(context.Background())
		if got := findings(d); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %s", tc.name, got)
		}
	}
}

func TestDoctor_ObjectNameFollowsTheChart(t *testing.T) {
	tests := []struct{ release, fullname, want string }{
		{"canary-guard", "", "canary-guard"},
		{"my-canary-guard", "", "my-canary-guard"},
		{"cg2", "", "cg2-canary-guard"},
		{"platform", "guard", "guard"},
		{strings.Repeat("r", 60), "", strings.Repeat("r", 60) + "-ca"},
		{strings.Repeat("r", 62), "", strings.Repeat("r", 62)},
	}
	for _, tt := range tests {
		d := &doctor{release: tt.release, fullname: tt.fullname}
		if got := d.objectName(); got != tt.want {
			t.Errorf("release %q fullname %q: objectName %q, want %q", tt.release, tt.fullname, got, tt.want)
		}
	}
}

func TestDoctor_MetricsPortIsTheOneThePodNames(t *testing.T) {
	pod := func(ports ...corev1.ContainerPort) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "canary-guard", Ports: ports}}}}
	}
	if got := metricsPort(pod(corev1.ContainerPort{Name: "webhook", ContainerPort: 9443}, corev1.ContainerPort{Name: "metrics", ContainerPort: 10080})); got != "10080" {
		t.Errorf("metricsPort = %s, want 10080", got)
	}
	if got := metricsPort(pod()); got != "8080" {
		t.Errorf("metricsPort without ports = %s, want 8080", got)
	}
}

// The emergency runbook fails the validating webhook open, labels
// namespaces out or deletes the backstop's binding; doctor must say so
// once the incident is over, instead of "No problems found".
func TestDoctor_RunbookLeftoversAreWarned(t *testing.T) {
	vwc := func(policy admissionregistrationv1.FailurePolicyType) *admissionregistrationv1.ValidatingWebhookConfiguration {
		return &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "canary-guard"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:          "validate.canary-guard.dev",
				FailurePolicy: &policy,
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "canary-guard"}},
					{Key: "canary-guard.dev/ignore", Operator: metav1.LabelSelectorOpDoesNotExist},
				}},
			}},
		}
	}
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "canary-guard-backstop"}}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "canary-guard-backstop"}}

	d := fakeDoctor(t, vwc(admissionregistrationv1.Fail), ns("models", nil), policy, binding)
	d.checkLeftOpen(context.Background())
	if got := findings(d); got != "" {
		t.Errorf("as the chart installs it: %s", got)
	}
	// With warn or audit namespaces or exempt users, the chart adds a
	// webhook that fails open by design.
	split := vwc(admissionregistrationv1.Fail)
	open := split.Webhooks[0].DeepCopy()
	open.Name, open.FailurePolicy = unenforcedWebhook, ptr.To(admissionregistrationv1.Ignore)
	split.Webhooks = append(split.Webhooks, *open)
	d = fakeDoctor(t, split, ns("models", nil), policy, binding)
	d.checkLeftOpen(context.Background())
	if got := findings(d); got != "" {
		t.Errorf("as the chart installs it with warn namespaces: %s", got)
	}

	d = fakeDoctor(t, vwc(admissionregistrationv1.Ignore), ns("models", map[string]string{"canary-guard.dev/ignore": "true"}), ns("other", nil), policy)
	d.checkLeftOpen(context.Background())
	got := findings(d)
	for _, want := range []string{
		"warn ValidatingWebhookConfiguration canary-guard webhook validate.canary-guard.dev has failurePolicy Ignore",
		"warn 1 namespace(s) labelled canary-guard.dev/ignore are left out of canary-guard and its backstop: models (",
		"warn ValidatingAdmissionPolicy canary-guard-backstop has no binding canary-guard-backstop",
		"helm upgrade canary-guard charts/canary-guard -n canary-guard --reset-then-reuse-values",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("after the runbook, findings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "FAIL") || strings.Contains(got, "other") {
		t.Errorf("after the runbook: %s", got)
	}

	// backstop.enabled=false: no policy, nothing to say about its binding.
	d = fakeDoctor(t, vwc(admissionregistrationv1.Fail))
	d.checkLeftOpen(context.Background())
	if got := findings(d); got != "" {
		t.Errorf("without the backstop: %s", got)
	}
}

// The chart renders the fail-open split and the backstop from its config
// and names that configuration on the webhook configuration: a replica
// serving another one was configured outside Helm.
func TestDoctor_ReplicaConfigOtherThanTheRenderedOneIsWarned(t *testing.T) {
	const metrics = "canary_guard_policy_info{config=\"%s\",revision=\"588dc927e5383822\"} 1\ncanary_guard_last_reload_successful %s\n"
	for _, tc := range []struct {
		name, served, reloaded string
		warned                 bool
	}{
		{"the rendered configuration", "fcdf96dca47a3360", "1", false},
		{"another configuration", "0123456789abcdef", "1", true},
		// Reported as a failed reload, not as an edit outside Helm.
		{"an older one, the last reload having failed", "0123456789abcdef", "0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintf(w, metrics, tc.served, tc.reloaded)
			}))
			defer srv.Close()
			vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "canary-guard",
				Annotations: map[string]string{configRevisionAnnotation: "fcdf96dca47a3360"}}}
			d := fakeDoctor(t, vwc)
			d.metricsURL = []string{srv.URL}
			d.checkReplicas(context.Background())
			got := findings(d)
			if warned := strings.Contains(got, "warn "+srv.URL+" serves configuration "+tc.served+", but the webhooks' fail-open split and the backstop were rendered from fcdf96dca47a3360"); warned != tc.warned {
				t.Errorf("warned %v, want %v:\n%s", warned, tc.warned, got)
			}
		})
	}
}

func TestDoctor_PoliciesAreCompiledAndRuleEnforcementChecked(t *testing.T) {
	policies := func(rego string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "canary-guard", Name: "canary-guard-policies"},
			Data:       map[string]string{"team.rego": rego, "team_test.rego": "package canary_guard\n\ntest_x if false\n"},
		}
	}
	config := func(yaml string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "canary-guard", Name: "canary-guard-config"},
			Data:       map[string]string{"config.yaml": yaml},
		}
	}
	const owner = "package canary_guard\n\ndeny contains {\"rule\": \"team-owner\", \"msg\": \"set an owner\"} if input.rollout.operation == \"CREATE\"\n"
	tests := []struct {
		name string
		objs []client.Object
		want []string
	}{
		{name: "a rule trialled in audit", objs: []client.Object{policies(owner), config("ruleEnforcement: {team-owner: audit}\n")},
			want: []string{"ok 1 custom policy file(s) in canary-guard/canary-guard-policies compile with the shipped bundle"}},
		{name: "a misspelt rule id", objs: []client.Object{policies(owner), config("ruleEnforcement: {team-ownr: audit}\n")},
			want: []string{"warn ", `ruleEnforcement.team-ownr: no loaded deny or warn rule has the constant id "team-ownr"`}},
		{name: "a file that does not compile", objs: []client.Object{policies("package canary_guard\n\ndeny contains x if {\n")},
			want: []string{"FAIL the policies in ConfigMap canary-guard/canary-guard-policies do not compile", "team.rego:"}},
		{name: "no ConfigMap", want: []string{"warn cannot read canary-guard's policies ConfigMap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fakeDoctor(t, tt.objs...)
			d.checkPolicies(context.Background(), d.checkStepAnnotation(context.Background()))
			got := findings(d)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("findings lack %q:\n%s", w, got)
				}
			}
		})
	}
}
