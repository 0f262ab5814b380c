package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/canary-guard/canary-guard/certs"
	"github.com/canary-guard/canary-guard/e2e/cluster"
	"github.com/canary-guard/canary-guard/webhook"
)

// The Helm chart (issue "Install it as a cluster-wide guardrail"): every
// value combination that matters is linted (--strict), rendered and checked
// object by object in the Kubernetes and cert-manager Go types
// (TestChartRender); bad values are refused by values.schema.json
// (TestChartSchema); and every rendered object of every combination is
// applied to the real API server with a server-side dry run, cert-manager's
// CRDs installed from the pinned cert-manager module (TestChartDryRun).

const (
	chartRelease     = "cg-chart"
	chartFullname    = "cg-chart-canary-guard"
	chartNamespace   = "cg-chart"
	certManagerMod   = "github.com/cert-manager/cert-manager"
	certManagerCRDs  = "deploy/crds"
	injectCAFrom     = "cert-manager.io/inject-ca-from"
	rollbackCondName = "not-a-rollback"
)

// chartWant is what a value combination must render, beyond its own check.
type chartWant struct {
	mode              string // cert-manager or self-managed
	fullname          string
	backstop          bool
	shutdownDelay     int
	mutatingFailure   admissionregistrationv1.FailurePolicyType
	validatingFailure admissionregistrationv1.FailurePolicyType
	timeoutSeconds    int32
	excluded          []string // namespaces left out besides kube-system and the release's
	optOutLabel       string
	servicePort       int32
	replicas          int32
	minAvailable      int
	extraConditions   []string // names of webhook.matchConditions
}

func defaultChartWant() chartWant {
	return chartWant{
		mode: "cert-manager", fullname: chartFullname, backstop: true, shutdownDelay: 5,
		mutatingFailure: admissionregistrationv1.Ignore, validatingFailure: admissionregistrationv1.Fail,
		timeoutSeconds: 5, optOutLabel: "canary-guard.dev/ignore", servicePort: 443, replicas: 2, minAvailable: 1,
	}
}

// chartCase is one value combination.
type chartCase struct {
	name  string
	args  []string // helm --set, --set-json, --set-file
	want  chartWant
	check func(t *testing.T, r *renderedChart)
	// evalDenied is the rule that must deny a plain CREATE when
	// `canary-guard eval` loads the rendered ConfigMaps; "" = admitted.
	evalDenied string
}

const teamRego = `package canary_guard

deny contains {"rule": "team-name-prefix", "msg": sprintf("%s: InferenceService names must start with team-", [input.request.name])} if {
	not startswith(input.request.name, "team-")
}
`

// chartCases are the value combinations that matter.
func chartCases(t *testing.T) []chartCase {
	t.Helper()
	regoFile := filepath.Join(t.TempDir(), "team.rego")
	if err := os.WriteFile(regoFile, []byte(teamRego), 0o600); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*chartWant)) chartWant {
		w := defaultChartWant()
		f(&w)
		return w
	}
	return []chartCase{
		{
			name:  "default",
			want:  defaultChartWant(),
			check: checkDefaultCertManager,
		},
		{
			name: "self-managed",
			args: []string{"--set", "certs.mode=self-managed", "--set", "certs.selfManaged.certValidity=720h",
				"--set", "certs.selfManaged.caValidity=8760h", "--set", "certs.selfManaged.renewBefore=240h"},
			want: with(func(w *chartWant) { w.mode = "self-managed" }),
			check: func(t *testing.T, r *renderedChart) {
				checkSelfManaged(t, r, chartFullname, "720h", "8760h", "240h")
			},
		},
		{
			name: "self-managed-fullname-override",
			args: []string{"--set", "certs.mode=self-managed", "--set", "fullnameOverride=guard", "--set", "nameOverride=gate"},
			want: with(func(w *chartWant) { w.mode, w.fullname = "self-managed", "guard" }),
			check: func(t *testing.T, r *renderedChart) {
				checkSelfManaged(t, r, "guard", "2160h", "87600h", "360h")
				for _, d := range r.docs {
					if d.name != "guard" && !strings.HasPrefix(d.name, "guard-") {
						t.Errorf("%s %s ignores fullnameOverride", d.gvk.Kind, d.name)
					}
					if got := d.obj.GetLabels()["app.kubernetes.io/name"]; got != "gate" {
						t.Errorf("%s %s label app.kubernetes.io/name=%q ignores nameOverride", d.gvk.Kind, d.name, got)
					}
				}
			},
		},
		{
			name: "backstop-off",
			args: []string{"--set", "backstop.enabled=false"},
			want: with(func(w *chartWant) { w.backstop = false }),
		},
		{
			name: "custom-rego",
			args: []string{"--set-file", `policies.team\.rego=` + regoFile},
			want: defaultChartWant(),
			check: func(t *testing.T, r *renderedChart) {
				cm := &corev1.ConfigMap{}
				r.decode(t, "ConfigMap", chartFullname+"-policies", cm)
				if got := cm.Data["team.rego"]; got != teamRego {
					t.Errorf("ConfigMap %s-policies team.rego =\n%s\nwant the file as given:\n%s", chartFullname, got, teamRego)
				}
			},
			evalDenied: "team-name-prefix",
		},
		{
			name: "service-monitor",
			args: []string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.interval=15s",
				"--set", "metrics.serviceMonitor.labels.release=prometheus"},
			want:  defaultChartWant(),
			check: checkServiceMonitor,
		},
		{
			name:  "prometheus-rule",
			args:  []string{"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.prometheusRule.labels.release=prometheus"},
			want:  defaultChartWant(),
			check: checkPrometheusRule,
		},
		{
			name: "network-policy",
			args: []string{"--set", "networkPolicy.enabled=true",
				"--set-json", `networkPolicy.webhookFrom=[{"ipBlock":{"cidr":"10.0.0.0/8"}}]`,
				"--set-json", `networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]`},
			want:  defaultChartWant(),
			check: checkNetworkPolicy,
		},
		{
			name: "namespace-overrides",
			args: []string{"--set-json", `config={"enforcement":"enforce","maxStepPercent":20,"override":{"groups":["sre-oncall"]},"ruleEnforcement":{"step-interval":"warn"},` +
				`"exempt":{"users":["system:serviceaccount:argocd:bootstrap","o'brien@corp.example"]},"namespaces":[` +
				`{"match":"staging-*","enforcement":"warn"},{"match":"sandbox.team-*","enforcement":"audit"},` +
				`{"match":"gitops-*","onModelChange":"deny"},{"match":"prod-*","maxStepPercent":10,"initialCanaryPercent":5,"exempt":{"groups":["release-bots"]},"override":{"groups":[]},"ruleEnforcement":{"step-interval":"enforce"}}]}`,
				"--set-json", `webhook.objectSelector={"matchExpressions":[{"key":"canary-guard.dev/skip","operator":"DoesNotExist"}]}`},
			want:  defaultChartWant(),
			check: checkNamespaceOverrides,
		},
		{
			name: "extra-match-conditions",
			args: []string{"--set-json", `webhook.matchConditions=[{"name":"team-labelled","expression":"has(object.metadata.labels) && 'team' in object.metadata.labels"}]`},
			want: with(func(w *chartWant) { w.extraConditions = []string{"team-labelled"} }),
			check: func(t *testing.T, r *renderedChart) {
				vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
				r.decode(t, "ValidatingAdmissionPolicy", chartFullname+"-backstop", vap)
				if len(vap.Spec.MatchConditions) != 1 || vap.Spec.MatchConditions[0].Name != "team-labelled" {
					t.Errorf("backstop matchConditions %v, want the webhooks' extra team-labelled", vap.Spec.MatchConditions)
				}
			},
		},
		{
			name: "issuer-ref",
			args: []string{"--set-json", `certs.certManager.issuerRef={"name":"corp-ca","kind":"ClusterIssuer","group":"cert-manager.io"}`},
			want: defaultChartWant(),
			check: func(t *testing.T, r *renderedChart) {
				if r.find("Issuer", chartFullname+"-selfsigned") != nil {
					t.Errorf("issuerRef is set, yet the chart renders its own self-signed Issuer")
				}
				cert := &cmapi.Certificate{}
				r.decode(t, "Certificate", chartFullname, cert)
				want := cmmeta.IssuerReference{Name: "corp-ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}
				if cert.Spec.IssuerRef != want {
					t.Errorf("Certificate issuerRef %+v, want %+v", cert.Spec.IssuerRef, want)
				}
			},
		},
		{
			name: "openshift-ids-and-extra-args",
			args: []string{"--set", "podSecurityContext.runAsUser=null", "--set", "podSecurityContext.runAsGroup=null",
				"--set-json", `extraArgs=["--eval-timeout=1s","--max-concurrent-evaluations=32"]`},
			want: defaultChartWant(),
			check: func(t *testing.T, r *renderedChart) {
				d := &appsv1.Deployment{}
				r.decode(t, "Deployment", chartFullname, d)
				psc := d.Spec.Template.Spec.SecurityContext
				if psc == nil || psc.RunAsUser != nil || psc.RunAsGroup != nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
					t.Errorf("pod securityContext %+v, want runAsNonRoot without fixed IDs", psc)
				}
				args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
				if !strings.HasSuffix(args, "--eval-timeout=1s --max-concurrent-evaluations=32") {
					t.Errorf("args %q, want extraArgs last", args)
				}
			},
		},
		{
			name: "host-network-and-ports",
			args: []string{"--set", "hostNetwork=true", "--set", "ports.webhook=10443", "--set", "ports.metrics=10080", "--set", "ports.health=10081"},
			want: defaultChartWant(),
			check: func(t *testing.T, r *renderedChart) {
				d := &appsv1.Deployment{}
				r.decode(t, "Deployment", chartFullname, d)
				pod := d.Spec.Template.Spec
				if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
					t.Errorf("hostNetwork %v dnsPolicy %q, want the node's network with cluster DNS", pod.HostNetwork, pod.DNSPolicy)
				}
				if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 0 {
					t.Errorf("rolling update %+v, want no surge: a surge pod cannot share its node's ports", ru)
				}
				args := strings.Join(pod.Containers[0].Args, " ")
				for _, want := range []string{"--port=10443", "--metrics-addr=:10080", "--health-addr=:10081"} {
					if !strings.Contains(args, want) {
						t.Errorf("args %q lack %s", args, want)
					}
				}
				ports := map[string]int32{}
				for _, p := range pod.Containers[0].Ports {
					ports[p.Name] = p.ContainerPort
				}
				if ports["webhook"] != 10443 || ports["metrics"] != 10080 || ports["health"] != 10081 {
					t.Errorf("container ports %v", ports)
				}
			},
		},
		{
			name: "single replica",
			args: []string{"--set", "replicaCount=1"},
			want: with(func(w *chartWant) { w.replicas = 1 }),
		},
		{
			name: "tuned",
			args: []string{"--set", "shutdownDelaySeconds=12", "--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=2",
				"--set", "webhook.timeoutSeconds=10", "--set", "webhook.optOutLabel=example.com/no-guard",
				"--set-json", `webhook.excludeNamespaces=["monitoring","cg-chart"]`, "--set", "service.port=8443",
				"--set", "webhook.mutating.failurePolicy=Fail", "--set", "webhook.validating.failurePolicy=Ignore"},
			want: with(func(w *chartWant) {
				w.shutdownDelay, w.replicas, w.minAvailable, w.timeoutSeconds = 12, 3, 2, 10
				w.optOutLabel, w.excluded, w.servicePort = "example.com/no-guard", []string{"monitoring"}, 8443
				w.mutatingFailure, w.validatingFailure = admissionregistrationv1.Fail, admissionregistrationv1.Ignore
			}),
		},
	}
}

