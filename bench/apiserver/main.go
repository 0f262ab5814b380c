// Command apiserver measures what canary-guard adds to the latency of an
// InferenceService update as a user sees it, on the real local control
// plane of the e2e suite (etcd, kube-apiserver, KServe's controller and
// webhooks, canary-guard registered from the Helm chart; see e2e/cluster).
//
// The same Knative-mode sklearn InferenceService lives in three namespaces:
// bench-guarded, where canary-guard's webhooks and its backstop
// ValidatingAdmissionPolicy apply (enforce mode); bench-unguarded,
// labelled with the chart's opt-out label so that none of them does; and
// bench-noop-webhook, also opted out, where copies of canary-guard's
// webhook registrations (same rules, matchConditions and failure policy)
// send the reviews to the no-op server of bench/noop instead, which
// admits without looking. All three still go through KServe's own
// webhooks. The command then updates each (--update: bumps an annotation,
// with a scaling or resources change, or raises a running canary's
// percent by one), rotating between
// them so drift and background load hit every side alike, times every
// merge patch from the client and reports p50/p90/p99/max per side and the
// differences: what canary-guard adds, and what the same registrations
// cost with a server that does nothing (the API server's own share). It
// exits 1 when canary-guard adds --max-added-p50 or more at p50, or when
// anything fails.
//
//	make build envtest-assets && go build -o bin/bench-noop ./bench/noop && go run ./bench/apiserver --repo .
//	make bench-apiserver
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canary-guard/canary-guard/bench/procs"
	"github.com/canary-guard/canary-guard/e2e/cluster"
)

const (
	guardedNS   = "bench-guarded"
	unguardedNS = "bench-unguarded"
	noopNS      = "bench-noop-webhook"
	// noopPrefix names the copies of canary-guard's webhooks that call
	// the no-op server.
	noopPrefix = "noop-copy-of-"
	isvcName   = "bench-model"
	// optOutLabel is the chart's webhook.optOutLabel: the webhooks and the
	// backstop leave out namespaces that carry it (checkSelectors makes sure).
	optOutLabel = "canary-guard.dev/ignore"
	// iterationAnnotation is what each measured update changes: an
	// annotation change passes the webhooks' matchConditions, so the API
	// server really calls canary-guard, and canary-guard admits it.
	iterationAnnotation = "bench.canary-guard.dev/iteration"
	// podAnnotation is the pod annotation the pod-annotation update toggles.
	podAnnotation = "bench.canary-guard.dev/pod"
	// verifyUpdates per side show canary-guard is called for one namespace only.
	verifyUpdates = 5
)

// Kinds of measured update (--update).
const (
	updateAnnotation = "annotation"
	updateScaling    = "scaling"
	updateSpec       = "spec"
	updatePod        = "pod-annotation"
	updateStep       = "step"
)

// updates are the kinds of measured update, in the order make bench-apiserver runs them.
var updates = []string{updateAnnotation, updateScaling, updateSpec, updatePod, updateStep}

// The step update's canary: every side enters model v2 at stepFrom %, and
// each measured update raises the percent by one up to stepTo; past it an
// unmeasured rollback to 0 comes first, then the rise from 0 back to
// stepFrom (the initial canary percent, as canary-guard allows from 0).
const (
	stepFrom = 10
	stepTo   = 99
)

