// Command demo walks through a canary rollout guarded by canary-guard on a
// real local control plane: etcd and kube-apiserver, KServe's controller
// with its own webhooks, canary-guard registered from the Helm chart, and a
// status simulator standing in for Knative (see e2e/cluster). Every step
// is a real kubectl command; the demo prints it, why, and what kubectl
// answered, warnings and denials included.
//
//	make demo          # stops everything on exit (also on Ctrl-C)
//	make demo KEEP=1   # leaves the control plane running to explore
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canary-guard/canary-guard/e2e/cluster"
)

const (
	namespace = "demo"
	name      = "my-model"
)

func main() {
	repo := flag.String("repo", ".", "repository root (bin/ and charts/ live there)")
	keep := flag.Bool("keep", false, "leave the control plane running after the walkthrough")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *repo, *keep, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, repo string, keep bool, out io.Writer) error {
	root, err := filepath.Abs(repo)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "Starting a local control plane: etcd, kube-apiserver, KServe's controller and canary-guard.")
	c, err := cluster.Start(ctx, cluster.Options{RepoRoot: root, Log: out, KeepWorkDir: keep})
	if err != nil {
		return err
	}
	if !keep {
		defer func() {
			fmt.Fprintln(out, "\nStopping the control plane.")
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "demo: stopping:", err)
			}
		}()
	}
	d := &demo{c: c, out: out, dir: filepath.Join(os.TempDir(), fmt.Sprintf("canary-guard-demo-%d", os.Getpid()))}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(d.dir)
	if err := d.walkthrough(ctx); err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(out, "\nThe control plane keeps running. Explore it with:\n\n  export KUBECONFIG=%s\n  bin/kubectl get isvc -n %s\n\nStop it with Ctrl-C.\n", c.KubeconfigPath(), namespace)
		<-ctx.Done()
		return c.Stop()
	}
	return nil
}

type demo struct {
	c   *cluster.Cluster
	out io.Writer
	dir string
	n   int
}

// manifest writes an InferenceService manifest serving storageURI.
func (d *demo) manifest(file, storageURI string) (string, error) {
	path := filepath.Join(d.dir, file)
	body := fmt.Sprintf(`apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: %s
  namespace: %s
spec:
  predictor:
    model:
      modelFormat: {name: tensorflow}
      storageUri: %s
`, name, namespace, storageURI)
	return path, os.WriteFile(path, []byte(body), 0o644)
}

// step prints a step's title and why, runs kubectl, prints its answer and
// the InferenceService with its PREV/LATEST columns.
func (d *demo) step(ctx context.Context, title, why string, wantDenied bool, args ...string) error {
	d.n++
	fmt.Fprintf(d.out, "\n==> Step %d: %s\n", d.n, title)
	if why != "" {
		for _, line := range strings.Split(why, "\n") {
			fmt.Fprintf(d.out, "    %s\n", line)
		}
	}
	fmt.Fprintf(d.out, "\n$ kubectl %s\n", shellJoin(args))
	stdout, stderr, err := d.c.Kubectl(ctx, args...)
	fmt.Fprint(d.out, indent(stderr+stdout))
	denied := err != nil
	if denied != wantDenied {
		if err != nil {
			return fmt.Errorf("step %d (%s): kubectl failed: %w", d.n, title, err)
		}
		return fmt.Errorf("step %d (%s): kubectl succeeded, but canary-guard should have refused it", d.n, title)
	}
	return nil
}

// show waits until the InferenceService status matches want, then prints
// kubectl get isvc.
func (d *demo) show(ctx context.Context, what string, want func(*kservev1beta1.InferenceService) bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		isvc := &kservev1beta1.InferenceService{}
		err := d.c.Client().Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, isvc)
		if err == nil && want(isvc) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: timed out", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Fprintf(d.out, "\n$ kubectl get isvc %s -n %s\n", name, namespace)
	stdout, stderr, err := d.c.Kubectl(ctx, "get", "isvc", name, "-n", namespace)
	fmt.Fprint(d.out, indent(stderr+stdout))
	return err
}

