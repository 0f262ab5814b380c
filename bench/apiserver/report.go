package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/canary-guard/canary-guard/e2e/cluster"
)

// summary is one side's latency distribution.
type summary struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarize(samples []time.Duration) summary {
	s := slices.Clone(samples)
	slices.Sort(s)
	return summary{n: len(s), p50: percentile(s, 0.50), p90: percentile(s, 0.90), p99: percentile(s, 0.99), max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile q of sorted samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// webhookTiming is what the API server spent calling one webhook during
// the measured updates (TLS, HTTP, JSON both ways, scheduling, the
// webhook's work) and, for canary-guard's, what canary-guard itself took.
// KServe's webhooks, called identically on both sides, show what any
// webhook round trip costs on this machine.
type webhookTiming struct {
	name, sides   string
	calls         float64
	apiserverMean time.Duration
	ownMean       time.Duration // 0: not measured (KServe's)
}

// webhookTimings compares two scrapes of the API server's
// apiserver_admission_webhook_admission_duration_seconds and canary-guard's
// canary_guard_admission_duration_seconds histograms.
func webhookTimings(before, after metrics, noopWebhooks []string) []webhookTiming {
	mean := func(before, after, metric, label string) (float64, time.Duration) {
		n := cluster.MetricValue(after, metric+"_count", label) - cluster.MetricValue(before, metric+"_count", label)
		sum := cluster.MetricValue(after, metric+"_sum", label) - cluster.MetricValue(before, metric+"_sum", label)
		if n <= 0 {
			return 0, 0
		}
		return n, time.Duration(sum / n * float64(time.Second))
	}
	const apiserverMetric = "apiserver_admission_webhook_admission_duration_seconds"
	var out []webhookTiming
	for _, w := range []string{"mutate", "validate"} {
		t := webhookTiming{name: w + ".canary-guard.dev", sides: "guarded"}
		t.calls, t.apiserverMean = mean(before.apiserver, after.apiserver, apiserverMetric, `name="`+t.name+`"`)
		_, t.ownMean = mean(before.guard, after.guard, "canary_guard_admission_duration_seconds", `webhook="`+w+`"`)
		out = append(out, t)
	}
	for _, name := range noopWebhooks {
		t := webhookTiming{name: name, sides: "no-op"}
		t.calls, t.apiserverMean = mean(before.apiserver, after.apiserver, apiserverMetric, `name="`+name+`"`)
		out = append(out, t)
	}
	for _, w := range []string{"defaulter", "validator"} {
		t := webhookTiming{name: "inferenceservice.kserve-webhook-server." + w, sides: "all"}
		t.calls, t.apiserverMean = mean(before.apiserver, after.apiserver, apiserverMetric, `name="`+t.name+`"`)
		out = append(out, t)
	}
	return out
}

type report struct {
	o                        options
	guarded, unguarded, noop summary
	webhooks                 []webhookTiming
}

func newReport(o options, guarded, unguarded, noop summary, webhooks []webhookTiming) *report {
	return &report{o: o, guarded: guarded, unguarded: unguarded, noop: noop, webhooks: webhooks}
}

// addedP50 is what canary-guard adds at p50: the target.
func (r *report) addedP50() time.Duration { return r.guarded.p50 - r.unguarded.p50 }

// floorP50 is what the same webhook registrations add at p50 when a
// server that does nothing answers them: the API server's own share.
func (r *report) floorP50() time.Duration { return r.noop.p50 - r.unguarded.p50 }

func (r *report) pass() bool { return r.addedP50() < r.o.maxAddedP50 }

// latencyTable is the per-side latency: a header and rows of cells.
func (r *report) latencyTable() [][]string {
	row := func(side, ns, guard string, s summary) []string {
		return []string{side, ns, guard, strconv.Itoa(s.n), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)}
	}
	return [][]string{
		{"side", "namespace", "webhooks", "updates", "p50", "p90", "p99", "max"},
		row("unguarded", unguardedNS, "KServe's", r.unguarded),
		row("no-op", noopNS, "KServe's, canary-guard's answered by a no-op", r.noop),
		row("guarded", guardedNS, "KServe's, canary-guard's", r.guarded),
		{"added by canary-guard", "", "", "", signedMS(r.addedP50()), signedMS(r.guarded.p90 - r.unguarded.p90), "", ""},
		{"added by its registrations with a no-op server", "", "", "", signedMS(r.floorP50()), signedMS(r.noop.p90 - r.unguarded.p90), "", ""},
		{"canary-guard's own share", "", "", "", signedMS(r.guarded.p50 - r.noop.p50), signedMS(r.guarded.p90 - r.noop.p90), "", ""},
	}
}

// webhookTable is the mean time per webhook call. Calls can outnumber
// updates: the API server runs admission again when it retries a patch
// after a write conflict (a stale cached object, a status write).
func (r *report) webhookTable() [][]string {
	rows := [][]string{{"webhook", "sides", "calls", "mean call (API server)", "mean inside webhook"}}
	for _, w := range r.webhooks {
		own := "n/a"
		if w.ownMean > 0 {
			own = ms(w.ownMean)
		}
		rows = append(rows, []string{w.name, w.sides, fmt.Sprintf("%.0f", w.calls), ms(w.apiserverMean), own})
	}
	return rows
}

func (r *report) intro() string {
	what := "one annotation"
	switch r.o.kind {
	case updateScaling:
		what = "one annotation and spec.predictor.minReplicas"
	case updateSpec:
		what = "one annotation and spec.predictor.model.resources.requests.memory"
	case updatePod:
		what = "one annotation and one in spec.predictor.annotations"
	case updateStep:
		what = fmt.Sprintf("spec.predictor.canaryTrafficPercent, raised by one from %d up to %d (a rollback to 0, unmeasured, and a rise back to %d past it)", stepFrom, stepTo, stepFrom)
	}
	pace := fmt.Sprintf("each followed by a pause of %s so that the next finds the control plane idle", r.o.pause)
	if r.o.pause == 0 {
		pace = "back to back"
	}
	return fmt.Sprintf("InferenceService update latency (merge patch of %s, client wall time): "+
		"%d updates per side after %d warm-up updates, interleaved, %s. The no-op side has copies of "+
		"canary-guard's webhook registrations answered by a server that admits without looking: "+
		"what any webhook registered like canary-guard's costs the API server.", what, r.o.updates, r.o.warmup, pace)
}

const webhookIntro = "Webhook calls during the measured updates:"

func (r *report) verdict() string {
	word, cmp := "PASS", "under"
	if !r.pass() {
		word, cmp = "FAIL", "not under"
	}
	return fmt.Sprintf("%s: canary-guard adds %s at p50, %s the target of %s (the same registrations answered by a no-op server add %s).",
		word, ms(r.addedP50()), cmp, ms(r.o.maxAddedP50), ms(r.floorP50()))
}

// text is the report for a terminal, with aligned tables.
func (r *report) text() string {
	var b strings.Builder
	table := func(rows [][]string) {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, cells := range rows {
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
		_ = tw.Flush() // writes to a strings.Builder, which does not fail
	}
	fmt.Fprintf(&b, "\n%s\n\n", r.intro())
	table(r.latencyTable())
	fmt.Fprintf(&b, "\n%s\n\n", webhookIntro)
	table(r.webhookTable())
	fmt.Fprintf(&b, "\n%s\n", r.verdict())
	return b.String()
}

// markdown is the report for --out.
func (r *report) markdown() string {
	var b strings.Builder
	table := func(rows [][]string) {
		for i, cells := range rows {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
			if i == 0 {
				fmt.Fprintf(&b, "|%s\n", strings.Repeat(" ---: |", len(cells)))
			}
		}
	}
	fmt.Fprintf(&b, "# canary-guard: added API server latency\n\n%s\n\n", r.intro())
	table(r.latencyTable())
	fmt.Fprintf(&b, "\n%s\n\n", webhookIntro)
	table(r.webhookTable())
	fmt.Fprintf(&b, "\n**%s**\n", r.verdict())
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func signedMS(d time.Duration) string {
	return fmt.Sprintf("%+.2fms", float64(d)/float64(time.Millisecond))
}
