// Package cluster runs a real local KServe control plane for canary-guard's
// end-to-end tests and for `make demo`:
//
//   - etcd and kube-apiserver (envtest, binaries from RepoRoot/bin), with
//     KServe's and Knative Serving's CRDs installed from the pinned module
//     sources (not copies), KServe's inferenceservice-config, Knative's
//     config-autoscaler and config-defaults, KServe's ClusterServingRuntimes
//     and default ClusterStorageContainer;
//   - KServe's controller manager (bin/kserve-manager, KServe v0.20.0
//     cmd/manager) as a process, with KServe's own defaulting and validating
//     webhooks registered from config/webhook/manifests.yaml;
//   - canary-guard (bin/canary-guard serve) as a process, with its webhooks
//     registered exactly as the project's Helm chart renders them (rules,
//     selectors, matchConditions, failurePolicy), only pointed at
//     https://127.0.0.1:<port> instead of an in-cluster Service;
//   - a Simulator standing in for Knative Serving's controllers and the
//     Deployment controller.
//
// Knative Serving's controller (and its webhooks), kube-controller-manager,
// the scheduler and kubelets are NOT run: no Revision, Route, Pod or
// ReplicaSet exists and no model is ever served. The Simulator only writes
// the status a Knative controller would write on Knative Services (revision
// names, readiness, resolved traffic, URLs) and marks Deployments
// available, so that the KServe controller sees revisions roll out and
// propagates the status into the InferenceService. Everything else — the
// API server, admission chain, KServe's controller and webhooks,
// canary-guard — is the real thing.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	kservev1alpha1 "github.com/kserve/kserve/pkg/apis/serving/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	knservingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/canary-guard/canary-guard/internal/testpki"
)

// Names the cluster uses.
const (
	// KServeNamespace holds inferenceservice-config (POD_NAMESPACE of the manager).
	KServeNamespace = "kserve"
	// KnativeServingNamespace holds Knative's config maps.
	KnativeServingNamespace = "knative-serving"
	// KServeManagerUser is the user the KServe controller manager
	// authenticates as (a client certificate), as its service account
	// would in a cluster. It is also in system:masters: KServe's RBAC is
	// not installed.
	KServeManagerUser = "system:serviceaccount:kserve:kserve-controller-manager"
	// HelmReleaseName and HelmNamespace are the release the chart is rendered as.
	HelmReleaseName = "canary-guard"
	HelmNamespace   = "canary-guard"
	// ProbeNamespace is where start-up dry-run probes are sent.
	ProbeNamespace = "default"

	kserveModule  = "github.com/kserve/kserve"
	knativeModule = "knative.dev/serving"
)

// Options configure Start.
type Options struct {
	// RepoRoot is the repository root: binaries in RepoRoot/bin, the chart
	// in RepoRoot/charts/canary-guard.
	RepoRoot string
	// CanaryGuardConfig is the YAML for canary-guard --config ("" = the
	// defaults). It is written to a file that SetCanaryGuardConfig rewrites.
	CanaryGuardConfig string
	// PolicyDir is the optional --policy-dir of canary-guard.
	PolicyDir string
	// Log receives progress lines ("==> starting kube-apiserver and etcd").
	Log io.Writer

	// KServeDir and KnativeServingDir are the module sources of
	// github.com/kserve/kserve and knative.dev/serving; by default the
	// versions the root go.mod selects (go list -m).
	KServeDir         string
	KnativeServingDir string
	// HelmValues are extra --set values for `helm template`.
	HelmValues []string
	// KeepWorkDir keeps the temporary directory (logs, kubeconfig, certs)
	// after Stop.
	KeepWorkDir bool
	// SimulatorInterval is the Simulator's poll interval (200ms by default).
	SimulatorInterval time.Duration
}