// traffic reports the predictor's latest-revision percent in status.
func traffic(isvc *kservev1beta1.InferenceService) (latest, prev int64, ok bool) {
	st, found := isvc.Status.Components[kservev1beta1.PredictorComponent]
	if !found {
		return 0, 0, false
	}
	for _, t := range st.Traffic {
		if t.Percent == nil {
			continue
		}
		if t.LatestRevision != nil && *t.LatestRevision {
			latest += *t.Percent
		} else {
			prev += *t.Percent
		}
	}
	return latest, prev, len(st.Traffic) > 0
}

func split(latest, prev int64) func(*kservev1beta1.InferenceService) bool {
	return func(isvc *kservev1beta1.InferenceService) bool {
		l, p, ok := traffic(isvc)
		return ok && l == latest && p == prev
	}
}

func (d *demo) walkthrough(ctx context.Context) error {
	if _, _, err := d.c.Kubectl(ctx, "create", "namespace", namespace); err != nil {
		return err
	}
	v1, err := d.manifest("v1.yaml", "gs://kfserving-examples/models/tensorflow/flowers")
	if err != nil {
		return err
	}
	v2, err := d.manifest("v2.yaml", "gs://kfserving-examples/models/tensorflow/flowers-2")
	if err != nil {
		return err
	}
	v3, err := d.manifest("v3.yaml", "gs://kfserving-examples/models/tensorflow/flowers-3")
	if err != nil {
		return err
	}
	patch := func(p string) []string {
		return []string{"patch", "isvc", name, "-n", namespace, "--type", "merge", "-p", p}
	}
	percent := func(n int) []string {
		return patch(fmt.Sprintf(`{"spec":{"predictor":{"canaryTrafficPercent":%d}}}`, n))
	}

	steps := []struct {
		title, why string
		denied     bool
		args       []string
		wait       string
		want       func(*kservev1beta1.InferenceService) bool
	}{
		{"deploy model v1", "A new InferenceService: canary-guard admits it and turns on tag routing,\nso each revision later gets its own latest-/prev- URL.",
			false, []string{"apply", "-f", v1}, "v1 serving 100 %", split(100, 0)},
		{"change the model to v2, with no canaryTrafficPercent", "Without canary-guard this is a full cutover: v2 would get 100 % of traffic at once.\ncanary-guard's mutating webhook sets canaryTrafficPercent to 10: v2 enters as a canary.",
			false, []string{"apply", "-f", v2}, "v2 at 10 %", split(10, 90)},
		{"try to jump straight to 100 %", "KServe's own promotion sample goes 10 → 100 in one update. canary-guard caps a rise at\n25 points and says what is allowed now.",
			true, percent(100), "", nil},
		{"step up to 35 %", "A rise of 25 points, with the canary revision ready: admitted.", false, percent(35), "v2 at 35 %", split(35, 65)},
		{"step up to 60 %", "", false, percent(60), "v2 at 60 %", split(60, 40)},
		{"step up to 85 %", "", false, percent(85), "v2 at 85 %", split(85, 15)},
		{"promote v2", "Removing canaryTrafficPercent sends 100 % to v2: a rise of 15, within the cap.",
			false, []string{"patch", "isvc", name, "-n", namespace, "--type", "json", "-p", `[{"op":"remove","path":"/spec/predictor/canaryTrafficPercent"}]`},
			"v2 fully rolled out", func(isvc *kservev1beta1.InferenceService) bool {
				st := isvc.Status.Components[kservev1beta1.PredictorComponent]
				return split(100, 0)(isvc) && st.LatestRolledoutRevision == st.LatestReadyRevision && st.LatestReadyRevision != ""
			}},
		{"start another rollout: model v3", "Again no canaryTrafficPercent in the manifest: v3 enters at 10 %, v2 keeps 90 % under prev.",
			false, []string{"apply", "-f", v3}, "v3 at 10 %", split(10, 90)},
		{"roll v3 back", "Setting canaryTrafficPercent to 0 pins all traffic to the previous revision (v2).\nA rollback is always admitted, even when canary-guard is down.",
			false, percent(0), "all traffic back on v2", split(0, 100)},
	}
	for _, s := range steps {
		if err := d.step(ctx, s.title, s.why, s.denied, s.args...); err != nil {
			return err
		}
		if s.want != nil {
			if err := d.show(ctx, s.wait, s.want); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(d.out, "\nDone: every model change entered as a canary, the jump was refused with the next step, and the rollback went through.")
	return nil
}

// shellJoin quotes arguments the way a user would type them.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " {}[]\"'$*") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
