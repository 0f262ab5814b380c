package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canary-guard/canary-guard/certs"
	"github.com/canary-guard/canary-guard/e2e/cluster"
)

// Self-managed certificates on the real API server (issue "Install it as
// a cluster-wide guardrail"): a release rendered from the chart with
// certs.mode=self-managed runs as two canary-guard replicas with the
// chart's own flags, under the identity of the chart's ServiceAccount and
// nothing but the chart's RBAC. The API server reaches them through the
// chart's webhook configurations, unchanged but for the Service port: the
// Service of that name is an ExternalName Service for localhost (envtest has
// no kube-proxy), in front of a loopback TCP proxy that spreads connections
// over the replicas. So the API server verifies the certificate exactly as
// in a cluster: against the caBundle canary-guard wrote, for the name
// <service>.<namespace>.svc.
//
// TestCertsSelfManagedRenewal: the Secret is created, the CA bundle
// is written into both configurations by name and nowhere else, updates go
// through, and the serving certificate renews (at the leader's own check)
// while InferenceService updates run through the webhook: none fails.
//
// TestCertsSelfManagedCARotation: the CA is rotated under the same load:
// the new CA reaches both bundles before anything is signed with it, the
// serving certificate moves to it only after the overlap, and every
// certificate served in between verifies against the bundle the API server
// holds.

const (
	// The suite's release leaves namespaces with this label alone; the
	// models namespaces of these tests carry it, so only the release under
	// test guards them.
	suiteOptOutLabel = "canary-guard.dev/ignore"
	// The release under test opts out with another label (unused).
	certsOptOutLabel = "canary-guard.dev/ignore-e2e-certs"
	nudgeAnnotation  = "e2e.canary-guard.dev/nudge"
)

// certsReleases are the self-managed releases these tests install; each
// leaves the others' webhook configurations alone too.
var certsReleases = []string{"canary-guard-renew", "canary-guard-rotate"}

type selfManagedOptions struct {
	release      string // also its namespace
	modelsNS     string
	certValidity string
	caValidity   string
	renewBefore  string
	replicas     int
}

type guardReplica struct {
	name                    string
	webhook, health, metric int
	proc                    *cluster.GuardProcess
}

// selfManagedRelease is a running self-managed release.
type selfManagedRelease struct {
	t          *testing.T
	c          *cluster.Cluster
	ctx        context.Context
	opts       selfManagedOptions
	ns         string
	fullname   string
	secret     string
	serverName string // what the API server verifies
	proxy      *tcpProxy
	replicas   []*guardReplica
	others     map[string]string // other webhook configurations → resourceVersion
	started    time.Time
}