// TestChartRender lints and renders every value combination and checks the
// objects.
// TestChartMutationFaultsFollowTheFailurePolicy: the server answers its
// mutating webhook's own faults as the chart's failure policy for it would.
func TestChartMutationFaultsFollowTheFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy string
		closed bool
	}{{"Ignore", false}, {"Fail", true}} {
		d := &appsv1.Deployment{}
		renderChart(t, chartRelease, chartNamespace, "--set", "webhook.mutating.failurePolicy="+tc.policy).decode(t, "Deployment", chartFullname, d)
		if got := slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--mutation-fails-closed"); got != tc.closed {
			t.Errorf("failurePolicy %s: --mutation-fails-closed %v, want %v", tc.policy, got, tc.closed)
		}
	}
}

func TestChartRender(t *testing.T) {
	for _, tc := range chartCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--namespace", chartNamespace}, tc.args...)
			if out, stderr, err := runHelm(t, append([]string{"lint", "--strict", chartPath(t)}, args...)...); err != nil {
				t.Fatalf("helm lint --strict %s: %v\n%s%s", strings.Join(tc.args, " "), err, out, stderr)
			}
			r := renderChart(t, chartRelease, chartNamespace, tc.args...)
			checkChartCommon(t, r, tc.want)
			if tc.check != nil {
				tc.check(t, r)
			}
			checkChartEval(t, r, tc.want.fullname, tc.evalDenied)
		})
	}
}

// TestChartSchema: values.schema.json refuses bad values, in lint and template alike.
func TestChartSchema(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // in helm's error
	}{
		{"replicaCount 0", []string{"--set", "replicaCount=0"}, "/replicaCount"},
		{"unknown top-level key", []string{"--set", "replicas=2"}, "'replicas' not allowed"},
		{"bad certs.mode", []string{"--set", "certs.mode=vault"}, "/certs/mode"},
		{"config typo", []string{"--set", "config.maxStepPercnt=10"}, "'maxStepPercnt' not allowed"},
		{"percent out of range", []string{"--set", "config.initialCanaryPercent=100"}, "/config/initialCanaryPercent"},
		{"bad enforcement", []string{"--set", "config.enforcement=block"}, "/config/enforcement"},
		{"bad rule enforcement", []string{"--set-json", `config.namespaces=[{"match":"prod","ruleEnforcement":{"max-step":"dryrun"}}]`}, "/config/namespaces/0/ruleEnforcement/max-step"},
		// canary-guard refuses it at load: policy-error is the
		// namespace's enforcement to relax, not a rule's.
		{"policy-error relaxed as a rule", []string{"--set-json", `config.ruleEnforcement={"policy-error":"audit"}`}, "invalid propertyName 'policy-error'"},
		{"namespace entry without match", []string{"--set-json", `config.namespaces=[{"enforcement":"warn"}]`}, "/config/namespaces/0"},
		{"bad failure policy", []string{"--set", "webhook.validating.failurePolicy=Never"}, "/webhook/validating/failurePolicy"},
		{"bad duration", []string{"--set", "certs.selfManaged.renewBefore=15d"}, "/certs/selfManaged/renewBefore"},
		{"policy file name", []string{"--set", "policies.team\\.txt=x"}, "'team.txt' does not match pattern"},
		// Globs canary-guard's path.Match refuses (at reload and at start)
		// though the backstop's regular expression compiles: one let
		// through would take down every replica at its next restart.
		{"namespace glob path.Match refuses", []string{"--set-json", `config.namespaces=[{"match":"prod-[b-]"}]`}, "/config/namespaces/0/match"},
		{"unclosed namespace glob class", []string{"--set-json", `config.namespaces=[{"match":"prod-["}]`}, "/config/namespaces/0/match"},
		{"namespace glob escape", []string{"--set-json", `config.namespaces=[{"match":"prod-\\"}]`}, "/config/namespaces/0/match"},
		{"budget not a percentage", []string{"--set", "podDisruptionBudget.minAvailable=abc"}, "/podDisruptionBudget/minAvailable"},
		{"shutdown delay that stalls drains", []string{"--set", "shutdownDelaySeconds=61"}, "/shutdownDelaySeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{
				append([]string{"template", chartRelease, chartPath(t), "--namespace", chartNamespace}, tc.args...),
				append([]string{"lint", "--strict", chartPath(t), "--namespace", chartNamespace}, tc.args...),
			} {
				out, stderr, err := runHelm(t, cmd...)
				if err == nil {
					t.Errorf("helm %s %s: accepted, want refused by values.schema.json", cmd[0], strings.Join(tc.args, " "))
					continue
				}
				if msg := out + stderr; !strings.Contains(msg, tc.want) || !strings.Contains(msg, "schema") {
					t.Errorf("helm %s %s: the refusal does not name %q:\n%s", cmd[0], strings.Join(tc.args, " "), tc.want, msg)
				}
			}
		})
	}
}

// TestChartRefusesABudgetThatBlocksDrains: a PodDisruptionBudget whose
// minAvailable covers every replica allows no eviction, so every node drain
// would hang on canary-guard's pods; the chart refuses to render one.
func TestChartRefusesABudgetThatBlocksDrains(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		refused bool
	}{
		{"default", nil, false},
		{"minAvailable = replicas", []string{"--set", "podDisruptionBudget.minAvailable=2"}, true},
		{"minAvailable above replicas", []string{"--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=4"}, true},
		{"100 %", []string{"--set", "podDisruptionBudget.minAvailable=100%"}, true},
		{"51 % of 2, rounded up", []string{"--set", "podDisruptionBudget.minAvailable=51%"}, true},
		{"50 % of 2", []string{"--set", "podDisruptionBudget.minAvailable=50%"}, false},
		{"2 of 3", []string{"--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=2"}, false},
		{"one replica renders no budget", []string{"--set", "replicaCount=1", "--set", "podDisruptionBudget.minAvailable=1"}, false},
		{"budget disabled", []string{"--set", "podDisruptionBudget.enabled=false", "--set", "podDisruptionBudget.minAvailable=2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"template", chartRelease, chartPath(t), "--namespace", chartNamespace}, tc.args...)
			_, stderr, err := runHelm(t, args...)
			switch {
			case tc.refused && err == nil:
				t.Errorf("helm template %s: rendered a budget that allows no eviction", strings.Join(tc.args, " "))
			case tc.refused && !strings.Contains(stderr, "blocks every node drain"):
				t.Errorf("helm template %s: the refusal does not say why:\n%s", strings.Join(tc.args, " "), stderr)
			case !tc.refused && err != nil:
				t.Errorf("helm template %s: %v\n%s", strings.Join(tc.args, " "), err, stderr)
			}
		})
	}
}