type options struct {
	kind        string
	repo        string
	updates     int
	warmup      int
	maxAddedP50 time.Duration
	out         string
	noop        string
	pause       time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.repo, "repo", ".", "repository root (bin/ and charts/ live there)")
	flag.StringVar(&o.kind, "update", updateAnnotation, "the measured update: annotation (bump one annotation), scaling (also toggle spec.predictor.minReplicas) "+
		"spec (also toggle the model's memory request: a spec change that is no model change), "+
		"pod-annotation (also toggle an annotation of the predictor's pods: no model change either, but it may name the storage credentials, so it reaches both of canary-guard's webhooks, as a model change does) "+
		"or step (raise a running canary's canaryTrafficPercent by one, no annotation: the most frequent update of a rollout)")
	flag.IntVar(&o.updates, "updates", 300, "measured updates per side")
	flag.IntVar(&o.warmup, "warmup", 30, "unmeasured warm-up updates per side")
	flag.DurationVar(&o.maxAddedP50, "max-added-p50", 2*time.Millisecond, "the most canary-guard may add at p50 (exclusive)")
	flag.DurationVar(&o.pause, "pause", 300*time.Millisecond, "pause after each update, so that the next one finds the control plane idle "+
		"(KServe's controller answers an update with several writes of its own over the next 100-320 ms); 0 sends them back to back")
	flag.StringVar(&o.out, "out", "", "also write the report as Markdown to this file")
	flag.StringVar(&o.noop, "noop", "bin/bench-noop", "the no-op webhook server (go build -o bin/bench-noop ./bench/noop), relative to --repo")
	flag.Parse()
	if !slices.Contains(updates, o.kind) {
		fmt.Fprintf(os.Stderr, "bench-apiserver: --update %q: want one of %s\n", o.kind, strings.Join(updates, ", "))
		os.Exit(2)
	}
	if o.updates < 1 || o.warmup < 0 || o.pause < 0 {
		fmt.Fprintln(os.Stderr, "bench-apiserver: --updates must be at least 1, --warmup and --pause at least 0")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	pass, err := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-apiserver:", err)
		os.Exit(1)
	}
	if !pass {
		os.Exit(1)
	}
}

// run starts the control plane, measures and prints the report; pass is
// whether the target was met. The control plane is stopped before it returns.
func run(ctx context.Context, o options, out, log io.Writer) (pass bool, err error) {
	root, err := filepath.Abs(o.repo)
	if err != nil {
		return false, err
	}
	c, err := cluster.Start(ctx, cluster.Options{RepoRoot: root, Log: log})
	if err != nil {
		return false, err
	}
	defer func() {
		fmt.Fprintln(log, "==> stopping the control plane")
		if stopErr := c.Stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("stopping the control plane: %w", stopErr)
		}
	}()
	b := &bench{c: c, cl: c.Client(), log: log, kind: o.kind, seq: map[string]int{}, percent: map[string]int64{}, pause: o.pause}

	fmt.Fprintln(log, "==> starting the no-op webhook server")
	noopBinary := o.noop
	if !filepath.IsAbs(noopBinary) {
		noopBinary = filepath.Join(root, noopBinary)
	}
	noop, err := procs.StartNoop(ctx, noopBinary, c.LogDir())
	if err != nil {
		return false, fmt.Errorf("starting the no-op webhook server: %w", err)
	}
	defer func() { _ = noop.Kill() }()

	fmt.Fprintf(log, "==> creating %s, %s and %s (the last two labelled %s) with InferenceService %s\n",
		guardedNS, unguardedNS, noopNS, optOutLabel, isvcName)
	if err := b.setUp(ctx, noop); err != nil {
		return false, err
	}
	fmt.Fprintf(log, "==> checking that canary-guard sees updates from %s only\n", guardedNS)
	if err := b.verifyRouting(ctx); err != nil {
		return false, err
	}
	fmt.Fprintf(log, "==> %d warm-up and %d measured updates per side, interleaved\n", o.warmup, o.updates)
	if _, err := b.interleave(ctx, o.warmup); err != nil {
		return false, fmt.Errorf("warm-up: %w", err)
	}
	before, err := b.scrape(ctx)
	if err != nil {
		return false, err
	}
	latencies, err := b.interleave(ctx, o.updates)
	if err != nil {
		return false, err
	}
	after, err := b.scrape(ctx)
	if err != nil {
		return false, err
	}
	timings := webhookTimings(before, after, b.noopWebhooks)
	noopCalls := 0.0
	for _, t := range timings {
		if t.sides == "no-op" {
			noopCalls += t.calls
		}
	}
	if noopCalls == 0 {
		return false, fmt.Errorf("the API server never called the no-op copies of canary-guard's webhooks (%s)", strings.Join(b.noopWebhooks, ", "))
	}
	r := newReport(o, summarize(latencies[guardedNS]), summarize(latencies[unguardedNS]), summarize(latencies[noopNS]), timings)
	fmt.Fprint(out, r.text())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(r.markdown()), 0o644); err != nil {
			return false, fmt.Errorf("writing the report: %w", err)
		}
	}
	return r.pass(), nil
}

