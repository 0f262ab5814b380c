package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/canary-guard/canary-guard/internal/testpki"
)

// HelmBinary is the helm binary in bin/ the chart is rendered with: the
// Makefile's $(HELM), whose name carries the Kubernetes version it assumes
// without a cluster.
const HelmBinary = "helm-v3.19.5-k8s1.34"

func (c *Cluster) helmPath() (string, error) {
	path := filepath.Join(c.bin, HelmBinary)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("cluster: %s missing (run make tools): %w", path, err)
	}
	return path, nil
}

func (c *Cluster) startCanaryGuardFirst(ctx context.Context) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	c.guardPorts.webhook, c.guardPorts.metrics, c.guardPorts.health = ports[0], ports[1], ports[2]
	dir := filepath.Join(c.workDir, "canary-guard")
	certDir := filepath.Join(dir, "certs")
	if c.guardCA, err = testpki.WriteServingCert(certDir, "canary-guard"); err != nil {
		return err
	}
	c.guardConfigPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(c.guardConfigPath, []byte(c.opts.CanaryGuardConfig), 0o600); err != nil {
		return err
	}
	c.guardArgs = []string{
		"serve",
		fmt.Sprintf("--port=%d", c.guardPorts.webhook),
		"--cert-dir=" + certDir,
		"--config=" + c.guardConfigPath,
		"--health-addr=" + hostPort(c.guardPorts.health),
		"--metrics-addr=" + hostPort(c.guardPorts.metrics),
		"--shutdown-delay=0s",
		"--reload-interval=500ms",
	}
	if c.opts.PolicyDir != "" {
		policyDir, err := filepath.Abs(c.opts.PolicyDir)
		if err != nil {
			return err
		}
		c.guardArgs = append(c.guardArgs, "--policy-dir="+policyDir)
	}
	return c.StartCanaryGuard(ctx)
}

// StartCanaryGuard starts the canary-guard process (after
// StopCanaryGuard) with the same ports, certificate and files, and waits
// for /readyz.
func (c *Cluster) StartCanaryGuard(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.guard != nil && !c.guard.exited() {
		return errors.New("canary-guard is already running")
	}
	c.guard = &process{
		name:    "canary-guard",
		path:    filepath.Join(c.bin, "canary-guard"),
		args:    c.guardArgs,
		logPath: c.LogPath("canary-guard"),
	}
	if err := c.guard.start(); err != nil {
		return err
	}
	return c.guard.waitHTTP(ctx, "http://"+hostPort(c.guardPorts.health)+"/readyz", time.Minute)
}

// StopCanaryGuard kills the canary-guard process (SIGKILL: no graceful
// shutdown) and waits until it is gone. Its webhook registrations stay.
func (c *Cluster) StopCanaryGuard() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.guard.stop(syscall.SIGKILL, 0)
}

// SetCanaryGuardConfig rewrites the --config file and waits until
// canary-guard has reloaded it; a configuration it rejects is an error
// (canary-guard keeps serving the previous one).
func (c *Cluster) SetCanaryGuardConfig(ctx context.Context, config string) error {
	before, err := c.metrics(ctx)
	if err != nil {
		return err
	}
	tmp := c.guardConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(config), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.guardConfigPath); err != nil {
		return err
	}
	okBefore := metricValue(before, "canary_guard_reloads_total", `result="success"`)
	failBefore := metricValue(before, "canary_guard_reloads_total", `result="failure"`)
	return c.waitFor(ctx, 30*time.Second, "canary-guard to reload its configuration", func() (bool, string, error) {
		text, err := c.metrics(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		if metricValue(text, "canary_guard_reloads_total", `result="failure"`) > failBefore {
			return false, "", fmt.Errorf("canary-guard rejected the configuration\n%s", c.LogTail("canary-guard", 10))
		}
		return metricValue(text, "canary_guard_reloads_total", `result="success"`) > okBefore, "", nil
	}, c.guard)
}