// TestChartRefusesCertificateTimingsThatCannotWork: timings of the form
// the schema allows that canary-guard serve refuses at start (self-managed)
// or cert-manager refuses (cert-manager mode) would leave no replica
// serving while the fail-closed validating webhook is registered; the chart
// refuses to render them, saying why.
func TestChartRefusesCertificateTimingsThatCannotWork(t *testing.T) {
	selfManaged := []string{"--set", "certs.mode=self-managed"}
	for _, tc := range []struct {
		name    string
		args    []string
		refused string
	}{
		{"self-managed defaults", selfManaged, ""},
		{"cert-manager defaults", nil, ""},
		{"self-managed validity within renewBefore", append(selfManaged, "--set", "certs.selfManaged.certValidity=24h"), "certValidity 24h must be longer than renewBefore 360h"},
		{"self-managed renewBefore within the overlap", append(selfManaged, "--set", "certs.selfManaged.renewBefore=60s"), "renewBefore 60s must be longer than a minute"},
		{"self-managed CA validity under twice renewBefore", append(selfManaged, "--set", "certs.selfManaged.caValidity=700h"), "caValidity 700h must be at least twice renewBefore 360h"},
		{"self-managed short but consistent", append(selfManaged, "--set", "certs.selfManaged.certValidity=3h", "--set", "certs.selfManaged.renewBefore=1h", "--set", "certs.selfManaged.caValidity=2h"), ""},
		{"cert-manager duration under an hour", []string{"--set", "certs.certManager.duration=59m"}, "duration 59m is shorter than an hour"},
		{"cert-manager duration within renewBefore", []string{"--set", "certs.certManager.duration=24h"}, "renewBefore 360h must be shorter than duration 24h"},
		{"cert-manager renewBefore under 5 minutes", []string{"--set", "certs.certManager.renewBefore=299s"}, "renewBefore 299s is shorter than 5 minutes"},
		{"cert-manager CA under an hour", []string{"--set", "certs.certManager.caDuration=30m"}, "caDuration 30m is shorter than an hour"},
		{"cert-manager CA duration unused with an issuer", []string{"--set", "certs.certManager.caDuration=30m", "--set", "certs.certManager.issuerRef.name=corp-ca"}, ""},
		{"cert-manager short but consistent", []string{"--set", "certs.certManager.duration=1h", "--set", "certs.certManager.renewBefore=5m"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runHelm(t, append([]string{"template", chartRelease, chartPath(t), "--namespace", chartNamespace}, tc.args...)...)
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("helm template %s: %v\n%s", strings.Join(tc.args, " "), err, stderr)
			case tc.refused != "" && err == nil:
				t.Errorf("helm template %s: rendered, want refused", strings.Join(tc.args, " "))
			case tc.refused != "" && !strings.Contains(stderr, tc.refused):
				t.Errorf("helm template %s: the refusal does not say %q:\n%s", strings.Join(tc.args, " "), tc.refused, stderr)
			}
		})
	}
}

// TestChartAsADependency: an umbrella chart passes its subcharts global
// values and commonly reads an enabled value as the dependency's
// condition; the schema accepts both.
func TestChartAsADependency(t *testing.T) {
	umbrella := t.TempDir()
	if err := os.CopyFS(filepath.Join(umbrella, "charts", "canary-guard"), os.DirFS(chartPath(t))); err != nil {
		t.Fatal(err)
	}
	chart := "apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n- name: canary-guard\n  version: \">=0.0.0\"\n  condition: canary-guard.enabled\n"
	values := "global:\n  imageRegistry: registry.example.com\ncanary-guard:\n  enabled: true\n"
	for name, content := range map[string]string{"Chart.yaml": chart, "values.yaml": values} {
		if err := os.WriteFile(filepath.Join(umbrella, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, err := runHelm(t, "template", "platform", umbrella, "--namespace", chartNamespace)
	if err != nil {
		t.Fatalf("helm template of an umbrella chart: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "kind: ValidatingWebhookConfiguration") {
		t.Errorf("the umbrella chart renders no ValidatingWebhookConfiguration:\n%s", out)
	}
}

// TestChartNotesWarnOfASingleFailClosedReplica: helm install prints
// NOTES.txt, which helm template leaves out (and a template must render
// YAML); rendered here, in a copy of the chart, by a template that reads
// it as a file.
func TestChartNotesWarnOfASingleFailClosedReplica(t *testing.T) {
	chart := filepath.Join(t.TempDir(), "canary-guard")
	if err := os.CopyFS(chart, os.DirFS(chartPath(t))); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(chart, "templates", "NOTES.txt"), filepath.Join(chart, "notes.txt")); err != nil {
		t.Fatal(err)
	}
	notes := []byte(`notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}` + "\n")
	if err := os.WriteFile(filepath.Join(chart, "templates", "notes.yaml"), notes, 0o644); err != nil {
		t.Fatal(err)
	}
	const warning = "Warning: one replica, and a webhook that fails closed."
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--set", "replicaCount=1"}, true},
		{[]string{"--set", "replicaCount=1", "--set", "webhook.validating.failurePolicy=Ignore"}, false},
		{[]string{"--set", "replicaCount=1", "--set", "webhook.validating.failurePolicy=Ignore", "--set", "webhook.mutating.failurePolicy=Fail"}, true},
	} {
		args := append([]string{"template", chartRelease, chart, "--namespace", chartNamespace, "--show-only", "templates/notes.yaml"}, tc.args...)
		out, stderr, err := runHelm(t, args...)
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, stderr)
		}
		if got := strings.Contains(out, warning); got != tc.want {
			t.Errorf("%v: the notes warn of a single replica: %v, want %v\n%s", tc.args, got, tc.want, out)
		}
	}
}

// TestChartRefusesABackwardsNamespaceRange: a glob class range whose ends
// are reversed passes the schema's pattern, but canary-guard refuses it
// (it would match nothing) and the API server would refuse the backstop's
// regular expression; the chart refuses it first, naming the entry.
func TestChartRefusesABackwardsNamespaceRange(t *testing.T) {
	for _, tc := range []struct {
		globs   string
		refused string
	}{
		{`[{"match":"staging-*"},{"match":"prod-[z-a]*"}]`, `config.namespaces[1].match "prod-[z-a]*": the class range z-a runs backwards`},
		{`[{"match":"team-[^9-0]"}]`, "the class range 9-0 runs backwards"},
		{`[{"match":"ops-[a-c]"},{"match":"ops-[^a-c]x"},{"match":"prod-d-a"}]`, ""},
	} {
		t.Run(tc.globs, func(t *testing.T) {
			_, stderr, err := runHelm(t, "template", chartRelease, chartPath(t), "--namespace", chartNamespace, "--set-json", "config.namespaces="+tc.globs)
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("refused: %v\n%s", err, stderr)
			case tc.refused != "" && (err == nil || !strings.Contains(stderr, tc.refused)):
				t.Errorf("err = %v, want a refusal naming %q:\n%s", err, tc.refused, stderr)
			}
		})
	}
}

// TestChartRequiresKubernetes130: the backstop (ValidatingAdmissionPolicy
// v1) and the webhooks' matchConditions exist from Kubernetes 1.30; before
// it helm refuses the chart up front, instead of an install failing halfway
// on an unknown kind. A managed cluster's pre-release suffix still passes.
func TestChartRequiresKubernetes130(t *testing.T) {
	for _, tc := range []struct {
		kubeVersion string
		refused     bool
	}{
		{"", false}, // helm's own, as a release build sets it
		{"v1.29.9", true},
		{"v1.30.0", false},
		{"v1.30.4-eks-a737599", false},
		{"v1.34.1", false},
	} {
		t.Run("kube-version "+tc.kubeVersion, func(t *testing.T) {
			args := []string{"template", chartRelease, chartPath(t), "--namespace", chartNamespace}
			if tc.kubeVersion != "" {
				args = append(args, "--kube-version", tc.kubeVersion)
			}
			_, stderr, err := runHelm(t, args...)
			switch {
			case tc.refused && err == nil:
				t.Errorf("helm template on Kubernetes %s: rendered, want refused", tc.kubeVersion)
			case tc.refused && !strings.Contains(stderr, ">=1.30.0-0"):
				t.Errorf("helm template on Kubernetes %s: the refusal does not name the version needed:\n%s", tc.kubeVersion, stderr)
			case !tc.refused && err != nil:
				t.Errorf("helm template on Kubernetes %s: %v\n%s", tc.kubeVersion, err, stderr)
			}
		})
	}
}

// TestChartDryRun applies every rendered object of every value combination
// to the real API server with a server-side dry run (strict field
// validation), so the server validates each one: schemas, CEL expressions of
// the webhooks' matchConditions and of the backstop, RBAC rules, and the
// cert-manager objects against cert-manager's own CRDs.
func TestChartDryRun(t *testing.T) {
	c := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kinds := installCertManagerCRDs(t, c)
	t.Logf("cert-manager CRDs installed from the pinned module: %s", strings.Join(kinds, ", "))
	if err := c.Client().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, tc := range chartCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			r := renderChart(t, chartRelease, chartNamespace, tc.args...)
			applied := map[string]int{}
			for _, d := range r.docs {
				if _, err := c.Client().RESTMapper().RESTMapping(d.gvk.GroupKind(), d.gvk.Version); meta.IsNoMatchError(err) && d.gvk.Group == "monitoring.coreos.com" {
					// No module the repository pins ships the ServiceMonitor
					// CRD: checkServiceMonitor checks the rendered YAML.
					t.Logf("%s %s: no %s CRD on the server (none in a pinned module); checked on the rendered YAML only", d.gvk.Kind, d.name, d.gvk.GroupKind())
					continue
				}
				obj := d.obj.DeepCopy()
				err := c.Client().Patch(ctx, obj, client.Apply, client.DryRunAll, client.ForceOwnership,
					client.FieldOwner("helm"), client.FieldValidation(metav1.FieldValidationStrict))
				if err != nil {
					t.Errorf("server-side dry run of %s %s (%s): %v", d.gvk.Kind, d.name, d.source, err)
					continue
				}
				applied[d.gvk.Kind]++
			}
			t.Logf("the API server accepted (dry run): %v", applied)
			// The dry run persisted nothing.
			for _, kind := range []string{"Deployment", "Certificate"} {
				if d := r.find(kind, tc.want.fullname); d != nil {
					probe := d.obj.DeepCopy()
					if err := c.Client().Get(ctx, client.ObjectKeyFromObject(probe), probe); !apierrors.IsNotFound(err) {
						t.Errorf("%s %s exists after a dry run (err %v)", kind, tc.want.fullname, err)
					}
				}
			}
		})
	}
}