type bench struct {
	c   *cluster.Cluster
	cl  client.Client
	log io.Writer
	// seq is each namespace's last iteration annotation value, so every
	// update changes it, and a spec update always toggles minReplicas.
	seq map[string]int
	// percent is each namespace's canary percent (step updates).
	percent map[string]int64
	// kind is the measured update (--update).
	kind string
	// noopWebhooks name the copies of canary-guard's webhooks that call
	// the no-op server.
	noopWebhooks []string
	// pause follows each update (--pause).
	pause time.Duration
}

// sides are the namespaces measured, in the order of the first round.
func sides() []string { return []string{guardedNS, unguardedNS, noopNS} }

// setUp creates the namespaces, checks that canary-guard's admission
// pieces tell them apart, registers the no-op copies of canary-guard's
// webhooks and creates the InferenceService in each namespace.
func (b *bench) setUp(ctx context.Context, noop *procs.Server) error {
	guarded := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: guardedNS}}
	optedOut := []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: unguardedNS, Labels: map[string]string{optOutLabel: "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: noopNS, Labels: map[string]string{optOutLabel: "true"}}},
	}
	for _, ns := range append([]*corev1.Namespace{guarded}, optedOut...) {
		if err := b.cl.Create(ctx, ns); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
	}
	if err := b.checkSelectors(ctx, guarded, optedOut); err != nil {
		return err
	}
	if err := b.registerNoop(ctx, noop); err != nil {
		return err
	}
	for _, ns := range sides() {
		if err := b.cl.Create(ctx, newISVC(ns)); err != nil {
			return fmt.Errorf("creating InferenceService %s/%s: %w", ns, isvcName, err)
		}
	}
	// Ready means KServe's controller and the simulator are done with the
	// creation, so its reconciles do not land on the first updates only.
	if err := b.waitAll(ctx, "the InferenceServices to become ready", func(isvc *kservev1beta1.InferenceService) bool {
		return isvc.Status.IsReady()
	}); err != nil || b.kind != updateStep {
		return err
	}
	// Steps need a running canary whose revision is ready (canary-guard
	// refuses a rise on an unready one): model v2 enters at stepFrom %
	// on every side, as written (the guarded side would inject it).
	for _, ns := range sides() {
		body := fmt.Appendf(nil, `{"spec":{"predictor":{"canaryTrafficPercent":%d,"model":{"storageUri":%q}}}}`, stepFrom, stepModelURI)
		isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: isvcName}}
		if err := b.cl.Patch(ctx, isvc, client.RawPatch(types.MergePatchType, body)); err != nil {
			return fmt.Errorf("starting the canary of %s/%s: %w", ns, isvcName, err)
		}
		b.percent[ns] = stepFrom
	}
	return b.waitAll(ctx, "the canaries to become ready", func(isvc *kservev1beta1.InferenceService) bool {
		p := isvc.Status.Components[kservev1beta1.PredictorComponent]
		return p.LatestCreatedRevision != "" && p.LatestReadyRevision == p.LatestCreatedRevision && p.LatestRolledoutRevision != p.LatestCreatedRevision
	})
}

// stepModelURI is the model the step update's canary runs.
const stepModelURI = "gs://kfserving-examples/models/sklearn/1.0/model-v2"

// waitAll waits until cond holds for the InferenceService of every side.
func (b *bench) waitAll(ctx context.Context, what string, cond func(*kservev1beta1.InferenceService) bool) error {
	return waitUntil(ctx, 2*time.Minute, what, func() (bool, error) {
		for _, ns := range sides() {
			isvc := &kservev1beta1.InferenceService{}
			if err := b.cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: isvcName}, isvc); err != nil {
				return false, fmt.Errorf("getting %s/%s: %w", ns, isvcName, err)
			}
			if !cond(isvc) {
				return false, nil
			}
		}
		return true, nil
	})
}