func (c *Cluster) registerCanaryGuardWebhooks(ctx context.Context) error {
	helm, err := c.helmPath()
	if err != nil {
		return err
	}
	helmHome := filepath.Join(c.workDir, "helm")
	args := []string{"template", HelmReleaseName, filepath.Join(c.opts.RepoRoot, "charts", "canary-guard"), "--namespace", HelmNamespace}
	for _, v := range c.opts.HelmValues {
		args = append(args, "--set", v)
	}
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	docs, err := splitDocs("helm template "+HelmReleaseName, out)
	if err != nil {
		return err
	}
	var registered []string
	for _, d := range docs {
		obj, names, err := pointWebhooks(d, c.guardPorts.webhook, c.guardCA)
		if err != nil {
			return err
		}
		if obj == nil {
			// The chart's backstop ValidatingAdmissionPolicy and its
			// binding are created as rendered.
			if obj, names, err = admissionPolicy(d); err != nil {
				return err
			}
		}
		if obj == nil {
			continue
		}
		if err := c.create(ctx, obj); err != nil {
			return err
		}
		registered = append(registered, names...)
	}
	if len(registered) == 0 {
		return errors.New("the chart rendered no webhook configuration")
	}
	c.logf("    %s", strings.Join(registered, ", "))

	// Wait until the API server calls both webhooks: a dry-run create
	// raises canary-guard's request counters.
	var mutate0, validate0 float64 = -1, -1
	return c.waitFor(ctx, time.Minute, "the API server to call canary-guard's webhooks", func() (bool, string, error) {
		text, err := c.metrics(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		m := metricValue(text, "canary_guard_admission_duration_seconds_count", `webhook="mutate"`)
		v := metricValue(text, "canary_guard_admission_duration_seconds_count", `webhook="validate"`)
		if mutate0 < 0 {
			mutate0, validate0 = m, v
		} else if m > mutate0 && v > validate0 {
			return true, "", nil
		}
		if err := c.client.Create(ctx, probeISVC(), client.DryRunAll); err != nil {
			return false, err.Error(), nil
		}
		return false, fmt.Sprintf("mutate calls %v→%v, validate calls %v→%v", mutate0, m, validate0, v), nil
	}, c.guard)
}

// admissionPolicy decodes a ValidatingAdmissionPolicy or
// ValidatingAdmissionPolicyBinding document; it returns a nil object for
// other kinds.
func admissionPolicy(d doc) (client.Object, []string, error) {
	var obj client.Object
	switch d.meta.Kind {
	case "ValidatingAdmissionPolicy":
		obj = &admissionregistrationv1.ValidatingAdmissionPolicy{}
	case "ValidatingAdmissionPolicyBinding":
		obj = &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	default:
		return nil, nil, nil
	}
	if err := yaml.Unmarshal(d.data, obj); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", d.file, err)
	}
	return obj, []string{d.meta.Kind + " " + obj.GetName()}, nil
}

// metrics fetches canary-guard's /metrics text.
func (c *Cluster) metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.CanaryGuardMetricsURL(), nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP %d", c.CanaryGuardMetricsURL(), resp.StatusCode)
	}
	return string(body), nil
}

// CanaryGuardMetric sums the samples of a canary-guard metric whose labels
// include every given `key="value"` pair.
func (c *Cluster) CanaryGuardMetric(ctx context.Context, name string, labels ...string) (float64, error) {
	text, err := c.metrics(ctx)
	if err != nil {
		return 0, err
	}
	return metricValue(text, name, labels...), nil
}

// metricValue sums the samples of metric name in Prometheus text format
// whose label set contains every `key="value"` in labels.
func metricValue(text, name string, labels ...string) float64 {
	var sum float64
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labelSet := ""
		if rest[0] == '{' {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			labelSet, rest = rest[1:end], rest[end+1:]
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(","+labelSet+",", ","+l+",") {
				match = false
			}
		}
		if !match {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}