// TestChartDryRunRefusesBrokenCEL: the dry run does validate what lint
// and the schema cannot, such as a CEL matchCondition that does not compile.
func TestChartDryRunRefusesBrokenCEL(t *testing.T) {
	c := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"--set-json", `webhook.matchConditions=[{"name":"broken","expression":"object.metadata.labels["}]`}
	if out, stderr, err := runHelm(t, append([]string{"lint", "--strict", chartPath(t), "--namespace", chartNamespace}, args...)...); err != nil {
		t.Fatalf("helm lint: %v\n%s%s", err, out, stderr)
	}
	r := renderChart(t, chartRelease, chartNamespace, args...)
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		obj := r.find(kind, chartFullname).obj.DeepCopy()
		err := c.Client().Patch(ctx, obj, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner("helm"))
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "matchConditions") {
			t.Errorf("%s with a matchCondition that does not compile: %v, want refused as invalid", kind, err)
		} else {
			t.Logf("%s refused: %v", kind, err)
		}
	}
}

var (
	certManagerOnce  sync.Once
	certManagerKinds []string
	certManagerErr   error
)

// installCertManagerCRDs installs cert-manager's CRDs from the module
// go.mod pins (its deploy/crds, not copies), once per test binary.
func installCertManagerCRDs(t *testing.T, c *cluster.Cluster) []string {
	t.Helper()
	certManagerOnce.Do(func() {
		dir, err := c.ModuleDir(certManagerMod)
		if err != nil {
			certManagerErr = err
			return
		}
		certManagerKinds, certManagerErr = c.InstallCRDs(filepath.Join(dir, certManagerCRDs))
	})
	if certManagerErr != nil {
		t.Fatal(certManagerErr)
	}
	return certManagerKinds
}

// --- rendering ---

func chartPath(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "charts", "canary-guard")
}

// runHelm runs the pinned helm of bin/ with private Helm directories.
func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	helm := filepath.Join(filepath.Dir(filepath.Dir(chartPath(t))), "bin", cluster.HelmBinary)
	if _, err := os.Stat(helm); err != nil {
		if os.Getenv("CI") != "" {
			// make test builds helm first: in CI a skip would hide a broken build.
			t.Fatalf("%s missing: %v", helm, err)
		}
		t.Skipf("%s missing (make tools): %v", helm, err)
	}
	home := t.TempDir()
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// renderedChart is the output of helm template.
type renderedChart struct {
	release, namespace string
	docs               []renderedDoc
}

type renderedDoc struct {
	gvk    schema.GroupVersionKind
	name   string
	source string // the template
	data   []byte
	obj    *unstructured.Unstructured
}

func renderChart(t *testing.T, release, namespace string, args ...string) *renderedChart {
	t.Helper()
	full := append([]string{"template", release, chartPath(t), "--namespace", namespace}, args...)
	out, stderr, err := runHelm(t, full...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(full, " "), err, stderr)
	}
	r := &renderedChart{release: release, namespace: namespace}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template output: %v", err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
			t.Fatalf("helm template output: %v\n%s", err, raw)
		}
		if len(obj.Object) == 0 {
			continue
		}
		source := ""
		if _, after, ok := strings.Cut(string(raw), "# Source: "); ok {
			source, _, _ = strings.Cut(after, "\n")
		}
		r.docs = append(r.docs, renderedDoc{gvk: obj.GroupVersionKind(), name: obj.GetName(), source: source, data: raw, obj: obj})
	}
	if len(r.docs) == 0 {
		t.Fatal("helm template rendered nothing")
	}
	return r
}

func (r *renderedChart) find(kind, name string) *renderedDoc {
	for i := range r.docs {
		if r.docs[i].gvk.Kind == kind && r.docs[i].name == name {
			return &r.docs[i]
		}
	}
	return nil
}

func (r *renderedChart) count(kind string) int {
	n := 0
	for _, d := range r.docs {
		if d.gvk.Kind == kind {
			n++
		}
	}
	return n
}

// decode decodes a rendered object into its Go type, strictly: a field the
// type does not know (a typo in a template) is an error.
func (r *renderedChart) decode(t *testing.T, kind, name string, into any) {
	t.Helper()
	d := r.find(kind, name)
	if d == nil {
		t.Fatalf("the chart renders no %s %s; it renders %s", kind, name, r.names())
	}
	if err := yaml.UnmarshalStrict(d.data, into); err != nil {
		t.Fatalf("%s %s (%s) does not decode into %T: %v", kind, name, d.source, into, err)
	}
}

func (r *renderedChart) names() string {
	var names []string
	for _, d := range r.docs {
		names = append(names, d.gvk.Kind+" "+d.name)
	}
	return strings.Join(names, ", ")
}

// --- checks ---

// webhookView is what the checks read of a mutating or validating webhook.
type webhookView struct {
	kind           string
	name           string
	annotations    map[string]string
	clientConfig   admissionregistrationv1.WebhookClientConfig
	rules          []admissionregistrationv1.RuleWithOperations
	failure        *admissionregistrationv1.FailurePolicyType
	sideEffects    *admissionregistrationv1.SideEffectClass
	timeout        *int32
	reviewVersions []string
	nsSelector     *metav1.LabelSelector
	conditions     []admissionregistrationv1.MatchCondition
}

func renderedWebhooks(t *testing.T, r *renderedChart, fullname string) (mutating, validating webhookView, reinvocation *admissionregistrationv1.ReinvocationPolicyType) {
	t.Helper()
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	r.decode(t, "MutatingWebhookConfiguration", fullname, m)
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	r.decode(t, "ValidatingWebhookConfiguration", fullname, v)
	if len(m.Webhooks) != 1 || len(v.Webhooks) != 1 && len(v.Webhooks) != 2 {
		t.Fatalf("want one mutating webhook and one or two validating ones, got %d mutating and %d validating", len(m.Webhooks), len(v.Webhooks))
	}
	mw, vw := m.Webhooks[0], v.Webhooks[0]
	if len(v.Webhooks) == 2 {
		// The requests canary-guard lets through go to a second webhook,
		// the same but for its failure policy and the condition that
		// splits them (TestChartUnenforcedRequestsFailOpen).
		open := v.Webhooks[1]
		last := func(w admissionregistrationv1.ValidatingWebhook) string {
			return w.MatchConditions[len(w.MatchConditions)-1].Name
		}
		if open.Name != "validate-unenforced.canary-guard.dev" || open.FailurePolicy == nil || *open.FailurePolicy != admissionregistrationv1.Ignore ||
			last(vw) != "enforced" || last(open) != "not-enforced" {
			t.Fatalf("second validating webhook %s (failurePolicy %v, last conditions %s and %s), want validate-unenforced.canary-guard.dev failing open, split by enforced/not-enforced",
				open.Name, open.FailurePolicy, last(vw), last(open))
		}
		vw.MatchConditions = vw.MatchConditions[:len(vw.MatchConditions)-1]
		open.MatchConditions = open.MatchConditions[:len(open.MatchConditions)-1]
		open.Name, open.FailurePolicy = vw.Name, vw.FailurePolicy
		if !apiequality.Semantic.DeepEqual(vw, open) {
			t.Fatalf("the two validating webhooks differ beyond their split:\n%+v\n%+v", vw, open)
		}
	}
	mutating = webhookView{"mutating", mw.Name, m.Annotations, mw.ClientConfig, mw.Rules, mw.FailurePolicy, mw.SideEffects,
		mw.TimeoutSeconds, mw.AdmissionReviewVersions, mw.NamespaceSelector, mw.MatchConditions}
	validating = webhookView{"validating", vw.Name, v.Annotations, vw.ClientConfig, vw.Rules, vw.FailurePolicy, vw.SideEffects,
		vw.TimeoutSeconds, vw.AdmissionReviewVersions, vw.NamespaceSelector, vw.MatchConditions}
	return mutating, validating, mw.ReinvocationPolicy
}