// registerNoop registers a copy of each of canary-guard's webhooks that
// calls the no-op server for the no-op namespace only: the same rules,
// matchConditions, failure policy and timeout, so the API server does for
// them everything it does for canary-guard's, except waiting for
// canary-guard's decision.
func (b *bench) registerNoop(ctx context.Context, noop *procs.Server) error {
	release := releaseLabels()
	// Both kinds of configuration are handled as unstructured objects:
	// the copy changes the same three fields of every webhook in either.
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind(kind + "List"))
		if err := b.cl.List(ctx, list, release); err != nil {
			return fmt.Errorf("listing %ss: %w", kind, err)
		}
		for _, cfg := range list.Items {
			webhooks, _, err := unstructured.NestedSlice(cfg.Object, "webhooks")
			if err != nil {
				return fmt.Errorf("%s %s: %w", kind, cfg.GetName(), err)
			}
			for _, w := range webhooks {
				w, ok := w.(map[string]any)
				if !ok {
					return fmt.Errorf("%s %s: a webhook is a %T", kind, cfg.GetName(), w)
				}
				name, _ := w["name"].(string)
				path, err := webhookPath(w)
				if err != nil {
					return fmt.Errorf("%s %s: webhook %s: %w", kind, cfg.GetName(), name, err)
				}
				w["name"] = noopPrefix + name
				w["clientConfig"] = map[string]any{"url": noop.URL + path, "caBundle": base64.StdEncoding.EncodeToString(noop.CA.PEM)}
				w["namespaceSelector"] = map[string]any{"matchLabels": map[string]any{corev1.LabelMetadataName: noopNS}}
				b.noopWebhooks = append(b.noopWebhooks, noopPrefix+name)
			}
			copied := &unstructured.Unstructured{Object: map[string]any{"webhooks": webhooks}}
			copied.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind(kind))
			copied.SetName(noopPrefix + cfg.GetName())
			if err := b.cl.Create(ctx, copied); err != nil {
				return fmt.Errorf("registering %s %s: %w", kind, copied.GetName(), err)
			}
		}
	}
	if len(b.noopWebhooks) == 0 {
		return fmt.Errorf("found no webhooks of release %s to copy", cluster.HelmReleaseName)
	}
	fmt.Fprintf(b.log, "    %s → %s, for %s only\n", strings.Join(b.noopWebhooks, ", "), noop.URL, noopNS)
	return nil
}

// releaseLabels select the objects the chart's release created.
func releaseLabels() client.MatchingLabels {
	return client.MatchingLabels{"app.kubernetes.io/instance": cluster.HelmReleaseName}
}

// webhookPath is the HTTP path of a webhook's clientConfig (a URL or a
// service reference).
func webhookPath(webhook map[string]any) (string, error) {
	if raw, ok, _ := unstructured.NestedString(webhook, "clientConfig", "url"); ok {
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("clientConfig.url %q: %w", raw, err)
		}
		return u.Path, nil
	}
	path, _, _ := unstructured.NestedString(webhook, "clientConfig", "service", "path")
	return path, nil
}

// newISVC is a Knative-mode sklearn InferenceService, as the e2e scenarios
// deploy. Tag routing is on from the start on both sides: canary-guard
// would add it to the guarded one only, and the two objects must be alike.
func newISVC(ns string) *kservev1beta1.InferenceService {
	uri := "gs://kfserving-examples/models/sklearn/1.0/model"
	return &kservev1beta1.InferenceService{
		ObjectMeta: metav1.ObjectMeta{
			Name:        isvcName,
			Namespace:   ns,
			Annotations: map[string]string{"serving.kserve.io/enable-tag-routing": "true"},
		},
		Spec: kservev1beta1.InferenceServiceSpec{Predictor: kservev1beta1.PredictorSpec{
			Model: &kservev1beta1.ModelSpec{
				ModelFormat:            kservev1beta1.ModelFormat{Name: "sklearn"},
				PredictorExtensionSpec: kservev1beta1.PredictorExtensionSpec{StorageURI: &uri},
			},
		}},
	}
}