func startSelfManaged(t *testing.T, ctx context.Context, c *cluster.Cluster, opts selfManagedOptions) *selfManagedRelease {
	t.Helper()
	r := &selfManagedRelease{t: t, c: c, ctx: ctx, opts: opts, ns: opts.release, fullname: opts.release}
	r.secret = r.fullname + "-tls"
	r.serverName = r.fullname + "." + r.ns + ".svc"
	// The replicas' ports are picked here and bound by the processes later:
	// these tests do not run in parallel, so nothing else picks ports between.
	ports, err := cluster.FreePorts(3 * opts.replicas)
	if err != nil {
		t.Fatal(err)
	}
	var backends []string
	for i := range opts.replicas {
		rep := &guardReplica{name: fmt.Sprintf("%s-%d", r.fullname, i), webhook: ports[3*i], health: ports[1+3*i], metric: ports[2+3*i]}
		r.replicas = append(r.replicas, rep)
		backends = append(backends, cluster.HostPort(rep.webhook))
	}
	r.proxy = startTCPProxy(t, backends)

	chart := renderChart(t, opts.release, r.ns,
		"--set", "certs.mode=self-managed",
		"--set", "certs.selfManaged.certValidity="+opts.certValidity,
		"--set", "certs.selfManaged.caValidity="+opts.caValidity,
		"--set", "certs.selfManaged.renewBefore="+opts.renewBefore,
		"--set", "backstop.enabled=false",
		"--set", "shutdownDelaySeconds=0",
		"--set", fmt.Sprintf("service.port=%d", r.proxy.port()),
		"--set", "webhook.optOutLabel="+certsOptOutLabel,
		"--set-json", fmt.Sprintf(`webhook.matchConditions=[{"name":"e2e-this-test-only","expression":"request.namespace == '%s'"}]`, opts.modelsNS))

	cl := c.Client()
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: r.ns}},
		{ObjectMeta: metav1.ObjectMeta{Name: opts.modelsNS, Labels: map[string]string{suiteOptOutLabel: "true"}}},
	} {
		if err := cl.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	r.others = r.otherWebhookConfigurations()

	// The chart's objects that do not need a kubelet, as rendered. The
	// Deployment runs as processes below; its Service is replaced.
	var created []client.Object
	t.Cleanup(func() {
		// The webhook configurations first, so nothing points at stopped
		// replicas; then the replicas; then the cluster-scoped RBAC.
		isWebhook := func(obj client.Object) bool {
			return strings.HasSuffix(obj.GetObjectKind().GroupVersionKind().Kind, "WebhookConfiguration")
		}
		del := func(webhooks bool) {
			for _, obj := range created {
				if obj.GetNamespace() == "" && isWebhook(obj) == webhooks {
					if err := cl.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
						t.Errorf("deleting %s %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
					}
				}
			}
		}
		del(true)
		for _, rep := range r.replicas {
			if rep.proc != nil {
				if err := rep.proc.Stop(); err != nil {
					t.Errorf("stopping %s: %v", rep.name, err)
				}
			}
		}
		del(false)
	})
	for _, d := range chart.docs {
		switch d.gvk.Kind {
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
			"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			obj := d.obj.DeepCopy()
			if err := cl.Create(ctx, obj); err != nil {
				t.Fatalf("creating the chart's %s %s: %v", d.gvk.Kind, d.name, err)
			}
			created = append(created, obj)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: r.fullname, Namespace: r.ns},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"},
	}
	if err := cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}

	// The processes: the chart's Deployment's arguments, with the paths
	// and ports of this machine; the ServiceAccount's identity.
	dep := &appsv1.Deployment{}
	chart.decode(t, "Deployment", r.fullname, dep)
	podSpec := dep.Spec.Template.Spec
	kubeconfig, err := c.AddUser(fmt.Sprintf("system:serviceaccount:%s:%s", r.ns, podSpec.ServiceAccountName),
		"system:serviceaccounts", "system:serviceaccounts:"+r.ns)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// As the chart's projected volume lays them out: the .rego files in
	// one directory, config.yaml in config/ under it.
	cfgDir, polDir := filepath.Join(dir, "settings", "config"), filepath.Join(dir, "settings")
	for name, d := range map[string]string{r.fullname + "-config": cfgDir, r.fullname + "-policies": polDir} {
		cm := &corev1.ConfigMap{}
		chart.decode(t, "ConfigMap", name, cm)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for k, v := range cm.Data {
			if err := os.WriteFile(filepath.Join(d, k), []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.started = time.Now()
	for _, rep := range r.replicas {
		local := map[string]string{
			"--port":         fmt.Sprint(rep.webhook),
			"--cert-dir":     filepath.Join(dir, rep.name, "certs"),
			"--config":       filepath.Join(cfgDir, "config.yaml"),
			"--policy-dir":   polDir,
			"--health-addr":  cluster.HostPort(rep.health),
			"--metrics-addr": cluster.HostPort(rep.metric),
		}
		var args []string
		replaced := 0
		for _, a := range kubeletExpand(t, podSpec.Containers[0], r.ns, rep.name) {
			if k, _, ok := strings.Cut(a, "="); ok {
				if v, ok := local[k]; ok {
					a = k + "=" + v
					replaced++
				}
			}
			args = append(args, a)
		}
		if replaced != len(local) {
			t.Fatalf("the chart's container args %v lack some of %v", podSpec.Containers[0].Args, local)
		}
		proc, err := c.StartGuardProcess(ctx, cluster.GuardProcessOptions{
			Name: rep.name,
			Args: args,
			// As the chart's downward API would set them.
			Env:      []string{"KUBECONFIG=" + kubeconfig, "POD_NAMESPACE=" + r.ns, "POD_NAME=" + rep.name},
			ReadyURL: "http://" + cluster.HostPort(rep.health) + "/readyz",
		})
		if err != nil {
			t.Fatalf("starting %s: %v", rep.name, err)
		}
		rep.proc = proc
		t.Logf("%s ready after %s: %s", rep.name, time.Since(r.started).Round(100*time.Millisecond), strings.Join(args, " "))
	}
	return r
}

// otherWebhookConfigurations are every webhook configuration not of a
// release under test, by kind/name, with their resourceVersions.
func (r *selfManagedRelease) otherWebhookConfigurations() map[string]string {
	r.t.Helper()
	out := map[string]string{}
	mutating := &admissionregistrationv1.MutatingWebhookConfigurationList{}
	validating := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	if err := r.c.Client().List(r.ctx, mutating); err != nil {
		r.t.Fatal(err)
	}
	if err := r.c.Client().List(r.ctx, validating); err != nil {
		r.t.Fatal(err)
	}
	for _, m := range mutating.Items {
		if !slices.Contains(certsReleases, m.Name) {
			out["mutating/"+m.Name] = m.ResourceVersion
		}
	}
	for _, v := range validating.Items {
		if !slices.Contains(certsReleases, v.Name) {
			out["validating/"+v.Name] = v.ResourceVersion
		}
	}
	return out
}

// bundles returns the caBundle of the release's mutating and validating webhook.
func (r *selfManagedRelease) bundles() (mutating, validating []byte, err error) {
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.c.Client().Get(r.ctx, types.NamespacedName{Name: r.fullname}, m); err != nil {
		return nil, nil, err
	}
	if err := r.c.Client().Get(r.ctx, types.NamespacedName{Name: r.fullname}, v); err != nil {
		return nil, nil, err
	}
	if len(m.Webhooks) != 1 || len(v.Webhooks) != 1 {
		return nil, nil, fmt.Errorf("want one webhook per configuration, got %d and %d", len(m.Webhooks), len(v.Webhooks))
	}
	return m.Webhooks[0].ClientConfig.CABundle, v.Webhooks[0].ClientConfig.CABundle, nil
}

func (r *selfManagedRelease) getSecret() *corev1.Secret {
	r.t.Helper()
	s := &corev1.Secret{}
	if err := r.c.Client().Get(r.ctx, types.NamespacedName{Namespace: r.ns, Name: r.secret}, s); err != nil {
		r.t.Fatal(err)
	}
	return s
}

// checkInstalled: the Secret, the bundle in both configurations by name
// and nowhere else, the leader, and the ServiceAccount's narrow access.
func (r *selfManagedRelease) checkInstalled() {
	t := r.t
	t.Helper()
	s := r.getSecret()
	for _, k := range []string{certs.KeyServingCert, certs.KeyServingKey, certs.KeyCABundle, certs.KeyCAKey} {
		if len(s.Data[k]) == 0 {
			t.Errorf("Secret %s/%s has no %s", r.ns, r.secret, k)
		}
	}
	if s.Type != corev1.SecretTypeTLS || s.Labels["app.kubernetes.io/managed-by"] != "canary-guard" {
		t.Errorf("Secret type %s labels %v, want kubernetes.io/tls managed by canary-guard", s.Type, s.Labels)
	}
	// The leader records the bundle once it is in every webhook.
	waitUntil(t, r.ctx, 30*time.Second, "the CA bundle is in both webhook configurations and recorded as injected", func() (bool, string) {
		s := r.getSecret()
		m, v, err := r.bundles()
		if err != nil {
			return false, err.Error()
		}
		sum := sha256.Sum256(s.Data[certs.KeyCABundle])
		hash := hex.EncodeToString(sum[:])
		return string(m) == string(s.Data[certs.KeyCABundle]) && string(v) == string(s.Data[certs.KeyCABundle]) &&
				s.Annotations[certs.AnnotationInjected] == hash,
			fmt.Sprintf("mutating %d bytes, validating %d bytes, Secret ca.crt %d bytes, recorded %q", len(m), len(v), len(s.Data[certs.KeyCABundle]), s.Annotations[certs.AnnotationInjected])
	})
	if got := r.otherWebhookConfigurations(); !maps.Equal(got, r.others) {
		t.Errorf("other webhook configurations changed:\nbefore %v\nafter  %v", r.others, got)
	}
	lease := &coordinationv1.Lease{}
	if err := r.c.Client().Get(r.ctx, types.NamespacedName{Namespace: r.ns, Name: certs.LeaseName(r.secret)}, lease); err != nil {
		t.Fatalf("the Lease %s: %v", certs.LeaseName(r.secret), err)
	}
	var names []string
	for _, rep := range r.replicas {
		names = append(names, rep.name)
	}
	if lease.Spec.HolderIdentity == nil || !slices.Contains(names, *lease.Spec.HolderIdentity) {
		t.Errorf("Lease holder %v, want one of %v", lease.Spec.HolderIdentity, names)
	} else {
		t.Logf("leader: %s", *lease.Spec.HolderIdentity)
	}
	// Every replica serves the Secret's certificate, which the API server trusts.
	r.waitServing("every replica serves the Secret's certificate", func(leaf *x509.Certificate) bool {
		return leaf.Equal(parsePEMCerts(t, r.getSecret().Data[certs.KeyServingCert])[0])
	})
	// The ServiceAccount may do what the chart grants and nothing more.
	user := fmt.Sprintf("system:serviceaccount:%s:%s", r.ns, r.fullname)
	for _, tc := range []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{authorizationv1.ResourceAttributes{Namespace: r.ns, Verb: "update", Resource: "secrets", Name: r.secret}, true},
		{authorizationv1.ResourceAttributes{Namespace: r.ns, Verb: "get", Resource: "secrets", Name: "another"}, false},
		{authorizationv1.ResourceAttributes{Namespace: r.ns, Verb: "list", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Namespace: "kserve", Verb: "get", Resource: "secrets", Name: r.secret}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: r.fullname}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: cluster.HelmReleaseName}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "inferenceservice.serving.kserve.io"}, false},
		{authorizationv1.ResourceAttributes{Namespace: r.ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "another"}, false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + r.ns, "system:authenticated"}, ResourceAttributes: &tc.attrs,
		}}
		if err := r.c.Client().Create(r.ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tc.want {
			t.Errorf("%s may %s %s/%s %q in %q: %v, want %v", user, tc.attrs.Verb, tc.attrs.Group, tc.attrs.Resource, tc.attrs.Name, tc.attrs.Namespace, sar.Status.Allowed, tc.want)
		}
	}
}