func checkChartCommon(t *testing.T, r *renderedChart, want chartWant) {
	t.Helper()
	fn, ns := want.fullname, r.namespace

	// Every object is the release's.
	for _, d := range r.docs {
		labels := d.obj.GetLabels()
		if labels["app.kubernetes.io/instance"] != r.release || labels["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s %s: labels %v lack the release's", d.gvk.Kind, d.name, labels)
		}
	}

	// The Deployment.
	dep := &appsv1.Deployment{}
	r.decode(t, "Deployment", fn, dep)
	if dep.Namespace != ns || dep.Spec.Replicas == nil || *dep.Spec.Replicas != want.replicas {
		t.Errorf("Deployment namespace %q replicas %v, want %q and %d", dep.Namespace, dep.Spec.Replicas, ns, want.replicas)
	}
	podLabels := dep.Spec.Template.Labels
	if !selects(dep.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", dep.Spec.Selector.MatchLabels, podLabels)
	}
	pod := dep.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", sc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	if sc := ctr.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container securityContext %+v: want no privilege escalation, a read-only root filesystem, every capability dropped", sc)
	}
	flags := containerFlags(ctr.Args)
	if ctr.Args[0] != "serve" {
		t.Errorf("container args %v: want serve first", ctr.Args)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != int64(want.shutdownDelay+30) {
		t.Errorf("terminationGracePeriodSeconds %v, want shutdownDelaySeconds %d + 30", pod.TerminationGracePeriodSeconds, want.shutdownDelay)
	}
	if got := flags["--shutdown-delay"]; got != fmt.Sprintf("%ds", want.shutdownDelay) {
		t.Errorf("--shutdown-delay=%s, want %ds", got, want.shutdownDelay)
	}
	// Go's memory limit follows the container's (serve takes 90 % of it):
	// the flag names an environment variable the kubelet fills from it.
	memEnv := strings.TrimSuffix(strings.TrimPrefix(flags["--memory-limit"], "$("), ")")
	if i := slices.IndexFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == memEnv }); i < 0 || ctr.Env[i].ValueFrom == nil ||
		ctr.Env[i].ValueFrom.ResourceFieldRef == nil || ctr.Env[i].ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("--memory-limit=%s is not an environment variable set from limits.memory (env %+v)", flags["--memory-limit"], ctr.Env)
	}
	ports := map[string]int32{}
	for _, p := range ctr.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for flag, port := range map[string]string{"--port": "webhook", "--health-addr": "health", "--metrics-addr": "metrics"} {
		if v := strings.TrimPrefix(flags[flag], ":"); v != fmt.Sprint(ports[port]) || ports[port] == 0 {
			t.Errorf("%s=%s does not match container port %s (%d)", flag, flags[flag], port, ports[port])
		}
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("health") {
			t.Errorf("%s probe %+v, want GET %s on port health", what, p, path)
		}
	}
	probe("startup", ctr.StartupProbe, "/healthz")
	probe("liveness", ctr.LivenessProbe, "/healthz")
	probe("readiness", ctr.ReadinessProbe, "/readyz")
	// serve waits up to 2 minutes for its first certificate before the
	// health port opens: the startup probe must outlast that wait.
	if sp := ctr.StartupProbe; sp != nil && time.Duration(sp.PeriodSeconds*sp.FailureThreshold)*time.Second < 2*time.Minute {
		t.Errorf("startup probe gives up after %ds, before serve's 2-minute wait for its certificate", sp.PeriodSeconds*sp.FailureThreshold)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range ctr.VolumeMounts {
		mounts[m.Name] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	// The configuration and the policies are one projected volume, which
	// the kubelet swaps in one step, mounted whole (no subPath: edits reach
	// running pods).
	settings := volumes["settings"].Projected
	if m := mounts["settings"]; settings == nil || len(settings.Sources) != 2 || settings.Sources[0].ConfigMap == nil || settings.Sources[1].ConfigMap == nil ||
		settings.Sources[0].ConfigMap.Name != fn+"-config" || settings.Sources[1].ConfigMap.Name != fn+"-policies" || m.SubPath != "" ||
		len(settings.Sources[0].ConfigMap.Items) != 1 || flags["--config"] != filepath.Join(m.MountPath, settings.Sources[0].ConfigMap.Items[0].Path) ||
		flags["--policy-dir"] != m.MountPath {
		t.Errorf("--config=%s and --policy-dir=%s are not the projected volume of ConfigMaps %s-config and %s-policies (mount %+v, volume %+v)",
			flags["--config"], flags["--policy-dir"], fn, fn, m, settings)
	}
	if flags["--cert-dir"] != mounts["certs"].MountPath {
		t.Errorf("--cert-dir=%s is not the certs mount %s", flags["--cert-dir"], mounts["certs"].MountPath)
	}
	if pod.ServiceAccountName != fn {
		t.Errorf("serviceAccountName %q, want %q", pod.ServiceAccountName, fn)
	}
	sa := &corev1.ServiceAccount{}
	r.decode(t, "ServiceAccount", fn, sa)

	// The Service sends the API server to the webhook port.
	svc := &corev1.Service{}
	r.decode(t, "Service", fn, svc)
	if !selects(svc.Spec.Selector, podLabels) {
		t.Errorf("the Service's selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	var https *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if p.Name == "https" {
			https = &svc.Spec.Ports[i]
		}
	}
	if https == nil || https.Port != want.servicePort || https.TargetPort != intstr.FromString("webhook") {
		t.Errorf("Service port https %+v, want %d → webhook", https, want.servicePort)
	}

	// The PodDisruptionBudget, with more than one replica only: with one,
	// it would block every node drain.
	if want.replicas < 2 {
		if r.find("PodDisruptionBudget", fn) != nil {
			t.Errorf("a PodDisruptionBudget with %d replica blocks node drains", want.replicas)
		}
	} else {
		pdb := &policyv1.PodDisruptionBudget{}
		r.decode(t, "PodDisruptionBudget", fn, pdb)
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != want.minAvailable || pdb.Spec.Selector == nil ||
			!maps.Equal(pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
			t.Errorf("PodDisruptionBudget minAvailable %v selector %v, want %d and the Deployment's selector", pdb.Spec.MinAvailable, pdb.Spec.Selector, want.minAvailable)
		}
		if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
			t.Errorf("PodDisruptionBudget unhealthyPodEvictionPolicy %v, want AlwaysAllow: a crash-looping pod must not block drains", p)
		}
	}

	// The webhook configurations.
	mutating, validating, reinvocation := renderedWebhooks(t, r, fn)
	if reinvocation == nil || *reinvocation != admissionregistrationv1.IfNeededReinvocationPolicy {
		t.Errorf("mutating reinvocationPolicy %v, want IfNeeded", reinvocation)
	}
	for _, w := range []struct {
		view    webhookView
		name    string
		path    string
		failure admissionregistrationv1.FailurePolicyType
		conds   []string
	}{
		{mutating, "mutate.canary-guard.dev", "/mutate-inferenceservice", want.mutatingFailure,
			append([]string{"may-need-mutation", rollbackCondName, "not-being-deleted", "changes-spec-or-metadata"}, want.extraConditions...)},
		{validating, "validate.canary-guard.dev", "/validate-inferenceservice", want.validatingFailure,
			append([]string{rollbackCondName, "not-being-deleted", "changes-spec-or-metadata"}, want.extraConditions...)},
	} {
		v := w.view
		if v.name != w.name {
			t.Errorf("%s webhook %q, want %q", v.kind, v.name, w.name)
		}
		cc := v.clientConfig
		if cc.URL != nil || cc.Service == nil || cc.Service.Name != svc.Name || cc.Service.Namespace != ns ||
			cc.Service.Path == nil || *cc.Service.Path != w.path || cc.Service.Port == nil || *cc.Service.Port != want.servicePort || len(cc.CABundle) > 0 {
			t.Errorf("%s clientConfig %+v, want Service %s/%s:%d%s and no caBundle", v.kind, cc, ns, svc.Name, want.servicePort, w.path)
		}
		if v.failure == nil || *v.failure != w.failure {
			t.Errorf("%s failurePolicy %v, want %s", v.kind, v.failure, w.failure)
		}
		if v.sideEffects == nil || *v.sideEffects != admissionregistrationv1.SideEffectClassNone ||
			v.timeout == nil || *v.timeout != want.timeoutSeconds || !slices.Equal(v.reviewVersions, []string{"v1"}) {
			t.Errorf("%s sideEffects %v timeout %v reviewVersions %v, want None, %d, [v1]", v.kind, v.sideEffects, v.timeout, v.reviewVersions, want.timeoutSeconds)
		}
		wantRules := []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{"serving.kserve.io"}, APIVersions: []string{"v1beta1"},
				Resources: []string{"inferenceservices"}, Scope: ptrTo(admissionregistrationv1.NamespacedScope)},
		}}
		if !equalRules(v.rules, wantRules) {
			t.Errorf("%s rules %+v, want InferenceService v1beta1 CREATE and UPDATE only (no subresources)", v.kind, v.rules)
		}
		checkNamespaceSelector(t, v.kind+" webhook", v.nsSelector, ns, want)
		var names []string
		for _, c := range v.conditions {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, w.conds) {
			t.Errorf("%s matchConditions %v, want %v", v.kind, names, w.conds)
		}
		switch want.mode {
		case "cert-manager":
			if got := v.annotations[injectCAFrom]; got != ns+"/"+fn {
				t.Errorf("%s configuration annotation %s=%q, want %s/%s (the Certificate)", v.kind, injectCAFrom, got, ns, fn)
			}
		case "self-managed":
			if _, ok := v.annotations[injectCAFrom]; ok {
				t.Errorf("%s configuration has %s in self-managed mode: cert-manager would fight canary-guard over the caBundle", v.kind, injectCAFrom)
			}
		}
	}
	if len(validating.conditions) > 0 {
		rb := validating.conditions[0]
		for _, s := range []string{"request.operation == 'UPDATE'", "object.spec[c].?canaryTrafficPercent.orValue(-1) == 0",
			"in ('transformer' in object.spec ? ['Knative', 'Serverless', 'ModelMesh'] : ['Knative', 'Serverless'])", "object.spec.?canary.orValue([]).all(e,", "!k.startsWith('internal.serving.kserve.io/')"} {
			if !strings.Contains(rb.Expression, s) {
				t.Errorf("validating matchCondition %s = %q lacks %q", rb.Name, rb.Expression, s)
			}
		}
	}

	// The configuration ConfigMap holds the values' config as YAML.
	cm := &corev1.ConfigMap{}
	r.decode(t, "ConfigMap", fn+"-config", cm)
	if _, ok := cm.Data["config.yaml"]; !ok || filepath.Base(flags["--config"]) != "config.yaml" {
		t.Errorf("ConfigMap %s-config keys %v, --config=%s: want config.yaml", fn, slices.Collect(maps.Keys(cm.Data)), flags["--config"])
	}
	r.decode(t, "ConfigMap", fn+"-policies", &corev1.ConfigMap{})
	// The webhooks name the configuration they were rendered from as
	// canary-guard's revision of the file does (doctor compares them).
	if sum := sha256.Sum256([]byte(cm.Data["config.yaml"])); validating.annotations["canary-guard.dev/config-revision"] != hex.EncodeToString(sum[:])[:16] {
		t.Errorf("config-revision annotation %q, want %s, the revision canary-guard gives config.yaml",
			validating.annotations["canary-guard.dev/config-revision"], hex.EncodeToString(sum[:])[:16])
	}

	// The backstop.
	if want.backstop {
		vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		r.decode(t, "ValidatingAdmissionPolicy", fn+"-backstop", vap)
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
		r.decode(t, "ValidatingAdmissionPolicyBinding", fn+"-backstop", binding)
		if binding.Spec.PolicyName != vap.Name || !slices.Equal(binding.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
			t.Errorf("backstop binding %+v, want policy %s with Deny", binding.Spec, vap.Name)
		}
		if vap.Spec.FailurePolicy == nil || *vap.Spec.FailurePolicy != admissionregistrationv1.Fail || vap.Spec.MatchConstraints == nil {
			t.Errorf("backstop failurePolicy %v, want Fail", vap.Spec.FailurePolicy)
		} else {
			checkNamespaceSelector(t, "backstop", vap.Spec.MatchConstraints.NamespaceSelector, ns, want)
		}
	} else if n := r.count("ValidatingAdmissionPolicy") + r.count("ValidatingAdmissionPolicyBinding"); n > 0 {
		t.Errorf("backstop.enabled=false renders %d backstop objects", n)
	}

	// Certificates.
	switch want.mode {
	case "cert-manager":
		cert := &cmapi.Certificate{}
		r.decode(t, "Certificate", fn, cert)
		if v := volumes["certs"]; v.Secret == nil || v.Secret.SecretName != cert.Spec.SecretName || !mounts["certs"].ReadOnly {
			t.Errorf("certs volume %+v (mount %+v), want the Certificate's Secret %s, read-only", v, mounts["certs"], cert.Spec.SecretName)
		}
		// The API server verifies <service>.<namespace>.svc.
		if !slices.Contains(cert.Spec.DNSNames, svc.Name+"."+ns+".svc") {
			t.Errorf("Certificate dnsNames %v lack %s.%s.svc, the name the API server verifies", cert.Spec.DNSNames, svc.Name, ns)
		}
		if _, ok := flags["--cert-mode"]; ok {
			t.Errorf("cert-manager mode passes --cert-mode=%s", flags["--cert-mode"])
		}
		if r.count("Role") > 0 {
			t.Errorf("cert-manager mode renders a Role: canary-guard needs no Secret or Lease access then")
		}
	case "self-managed":
		if r.count("Certificate")+r.count("Issuer") > 0 {
			t.Errorf("self-managed mode renders cert-manager objects")
		}
		if v := volumes["certs"]; v.EmptyDir == nil || mounts["certs"].ReadOnly {
			t.Errorf("certs volume %+v (mount %+v), want a writable emptyDir", v, mounts["certs"])
		}
		if flags["--webhook-service"] != svc.Name {
			t.Errorf("--webhook-service=%s, want the webhook Service %s", flags["--webhook-service"], svc.Name)
		}
	}
}