// Cluster is a running local control plane. Stop it when done.
type Cluster struct {
	opts    Options
	bin     string
	workDir string
	logDir  string
	started time.Time
	startup time.Duration

	env        *envtest.Environment
	config     *rest.Config
	client     client.Client
	kubeconfig string
	logFiles   []*os.File

	kserve      *process
	kservePorts struct{ webhook, metrics, health int }
	kserveCA    []byte

	mu              sync.Mutex // guards guard
	guard           *process
	guardPorts      struct{ webhook, metrics, health int }
	guardCA         []byte
	guardArgs       []string
	guardConfigPath string

	sim       *Simulator
	simCancel context.CancelFunc
	simDone   chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// Start brings the control plane up; on error everything started so far
// is stopped again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.RepoRoot == "" {
		return nil, errors.New("cluster: Options.RepoRoot is required")
	}
	root, err := filepath.Abs(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	opts.RepoRoot = root
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.SimulatorInterval == 0 {
		opts.SimulatorInterval = 200 * time.Millisecond
	}
	c := &Cluster{opts: opts, bin: filepath.Join(root, "bin"), started: time.Now()}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl", "kserve-manager", "canary-guard"} {
		if _, err := os.Stat(filepath.Join(c.bin, name)); err != nil {
			return nil, fmt.Errorf("cluster: %s missing in %s (run make envtest-assets build): %w", name, c.bin, err)
		}
	}
	if _, err := c.helmPath(); err != nil {
		return nil, err
	}
	if c.opts.KServeDir == "" {
		if c.opts.KServeDir, err = moduleDir(root, kserveModule); err != nil {
			return nil, err
		}
	}
	if c.opts.KnativeServingDir == "" {
		if c.opts.KnativeServingDir, err = moduleDir(root, knativeModule); err != nil {
			return nil, err
		}
	}
	if c.workDir, err = os.MkdirTemp("", "canary-guard-e2e-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
	}()
	c.logDir = filepath.Join(c.workDir, "logs")
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		return nil, err
	}

	steps := []struct {
		msg string
		fn  func(context.Context) error
	}{
		{"starting kube-apiserver and etcd, installing KServe and Knative Serving CRDs", c.startAPIServer},
		{"creating KServe and Knative configuration (inferenceservice-config, runtimes, storage container)", c.createConfiguration},
		{"starting kserve-manager", c.startKServe},
		{"registering KServe's webhooks (config/webhook/manifests.yaml)", c.registerKServeWebhooks},
		{"starting canary-guard", c.startCanaryGuardFirst},
		{"registering canary-guard's webhooks from the Helm chart", c.registerCanaryGuardWebhooks},
		{"starting the Knative status simulator", c.startSimulator},
	}
	for _, s := range steps {
		c.logf("==> %s", s.msg)
		stepStart := time.Now()
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("cluster: %s: %w", s.msg, err)
		}
		c.logf("    (%s)", time.Since(stepStart).Round(100*time.Millisecond))
	}
	c.startup = time.Since(c.started)
	c.logf("==> control plane ready in %s (logs in %s)", c.startup.Round(100*time.Millisecond), c.logDir)
	return c, nil
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.opts.Log, format+"\n", args...)
}

// Client is a controller-runtime client (no cache) whose scheme knows
// Kubernetes core, apps and admissionregistration, apiextensions, KServe
// v1beta1 and v1alpha1 and Knative Serving v1.
func (c *Cluster) Client() client.Client { return c.client }

// RESTConfig is the admin (system:masters) REST configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// KubeconfigPath is the admin kubeconfig file, usable by bin/kubectl.
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// LogDir holds kube-apiserver.log, etcd.log, kserve-manager.log and
// canary-guard.log.
func (c *Cluster) LogDir() string { return c.logDir }

// LogPath is the path of one of the logs in LogDir ("canary-guard", ...).
func (c *Cluster) LogPath(name string) string { return filepath.Join(c.logDir, name+".log") }

// LogTail returns the last n lines of a log in LogDir ("canary-guard", ...).
func (c *Cluster) LogTail(name string, n int) string { return tailFile(c.LogPath(name), n) }

// auditPolicyYAML records every write to KServe's and Knative's resources,
// with the request body for InferenceServices.
const auditPolicyYAML = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  verbs: [get, list, watch]
- level: Request
  resources:
  - group: serving.kserve.io
    resources: [inferenceservices, inferenceservices/status]
- level: Metadata
  resources:
  - group: serving.kserve.io
  - group: serving.knative.dev
  - group: apps
    resources: [deployments, deployments/status]