// checkSelectors makes sure every admission piece the chart registered
// (both webhooks and the backstop ValidatingAdmissionPolicy) selects the
// guarded namespace and leaves out the opted-out ones, so the sides
// differ by canary-guard alone. Policy bindings can only narrow a policy.
func (b *bench) checkSelectors(ctx context.Context, guarded *corev1.Namespace, optedOut []*corev1.Namespace) error {
	release := releaseLabels()
	selectors := map[string]*metav1.LabelSelector{}
	var mutating admissionregistrationv1.MutatingWebhookConfigurationList
	if err := b.cl.List(ctx, &mutating, release); err != nil {
		return fmt.Errorf("listing mutating webhook configurations: %w", err)
	}
	for _, cfg := range mutating.Items {
		for _, w := range cfg.Webhooks {
			selectors["mutating webhook "+w.Name] = w.NamespaceSelector
		}
	}
	var validating admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := b.cl.List(ctx, &validating, release); err != nil {
		return fmt.Errorf("listing validating webhook configurations: %w", err)
	}
	for _, cfg := range validating.Items {
		for _, w := range cfg.Webhooks {
			selectors["validating webhook "+w.Name] = w.NamespaceSelector
		}
	}
	var policies admissionregistrationv1.ValidatingAdmissionPolicyList
	if err := b.cl.List(ctx, &policies, release); err != nil {
		return fmt.Errorf("listing validating admission policies: %w", err)
	}
	for _, p := range policies.Items {
		var sel *metav1.LabelSelector
		if p.Spec.MatchConstraints != nil {
			sel = p.Spec.MatchConstraints.NamespaceSelector
		}
		selectors["ValidatingAdmissionPolicy "+p.Name] = sel
	}
	if len(mutating.Items) == 0 || len(validating.Items) == 0 {
		return fmt.Errorf("found %d mutating and %d validating webhook configurations of release %s, want both",
			len(mutating.Items), len(validating.Items), cluster.HelmReleaseName)
	}
	for _, name := range slices.Sorted(maps.Keys(selectors)) {
		sel := selectors[name]
		s := labels.Everything() // an unset selector matches every namespace
		if sel != nil {
			var err error
			if s, err = metav1.LabelSelectorAsSelector(sel); err != nil {
				return fmt.Errorf("%s: namespaceSelector: %w", name, err)
			}
		}
		if !s.Matches(labels.Set(guarded.Labels)) {
			return fmt.Errorf("%s does not apply to %s (namespaceSelector %s)", name, guarded.Name, s)
		}
		for _, ns := range optedOut {
			if s.Matches(labels.Set(ns.Labels)) {
				return fmt.Errorf("%s applies to %s too (namespaceSelector %s)", name, ns.Name, s)
			}
		}
		fmt.Fprintf(b.log, "    %s: %s only\n", name, guarded.Name)
	}
	return nil
}