// checkNamespaceSelector: kube-system, the release namespace, the extra
// excluded namespaces and opted-out namespaces are left out.
func checkNamespaceSelector(t *testing.T, what string, sel *metav1.LabelSelector, ns string, want chartWant) {
	t.Helper()
	wantSel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: append([]string{"kube-system", ns}, want.excluded...)},
		{Key: want.optOutLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
	}}
	if !apiequality.Semantic.DeepEqual(sel, wantSel) {
		t.Errorf("%s namespaceSelector %v, want %v", what, sel, wantSel)
	}
}

func checkDefaultCertManager(t *testing.T, r *renderedChart) {
	t.Helper()
	// A self-signed Issuer signs the release's CA; the CA's Issuer signs
	// the serving certificate, so renewing it leaves the caBundle alone.
	selfSigned := &cmapi.Issuer{}
	r.decode(t, "Issuer", chartFullname+"-selfsigned", selfSigned)
	if selfSigned.Namespace != chartNamespace || selfSigned.Spec.SelfSigned == nil || selfSigned.Spec.CA != nil || selfSigned.Spec.ACME != nil {
		t.Errorf("Issuer %s/%s spec %+v, want a self-signed Issuer in the release namespace", selfSigned.Namespace, selfSigned.Name, selfSigned.Spec)
	}
	ca := &cmapi.Certificate{}
	r.decode(t, "Certificate", chartFullname+"-ca", ca)
	if !ca.Spec.IsCA || ca.Spec.SecretName != chartFullname+"-ca" ||
		ca.Spec.IssuerRef != (cmmeta.IssuerReference{Name: selfSigned.Name, Kind: cmapi.IssuerKind, Group: "cert-manager.io"}) {
		t.Errorf("CA Certificate isCA %v secretName %q issuerRef %+v, want a CA in %s-ca signed by %s", ca.Spec.IsCA, ca.Spec.SecretName, ca.Spec.IssuerRef, chartFullname, selfSigned.Name)
	}
	if ca.Spec.Duration == nil || ca.Spec.Duration.Duration != 87600*time.Hour {
		t.Errorf("CA Certificate duration %v, want 87600h", ca.Spec.Duration)
	}
	if pk := ca.Spec.PrivateKey; pk == nil || pk.RotationPolicy != cmapi.RotationPolicyNever {
		t.Errorf("CA Certificate privateKey %+v, want its key kept on renewal (rotationPolicy Never)", pk)
	}
	issuer := &cmapi.Issuer{}
	r.decode(t, "Issuer", chartFullname+"-ca", issuer)
	if issuer.Spec.CA == nil || issuer.Spec.CA.SecretName != ca.Spec.SecretName {
		t.Errorf("Issuer %s spec %+v, want a CA Issuer of %s", issuer.Name, issuer.Spec, ca.Spec.SecretName)
	}
	cert := &cmapi.Certificate{}
	r.decode(t, "Certificate", chartFullname, cert)
	s := cert.Spec
	if cert.Namespace != chartNamespace || s.SecretName != chartFullname+"-tls" {
		t.Errorf("Certificate %s/%s secretName %q, want %s/%s and %s-tls", cert.Namespace, cert.Name, s.SecretName, chartNamespace, chartFullname, chartFullname)
	}
	wantRef := cmmeta.IssuerReference{Name: issuer.Name, Kind: cmapi.IssuerKind, Group: "cert-manager.io"}
	if s.IssuerRef != wantRef {
		t.Errorf("Certificate issuerRef %+v, want %+v", s.IssuerRef, wantRef)
	}
	wantNames := []string{chartFullname + "." + chartNamespace + ".svc", chartFullname + "." + chartNamespace + ".svc.cluster.local"}
	if !slices.Equal(s.DNSNames, wantNames) {
		t.Errorf("Certificate dnsNames %v, want %v", s.DNSNames, wantNames)
	}
	if s.Duration == nil || s.Duration.Duration != 2160*time.Hour || s.RenewBefore == nil || s.RenewBefore.Duration != 360*time.Hour {
		t.Errorf("Certificate duration %v renewBefore %v, want 2160h and 360h", s.Duration, s.RenewBefore)
	}
	if pk := s.PrivateKey; pk == nil || pk.Algorithm != cmapi.ECDSAKeyAlgorithm || pk.Size != 256 || pk.RotationPolicy != cmapi.RotationPolicyAlways {
		t.Errorf("Certificate privateKey %+v, want ECDSA 256 rotated on every renewal", pk)
	}
	if s.IsCA || len(s.IPAddresses) > 0 {
		t.Errorf("Certificate isCA %v ipAddresses %v, want a plain serving certificate", s.IsCA, s.IPAddresses)
	}
}