// deployCanaries creates InferenceServices in the models namespace and
// starts a canary on each: the model change is injected with 10 % by the
// release under test (the suite's own canary-guard leaves the namespace alone).
func (r *selfManagedRelease) deployCanaries(names ...string) {
	r.t.Helper()
	for _, name := range names {
		s := &scenario{t: r.t, c: r.c, ctx: r.ctx, ns: r.opts.modelsNS, name: name}
		s.startCanary(modelChange(2))
	}
	var mutated, validated float64
	for _, rep := range r.replicas {
		text := r.metrics(rep)
		mutated += cluster.MetricValue(text, "canary_guard_admission_decisions_total", `webhook="mutate"`, `outcome="mutated"`, `namespace="`+r.opts.modelsNS+`"`)
		validated += cluster.MetricValue(text, "canary_guard_admission_decisions_total", `webhook="validate"`, `namespace="`+r.opts.modelsNS+`"`)
	}
	suite, err := r.c.CanaryGuardMetric(r.ctx, "canary_guard_admission_decisions_total", `namespace="`+r.opts.modelsNS+`"`)
	if err != nil {
		r.t.Fatal(err)
	}
	if mutated < float64(len(names)) || validated < float64(2*len(names)) || suite != 0 {
		r.t.Errorf("decisions in %s: the release under test mutated %v and validated %v (want ≥ %d and ≥ %d), the suite's release %v (want 0)",
			r.opts.modelsNS, mutated, validated, len(names), 2*len(names), suite)
	}
}

