package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canary-guard/canary-guard/policy"
)

// doctorCheck is one finding of doctor.
type doctorCheck struct {
	ok      bool
	warning bool
	text    string
}

type doctor struct {
	c          client.Client
	kube       kubernetes.Interface
	namespace  string
	release    string
	fullname   string
	kserveNS   string
	knativeNS  string
	metricsURL []string
	checks     []doctorCheck
}

func (d *doctor) pass(format string, args ...any) {
	d.checks = append(d.checks, doctorCheck{ok: true, text: fmt.Sprintf(format, args...)})
}

func (d *doctor) fail(format string, args ...any) {
	d.checks = append(d.checks, doctorCheck{text: fmt.Sprintf(format, args...)})
}

func (d *doctor) warn(format string, args ...any) {
	d.checks = append(d.checks, doctorCheck{ok: true, warning: true, text: fmt.Sprintf(format, args...)})
}

func newDoctorCommand() *cobra.Command {
	var (
		kube kubeFlags
		d    doctor
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a running installation and say what is wrong, in words",
		Long: `Check a running canary-guard installation:
  - both webhook configurations exist and point at a service with ready endpoints (or a reachable URL);
  - their CA bundle verifies the certificate the webhook serves, and when that certificate expires
    (in cert-manager mode, also the Certificate's status);
  - the policy revision each replica has loaded, and whether its last reload failed;
  - when a step interval is on, that KServe's serviceAnnotationDisallowedList holds the step annotation;
  - that Knative's revision garbage collection keeps the revisions a rollback needs.
Exit status 1 when a check fails; warnings do not fail.`,
		Example: `  canary-guard doctor -n canary-guard
  canary-guard doctor --release my-guard -n platform`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, ns, err := kube.restConfig()
			if err != nil {
				return failed(err)
			}
			if kube.namespace == "" {
				ns = "canary-guard"
			}
			d.namespace = ns
			if d.c, err = newClient(cfg); err != nil {
				return failed(err)
			}
			if d.kube, err = kubernetes.NewForConfig(cfg); err != nil {
				return failed(err)
			}
			d.run(cmd.Context())
			failedChecks := 0
			out := cmd.OutOrStdout()
			for _, c := range d.checks {
				mark := "ok  "
				switch {
				case !c.ok:
					mark = "FAIL"
					failedChecks++
				case c.warning:
					mark = "warn"
				}
				fmt.Fprintf(out, "%s  %s\n", mark, c.text)
			}
			if failedChecks > 0 {
				fmt.Fprintf(out, "\n%d check(s) failed.\n", failedChecks)
				return exitError{code: exitDenied}
			}
			fmt.Fprintln(out, "\nNo problems found.")
			return nil
		},
	}
	f := cmd.Flags()
	kube.add(f, "the namespace canary-guard is installed in (default: canary-guard, not the context's)")
	f.StringVar(&d.release, "release", "canary-guard", "the Helm release name (its pods carry it; its objects are named after it as the chart names them)")
	f.StringVar(&d.fullname, "fullname", "", "the name of the release's objects, when the chart's fullnameOverride or nameOverride set it (default: the release name, with -canary-guard appended unless it contains canary-guard)")
	f.StringVar(&d.kserveNS, "kserve-namespace", "kserve", "namespace of KServe's inferenceservice-config")
	f.StringVar(&d.knativeNS, "knative-namespace", "knative-serving", "namespace of Knative Serving's config-gc")
	f.StringArrayVar(&d.metricsURL, "metrics-url", nil, "scrape these /metrics URLs instead of the pods (repeatable; for installs outside the cluster)")
	return cmd
}

// objectName is the name the chart gives the release's objects
// (canary-guard.fullname in the chart's _helpers.tpl).
func (d *doctor) objectName() string {
	if d.fullname != "" {
		return d.fullname
	}
	name := d.release
	if !strings.Contains(name, "canary-guard") {
		name += "-canary-guard"
	}
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimSuffix(name, "-")
}

func (d *doctor) run(ctx context.Context) {
	bundle := d.checkWebhookConfigurations(ctx)
	d.checkServedCertificate(ctx, bundle)
	d.checkCertManager(ctx)
	d.checkLeftOpen(ctx)
	d.checkReplicas(ctx)
	cfg := d.checkStepAnnotation(ctx)
	d.checkPolicies(ctx, cfg)
	d.checkRevisionGC(ctx)
}