// checkSelfManaged: the least-privilege RBAC, scoped by resourceNames, and
// the flags that make canary-guard keep its own certificate.
func checkSelfManaged(t *testing.T, r *renderedChart, fn, certValidity, caValidity, renewBefore string) {
	t.Helper()
	ns := chartNamespace
	secret := fn + "-tls"
	role := &rbacv1.Role{}
	r.decode(t, "Role", fn, role)
	wantRole := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{secret}, Verbs: []string{"get", "list", "watch", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{certs.LeaseName(secret)}, Verbs: []string{"get", "update"}},
	}
	if role.Namespace != ns || !apiequality.Semantic.DeepEqual(role.Rules, wantRole) {
		t.Errorf("Role %s/%s rules\n%+v\nwant\n%+v", role.Namespace, role.Name, role.Rules, wantRole)
	}
	clusterRole := &rbacv1.ClusterRole{}
	r.decode(t, "ClusterRole", fn, clusterRole)
	wantCluster := []rbacv1.PolicyRule{{
		APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"},
		ResourceNames: []string{fn}, Verbs: []string{"get", "update", "list", "watch"},
	}}
	if !apiequality.Semantic.DeepEqual(clusterRole.Rules, wantCluster) {
		t.Errorf("ClusterRole %s rules %+v, want %+v", fn, clusterRole.Rules, wantCluster)
	}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: fn, Namespace: ns}
	rb := &rbacv1.RoleBinding{}
	r.decode(t, "RoleBinding", fn, rb)
	crb := &rbacv1.ClusterRoleBinding{}
	r.decode(t, "ClusterRoleBinding", fn, crb)
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != fn || !slices.Equal(rb.Subjects, []rbacv1.Subject{subject}) ||
		crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != fn || !slices.Equal(crb.Subjects, []rbacv1.Subject{subject}) {
		t.Errorf("bindings %+v / %+v, want Role and ClusterRole %s bound to ServiceAccount %s/%s", rb, crb, fn, ns, fn)
	}

	dep := &appsv1.Deployment{}
	r.decode(t, "Deployment", fn, dep)
	flags := containerFlags(dep.Spec.Template.Spec.Containers[0].Args)
	for flag, want := range map[string]string{
		"--cert-mode": "self-managed", "--cert-secret": secret, "--webhook-service": fn, "--webhook-configurations": fn,
		"--cert-validity": certValidity, "--ca-validity": caValidity, "--cert-renew-before": renewBefore,
	} {
		if flags[flag] != want {
			t.Errorf("%s=%q, want %q", flag, flags[flag], want)
		}
	}
	// The manager's own constraints hold for the rendered durations.
	cv, err1 := time.ParseDuration(flags["--cert-validity"])
	ca, err2 := time.ParseDuration(flags["--ca-validity"])
	rbf, err3 := time.ParseDuration(flags["--cert-renew-before"])
	if err := errors.Join(err1, err2, err3); err != nil || cv <= rbf || ca < 2*rbf {
		t.Errorf("durations cert %v CA %v renew-before %v (%v): want cert > renew-before and CA ≥ 2×renew-before", cv, ca, rbf, err)
	}
	if tok := dep.Spec.Template.Spec.AutomountServiceAccountToken; tok == nil || !*tok {
		t.Errorf("automountServiceAccountToken %v: self-managed mode needs the API server", tok)
	}
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAMESPACE"] != "metadata.namespace" || env["POD_NAME"] != "metadata.name" {
		t.Errorf("env %v: want POD_NAMESPACE and POD_NAME from the downward API (the Secret's namespace, the leader identity)", env)
	}
}

// decodeOperatorObject decodes the rendered prometheus-operator object
// kind into out, strictly: no pinned module ships prometheus-operator's
// types or CRD, so the rendered YAML is checked field by field.
func decodeOperatorObject(t *testing.T, r *renderedChart, kind, value string, out any) {
	t.Helper()
	d := r.find(kind, chartFullname)
	if d == nil {
		t.Fatalf("%s renders no %s; it renders %s", value, kind, r.names())
	}
	if err := yaml.UnmarshalStrict(d.data, out); err != nil {
		t.Fatalf("%s: %v\n%s", kind, err, d.data)
	}
}