- level: None
`

// AuditLogPath is the API server's audit log (JSON lines): every write to
// serving.kserve.io, serving.knative.dev and Deployments, with user,
// subresource, response code and the webhook annotations; InferenceService
// writes with their request body.
func (c *Cluster) AuditLogPath() string { return filepath.Join(c.logDir, "audit.log") }

// KServeDir is the source directory of the pinned github.com/kserve/kserve
// module (for its samples under docs/samples).
func (c *Cluster) KServeDir() string { return c.opts.KServeDir }

// StartupDuration is how long Start took.
func (c *Cluster) StartupDuration() time.Duration { return c.startup }

// Simulator is the running Knative / Deployment status simulator.
func (c *Cluster) Simulator() *Simulator { return c.sim }

// CanaryGuardMetricsURL is canary-guard's Prometheus endpoint.
func (c *Cluster) CanaryGuardMetricsURL() string {
	return "http://" + hostPort(c.guardPorts.metrics) + "/metrics"
}

// CanaryGuardConfigPath is the --config file canary-guard reloads.
func (c *Cluster) CanaryGuardConfigPath() string { return c.guardConfigPath }

// Kubectl runs bin/kubectl with the admin kubeconfig.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	full := append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(c.workDir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), full...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), err
}

// Stop stops everything Start started: the simulator, canary-guard,
// kserve-manager, kube-apiserver and etcd; it removes the work directory
// unless Options.KeepWorkDir. It is idempotent.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.simCancel != nil {
			c.simCancel()
			<-c.simDone
		}
		c.mu.Lock()
		guard := c.guard
		c.mu.Unlock()
		errs = append(errs, guard.stop(syscall.SIGTERM, 5*time.Second))
		errs = append(errs, c.kserve.stop(syscall.SIGTERM, 10*time.Second))
		if c.env != nil {
			if err := c.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping kube-apiserver and etcd: %w", err))
			}
		}
		for _, f := range c.logFiles {
			_ = f.Close()
		}
		if c.workDir != "" && !c.opts.KeepWorkDir {
			errs = append(errs, os.RemoveAll(c.workDir))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// Scheme returns the scheme of Client.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, // core, apps, admissionregistration, ...
		apiextensionsv1.AddToScheme,
		kservev1beta1.AddToScheme,
		kservev1alpha1.AddToScheme,
		knservingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (c *Cluster) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(c.LogPath(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	c.logFiles = append(c.logFiles, f)
	return f, nil
}

func (c *Cluster) startAPIServer(_ context.Context) error {
	crds, err := readCRDs(
		filepath.Join(c.opts.KServeDir, "config", "crd", "full"),
		filepath.Join(c.opts.KnativeServingDir, "config", "core", "300-resources"),
	)
	if err != nil {
		return err
	}
	apiLog, err := c.openLog("kube-apiserver")
	if err != nil {
		return err
	}
	etcdLog, err := c.openLog("etcd")
	if err != nil {
		return err
	}
	c.env = &envtest.Environment{BinaryAssetsDirectory: c.bin}
	c.env.ControlPlane.Etcd = &envtest.Etcd{Out: etcdLog, Err: etcdLog}
	apiServer := c.env.ControlPlane.GetAPIServer()
	apiServer.Out, apiServer.Err = apiLog, apiLog
	auditPolicy := filepath.Join(c.workDir, "audit-policy.yaml")
	if err := os.WriteFile(auditPolicy, []byte(auditPolicyYAML), 0o600); err != nil {
		return err
	}
	apiServer.Configure().
		Set("audit-policy-file", auditPolicy).
		Set("audit-log-path", c.AuditLogPath()).
		Set("audit-log-format", "json")
	if c.config, err = c.env.Start(); err != nil {
		return fmt.Errorf("%w\n%s", err, c.LogTail("kube-apiserver", 30))
	}
	c.logf("    kube-apiserver and etcd up after %s", time.Since(c.started).Round(100*time.Millisecond))
	// Created from code (the InferenceService CRD is about 2 MB, too big
	// for client-side apply); an empty scheme keeps envtest from pointing
	// any CRD at a conversion webhook.
	if _, err := envtest.InstallCRDs(c.config, envtest.CRDInstallOptions{CRDs: crds, Scheme: runtime.NewScheme()}); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	c.logf("    CRDs established after %s", time.Since(c.started).Round(100*time.Millisecond))
	names := make([]string, 0, len(crds))
	for _, crd := range crds {
		names = append(names, crd.Spec.Names.Kind)
	}
	c.logf("    %d CRDs: %s", len(crds), strings.Join(names, ", "))

	c.kubeconfig = filepath.Join(c.workDir, "kubeconfig")
	if err := os.WriteFile(c.kubeconfig, c.env.KubeConfig, 0o600); err != nil {
		return err
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	c.client, err = client.New(c.config, client.Options{Scheme: scheme})
	return err
}

func (c *Cluster) createConfiguration(ctx context.Context) error {
	kserveDir, knDir := c.opts.KServeDir, c.opts.KnativeServingDir
	for _, ns := range []string{KServeNamespace, KnativeServingNamespace, HelmNamespace} {
		if err := c.create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}

	isvcConfig := &corev1.ConfigMap{}
	if err := readOne(filepath.Join(kserveDir, "config", "configmap", "inferenceservice.yaml"), "ConfigMap", isvcConfig); err != nil {
		return err
	}
	isvcConfig.Namespace = KServeNamespace
	if err := c.create(ctx, isvcConfig); err != nil {
		return err
	}
	for _, name := range []string{"autoscaler.yaml", "defaults.yaml"} {
		cm := &corev1.ConfigMap{}
		if err := readOne(filepath.Join(knDir, "config", "core", "configmaps", name), "ConfigMap", cm); err != nil {
			return err
		}
		cm.Namespace = KnativeServingNamespace
		if err := c.create(ctx, cm); err != nil {
			return err
		}
	}

	// Every ClusterServingRuntime a default KServe install has, with the
	// images kustomize would set.
	runtimesDir := filepath.Join(kserveDir, "config", "runtimes")
	runtimes, err := c.createWithImages(ctx, runtimesDir, "ClusterServingRuntime")
	if err != nil {
		return err
	}
	storage, err := c.createWithImages(ctx, filepath.Join(kserveDir, "config", "storagecontainers"), "ClusterStorageContainer")
	if err != nil {
		return err
	}
	c.logf("    ClusterServingRuntimes: %s; ClusterStorageContainer: %s", strings.Join(runtimes, ", "), strings.Join(storage, ", "))
	return nil
}

// createWithImages creates the objects of kind listed in the resources of
// dir/kustomization.yaml, replacing image placeholders as kustomize would.
func (c *Cluster) createWithImages(ctx context.Context, dir, kind string) ([]string, error) {
	kustomization := filepath.Join(dir, "kustomization.yaml")
	images, err := kustomizeImages(kustomization)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(kustomization)
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", kustomization, err)
	}
	var names []string
	for _, res := range k.Resources {
		docs, err := readDocs(filepath.Join(dir, res))
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if d.meta.Kind != kind {
				continue
			}
			obj := map[string]any{}
			if err := yaml.Unmarshal(d.data, &obj); err != nil {
				return nil, fmt.Errorf("%s: %w", d.file, err)
			}
			replaceImages(obj, images)
			u := &unstructured.Unstructured{Object: obj}
			if err := c.create(ctx, u); err != nil {
				return nil, fmt.Errorf("%s: %w", d.file, err)
			}
			names = append(names, u.GetName())
		}
	}
	return names, nil
}

// replaceImages resolves every "image" string in obj.
func replaceImages(obj any, images map[string]string) {
	switch v := obj.(type) {
	case map[string]any:
		for k, val := range v {
			if s, ok := val.(string); ok && k == "image" {
				v[k] = resolveImage(images, s)
				continue
			}
			replaceImages(val, images)
		}
	case []any:
		for _, val := range v {
			replaceImages(val, images)
		}
	}
}

// create creates obj; it is an error if it exists.
func (c *Cluster) create(ctx context.Context, obj client.Object) error {
	if err := c.client.Create(ctx, obj); err != nil {
		return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

func (c *Cluster) startKServe(ctx context.Context) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	c.kservePorts.webhook, c.kservePorts.metrics, c.kservePorts.health = ports[0], ports[1], ports[2]

	// The manager's webhook server reads its certificate from
	// $TMPDIR/k8s-webhook-server/serving-certs (controller-runtime's
	// default; cmd/manager has no flag for it): a private TMPDIR keeps
	// parallel clusters apart.
	tmp := filepath.Join(c.workDir, "kserve-manager-tmp")
	caPEM, err := testpki.WriteServingCert(filepath.Join(tmp, "k8s-webhook-server", "serving-certs"), "kserve-webhook-server")
	if err != nil {
		return err
	}
	c.kserveCA = caPEM

	user, err := c.env.AddUser(envtest.User{
		Name:   KServeManagerUser,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kserve", "system:masters"},
	}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(c.workDir, "kserve-manager.kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}
	c.kserve = &process{
		name: "kserve-manager",
		path: filepath.Join(c.bin, "kserve-manager"),
		args: []string{
			fmt.Sprintf("--webhook-port=%d", c.kservePorts.webhook),
			"--metrics-addr=" + hostPort(c.kservePorts.metrics),
			"--health-probe-addr=" + hostPort(c.kservePorts.health),
			"--leader-elect=false",
		},
		env:     []string{"KUBECONFIG=" + kubeconfigPath, "POD_NAMESPACE=" + KServeNamespace, "TMPDIR=" + tmp},
		logPath: c.LogPath("kserve-manager"),
	}
	if err := c.kserve.start(); err != nil {
		return err
	}
	return c.kserve.waitHTTP(ctx, "http://"+hostPort(c.kservePorts.health)+"/readyz", 2*time.Minute)
}

func (c *Cluster) registerKServeWebhooks(ctx context.Context) error {
	file := filepath.Join(c.opts.KServeDir, "config", "webhook", "manifests.yaml")
	docs, err := readDocs(file)
	if err != nil {
		return err
	}
	var registered []string
	for _, d := range docs {
		obj, names, err := pointWebhooks(d, c.kservePorts.webhook, c.kserveCA)
		if err != nil {
			return err
		}
		if obj == nil {
			continue
		}
		if err := c.create(ctx, obj); err != nil {
			return err
		}
		registered = append(registered, names...)
	}
	c.logf("    %s", strings.Join(registered, ", "))

	// Wait until the API server calls KServe's defaulter: a dry-run
	// create comes back with the sklearn block turned into model{}.
	return c.waitFor(ctx, time.Minute, "KServe's defaulting webhook to answer", func() (bool, string, error) {
		isvc := probeISVC()
		if err := c.client.Create(ctx, isvc, client.DryRunAll); err != nil {
			return false, err.Error(), nil
		}
		if isvc.Spec.Predictor.Model == nil {
			return false, "the dry-run create was not defaulted", nil
		}
		return true, "", nil
	}, c.kserve)
}

// pointWebhooks decodes a webhook configuration document and points each
// webhook at https://127.0.0.1:port<service.path> with caBundle. It
// returns a nil object for other kinds.
func pointWebhooks(d doc, port int, caBundle []byte) (client.Object, []string, error) {
	url := func(cc *admissionregistrationv1.WebhookClientConfig, name string) error {
		if cc.Service == nil {
			return fmt.Errorf("%s: webhook %s has no clientConfig.service", d.file, name)
		}
		path := ""
		if cc.Service.Path != nil {
			path = *cc.Service.Path
		}
		u := "https://" + hostPort(port) + path
		cc.Service = nil
		cc.URL = &u
		cc.CABundle = caBundle
		return nil
	}
	var names []string
	switch d.meta.Kind {
	case "MutatingWebhookConfiguration":
		obj := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := yaml.Unmarshal(d.data, obj); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.file, err)
		}
		for i := range obj.Webhooks {
			if err := url(&obj.Webhooks[i].ClientConfig, obj.Webhooks[i].Name); err != nil {
				return nil, nil, err
			}
			names = append(names, "mutating "+obj.Webhooks[i].Name)
		}
		return obj, names, nil
	case "ValidatingWebhookConfiguration":
		obj := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := yaml.Unmarshal(d.data, obj); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.file, err)
		}
		for i := range obj.Webhooks {
			if err := url(&obj.Webhooks[i].ClientConfig, obj.Webhooks[i].Name); err != nil {
				return nil, nil, err
			}
			names = append(names, "validating "+obj.Webhooks[i].Name)
		}
		return obj, names, nil
	}
	return nil, nil, nil
}

// probeISVC is the InferenceService start-up probes dry-run create.
func probeISVC() *kservev1beta1.InferenceService {
	return &kservev1beta1.InferenceService{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-probe", Namespace: ProbeNamespace},
		Spec: kservev1beta1.InferenceServiceSpec{Predictor: kservev1beta1.PredictorSpec{
			SKLearn: &kservev1beta1.SKLearnSpec{PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{
				StorageURI: ptr("gs://kfserving-examples/models/sklearn/1.0/model"),
			}},
		}},
	}
}

// waitFor polls cond every 200ms until it is true, returns an error, the
// watched process exits or timeout passes.
func (c *Cluster) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, string, error), watch *process) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		ok, detail, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if detail != "" {
			last = detail
		}
		if watch != nil && watch.exited() {
			return fmt.Errorf("%s exited (%w) while waiting for %s\n%s", watch.name, watch.err, what, watch.tail(40))
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
			if watch != nil {
				msg += "\n" + watch.tail(40)
			}
			return errors.New(msg)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) startSimulator(_ context.Context) error {
	simLog, err := c.openLog("simulator")
	if err != nil {
		return err
	}
	c.sim = NewSimulator(c.client, c.opts.SimulatorInterval, simLog)
	ctx, cancel := context.WithCancel(context.Background())
	c.simCancel = cancel
	c.simDone = make(chan struct{})
	go func() {
		defer close(c.simDone)
		c.sim.Run(ctx)
	}()
	return nil
}