// configRevisionAnnotation on the chart's ValidatingWebhookConfiguration
// names the configuration it was rendered from, as
// canary_guard_policy_info{config} does.
const configRevisionAnnotation = "canary-guard.dev/config-revision"

// unenforcedWebhook is the chart's validating webhook for the requests
// canary-guard admits whatever its rules say (warn and audit namespaces,
// exempt users): it fails open by design.
const unenforcedWebhook = "validate-unenforced.canary-guard.dev"

// checkLeftOpen finds what the emergency runbook opens and an operator may
// forget to close: the validating webhook failing open, namespaces labelled
// out of canary-guard, the backstop's binding deleted. Each is a warning:
// the chart allows them on purpose too, but nobody should find out about
// them from the next full cutover.
func (d *doctor) checkLeftOpen(ctx context.Context) {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := d.c.Get(ctx, client.ObjectKey{Name: d.objectName()}, vwc); err == nil {
		optOut := map[string]bool{}
		for _, w := range vwc.Webhooks {
			if w.FailurePolicy != nil && *w.FailurePolicy == admissionregistrationv1.Ignore && w.Name != unenforcedWebhook {
				d.warn("ValidatingWebhookConfiguration %s webhook %s has failurePolicy Ignore: while canary-guard is down or slow, every InferenceService change passes unchecked. If the emergency runbook set it, restore the chart's with helm upgrade %s charts/canary-guard -n %s --reset-then-reuse-values",
					d.objectName(), w.Name, d.release, d.namespace)
			}
			if w.NamespaceSelector == nil {
				continue
			}
			for _, e := range w.NamespaceSelector.MatchExpressions {
				if e.Operator == metav1.LabelSelectorOpDoesNotExist {
					optOut[e.Key] = true
				}
			}
		}
		for key := range optOut {
			namespaces := &corev1.NamespaceList{}
			if err := d.c.List(ctx, namespaces, client.HasLabels{key}); err != nil {
				d.warn("listing namespaces labelled %s: %v", key, err)
				continue
			}
			if len(namespaces.Items) == 0 {
				continue
			}
			names := make([]string, 0, len(namespaces.Items))
			for _, ns := range namespaces.Items {
				names = append(names, ns.Name)
			}
			d.warn("%d namespace(s) labelled %s are left out of canary-guard and its backstop: %s (if the emergency runbook labelled them: kubectl label namespace NS %s-)",
				len(names), key, strings.Join(names, ", "), key)
		}
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	name := d.objectName() + "-backstop"
	if err := d.c.Get(ctx, client.ObjectKey{Name: name}, policy); err != nil {
		return // backstop.enabled=false, or an API server without the API
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	if err := d.c.Get(ctx, client.ObjectKey{Name: name}, binding); apierrors.IsNotFound(err) {
		d.warn("ValidatingAdmissionPolicy %s has no binding %s: the backstop is off and a full cutover passes while canary-guard is down. If the emergency runbook deleted it, helm upgrade %s charts/canary-guard -n %s --reset-then-reuse-values restores it",
			name, name, d.release, d.namespace)
	}
}

// webhookTarget is where a webhook configuration sends requests.
type webhookTarget struct {
	config, webhook string
	service         *admissionregistrationv1.ServiceReference
	url             string
	caBundle        []byte
}

func (d *doctor) checkWebhookConfigurations(ctx context.Context) []webhookTarget {
	var targets []webhookTarget
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := d.c.Get(ctx, client.ObjectKey{Name: d.objectName()}, mwc); err != nil {
		d.fail("MutatingWebhookConfiguration %s: %v (is the release installed? see helm list -A)", d.objectName(), err)
	} else {
		for _, w := range mwc.Webhooks {
			targets = append(targets, webhookTarget{config: "MutatingWebhookConfiguration " + d.objectName(), webhook: w.Name,
				service: w.ClientConfig.Service, url: ptrString(w.ClientConfig.URL), caBundle: w.ClientConfig.CABundle})
		}
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := d.c.Get(ctx, client.ObjectKey{Name: d.objectName()}, vwc); err != nil {
		d.fail("ValidatingWebhookConfiguration %s: %v (is the release installed? see helm list -A)", d.objectName(), err)
	} else {
		for _, w := range vwc.Webhooks {
			targets = append(targets, webhookTarget{config: "ValidatingWebhookConfiguration " + d.objectName(), webhook: w.Name,
				service: w.ClientConfig.Service, url: ptrString(w.ClientConfig.URL), caBundle: w.ClientConfig.CABundle})
		}
	}
	for _, t := range targets {
		if len(t.caBundle) == 0 {
			d.fail("%s webhook %s has no caBundle: the API server cannot trust the webhook (cert-manager's cainjector or canary-guard's self-managed certificates should have written it)", t.config, t.webhook)
			continue
		}
		if t.service == nil {
			d.pass("%s webhook %s calls %s", t.config, t.webhook, t.url)
			continue
		}
		d.checkService(ctx, t)
	}
	return targets
}

func (d *doctor) checkService(ctx context.Context, t webhookTarget) {
	svc := &corev1.Service{}
	key := client.ObjectKey{Namespace: t.service.Namespace, Name: t.service.Name}
	if err := d.c.Get(ctx, key, svc); err != nil {
		d.fail("%s webhook %s points at Service %s: %v", t.config, t.webhook, key, err)
		return
	}
	slices, err := d.kube.DiscoveryV1().EndpointSlices(key.Namespace).List(ctx, metaListBySvc(key.Name))
	if err != nil {
		d.fail("listing the endpoints of Service %s: %v", key, err)
		return
	}
	ready := readyEndpoints(slices.Items)
	if ready == 0 {
		d.fail("%s webhook %s points at Service %s, which has no ready endpoint: with failurePolicy Fail every InferenceService change is refused (see the README's emergency runbook)", t.config, t.webhook, key)
		return
	}
	d.pass("%s webhook %s points at Service %s with %d ready endpoint(s)", t.config, t.webhook, key, ready)
}

func readyEndpoints(slices []discoveryv1.EndpointSlice) int {
	n := 0
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n
}

// checkServedCertificate verifies the serving certificate against each
// webhook's CA bundle: the one served at a URL, or the one in the
// release's TLS Secret for a Service.
func (d *doctor) checkServedCertificate(ctx context.Context, targets []webhookTarget) {
	for _, t := range targets {
		if len(t.caBundle) == 0 {
			continue
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.caBundle) {
			d.fail("%s webhook %s: caBundle holds no PEM certificate", t.config, t.webhook)
			continue
		}
		var leaf *x509.Certificate
		var host, source string
		if t.service == nil {
			u, err := url.Parse(t.url)
			if err != nil {
				d.fail("%s webhook %s: url %q: %v", t.config, t.webhook, t.url, err)
				continue
			}
			host, source = u.Hostname(), "served at "+u.Host
			leaf, err = servedCertificate(ctx, u.Host)
			if err != nil {
				d.fail("%s webhook %s: cannot reach %s: %v", t.config, t.webhook, u.Host, err)
				continue
			}
		} else {
			host = t.service.Name + "." + t.service.Namespace + ".svc"
			secret := &corev1.Secret{}
			key := client.ObjectKey{Namespace: t.service.Namespace, Name: d.objectName() + "-tls"}
			if err := d.c.Get(ctx, key, secret); err != nil {
				d.fail("reading the serving certificate Secret %s: %v", key, err)
				continue
			}
			block, _ := pem.Decode(secret.Data["tls.crt"])
			switch {
			case block == nil && len(secret.Data["tls.crt"]) == 0 && len(secret.Data["ca.crt"]) > 0:
				// Self-managed mode replacing a lost Secret: the pods keep
				// their certificate until the new CA is trusted.
				d.warn("Secret %s has no tls.crt yet: canary-guard waits until the webhooks have trusted its new CA for a minute; the pods keep serving their certificate meanwhile. Run doctor again in two minutes", key)
				continue
			case block == nil:
				d.fail("Secret %s has no PEM tls.crt", key)
				continue
			}
			var err error
			if leaf, err = x509.ParseCertificate(block.Bytes); err != nil {
				d.fail("Secret %s: tls.crt: %v", key, err)
				continue
			}
			source = "in Secret " + key.String()
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			d.fail("%s webhook %s: its caBundle does not verify the certificate %s for %s: %v", t.config, t.webhook, source, host, err)
			continue
		}
		left := time.Until(leaf.NotAfter)
		switch {
		case left < 0:
			d.fail("the certificate %s expired at %s", source, leaf.NotAfter.UTC().Format(time.RFC3339))
		case left < 7*24*time.Hour:
			d.warn("%s webhook %s: the caBundle verifies the certificate %s, which expires in %s (%s): check that renewal works",
				t.config, t.webhook, source, left.Round(time.Hour), leaf.NotAfter.UTC().Format(time.RFC3339))
		default:
			d.pass("%s webhook %s: the caBundle verifies the certificate %s; it expires %s", t.config, t.webhook, source, leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}

func servedCertificate(ctx context.Context, hostport string) (*x509.Certificate, error) {
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the certificate is verified below, against the webhook's own CA bundle
	conn, err := dialer.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no certificate served")
	}
	return certs[0], nil
}

// checkCertManager reads the release's Certificate status when it exists,
// through cert-manager's own API types.
func (d *doctor) checkCertManager(ctx context.Context) {
	cert := &cmapi.Certificate{}
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.namespace, Name: d.objectName()}, cert); err != nil {
		return // not cert-manager mode, or cert-manager is not installed
	}
	for _, c := range cert.Status.Conditions {
		if c.Type != cmapi.CertificateConditionReady {
			continue
		}
		if c.Status == cmmeta.ConditionTrue {
			d.pass("cert-manager Certificate %s/%s is Ready (notAfter %s, renewal %s)", d.namespace, d.objectName(), timeText(cert.Status.NotAfter), timeText(cert.Status.RenewalTime))
		} else {
			d.fail("cert-manager Certificate %s/%s is not Ready: %s (kubectl describe certificate -n %s %s)", d.namespace, d.objectName(), c.Message, d.namespace, d.objectName())
		}
		return
	}
	d.warn("cert-manager Certificate %s/%s has no Ready condition yet", d.namespace, d.objectName())
}

func timeText(t *metav1.Time) string {
	if t == nil {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

// checkReplicas reads each replica's metrics: the loaded policy revision
// and whether its last reload failed.
func (d *doctor) checkReplicas(ctx context.Context) {
	type source struct{ name, body string }
	var sources []source
	var errs []error
	if len(d.metricsURL) > 0 {
		for _, u := range d.metricsURL {
			body, err := httpGet(ctx, u)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", u, err))
				continue
			}
			sources = append(sources, source{u, body})
		}
	} else {
		pods := &corev1.PodList{}
		if err := d.c.List(ctx, pods, client.InNamespace(d.namespace),
			// The instance label alone: the name label follows nameOverride.
			client.MatchingLabels{"app.kubernetes.io/instance": d.release}); err != nil {
			d.fail("listing canary-guard pods in %s: %v", d.namespace, err)
			return
		}
		if len(pods.Items) == 0 {
			d.fail("no canary-guard pods in namespace %s (release %s)", d.namespace, d.release)
			return
		}
		for _, p := range pods.Items {
			raw, err := d.kube.CoreV1().Pods(d.namespace).ProxyGet("http", p.Name, metricsPort(&p), "/metrics", nil).DoRaw(ctx)
			if err != nil {
				errs = append(errs, fmt.Errorf("pod %s: %w", p.Name, err))
				continue
			}
			sources = append(sources, source{"pod " + p.Name, string(raw)})
		}
	}
	for _, err := range errs {
		d.fail("reading metrics: %v", err)
	}
	// The configuration the chart rendered the webhooks' fail-open split
	// and the backstop from; "" where the configuration carries none.
	rendered := ""
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := d.c.Get(ctx, client.ObjectKey{Name: d.objectName()}, vwc); err == nil {
		rendered = vwc.Annotations[configRevisionAnnotation]
	}
	revisions := map[string]bool{}
	for _, s := range sources {
		m := parseMetrics(s.body)
		rev := m.label("canary_guard_policy_info", "revision")
		cfg := m.label("canary_guard_policy_info", "config")
		revisions[rev+" "+cfg] = true
		// A replica whose last reload failed serves an older
		// configuration, or the defaults on the start's fallback: the
		// failure is reported below, and is no edit outside Helm.
		if rendered != "" && cfg != "(unknown)" && cfg != rendered && m.value("canary_guard_last_reload_successful") != "0" {
			d.warn("%s serves configuration %s, but the webhooks' fail-open split and the backstop were rendered from %s: if this lasts beyond a minute (the time a pod takes to see a new ConfigMap), the configuration was changed outside Helm, and the namespaces and users it lets through are not those the API server sends to the fail-open webhook or the backstop exempts; change it with helm upgrade %s charts/canary-guard -n %s",
				s.name, cfg, rendered, d.release, d.namespace)
		}
		if m.value("canary_guard_last_reload_successful") == "0" {
			d.fail("%s: its last policy or configuration reload failed; it serves policy revision %s and configuration %s (the last that loaded): read its log for the file and line", s.name, rev, cfg)
		} else {
			d.pass("%s serves policy revision %s and configuration %s", s.name, rev, cfg)
		}
	}
	if len(revisions) > 1 {
		d.warn("replicas serve different policy or configuration revisions (%d): a reload is in progress or failed on some", len(revisions))
	}
}

// checkStepAnnotation checks the configuration ConfigMap loads and, where
// it sets a step interval, what the interval needs. It returns the
// configuration, or nil where it cannot be read.
func (d *doctor) checkStepAnnotation(ctx context.Context) *policy.Config {
	cm := &corev1.ConfigMap{}
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.namespace, Name: d.objectName() + "-config"}, cm); err != nil {
		d.warn("cannot read canary-guard's configuration ConfigMap %s/%s-config: %v (step interval not checked)", d.namespace, d.objectName(), err)
		return nil
	}
	cfg, err := policy.ParseConfig([]byte(cm.Data["config.yaml"]))
	if err != nil {
		d.fail("canary-guard's configuration in %s/%s-config does not load: %v", d.namespace, d.objectName(), err)
		return nil
	}
	for _, w := range cfg.Warnings {
		d.warn("canary-guard's configuration in %s/%s-config: %s", d.namespace, d.objectName(), w)
	}
	if !cfg.StepIntervalSet() {
		d.pass("configuration loads; no step interval is set")
		return cfg
	}
	d.checkStepsReachMutation(ctx)
	isvcCM := &corev1.ConfigMap{}
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.kserveNS, Name: "inferenceservice-config"}, isvcCM); err != nil {
		d.fail("reading KServe's inferenceservice-config in %s: %v", d.kserveNS, err)
		return cfg
	}
	kcfg, err := kservev1beta1.NewInferenceServicesConfig(isvcCM)
	if err != nil {
		d.fail("KServe's inferenceservice-config does not parse: %v", err)
		return cfg
	}
	for _, a := range kcfg.ServiceAnnotationDisallowedList {
		if a == policy.AnnotationStepAt {
			d.pass("a step interval is on and KServe's serviceAnnotationDisallowedList holds %s", policy.AnnotationStepAt)
			return cfg
		}
	}
	d.fail("a step interval is on, but KServe's serviceAnnotationDisallowedList (ConfigMap %s/inferenceservice-config, key inferenceService) lacks %s: every step stamp creates a new revision. Add it to the list.", d.kserveNS, policy.AnnotationStepAt)
	return cfg
}