func checkServiceMonitor(t *testing.T, r *renderedChart) {
	t.Helper()
	var sm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
		Spec       struct {
			Selector  metav1.LabelSelector `json:"selector"`
			Endpoints []struct {
				Port        string `json:"port"`
				Path        string `json:"path"`
				Interval    string `json:"interval"`
				HonorLabels bool   `json:"honorLabels"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	decodeOperatorObject(t, r, "ServiceMonitor", "metrics.serviceMonitor.enabled", &sm)
	svc := &corev1.Service{}
	r.decode(t, "Service", chartFullname, svc)
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Metadata.Namespace != chartNamespace || sm.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor %s %s/%s labels %v", sm.APIVersion, sm.Metadata.Namespace, sm.Metadata.Name, sm.Metadata.Labels)
	}
	// A ServiceMonitor selects Services by their labels.
	if len(sm.Spec.Selector.MatchLabels) == 0 || !selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	var metricsPort *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if p.Name == "metrics" {
			metricsPort = &svc.Spec.Ports[i]
		}
	}
	if len(sm.Spec.Endpoints) != 1 || metricsPort == nil || sm.Spec.Endpoints[0].Port != metricsPort.Name ||
		metricsPort.TargetPort != intstr.FromString("metrics") || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Interval != "15s" {
		t.Errorf("ServiceMonitor endpoints %+v, Service metrics port %+v: want port metrics (→ container port metrics), /metrics every 15s", sm.Spec.Endpoints, metricsPort)
	}
	// The decisions' namespace label is the InferenceService's; without
	// honorLabels Prometheus renames it exported_namespace.
	if len(sm.Spec.Endpoints) == 1 && !sm.Spec.Endpoints[0].HonorLabels {
		t.Error("ServiceMonitor endpoint without honorLabels: the decisions' namespace label would become exported_namespace")
	}
}

func checkPrometheusRule(t *testing.T, r *renderedChart) {
	t.Helper()
	var pr struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
		Spec       struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Alert       string            `json:"alert"`
					Expr        string            `json:"expr"`
					For         string            `json:"for"`
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	decodeOperatorObject(t, r, "PrometheusRule", "metrics.prometheusRule.enabled", &pr)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Metadata.Namespace != chartNamespace || pr.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("PrometheusRule %s %s/%s labels %v", pr.APIVersion, pr.Metadata.Namespace, pr.Metadata.Name, pr.Metadata.Labels)
	}
	// Every canary_guard_* series an alert reads is one canary-guard
	// exports (a histogram's _bucket, _sum and _count included).
	exported := map[string]bool{}
	webhook.NewMetrics(descRecorder(func(desc *prometheus.Desc) {
		if m := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(desc.String()); m != nil {
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				exported[m[1]+suffix] = true
			}
		}
	}))
	alerts := 0
	for _, g := range pr.Spec.Groups {
		for _, rule := range g.Rules {
			alerts++
			if rule.Alert == "" || rule.Expr == "" || rule.Labels["severity"] == "" || rule.Annotations["summary"] == "" {
				t.Errorf("alert %q: want a name, an expression, a severity and a summary: %+v", rule.Alert, rule)
			}
			if strings.Contains(rule.Annotations["summary"], "{{ .") {
				t.Errorf("alert %s: the summary holds an unrendered Helm template: %s", rule.Alert, rule.Annotations["summary"])
			}
			for _, name := range regexp.MustCompile(`canary_guard_[a-z_]+`).FindAllString(rule.Expr, -1) {
				if !exported[name] {
					t.Errorf("alert %s reads %s, which canary-guard does not export", rule.Alert, name)
				}
			}
		}
	}
	if alerts < 5 {
		t.Errorf("PrometheusRule has %d alerts", alerts)
	}
	// A webhook the API server cannot call is refused writes under
	// failurePolicy Fail (rejection_count) but let through under Ignore,
	// the mutating webhook's default (fail_open_count): the alert reads both.
	for _, g := range pr.Spec.Groups {
		for _, rule := range g.Rules {
			if rule.Alert == "CanaryGuardUnreachable" &&
				(!strings.Contains(rule.Expr, "apiserver_admission_webhook_rejection_count") || !strings.Contains(rule.Expr, "apiserver_admission_webhook_fail_open_count")) {
				t.Errorf("CanaryGuardUnreachable reads %s: want the calls refused and those failed open", rule.Expr)
			}
		}
	}
}

// descRecorder is a prometheus.Registerer that hands each collector's
// descriptions to a function.
type descRecorder func(*prometheus.Desc)

func (f descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		f(d)
	}
	return nil
}

func (f descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = f.Register(c)
	}
}

func (f descRecorder) Unregister(prometheus.Collector) bool { return false }

func checkNetworkPolicy(t *testing.T, r *renderedChart) {
	t.Helper()
	np := &networkingv1.NetworkPolicy{}
	r.decode(t, "NetworkPolicy", chartFullname, np)
	dep := &appsv1.Deployment{}
	r.decode(t, "Deployment", chartFullname, dep)
	if !maps.Equal(np.Spec.PodSelector.MatchLabels, dep.Spec.Selector.MatchLabels) ||
		!slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("NetworkPolicy podSelector %v policyTypes %v, want the Deployment's pods, Ingress", np.Spec.PodSelector, np.Spec.PolicyTypes)
	}
	ports := map[string]int32{}
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	from := map[int][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) != 1 || rule.Ports[0].Port == nil {
			t.Errorf("ingress rule %+v: want one port", rule)
			continue
		}
		from[rule.Ports[0].Port.IntValue()] = rule.From
	}
	want := map[int][]networkingv1.NetworkPolicyPeer{
		int(ports["webhook"]): {{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}}},
		int(ports["metrics"]): {{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "monitoring"}}}},
		int(ports["health"]):  nil, // the kubelet's probes, from anywhere
	}
	if !apiequality.Semantic.DeepEqual(from, want) {
		t.Errorf("NetworkPolicy ingress by container port %v, want %v", from, want)
	}
}

func checkNamespaceOverrides(t *testing.T, r *renderedChart) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	r.decode(t, "ConfigMap", chartFullname+"-config", cm)
	var cfg struct {
		Enforcement          string `json:"enforcement"`
		InitialCanaryPercent int    `json:"initialCanaryPercent"`
		MaxStepPercent       int    `json:"maxStepPercent"`
		Override             struct {
			Groups []string `json:"groups"`
		} `json:"override"`
		Exempt struct {
			Users []string `json:"users"`
		} `json:"exempt"`
		RuleEnforcement map[string]string `json:"ruleEnforcement"`
		Namespaces      []map[string]any  `json:"namespaces"`
	}
	if err := yaml.UnmarshalStrict([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("config.yaml: %v\n%s", err, cm.Data["config.yaml"])
	}
	if cfg.MaxStepPercent != 20 || cfg.InitialCanaryPercent != 10 || len(cfg.Namespaces) != 4 || cfg.Namespaces[0]["match"] != "staging-*" || cfg.Namespaces[2]["onModelChange"] != "deny" ||
		cfg.RuleEnforcement["step-interval"] != "warn" || fmt.Sprint(cfg.Namespaces[3]["ruleEnforcement"]) != "map[step-interval:enforce]" {
		t.Errorf("config.yaml %+v, want the values' config, namespace entries in order", cfg)
	}
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	r.decode(t, "ValidatingAdmissionPolicy", chartFullname+"-backstop", vap)
	vars := map[string]string{}
	for _, v := range vap.Spec.Variables {
		vars[v.Name] = v.Expression
	}
	// First match wins; the backstop stays out of warn, audit and
	// onModelChange: deny namespaces, where canary-guard's answer is the
	// one to see. Each entry has its exempt users and groups and override
	// groups, inherited key by key from the top level as canary-guard does.
	users := `["system:serviceaccount:argocd:bootstrap","o'brien@corp.example"]`
	top := `'exemptUsers': ` + users + `, 'exemptGroups': [], 'overrideGroups': ["sre-oncall"]`
	wantRules := `[{'re': ['^staging-.*$'], 'applies': ['false'], 'initial': ['10'], 'midRollout': ['restart'], ` + top + `}, ` +
		`{'re': ['^sandbox\\.team-.*$'], 'applies': ['false'], 'initial': ['10'], 'midRollout': ['restart'], ` + top + `}, ` +
		`{'re': ['^gitops-.*$'], 'applies': ['false'], 'initial': ['10'], 'midRollout': ['restart'], ` + top + `}, ` +
		`{'re': ['^prod-.*$'], 'applies': ['true'], 'initial': ['5'], 'midRollout': ['restart'], 'exemptUsers': ` + users + `, 'exemptGroups': ["release-bots"], 'overrideGroups': []}]`
	if vars["namespaceRules"] != wantRules {
		t.Errorf("backstop namespaceRules\n%s\nwant\n%s", vars["namespaceRules"], wantRules)
	}
	if sel := vap.Spec.MatchConstraints.ObjectSelector; sel == nil || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != "canary-guard.dev/skip" {
		t.Errorf("backstop objectSelector %v, want the webhooks' webhook.objectSelector", sel)
	}
	if !strings.Contains(vars["rule"], ": {'re': [''], 'applies': ['true'], 'initial': ['10'], 'midRollout': ['restart'], "+top+"}") {
		t.Errorf("backstop rule %q lacks the top-level settings", vars["rule"])
	}
	var valid string
	for _, v := range vap.Spec.Validations {
		valid += v.Expression
	}
	if !strings.Contains(valid, "variables.exempt") || !strings.Contains(valid, "variables.freshOverride") {
		t.Errorf("backstop validation %q does not let exempt users and fresh overrides through", valid)
	}
	var msg string
	for _, v := range vap.Spec.Validations {
		msg += v.MessageExpression
	}
	if !strings.Contains(msg, "canaryTrafficPercent: ' + variables.rule.initial[0]") || !strings.Contains(msg, "namespace "+chartNamespace) {
		t.Errorf("backstop message %q, want the namespace's initial percent and the release namespace", msg)
	}
}

// checkChartEval loads the rendered ConfigMaps as canary-guard would see
// them mounted (one file per key) into `canary-guard eval`: the chart's
// configuration and policies must be accepted by the binary.
func checkChartEval(t *testing.T, r *renderedChart, fn, wantDenied string) {
	t.Helper()
	bin := filepath.Join(filepath.Dir(filepath.Dir(chartPath(t))), "bin", "canary-guard")
	if _, err := os.Stat(bin); err != nil {
		t.Logf("%s missing: eval check skipped", bin)
		return
	}
	dir := t.TempDir()
	// As the chart's projected volume lays them out: the .rego files in
	// one directory, config.yaml in config/ under it.
	cfgDir, polDir := filepath.Join(dir, "settings", "config"), filepath.Join(dir, "settings")
	for cmName, d := range map[string]string{fn + "-config": cfgDir, fn + "-policies": polDir} {
		cm := &corev1.ConfigMap{}
		r.decode(t, "ConfigMap", cmName, cm)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for k, v := range cm.Data {
			if err := os.WriteFile(filepath.Join(d, k), []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	isvc := filepath.Join(dir, "isvc.yaml")
	if err := os.WriteFile(isvc, []byte(sklearnISVC("my-model", modelURI(1))), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "eval", "--new", isvc, "--namespace", "prod-a",
		"--config", filepath.Join(cfgDir, "config.yaml"), "--policy-dir", polDir).CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case wantDenied == "" && err != nil:
		t.Errorf("canary-guard eval with the rendered configuration: %v\n%s", err, out)
	case wantDenied != "" && (!errors.As(err, &exitErr) || exitErr.ExitCode() != 1 || !strings.Contains(string(out), "["+wantDenied+"]")):
		t.Errorf("canary-guard eval with the rendered policies: %v, want denied by %s\n%s", err, wantDenied, out)
	}
}

// containerFlags maps --flag to its value (--flag=value arguments).
func containerFlags(args []string) map[string]string {
	flags := map[string]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
			flags[k] = v
		}
	}
	return flags
}

// selects reports whether every label of selector is in labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func equalRules(a, b []admissionregistrationv1.RuleWithOperations) bool {
	return slices.EqualFunc(a, b, func(x, y admissionregistrationv1.RuleWithOperations) bool {
		return slices.Equal(x.Operations, y.Operations) && slices.Equal(x.APIGroups, y.APIGroups) &&
			slices.Equal(x.APIVersions, y.APIVersions) && slices.Equal(x.Resources, y.Resources) &&
			x.Scope != nil && y.Scope != nil && *x.Scope == *y.Scope
	})
}

func ptrTo[T any](v T) *T { return &v }

// TestChartPolicyChangeRollsThePods: a change of the custom policies
// changes the pod template, so that a policy that does not compile stalls
// the rollout instead of waiting for the next restart; a change of
// anything else in the configuration does not.
func TestChartPolicyChangeRollsThePods(t *testing.T) {
	checksum := func(args ...string) string {
		d := &appsv1.Deployment{}
		renderChart(t, chartRelease, chartNamespace, args...).decode(t, "Deployment", chartFullname, d)
		return d.Spec.Template.Annotations["checksum/policies"]
	}
	base := checksum()
	if base == "" {
		t.Fatal("the pod template has no checksum/policies annotation")
	}
	if got := checksum("--set", "policies.team\\.rego=package canary_guard"); got == base {
		t.Error("a policy change leaves the pod template as it was")
	}
	if got := checksum("--set", "config.maxStepPercent=10"); got != base {
		t.Error("a configuration change rolls the pods; it is reloaded in place")
	}
}

// TestChartCommonMetadataOnEveryObject: commonLabels and
// commonAnnotations reach every object the chart renders, in both
// certificate modes and with every optional object on.
func TestChartCommonMetadataOnEveryObject(t *testing.T) {
	for _, mode := range []string{"cert-manager", "self-managed"} {
		t.Run(mode, func(t *testing.T) {
			r := renderChart(t, chartRelease, chartNamespace, "--set", "certs.mode="+mode,
				"--set", "replicaCount=2", "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true", "--set", "networkPolicy.enabled=true",
				"--set", "commonLabels.team=ml", "--set", "commonAnnotations.owner=platform")
			for _, d := range r.docs {
				if got := d.obj.GetLabels()["team"]; got != "ml" {
					t.Errorf("%s %s (%s): label team=%q, want ml", d.gvk.Kind, d.name, d.source, got)
				}
				if got := d.obj.GetAnnotations()["owner"]; got != "platform" {
					t.Errorf("%s %s (%s): annotation owner=%q, want platform", d.gvk.Kind, d.name, d.source, got)
				}
				// Cluster policies that require a label on every pod
				// see the webhook's and the uninstall hook's pods too.
				if labels, found, _ := unstructured.NestedStringMap(d.obj.Object, "spec", "template", "metadata", "labels"); found && labels["team"] != "ml" {
					t.Errorf("%s %s (%s): pod label team=%q, want ml", d.gvk.Kind, d.name, d.source, labels["team"])
				}
			}
		})
	}
}
