package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canary-guard/canary-guard/e2e/cluster"
)

// suiteConfig is canary-guard's configuration for the whole package: the
// defaults, an override group, and one namespace pattern per enforcement
// or model-change mode the scenarios exercise.
const suiteConfig = `override:
  groups: [sre]
namespaces:
- match: "*-warn"
  enforcement: warn
- match: "*-audit"
  enforcement: audit
- match: "*-deny"
  onModelChange: deny
- match: "*-exempt"
  exempt:
    users: [release-bot]
- match: "*-interval"
  minStepIntervalSeconds: 600
`

// suiteHelmValues render the chart with the same configuration, so that
// what the chart derives from it (the backstop's override groups and its
// warn/audit namespace exclusions) matches what canary-guard runs with.
var suiteHelmValues = []string{
	"config.override.groups={sre}",
	"config.namespaces[0].match=*-warn",
	"config.namespaces[0].enforcement=warn",
	"config.namespaces[1].match=*-audit",
	"config.namespaces[1].enforcement=audit",
	"config.namespaces[2].match=*-deny",
	"config.namespaces[2].onModelChange=deny",
	"config.namespaces[3].match=*-exempt",
	"config.namespaces[3].exempt.users={release-bot}",
	"config.namespaces[4].match=*-interval",
	"config.namespaces[4].minStepIntervalSeconds=600",
}

// The control plane every test of the package shares, started once by
// TestMain.
var (
	shared      *cluster.Cluster
	sharedSkip  string // why every test skips (binaries not built)
	sharedErr   error  // why the control plane did not start
	sharedLog   syncBuffer
	suiteStart  time.Time
	suiteFailed bool
)

// syncBuffer collects the start-up log; tests print it when they need it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	suiteStart = time.Now()
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "kube-apiserver")); err != nil {
		if os.Getenv("CI") != "" {
			// make test builds the binaries first: in CI a skip would hide a broken build.
			fmt.Fprintln(os.Stderr, "e2e: bin/kube-apiserver missing:", err)
			return 1
		}
		sharedSkip = "bin/kube-apiserver missing: run make envtest-assets"
		return m.Run()
	}
	var log io.Writer = &sharedLog
	if testing.Verbose() {
		log = io.MultiWriter(&sharedLog, prefixWriter{os.Stderr, "[cluster] "})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	shared, sharedErr = cluster.Start(ctx, cluster.Options{
		RepoRoot:          root,
		CanaryGuardConfig: suiteConfig,
		HelmValues:        suiteHelmValues,
		Log:               log,
		// CANARY_GUARD_E2E_KEEP=1 keeps the logs, audit log and kubeconfig.
		KeepWorkDir: os.Getenv("CANARY_GUARD_E2E_KEEP") != "",
	})
	cancel()
	if sharedErr != nil {
		shared = nil
		sharedErr = fmt.Errorf("starting the control plane: %w\n%s", sharedErr, sharedLog.String())
		return m.Run()
	}
	code := m.Run()
	if code != 0 || suiteFailed {
		for _, name := range []string{"kserve-manager", "canary-guard", "simulator"} {
			fmt.Fprintf(os.Stderr, "--- last lines of %s (%s)\n%s\n", name, shared.LogPath(name), shared.LogTail(name, 60))
		}
	}
	if err := shared.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the control plane: %v\n", err)
		code = 1
	}
	fmt.Fprintf(os.Stderr, "e2e: control plane start-up %s, whole package %s\n",
		shared.StartupDuration().Round(100*time.Millisecond), time.Since(suiteStart).Round(100*time.Millisecond))
	return code
}

// testCluster returns the shared control plane, skipping the test when
// the binaries are not built and failing it when the control plane did not
// start.
func testCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	if sharedSkip != "" {
		t.Skip(sharedSkip)
	}
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	if shared == nil {
		t.Fatal(errors.New("the control plane is not running"))
	}
	t.Cleanup(func() {
		if t.Failed() {
			suiteFailed = true
		}
	})
	return shared
}

// prefixWriter prefixes each write (one log line) with a marker.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, strings.TrimRight(string(b), "\n")); err != nil {
		return 0, err
	}
	return len(b), nil
}