// checkStepsReachMutation fails where a step interval is configured but
// the mutating webhook's may-need-mutation condition was rendered without
// one (a ConfigMap edited outside Helm): the API server then skips the
// mutating webhook on a step, no step is stamped, and the interval holds
// nothing back.
func (d *doctor) checkStepsReachMutation(ctx context.Context) {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := d.c.Get(ctx, client.ObjectKey{Name: d.objectName()}, mwc); err != nil {
		d.warn("cannot read the MutatingWebhookConfiguration %s: %v (whether steps reach it not checked)", d.objectName(), err)
		return
	}
	for _, w := range mwc.Webhooks {
		for _, mc := range w.MatchConditions {
			if mc.Name == "may-need-mutation" && strings.Contains(mc.Expression, "'canaryTrafficPercent'") {
				d.fail("a step interval is configured, but the MutatingWebhookConfiguration %s was rendered without one: the API server skips %s on a step, so no step is stamped and the interval holds nothing back. The configuration was changed outside Helm; change it with helm upgrade %s charts/canary-guard -n %s",
					mwc.Name, w.Name, d.release, d.namespace)
				return
			}
		}
	}
}

// checkPolicies compiles the policies ConfigMap with the shipped bundle,
// as each replica does at reload, and reports what a replica would only
// log: a file that does not compile (the replicas keep their last good
// policy), the policy's warnings, and ruleEnforcement entries that name
// no rule of it (a typo leaves the rule enforced) under cfg (the defaults
// where the configuration could not be read: checkStepAnnotation says so).
func (d *doctor) checkPolicies(ctx context.Context, cfg *policy.Config) {
	where := fmt.Sprintf("%s/%s-policies", d.namespace, d.objectName())
	cm := &corev1.ConfigMap{}
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.namespace, Name: d.objectName() + "-policies"}, cm); err != nil {
		d.warn("cannot read canary-guard's policies ConfigMap %s: %v (custom policies not checked)", where, err)
		return
	}
	sources, err := policy.ShippedSources()
	if err != nil {
		d.fail("reading the shipped bundle: %v", err)
		return
	}
	files := 0
	for _, name := range slices.Sorted(maps.Keys(cm.Data)) {
		// As serve reads the directory: .rego files, tests left out.
		if strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, "_test.rego") {
			sources = append(sources, policy.Source{Name: name, Content: []byte(cm.Data[name])})
			files++
		}
	}
	p, err := policy.Compile(ctx, sources)
	if err != nil {
		d.fail("the policies in ConfigMap %s do not compile with the shipped bundle, so no replica loads them (each keeps its last good policy): %v", where, err)
		return
	}
	if cfg == nil {
		cfg = policy.DefaultConfig()
	}
	warnings := slices.Concat(p.Warnings, policy.RuleEnforcementWarnings(p, cfg))
	for _, w := range warnings {
		d.warn("canary-guard's policies in %s with its configuration: %s", where, w)
	}
	if len(warnings) == 0 {
		d.pass("%d custom policy file(s) in %s compile with the shipped bundle", files, where)
	}
}