func (r *selfManagedRelease) metrics(rep *guardReplica) string {
	r.t.Helper()
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, "http://"+cluster.HostPort(rep.metric)+"/metrics", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		r.t.Fatalf("%s metrics: %v", rep.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return string(body)
}

// waitServing waits until every replica serves a certificate for which
// cond holds and that verifies against both webhook configurations'
// bundles for the Service's name.
func (r *selfManagedRelease) waitServing(what string, cond func(*x509.Certificate) bool) {
	r.t.Helper()
	waitUntil(r.t, r.ctx, 90*time.Second, what, func() (bool, string) {
		m, v, err := r.bundles()
		if err != nil {
			return false, err.Error()
		}
		for _, rep := range r.replicas {
			leaf, chain, err := servedCertificate(r.ctx, cluster.HostPort(rep.webhook))
			if err != nil {
				return false, rep.name + ": " + err.Error()
			}
			if !cond(leaf) {
				return false, fmt.Sprintf("%s serves serial %s from %q", rep.name, leaf.SerialNumber, leaf.Issuer.CommonName)
			}
			for _, b := range [][]byte{m, v} {
				if err := verifyServing(leaf, chain, b, r.serverName); err != nil {
					return false, rep.name + ": " + err.Error()
				}
			}
		}
		return true, ""
	})
}

// checkLogs: the replicas ran with the chart's RBAC only and were never refused.
func (r *selfManagedRelease) checkLogs() {
	r.t.Helper()
	forbidden := regexp.MustCompile(`(?i)forbidden|is not allowed|unauthorized`)
	for _, rep := range r.replicas {
		data, err := os.ReadFile(rep.proc.LogPath())
		if err != nil {
			r.t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			if forbidden.MatchString(line) {
				r.t.Errorf("%s was refused by the API server with the chart's RBAC: %s", rep.name, strings.TrimSpace(line))
			}
		}
	}
}

// nudge touches the Secret: the leader checks it on every change.
func (r *selfManagedRelease) nudge() error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, nudgeAnnotation, time.Now().UTC().Format(time.RFC3339Nano))
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: r.secret}}
	return r.c.Client().Patch(r.ctx, s, client.RawPatch(types.MergePatchType, []byte(patch)))
}

// --- load: InferenceService updates through the webhook ---