// verifyRouting checks on live traffic what checkSelectors read from the
// configuration: canary-guard decides on updates in the guarded namespace,
// in enforce mode, and never hears of the unguarded one.
func (b *bench) verifyRouting(ctx context.Context) error {
	decisions := func(ns string, labels ...string) (float64, error) {
		v, err := b.c.CanaryGuardMetric(ctx, "canary_guard_admission_decisions_total", append(labels, `namespace="`+ns+`"`)...)
		if err != nil {
			return 0, fmt.Errorf("reading canary-guard's metrics: %w", err)
		}
		return v, nil
	}
	mutate0, err := decisions(guardedNS, `webhook="mutate"`, `enforcement="enforce"`)
	if err != nil {
		return err
	}
	validate0, err := decisions(guardedNS, `webhook="validate"`, `enforcement="enforce"`)
	if err != nil {
		return err
	}
	optedOut := func() (float64, error) {
		u, err := decisions(unguardedNS)
		if err != nil {
			return 0, err
		}
		n, err := decisions(noopNS)
		return u + n, err
	}
	optedOut0, err := optedOut()
	if err != nil {
		return err
	}
	// Opted-out namespaces first: once the guarded calls show up, any
	// call for them would have been counted too.
	for _, ns := range []string{unguardedNS, noopNS, guardedNS} {
		for range verifyUpdates {
			if _, err := b.update(ctx, ns); err != nil {
				return err
			}
		}
	}
	var mutate, validate float64
	err = waitUntil(ctx, 10*time.Second, "canary-guard to count the guarded updates", func() (bool, error) {
		var err error
		if mutate, err = decisions(guardedNS, `webhook="mutate"`, `enforcement="enforce"`); err != nil {
			return false, err
		}
		if validate, err = decisions(guardedNS, `webhook="validate"`, `enforcement="enforce"`); err != nil {
			return false, err
		}
		return validate-validate0 >= verifyUpdates && (!b.mutates() || mutate-mutate0 >= verifyUpdates), nil
	})
	if err == nil && !b.mutates() && mutate != mutate0 {
		err = fmt.Errorf("the chart's may-need-mutation condition should skip the mutating webhook for %s updates", b.kind)
	}
	if err != nil {
		return fmt.Errorf("%d updates in %s reached canary-guard's mutating webhook %v times and its validating webhook %v times (enforce mode): %w",
			verifyUpdates, guardedNS, mutate-mutate0, validate-validate0, err)
	}
	optedOut1, err := optedOut()
	if err != nil {
		return err
	}
	if optedOut1 != optedOut0 {
		return fmt.Errorf("canary-guard decided %v times on %s and %s, which it must not see", optedOut1-optedOut0, unguardedNS, noopNS)
	}
	fmt.Fprintf(b.log, "    %d updates per side: canary-guard decided %v (mutate) + %v (validate) times on %s, 0 times on %s and %s\n",
		verifyUpdates, mutate-mutate0, validate-validate0, guardedNS, unguardedNS, noopNS)
	return nil
}