// checkRevisionGC warns when Knative may collect the revision a rollback
// to the previous model needs.
func (d *doctor) checkRevisionGC(ctx context.Context) {
	cm := &corev1.ConfigMap{}
	err := d.c.Get(ctx, client.ObjectKey{Namespace: d.knativeNS, Name: "config-gc"}, cm)
	switch {
	case apierrors.IsNotFound(err):
		d.pass("Knative config-gc not set: defaults keep at least 20 non-active revisions")
		return
	case err != nil:
		d.warn("cannot read Knative's config-gc in %s: %v", d.knativeNS, err)
		return
	}
	if v, ok := cm.Data["min-non-active-revisions"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n < 1 {
			d.fail("Knative config-gc min-non-active-revisions is %d: after a promotion the previous model's revision can be collected, and a rollback (canaryTrafficPercent below 100) would have nothing to return to. Set it to 1 or more.", n)
			return
		}
	}
	if v, ok := cm.Data["max-non-active-revisions"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n == 0 {
			d.fail("Knative config-gc max-non-active-revisions is 0: non-active revisions, the previous model's among them, are collected at once. Raise it.")
			return
		}
	}
	d.pass("Knative config-gc keeps non-active revisions (min-non-active-revisions %s)", orDefault(cm.Data["min-non-active-revisions"], "20 (default)"))
}

type metricsText map[string]string

func parseMetrics(body string) metricsText {
	m := metricsText{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		m[line[:i]] = line[i+1:]
	}
	return m
}

// label returns the value of label on the first sample of name.
func (m metricsText) label(name, label string) string {
	for k := range m {
		if strings.HasPrefix(k, name+"{") {
			if _, rest, ok := strings.Cut(k, label+`="`); ok {
				v, _, _ := strings.Cut(rest, `"`)
				return v
			}
		}
	}
	return "(unknown)"
}

func (m metricsText) value(name string) string {
	if v, ok := m[name]; ok {
		return v
	}
	return m[name+"{}"]
}

func httpGet(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return string(body), nil
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// metricsPort is the pod's container port named metrics (the chart's
// ports.metrics), 8080 when it names none: the pod proxy takes a number.
func metricsPort(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == "metrics" {
				return strconv.Itoa(int(port.ContainerPort))
			}
		}
	}
	return "8080"
}