// updateLoop raises and lowers the canary percent of InferenceServices
// (10 ↔ 35) through the API server, and so through the webhooks, until stopped.
type updateLoop struct {
	ok       atomic.Int64
	mu       sync.Mutex
	failures []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func (r *selfManagedRelease) startLoop(names ...string) *updateLoop {
	l := &updateLoop{stop: make(chan struct{})}
	cl := r.c.Client()
	for _, name := range names {
		l.wg.Go(func() {
			key := types.NamespacedName{Namespace: r.opts.modelsNS, Name: name}
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				case <-r.ctx.Done():
					return
				default:
				}
				percent := []int{35, 10}[i%2]
				isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
				patch := fmt.Sprintf(`{"spec":{"predictor":{"canaryTrafficPercent":%d}}}`, percent)
				start := time.Now()
				if err := cl.Patch(r.ctx, isvc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
					l.fail("%s %s → %d %%: %v", start.Format("15:04:05.000"), name, percent, err)
					continue
				}
				l.ok.Add(1)
				// A rise waits for status to catch up (canary-not-ready
				// otherwise): the KServe controller and the simulator roll it out.
				deadline := time.Now().Add(30 * time.Second)
				for {
					if err := cl.Get(r.ctx, key, isvc); err == nil && isvc.Status.ObservedGeneration == isvc.Generation {
						break
					}
					if time.Now().After(deadline) || r.ctx.Err() != nil {
						l.fail("%s %s: status did not catch up with generation %d", time.Now().Format("15:04:05.000"), name, isvc.Generation)
						break
					}
					select {
					case <-time.After(100 * time.Millisecond):
					case <-r.ctx.Done():
					}
				}
			}
		})
	}
	return l
}

func (l *updateLoop) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

// finish stops the loop and returns the updates admitted and the failures.
func (l *updateLoop) finish() (int64, []string) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), slices.Clone(l.failures)
}

// burstSize is how many concurrent updates a burst sends. The updates
// change a label only, so they reach the validating webhook alone (the
// chart's may-need-mutation condition skips the mutating one): the burst
// must outnumber the connections the API server keeps to that one.
const burstSize = 24

// burst sends n concurrent dry-run updates of InferenceService name through
// the webhooks: more than the API server has connections open, so it opens
// new ones, each a TLS handshake with the certificate served now. It returns
// the failures and how many connections the API server opened.
func (r *selfManagedRelease) burst(name string, n int) ([]string, int64) {
	before := r.proxy.accepted.Load()
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: r.opts.modelsNS, Name: name}}
			patch := fmt.Sprintf(`{"metadata":{"labels":{"e2e-burst":"b%d"}}}`, i)
			if err := r.c.Client().Patch(r.ctx, isvc, client.RawPatch(types.MergePatchType, []byte(patch)), client.DryRunAll); err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failures, r.proxy.accepted.Load() - before
}

// --- what the replicas serve ---

type certSample struct {
	at      time.Time
	replica string
	leaf    *x509.Certificate
	err     error // dialling, or verifying against a bundle the API server held
}

// certSampler dials every replica as the API server would, every 200ms,
// and verifies what it serves against both webhook configurations'
// bundles read just before and just after.
type certSampler struct {
	mu      sync.Mutex
	samples []certSample
	stop    chan struct{}
	done    chan struct{}
}

func (r *selfManagedRelease) startSampler() *certSampler {
	s := &certSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-r.ctx.Done():
				return
			case <-tick.C:
			}
			m1, v1, err1 := r.bundles()
			var batch []certSample
			for _, rep := range r.replicas {
				leaf, chain, err := servedCertificate(r.ctx, cluster.HostPort(rep.webhook))
				batch = append(batch, certSample{at: time.Now(), replica: rep.name, leaf: leaf, err: err})
				if err == nil {
					batch[len(batch)-1].err = func() error {
						if err1 != nil {
							return err1
						}
						return errors.Join(verifyServing(leaf, chain, m1, r.serverName), verifyServing(leaf, chain, v1, r.serverName))
					}()
				}
			}
			m2, v2, err2 := r.bundles()
			for i := range batch {
				if batch[i].err == nil {
					if err2 != nil {
						batch[i].err = err2
					} else if err := errors.Join(verifyServing(batch[i].leaf, nil, m2, r.serverName), verifyServing(batch[i].leaf, nil, v2, r.serverName)); err != nil {
						batch[i].err = fmt.Errorf("against the bundles read after: %w", err)
					}
				}
			}
			s.mu.Lock()
			s.samples = append(s.samples, batch...)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *certSampler) finish() []certSample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// checkSamples fails on any sample that did not verify and returns, per
// replica, the serials served in order.
func checkSamples(t *testing.T, samples []certSample) map[string][]string {
	t.Helper()
	served := map[string][]string{}
	failed := 0
	for _, s := range samples {
		if s.err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("%s %s: %v", s.at.Format("15:04:05.000"), s.replica, s.err)
			}
			continue
		}
		serial := s.leaf.SerialNumber.String()
		if l := served[s.replica]; len(l) == 0 || l[len(l)-1] != serial {
			served[s.replica] = append(served[s.replica], serial)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d samples of the served certificate did not verify against the API server's bundle", failed, len(samples))
	}
	return served
}