// interleave runs n rounds of one update per side, rotating which side
// goes first, and returns each side's latencies by namespace.
func (b *bench) interleave(ctx context.Context, n int) (map[string][]time.Duration, error) {
	order := sides()
	out := make(map[string][]time.Duration, len(order))
	for i := range n {
		for j := range order {
			ns := order[(i+j)%len(order)]
			d, err := b.update(ctx, ns)
			if err != nil {
				return nil, err
			}
			out[ns] = append(out[ns], d)
			if err := b.rest(ctx); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// mutates reports whether the measured update reaches canary-guard's
// mutating webhook: an annotation, scaling or memory change on an object
// with tag routing does not, nor a step where the chart's configuration
// sets no step interval, as here (the chart's may-need-mutation condition).
func (b *bench) mutates() bool { return b.kind == updatePod }

// update bumps the iteration annotation with one merge patch and returns
// how long the request took, as the client sees it. A step raises the
// canary percent instead.
func (b *bench) update(ctx context.Context, ns string) (time.Duration, error) {
	if b.kind == updateStep {
		return b.step(ctx, ns)
	}
	b.seq[ns]++
	seq := b.seq[ns]
	value := strconv.Itoa(seq)
	body := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, iterationAnnotation, value)
	switch b.kind {
	case updateScaling:
		// Also a scaling change: minReplicas 1, 2, 1, ...
		body = fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}},"spec":{"predictor":{"minReplicas":%d}}}`,
			iterationAnnotation, value, 1+seq%2)
	case updateSpec:
		// Also a spec change that is no model change: the model server's
		// memory request 1Gi, 1536Mi, 1Gi, ...
		body = fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}},"spec":{"predictor":{"model":{"resources":{"requests":{"memory":%q}}}}}}`,
			iterationAnnotation, value, []string{"1Gi", "1536Mi"}[seq%2])
	case updatePod:
		// Also an annotation of the predictor's pods: a, b, a, ...
		body = fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}},"spec":{"predictor":{"annotations":{%q:%q}}}}`,
			iterationAnnotation, value, podAnnotation, []string{"a", "b"}[seq%2])
	}
	patch := client.RawPatch(types.MergePatchType, body)
	isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: isvcName}}
	start := time.Now()
	err := b.cl.Patch(ctx, isvc, patch)
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("updating %s/%s: %w", ns, isvcName, err)
	}
	if got := isvc.Annotations[iterationAnnotation]; got != value {
		return 0, fmt.Errorf("updating %s/%s: stored %s=%q, want %q", ns, isvcName, iterationAnnotation, got, value)
	}
	return elapsed, nil
}

// step raises the canary percent of ns by one with one merge patch and
// returns how long the request took. Past stepTo it first rolls back to 0,
// unmeasured (a rollback reaches no canary-guard webhook), and the step is
// the rise from 0 to stepFrom. No annotation changes: in Knative mode
// KServe copies the InferenceService's annotations into the revision, so
// a new one would replace the canary.
func (b *bench) step(ctx context.Context, ns string) (time.Duration, error) {
	patch := func(p int64) (time.Duration, error) {
		isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: isvcName}}
		body := fmt.Appendf(nil, `{"spec":{"predictor":{"canaryTrafficPercent":%d}}}`, p)
		start := time.Now()
		err := b.cl.Patch(ctx, isvc, client.RawPatch(types.MergePatchType, body))
		elapsed := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("setting the canary percent of %s/%s to %d: %w", ns, isvcName, p, err)
		}
		if got := isvc.Spec.Predictor.CanaryTrafficPercent; got == nil || *got != p {
			return 0, fmt.Errorf("setting the canary percent of %s/%s: stored %v, want %d", ns, isvcName, got, p)
		}
		b.percent[ns] = p
		return elapsed, nil
	}
	next := b.percent[ns] + 1
	if next > stepTo {
		if err := b.settled(ctx, ns); err != nil {
			return 0, err
		}
		if _, err := patch(0); err != nil {
			return 0, err
		}
		next = stepFrom
	}
	// canary-guard refuses a rise until the status shows the last one
	// (canary-not-ready): the wait is not measured.
	if err := b.settled(ctx, ns); err != nil {
		return 0, err
	}
	if next == stepFrom {
		// After the rollback, as after every measured update, the
		// control plane gets its pause before the next measured one.
		if err := b.rest(ctx); err != nil {
			return 0, err
		}
	}
	return patch(next)
}

// rest gives the control plane its pause (--pause) after an update.
func (b *bench) rest(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.pause):
		return nil
	}
}

// settled waits until the status of ns's InferenceService gives the
// latest revision the canary percent last set.
func (b *bench) settled(ctx context.Context, ns string) error {
	want := b.percent[ns]
	return waitUntil(ctx, time.Minute, fmt.Sprintf("the status of %s/%s to show the canary at %d %%", ns, isvcName, want), func() (bool, error) {
		isvc := &kservev1beta1.InferenceService{}
		if err := b.cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: isvcName}, isvc); err != nil {
			return false, fmt.Errorf("getting %s/%s: %w", ns, isvcName, err)
		}
		var latest int64
		for _, t := range isvc.Status.Components[kservev1beta1.PredictorComponent].Traffic {
			if t.LatestRevision != nil && *t.LatestRevision && t.Percent != nil {
				latest += *t.Percent
			}
		}
		return latest == want, nil
	})
}

// metrics are the /metrics texts of the API server and of canary-guard.
type metrics struct{ apiserver, guard string }

func (b *bench) scrape(ctx context.Context) (metrics, error) {
	apiserver, _, err := b.c.Kubectl(ctx, "get", "--raw", "/metrics")
	if err != nil {
		return metrics{}, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.c.CanaryGuardMetricsURL(), nil)
	if err != nil {
		return metrics{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return metrics{}, fmt.Errorf("reading canary-guard's metrics: %w", err)
	}
	defer resp.Body.Close()
	guard, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return metrics{}, fmt.Errorf("reading canary-guard's metrics: HTTP %d: %w", resp.StatusCode, err)
	}
	return metrics{apiserver: apiserver, guard: string(guard)}, nil
}

// waitUntil polls cond every 200ms until it is true, fails or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
