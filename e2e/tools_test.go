package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// guardCLI runs bin/canary-guard against the control plane.
func guardCLI(t *testing.T, ctx context.Context, args ...string) (string, int) {
	t.Helper()
	c := testCluster(t)
	bin := filepath.Join(repoRoot(t), "bin", "canary-guard")
	cmd := exec.CommandContext(ctx, bin, append(args, "--kubeconfig", c.KubeconfigPath())...)
	out, err := cmd.CombinedOutput()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("running canary-guard %v: %v", args, err)
	}
	return string(out), code
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestStatus_ShowsTheNextStepAndWhatBlocksIt(t *testing.T) {
	c := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newScenario(t, ctx, c, "tools-status", "model")
	s.startCanary(modelChange(2))

	out, code := guardCLI(t, ctx, "status", "-n", s.ns)
	if code != 0 || !strings.Contains(out, "NEXT") || !strings.Contains(out, "35 now") || !strings.Contains(out, s.rev("predictor", 2)) {
		t.Fatalf("status (exit %d):\n%s\nwant the canary revision and the next step 35 now", code, out)
	}

	// A policy that loads but reads a path the input never has: warned of,
	// as eval does, and the status still shown.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "team.rego"), []byte("package canary_guard\n\nwarn contains \"x\" if input.review.object\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = guardCLI(t, ctx, "status", "-n", s.ns, "--policy-dir", dir)
	if code != 0 || !strings.Contains(out, "WARN  "+filepath.Join(dir, "team.rego")+":3: input.review is not in canary-guard's input") || !strings.Contains(out, "35 now") {
		t.Errorf("status --policy-dir (exit %d):\n%s\nwant the warning of input.review and the next step", code, out)
	}

	// With the canary revision held unready, the next step is blocked and says why.
	c.Simulator().HoldRevisions(s.ns, s.ksvc("predictor"), true)
	defer c.Simulator().HoldRevisions(s.ns, s.ksvc("predictor"), false)
	s.patch(modelChange(3))
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code = guardCLI(t, ctx, "status", s.name, "-n", s.ns)
		if strings.Contains(out, "blocked") && strings.Contains(out, "canary-not-ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status (exit %d) never showed the blocked step:\n%s", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestDoctor_PassesOnAHealthyInstallAndNamesWhatIsWrong(t *testing.T) {
	c := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	metrics := "--metrics-url=" + c.CanaryGuardMetricsURL()

	out, code := guardCLI(t, ctx, "doctor", "-n", "canary-guard", metrics)
	if code != 0 {
		t.Fatalf("doctor on a healthy control plane exited %d:\n%s", code, out)
	}
	for _, want := range []string{
		"MutatingWebhookConfiguration canary-guard webhook mutate.canary-guard.dev",
		"the caBundle verifies the certificate served at",
		"serves policy revision",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}

	if err := c.StopCanaryGuard(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.StartCanaryGuard(ctx); err != nil {
			t.Errorf("restarting canary-guard: %v", err)
		}
	}()
	out, code = guardCLI(t, ctx, "doctor", "-n", "canary-guard", metrics)
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "cannot reach") {
		t.Errorf("doctor with canary-guard stopped exited %d, want 1 naming the unreachable webhook:\n%s", code, out)
	}
}