func servedCertificate(ctx context.Context, addr string) (*x509.Certificate, []*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// Verified by verifyServing, against the bundle of the webhook
	// configurations, as the API server does.
	dialer := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // verified by verifyServing
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	peer := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(peer) == 0 {
		return nil, nil, errors.New("no certificate served")
	}
	return peer[0], peer[1:], nil
}

// verifyServing verifies leaf as the API server's webhook client does:
// against bundle, for serverName.
func verifyServing(leaf *x509.Certificate, chain []*x509.Certificate, bundle []byte, serverName string) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return errors.New("the webhook configuration has no CA bundle")
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: serverName, Roots: roots, Intermediates: intermediates,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("serial %s from %q does not verify for %s: %w", leaf.SerialNumber, leaf.Issuer.CommonName, serverName, err)
	}
	return nil
}

func parsePEMCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// --- a loopback TCP proxy standing in for the Service's endpoints ---

type tcpProxy struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
	accepted atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func startTCPProxy(t *testing.T, backends []string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

// port is the proxy's listening port.
func (p *tcpProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *tcpProxy) serve() {
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.wg.Go(func() { p.handle(conn) })
	}
}

// handle connects to the next backend (round robin, skipping any that
// refuses) and copies both ways.
func (p *tcpProxy) handle(in net.Conn) {
	if !p.track(in, true) {
		return
	}
	defer p.track(in, false)
	start := int(p.next.Add(1))
	var out net.Conn
	for i := range p.backends {
		c, err := net.DialTimeout("tcp", p.backends[(start+i)%len(p.backends)], 2*time.Second)
		if err == nil {
			out = c
			break
		}
	}
	if out == nil || !p.track(out, true) {
		return
	}
	defer p.track(out, false)
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	wg.Go(func() { pipe(out, in) })
	wg.Go(func() { pipe(in, out) })
	wg.Wait()
}

// track adds (or removes and closes) a connection; it refuses new ones once closed.
func (p *tcpProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		_ = c.Close()
		return true
	}
	if p.conns == nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// --- the tests ---

