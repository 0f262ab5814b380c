package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Helpers for tests that need more than the shared control plane starts
// with: more CRDs (cert-manager's), a user with no privileges of its own
// (a ServiceAccount's identity, for RBAC), and more canary-guard processes
// (a self-managed-certificates release).

// ModuleDir is the module cache directory of module, at the version the
// repository's go.mod selects (go list -m).
func (c *Cluster) ModuleDir(module string) (string, error) {
	return moduleDir(c.opts.RepoRoot, module)
}

// InstallCRDs installs every CustomResourceDefinition in the YAML files
// under dirs (recursively; existing ones are updated) and waits until the
// API server serves them. It returns their kinds.
func (c *Cluster) InstallCRDs(dirs ...string) ([]string, error) {
	crds, err := readCRDs(dirs...)
	if err != nil {
		return nil, err
	}
	if _, err := envtest.InstallCRDs(c.config, envtest.CRDInstallOptions{CRDs: crds, Scheme: runtime.NewScheme()}); err != nil {
		return nil, fmt.Errorf("installing CRDs from %s: %w", strings.Join(dirs, ", "), err)
	}
	kinds := make([]string, 0, len(crds))
	for _, crd := range crds {
		kinds = append(kinds, crd.Spec.Group+"/"+crd.Spec.Names.Kind)
	}
	return kinds, nil
}

// AddUser creates a user that authenticates with a client certificate
// (user name and groups as given, no system:masters) and returns the path
// of its kubeconfig. What the user may do is up to RBAC: a user named
// system:serviceaccount:NS:NAME gets what bindings grant ServiceAccount
// NAME in NS.
func (c *Cluster) AddUser(name string, groups ...string) (string, error) {
	user, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.workDir, "user-"+strings.NewReplacer(":", "_", "/", "_").Replace(name)+".kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// GuardProcessOptions describe an extra bin/canary-guard process.
type GuardProcessOptions struct {
	// Name names the log, LogPath(Name).
	Name string
	// Args are the process's arguments ("serve", flags...).
	Args []string
	// Env is added to the test's environment (KUBECONFIG, POD_NAMESPACE, ...).
	Env []string
	// ReadyURL, when set, is polled until it answers 200 (at most ReadyTimeout, 1 minute by default).
	ReadyURL     string
	ReadyTimeout time.Duration
}

// GuardProcess is an extra canary-guard process. Stop it when done.
type GuardProcess struct {
	p *process
}

// StartGuardProcess starts bin/canary-guard with opts and waits for opts.ReadyURL.
func (c *Cluster) StartGuardProcess(ctx context.Context, opts GuardProcessOptions) (*GuardProcess, error) {
	g := &GuardProcess{p: &process{
		name:    opts.Name,
		path:    filepath.Join(c.bin, "canary-guard"),
		args:    opts.Args,
		env:     opts.Env,
		logPath: c.LogPath(opts.Name),
	}}
	if err := g.p.start(); err != nil {
		return nil, err
	}
	if opts.ReadyURL == "" {
		return g, nil
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = time.Minute
	}
	if err := g.p.waitHTTP(ctx, opts.ReadyURL, opts.ReadyTimeout); err != nil {
		return nil, errors.Join(err, g.Stop())
	}
	return g, nil
}

// Stop sends SIGTERM and waits for the exit, at most grace before SIGKILL.
func (g *GuardProcess) Stop() error {
	return g.p.stop(syscall.SIGTERM, 10*time.Second)
}

// Exited reports whether the process has exited.
func (g *GuardProcess) Exited() bool { return g.p.exited() }

// LogPath is the process's log.
func (g *GuardProcess) LogPath() string { return g.p.logPath }

// Tail returns the last n lines of the process's log.
func (g *GuardProcess) Tail(n int) string { return g.p.tail(n) }

// FreePorts returns n distinct TCP ports free on 127.0.0.1 right now.
func FreePorts(n int) ([]int, error) { return freePorts(n) }

// HostPort is "127.0.0.1:port".
func HostPort(port int) string { return hostPort(port) }

// MetricValue sums the samples of metric name in Prometheus text format
// whose label set contains every `key="value"` in labels.
func MetricValue(text, name string, labels ...string) float64 {
	return metricValue(text, name, labels...)
}