// TestCertsSelfManagedRenewal: a self-managed release installs and the
// serving certificate renews at the leader's own check while
// InferenceService updates run through the webhook. The certificate is
// valid 90 s and renewed 65 s before expiry, so it is due 25 s after issue
// and the leader's next check (every minute) renews it.
func TestCertsSelfManagedRenewal(t *testing.T) {
	c := testCluster(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := startSelfManaged(t, ctx, c, selfManagedOptions{release: certsReleases[0], modelsNS: "cg-renew-models",
		certValidity: "90s", caValidity: "1h", renewBefore: "65s", replicas: 2})
	r.checkInstalled()
	if t.Failed() {
		t.FailNow()
	}
	isvcs := []string{"model-a", "model-b"}
	r.deployCanaries(isvcs...)

	before := r.getSecret()
	first := parsePEMCerts(t, before.Data[certs.KeyServingCert])[0]
	ca := parsePEMCerts(t, before.Data[certs.KeyCABundle])
	mBefore, vBefore := r.configVersions()
	sampler := r.startSampler()
	loop := r.startLoop(isvcs...)
	t.Logf("load running %s after the replicas started; the certificate (serial %s) is due at %s",
		time.Since(r.started).Round(100*time.Millisecond), first.SerialNumber, first.NotAfter.Add(-65*time.Second).Format("15:04:05"))

	r.waitServing("every replica serves the renewed certificate", func(leaf *x509.Certificate) bool { return !leaf.Equal(first) })
	renewedAt := time.Now()
	okAtRenewal := loop.ok.Load()
	burstFailures, opened := r.burst(isvcs[0], burstSize)
	waitUntil(t, ctx, 30*time.Second, "more updates after the renewal", func() (bool, string) {
		n := loop.ok.Load() - okAtRenewal
		return n >= 6, fmt.Sprintf("%d updates since", n)
	})
	ok, failures := loop.finish()
	samples := sampler.finish()

	for _, f := range append(failures, burstFailures...) {
		t.Errorf("an update through the webhook failed: %s", f)
	}
	if opened == 0 {
		t.Errorf("the burst opened no new API server connection: the renewed certificate was not handshaken by the API server")
	}
	served := checkSamples(t, samples)
	for _, rep := range r.replicas {
		if len(served[rep.name]) < 2 {
			t.Errorf("%s served %v during the load: want the certificate to change", rep.name, served[rep.name])
		}
	}
	after := r.getSecret()
	renewed := parsePEMCerts(t, after.Data[certs.KeyServingCert])[0]
	if renewed.Equal(first) || !slices.EqualFunc(parsePEMCerts(t, after.Data[certs.KeyCABundle]), ca, (*x509.Certificate).Equal) ||
		renewed.CheckSignatureFrom(ca[0]) != nil {
		t.Errorf("after the renewal: serial %s (was %s), want a new certificate from the same CA, the bundle unchanged", renewed.SerialNumber, first.SerialNumber)
	}
	// Renewing from the same CA leaves the bundle, so the webhook
	// configurations are not written at all.
	if m, v := r.configVersions(); m != mBefore || v != vBefore {
		t.Errorf("the renewal rewrote the webhook configurations (resourceVersions %s/%s → %s/%s)", mBefore, vBefore, m, v)
	}
	if got := r.otherWebhookConfigurations(); !maps.Equal(got, r.others) {
		t.Errorf("other webhook configurations changed:\nbefore %v\nafter  %v", r.others, got)
	}
	r.checkLogs()
	t.Logf("renewed %s after start (due %s): %d updates admitted, none failed; %d served-certificate samples all verified (%v); "+
		"burst of %d after the renewal: %d new API server connections, all admitted; test took %s",
		renewedAt.Sub(r.started).Round(100*time.Millisecond), first.NotAfter.Add(-65*time.Second).Sub(r.started).Round(time.Second),
		ok, len(samples), served, burstSize, opened, time.Since(start).Round(100*time.Millisecond))
}

// TestCertsSelfManagedCARotation: the CA is rotated under load. The test
// removes ca.key from the Secret (a lost signing key, rule 2 of the
// certs package: ROTATE-CA), which the leader answers at once, as it
// would a CA falling due; the overlap is the manager's fixed one minute.
func TestCertsSelfManagedCARotation(t *testing.T) {
	c := testCluster(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := startSelfManaged(t, ctx, c, selfManagedOptions{release: certsReleases[1], modelsNS: "cg-rotate-models",
		certValidity: "150s", caValidity: "1h", renewBefore: "65s", replicas: 2})
	r.checkInstalled()
	if t.Failed() {
		t.FailNow()
	}
	isvcs := []string{"model-a", "model-b"}
	r.deployCanaries(isvcs...)

	before := r.getSecret()
	first := parsePEMCerts(t, before.Data[certs.KeyServingCert])[0]
	oldCA := parsePEMCerts(t, before.Data[certs.KeyCABundle])
	if len(oldCA) != 1 {
		t.Fatalf("bundle of %d CAs before the rotation, want 1", len(oldCA))
	}
	sampler := r.startSampler()
	loop := r.startLoop(isvcs...)
	connsBefore := r.proxy.accepted.Load()

	// The signing key is lost.
	lost := before.DeepCopy()
	delete(lost.Data, certs.KeyCAKey)
	if err := c.Client().Update(ctx, lost); err != nil {
		t.Fatal(err)
	}
	rotatedAt := time.Now()
	var newCA *x509.Certificate
	var injectedAt time.Time
	waitUntil(t, ctx, 30*time.Second, "the bundle [old CA, new CA] is in both configurations and recorded as injected", func() (bool, string) {
		s := r.getSecret()
		bundle := parsePEMCerts(t, s.Data[certs.KeyCABundle])
		m, v, err := r.bundles()
		if err != nil {
			return false, err.Error()
		}
		sum := sha256.Sum256(s.Data[certs.KeyCABundle])
		at, perr := time.Parse(time.RFC3339, s.Annotations[certs.AnnotationInjectedAt])
		if len(bundle) != 2 || !bundle[0].Equal(oldCA[0]) || string(m) != string(s.Data[certs.KeyCABundle]) ||
			string(v) != string(s.Data[certs.KeyCABundle]) || s.Annotations[certs.AnnotationInjected] != hex.EncodeToString(sum[:]) || perr != nil {
			return false, fmt.Sprintf("Secret bundle of %d CAs, recorded %q at %q", len(bundle), s.Annotations[certs.AnnotationInjected], s.Annotations[certs.AnnotationInjectedAt])
		}
		newCA, injectedAt = bundle[1], at
		return true, ""
	})
	// The manager's overlap (its check interval, one minute) before
	// anything is served from the new CA.
	switchAt := injectedAt.Add(certs.DefaultCheckInterval)
	t.Logf("new CA %q injected at %s; the serving certificate may move to it from %s", newCA.Subject.CommonName,
		injectedAt.Format("15:04:05"), switchAt.Format("15:04:05"))
	// Until then the leader waits; its checks come every minute and on
	// every Secret change: touch the Secret once a second from then on
	// rather than wait up to a minute more for the next tick.
	lastNudge := time.Time{}
	waitUntil(t, ctx, 100*time.Second, "every replica serves a certificate from the new CA", func() (bool, string) {
		if time.Now().After(switchAt.Add(time.Second)) && time.Since(lastNudge) > time.Second {
			if err := r.nudge(); err != nil {
				return false, err.Error()
			}
			lastNudge = time.Now()
		}
		for _, rep := range r.replicas {
			leaf, _, err := servedCertificate(ctx, cluster.HostPort(rep.webhook))
			if err != nil {
				return false, err.Error()
			}
			if leaf.CheckSignatureFrom(newCA) != nil {
				return false, fmt.Sprintf("%s serves serial %s from %q", rep.name, leaf.SerialNumber, leaf.Issuer.CommonName)
			}
		}
		return true, ""
	})
	switchedAt := time.Now()
	connsAtSwitch := r.proxy.accepted.Load()
	okAtSwitch := loop.ok.Load()
	burstFailures, opened := r.burst(isvcs[0], burstSize)
	waitUntil(t, ctx, 30*time.Second, "more updates after the switch", func() (bool, string) {
		n := loop.ok.Load() - okAtSwitch
		return n >= 6, fmt.Sprintf("%d updates since", n)
	})
	ok, failures := loop.finish()
	samples := sampler.finish()

	for _, f := range append(failures, burstFailures...) {
		t.Errorf("an update through the webhook failed: %s", f)
	}
	if connsAtSwitch == connsBefore || opened == 0 {
		t.Errorf("the API server opened %d connections after the bundle changed and %d in the burst: want new TLS handshakes, with [old, new] as its bundle", connsAtSwitch-connsBefore, opened)
	}
	served := checkSamples(t, samples)
	for _, s := range samples {
		if s.err == nil && s.leaf.CheckSignatureFrom(newCA) == nil && s.at.Before(switchAt) {
			t.Errorf("%s %s served a certificate from the new CA before the overlap ended (%s)", s.at.Format("15:04:05.000"), s.replica, switchAt.Format("15:04:05"))
		}
		if s.err == nil && s.at.Before(rotatedAt) && !s.leaf.Equal(first) {
			t.Errorf("%s %s served serial %s before the rotation, want %s", s.at.Format("15:04:05.000"), s.replica, s.leaf.SerialNumber, first.SerialNumber)
		}
	}
	// The old CA stays in the bundle while its certificates may still be served.
	m, v, err := r.bundles()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{m, v} {
		if got := parsePEMCerts(t, b); len(got) != 2 || !got[0].Equal(oldCA[0]) || !got[1].Equal(newCA) {
			t.Errorf("bundle after the switch holds %d CAs, want [old, new]", len(got))
		}
	}
	if got := r.otherWebhookConfigurations(); !maps.Equal(got, r.others) {
		t.Errorf("other webhook configurations changed:\nbefore %v\nafter  %v", r.others, got)
	}
	r.checkLogs()
	t.Logf("rotation: new CA injected %s after the key was lost; served from it %s after injection (overlap %s); "+
		"%d updates admitted, none failed; the API server opened %d connections (a new client for the new bundle) before the switch and %d in a burst of %d after it; "+
		"%d samples all verified against the bundles before and after (%v); test took %s",
		injectedAt.Sub(rotatedAt.Truncate(time.Second)), switchedAt.Sub(injectedAt).Round(time.Second), certs.DefaultCheckInterval,
		ok, connsAtSwitch-connsBefore, opened, burstSize, len(samples), served, time.Since(start).Round(100*time.Millisecond))
}

// configVersions are the resourceVersions of the release's two webhook configurations.
func (r *selfManagedRelease) configVersions() (mutating, validating string) {
	r.t.Helper()
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.c.Client().Get(r.ctx, types.NamespacedName{Name: r.fullname}, m); err != nil {
		r.t.Fatal(err)
	}
	if err := r.c.Client().Get(r.ctx, types.NamespacedName{Name: r.fullname}, v); err != nil {
		r.t.Fatal(err)
	}
	return m.ResourceVersion, v.ResourceVersion
}

// kubeletExpand returns the container's args with each $(VAR) replaced by
// the value the kubelet would give the container's environment variable
// VAR: a literal, the pod's namespace or name, or a resource limit. (The
// kubelet's expansion lives in k8s.io/kubernetes, which is not meant to be
// imported; the chart uses only this much of it.)
func kubeletExpand(t *testing.T, ctr corev1.Container, namespace, pod string) []string {
	t.Helper()
	values := map[string]string{}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			values[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			values[e.Name] = namespace
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			values[e.Name] = pod
		case e.ValueFrom.ResourceFieldRef != nil:
			res := corev1.ResourceName(strings.TrimPrefix(e.ValueFrom.ResourceFieldRef.Resource, "limits."))
			limit, ok := ctr.Resources.Limits[res]
			if !ok {
				t.Fatalf("env %s: the container sets no %s", e.Name, e.ValueFrom.ResourceFieldRef.Resource)
			}
			values[e.Name] = fmt.Sprint(limit.Value())
		}
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	out := make([]string, len(ctr.Args))
	for i, a := range ctr.Args {
		out[i] = ref.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := values[ref.FindStringSubmatch(m)[1]]; ok {
				return v
			}
			return m // the kubelet leaves an unknown reference as it is
		})
	}
	return out
}
