package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canary-guard/canary-guard/bench/load"
	"github.com/canary-guard/canary-guard/bench/procs"
	"github.com/canary-guard/canary-guard/internal/testpki"
)

// guardBinary is canary-guard, built once for the package.
var guardBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "canary-guard-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guardBinary = filepath.Join(dir, "canary-guard")
	build := exec.Command("go", "build", "-o", guardBinary, "../../cmd/canary-guard")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building canary-guard: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// slowRule never finishes in the namespaces it applies to: a billion
// iterations, each a cheap comparison, so only the deadline stops it.
const slowRule = `package canary_guard

deny contains {"rule": "slow-check", "msg": "never reached"} if {
	startswith(input.request.namespace, "slow-")
	some i in numbers.range(1, 1000)
	some j in numbers.range(1, 1000)
	some k in numbers.range(1, 1000)
	i * j * k < 0
}
`

// startGuard runs canary-guard serve with the given policy files and
// configuration (nil: none) and extra flags.
func startGuard(t *testing.T, policies map[string]string, config string, args ...string) (*procs.Server, string) {
	t.Helper()
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policies")
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range policies {
		writeFile(t, filepath.Join(policyDir, name), content)
	}
	configFile := filepath.Join(dir, "config.yaml")
	writeFile(t, configFile, config)
	args = append([]string{"--policy-dir", policyDir, "--config", configFile, "--reload-interval", "100ms"}, args...)
	s, err := procs.StartGuard(context.Background(), procs.GuardOptions{Binary: guardBinary, Dir: dir, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-s.Done():
		default:
			if err := s.Stop(30 * time.Second); err != nil {
				t.Errorf("stopping canary-guard: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("canary-guard log:\n%s", s.Tail(40))
		}
	})
	return s, dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Written aside and renamed, as a ConfigMap volume swaps its files.
	if err := os.WriteFile(path+".new", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

func corpus(t *testing.T, namespace string) []load.Case {
	t.Helper()
	cases, err := load.Corpus(load.CorpusOptions{Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// pick returns the corpus case of that name.
func pick(t *testing.T, cases []load.Case, name string) load.Case {
	t.Helper()
	for _, c := range cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no corpus case %q", name)
	return load.Case{}
}

// background runs load until it ends and delivers the result.
func background(t *testing.T, cfg load.Config) <-chan *load.Result {
	t.Helper()
	out := make(chan *load.Result, 1)
	go func() {
		res, err := load.Run(context.Background(), cfg)
		if err != nil {
			t.Error(err)
			res = &load.Result{}
		}
		out <- res
	}()
	return out
}

func steady(s *procs.Server, cases []load.Case, d time.Duration) load.Config {
	return load.Config{URL: s.URL, RootCAs: s.CA.Pool(), Cases: cases, Workers: 8, Rate: 300, Duration: d}
}

// expectNoFailures fails the test for any failed request of a run.
func expectNoFailures(t *testing.T, res *load.Result) {
	t.Helper()
	t.Logf("load: %s", res.Summary())
	if res.Requests == 0 {
		t.Error("no request was sent")
	}
	if res.Failed() > 0 || res.Missed > 0 {
		t.Errorf("%d failed and %d missed requests: %v", res.Failed(), res.Missed, res.ErrorSamples)
	}
}

// waitMetric waits until the metric (summed over matching series) meets cond.
func waitMetric(t *testing.T, s *procs.Server, what string, cond func(float64) bool, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last float64
	for time.Now().Before(deadline) {
		v, err := s.Metric(context.Background(), name, labels...)
		if err == nil && cond(v) {
			return
		}
		last = v
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s%v stayed at %v", what, name, labels, last)
}

func equals(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// teamRule denies handing an InferenceService to the ml-serving team:
// of the corpus, only the label change. Loaded, it turns that admission
// into a denial, so every answer shows whether the custom policy serves.
const teamRule = `package canary_guard

deny contains {"rule": "team-handover", "msg": "ml-serving takes no new models this quarter"} if {
	input.object.metadata.labels.team == "ml-serving"
}
`

// goodConfig lowers the step cap from the default 25 to 20: loaded, it
// turns the corpus's step 10 → 35 into a denial.
const goodConfig = "maxStepPercent: 20\n"

// TestReloadUnderLoad drops a broken Rego file, then a broken
// configuration, into a serving canary-guard's directories mid-run: every
// request is answered with the last good policy, the failures show in the
// metrics and the log, and fixing the files recovers. The last good
// policy and configuration each change an answer of the corpus, so a
// server that fell back to the shipped bundle or to the default
// configuration would answer wrong.
func TestReloadUnderLoad(t *testing.T) {
	s, dir := startGuard(t, map[string]string{"team.rego": teamRule}, goodConfig)
	policyFile, configFile := filepath.Join(dir, "policies", "team.rego"), filepath.Join(dir, "config.yaml")
	cases := corpus(t, "bench")
	for i := range cases {
		switch cases[i].Name {
		case "validate: label change":
			cases[i].Expect = load.Expect{Rule: "team-handover"}
		case "validate: step 10 to 35":
			cases[i].Expect = load.Expect{Rule: "max-step"}
		}
	}
	results := background(t, steady(s, cases, 6*time.Second))

	time.Sleep(time.Second)
	writeFile(t, policyFile, teamRule+"\ndeny contains msg if {\n") // a syntax error
	waitMetric(t, s, "broken policy", equals(0), "canary_guard_last_reload_successful")
	time.Sleep(500 * time.Millisecond) // served broken for a while
	writeFile(t, policyFile, teamRule)
	waitMetric(t, s, "fixed policy", equals(1), "canary_guard_last_reload_successful")

	writeFile(t, configFile, "maxStepPercent: [not a number\n")
	waitMetric(t, s, "broken configuration", equals(0), "canary_guard_last_reload_successful")
	time.Sleep(500 * time.Millisecond)
	writeFile(t, configFile, goodConfig)
	waitMetric(t, s, "fixed configuration", equals(1), "canary_guard_last_reload_successful")

	expectNoFailures(t, <-results)
	waitMetric(t, s, "reload failures", equals(2), "canary_guard_reloads_total", "result", "failure")
	log, err := os.ReadFile(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"team.rego", "config.yaml", "failed to load; serving the last good"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the log does not mention %q", want)
		}
	}

	// Recovery: a fixed file that changes the policy is served.
	writeFile(t, configFile, "maxStepPercent: 25\n")
	waitMetric(t, s, "raised step cap", equals(4), "canary_guard_reloads_total", "result", "success") // the start, two fixes, this
	step := pick(t, corpus(t, "bench"), "validate: step 10 to 35")
	client := load.NewClient(s.CA.Pool(), 1, 10*time.Second)
	if err := load.Send(context.Background(), client, s.URL, &step); err != nil {
		t.Errorf("after the fixed configuration raised the cap: %v", err)
	}
}

// TestSlowRuleUnderLoad runs a custom rule that never finishes in three
// namespaces, one per enforcement mode, while normal traffic goes on:
// evaluation stops at --eval-timeout, the answer follows the mode (enforce
// denies with policy-error; warn admits with a policy-error warning,
// audit admits without a word), and every other
// request is answered.
func TestSlowRuleUnderLoad(t *testing.T) {
	config := `namespaces:
- match: slow-warn
  enforcement: warn
- match: slow-audit
  enforcement: audit
`
	s, _ := startGuard(t, map[string]string{"slow.rego": slowRule}, config, "--eval-timeout", "500ms")
	results := background(t, steady(s, corpus(t, "bench"), 4*time.Second))

	client := load.NewClient(s.CA.Pool(), 4, 10*time.Second)
	tests := []struct {
		namespace string
		expect    load.Expect
	}{
		{"slow-enforce", load.Expect{Allowed: false, Rule: "policy-error"}},
		{"slow-warn", load.Expect{Allowed: true, Warning: "policy-error"}},
		{"slow-audit", load.Expect{Allowed: true, NoWarnings: true}},
	}
	time.Sleep(500 * time.Millisecond)
	for _, tt := range tests {
		t.Run(tt.namespace, func(t *testing.T) {
			step := pick(t, corpus(t, tt.namespace), "validate: step 10 to 35")
			step.Expect = tt.expect
			for range 3 {
				start := time.Now()
				if err := load.Send(context.Background(), client, s.URL, &step); err != nil {
					t.Error(err)
				}
				if took := time.Since(start); took < 400*time.Millisecond {
					t.Errorf("answered after %v: the rule did not run until the deadline", took)
				}
			}
			// A rollback is admitted whatever the rules say, even when
			// they cannot be evaluated.
			rollback := pick(t, corpus(t, tt.namespace), "validate: rollback 35 to 0")
			if err := load.Send(context.Background(), client, s.URL, &rollback); err != nil {
				t.Error(err)
			}
		})
	}
	expectNoFailures(t, <-results)
}

// TestShutdownUnderLoad sends SIGTERM mid-run: during the shutdown delay
// canary-guard reports unready and answers every request; a request in
// flight when the delay ends still gets its answer; then it exits cleanly.
func TestShutdownUnderLoad(t *testing.T) {
	const delay = 3 * time.Second
	s, _ := startGuard(t, map[string]string{"slow.rego": slowRule}, "",
		"--shutdown-delay", delay.String(), "--eval-timeout", "2s")
	// The run ends half a second before the delay does.
	results := background(t, steady(s, corpus(t, "bench"), time.Second+delay-500*time.Millisecond))

	time.Sleep(time.Second)
	if err := s.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sigterm := time.Now()
	time.Sleep(200 * time.Millisecond)
	resp, err := http.Get(s.HealthURL + "/readyz")
	if err != nil {
		t.Fatalf("readyz during the shutdown delay: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz during the shutdown delay: %s, want 503", resp.Status)
	}

	// Sent just before the delay ends, answered (at its 2 s deadline)
	// after the server has stopped accepting.
	time.Sleep(time.Until(sigterm.Add(delay - 300*time.Millisecond)))
	inFlight := pick(t, corpus(t, "slow-shutdown"), "validate: step 10 to 35")
	inFlight.Expect = load.Expect{Allowed: false, Rule: "policy-error"}
	client := load.NewClient(s.CA.Pool(), 1, 10*time.Second)
	if err := load.Send(context.Background(), client, s.URL, &inFlight); err != nil {
		t.Errorf("the request in flight at shutdown: %v", err)
	}

	expectNoFailures(t, <-results)
	select {
	case <-s.Done():
		if err := s.Err(); err != nil {
			t.Errorf("canary-guard exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("canary-guard did not exit after the shutdown delay")
	}
}

// TestCertificateRotationUnderLoad replaces the serving certificate in
// --cert-dir mid-run, as cert-manager does: first a renewal from the same
// CA, then one from a new CA that the client already trusts (the CA
// bundle's overlap). Two loads run across both rotations: one on
// keep-alive connections, one reconnecting for every request, so that
// handshakes meet each swap. No request of either fails, and once a new
// certificate is served, no handshake gets an older one.
func TestCertificateRotationUnderLoad(t *testing.T) {
	s, _ := startGuard(t, nil, "")
	newCA, err := testpki.NewCA("canary-guard rotated")
	if err != nil {
		t.Fatal(err)
	}
	trusted := s.CA.Pool()
	trusted.AppendCertsFromPEM(newCA.PEM)
	kept := steady(s, corpus(t, "bench"), 6*time.Second)
	kept.RootCAs = trusted
	keptResults := background(t, kept)

	handshakes := &servedCerts{}
	fresh := load.Config{URL: s.URL, RootCAs: trusted, Cases: corpus(t, "bench"), Workers: 4, Rate: 100, Duration: 6 * time.Second,
		NewConnections: true, VerifyConnection: handshakes.record}
	freshResults := background(t, fresh)

	first, err := tls.LoadX509KeyPair(filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	served := [][]byte{first.Certificate[0]}
	var since []time.Time
	for i, ca := range []*testpki.CA{s.CA, newCA} {
		time.Sleep(1500 * time.Millisecond)
		if err := ca.WriteServingCert(s.CertDir, "canary-guard"); err != nil {
			t.Fatal(err)
		}
		onDisk, err := tls.LoadX509KeyPair(filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key"))
		if err != nil {
			t.Fatal(err)
		}
		waitServed(t, s.URL, trusted, onDisk.Certificate[0], fmt.Sprintf("rotation %d", i+1))
		served = append(served, onDisk.Certificate[0])
		since = append(since, time.Now())
	}
	expectNoFailures(t, <-keptResults)
	expectNoFailures(t, <-freshResults)

	// A handshake that completed after a certificate was first served
	// began, at the latest, a moment before: it must not get an older one.
	const inFlight = 100 * time.Millisecond
	counts := make([]int, len(served))
	for _, h := range handshakes.all() {
		got := slices.IndexFunc(served, func(c []byte) bool { return bytes.Equal(c, h.cert) })
		if got < 0 {
			t.Fatalf("a handshake got a certificate never written")
		}
		counts[got]++
		for i, at := range since {
			if h.at.After(at.Add(inFlight)) && got < i+1 {
				t.Errorf("a handshake %v after rotation %d got the certificate before it", h.at.Sub(at), i+1)
			}
		}
	}
	t.Logf("new connections per certificate served (before, renewal, new CA): %v", counts)
	for i, n := range counts {
		if n == 0 {
			t.Errorf("no new connection got certificate %d of %d: the reconnecting load did not span the rotations (%v)", i+1, len(counts), counts)
		}
	}
}

// servedCerts records the leaf certificate each TLS handshake got.
type servedCerts struct {
	mu   sync.Mutex
	seen []servedCert
}

type servedCert struct {
	at   time.Time
	cert []byte
}

func (s *servedCerts) record(cs tls.ConnectionState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, servedCert{at: time.Now(), cert: cs.PeerCertificates[0].Raw})
	return nil
}

func (s *servedCerts) all() []servedCert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// waitServed waits until a new TLS connection gets the certificate want.
func waitServed(t *testing.T, url string, roots *x509.CertPool, want []byte, what string) {
	t.Helper()
	addr := strings.TrimPrefix(url, "https://")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
		if err == nil {
			served := conn.ConnectionState().PeerCertificates[0].Raw
			_ = conn.Close()
			if string(served) == string(want) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: the new certificate was not served within 20 s", what)
}

// chartMemoryLimit is the chart's default memory limit
// (resources.limits.memory), which the chart passes to --memory-limit.
const chartMemoryLimit = 256 << 20

// TestFloodAboveCapacity sends 1,024 slow reviews at once, five times
// what one API server sends with its default --max-mutating-requests-inflight
// (200), to a canary-guard that evaluates two at a time: each is answered
// by its evaluation, or at its deadline as the evaluation out of time it
// is ([policy-error], 429, refused in enforce mode only); rollbacks and
// warn-mode namespaces pass; memory stays inside the chart's limit and the
// goroutines return to their level before the flood.
func TestFloodAboveCapacity(t *testing.T) {
	s, _ := startGuard(t, map[string]string{"slow.rego": slowRule}, "namespaces:\n- match: slow-flood-warn\n  enforcement: warn\n",
		"--max-concurrent-evaluations", "2", "--eval-timeout", "300ms", "--memory-limit", strconv.Itoa(chartMemoryLimit))
	before, err := s.Metric(context.Background(), "go_goroutines")
	if err != nil {
		t.Fatal(err)
	}
	step := pick(t, corpus(t, "slow-flood"), "validate: step 10 to 35")
	step.Expect = load.Expect{Allowed: false, Rule: "policy-error"}
	rollback := pick(t, corpus(t, "slow-flood"), "validate: rollback 35 to 0")
	warnStep := pick(t, corpus(t, "slow-flood-warn"), "validate: step 10 to 35")
	warnStep.Expect = load.Expect{Allowed: true, Warning: "policy-error"}

	peakMemory := sampleAnonRSS(t, s)
	res, err := load.Run(context.Background(), load.Config{
		URL: s.URL, RootCAs: s.CA.Pool(), Cases: []load.Case{step, step, rollback, warnStep}, Workers: 1024, Duration: 4 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	peak := peakMemory()
	t.Logf("flood: %s, error codes %v, peak anonymous memory %d MiB", res.Summary(), res.Codes, peak>>20)
	if res.Wrong != 0 || res.Errors != res.Codes[http.StatusTooManyRequests] {
		t.Errorf("want every step refused with [policy-error] (a 429 where no slot was free), every rollback and warn-mode step admitted; got %d wrong and %d other errors: %v",
			res.Wrong, res.Errors-res.Codes[http.StatusTooManyRequests], res.ErrorSamples)
	}
	noSlot, err := s.Metric(context.Background(), "canary_guard_evaluation_slot_timeouts_total")
	if err != nil {
		t.Fatal(err)
	}
	if res.Codes[http.StatusTooManyRequests] == 0 || noSlot < float64(res.Codes[http.StatusTooManyRequests]) {
		t.Errorf("want requests refused for want of a slot, each counted: %v, canary_guard_evaluation_slot_timeouts_total %v", res.Codes, noSlot)
	}
	// Each request waits for a slot and evaluates within --eval-timeout
	// (300ms); what is left is the client's queue for the cores.
	if worst := res.Quantile(1); worst > 10*time.Second {
		t.Errorf("a request waited %v: queueing is not bounded by the deadline", worst)
	}
	// Without --memory-limit the heap grows with the requests in flight
	// (GOGC 400: five times the live heap); with it, it stays below.
	if peak == 0 || peak >= chartMemoryLimit {
		t.Errorf("peak anonymous memory %d MiB during the flood, want under the %d MiB limit", peak>>20, chartMemoryLimit>>20)
	}
	waitMetric(t, s, "goroutines after the flood", func(v float64) bool { return v <= before+8 }, "go_goroutines")
}

// sampleAnonRSS samples the server's anonymous memory every 10ms until
// the returned function is called, which returns the most it saw.
func sampleAnonRSS(t *testing.T, s *procs.Server) func() int64 {
	t.Helper()
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var most int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if st, err := s.Stats(); err == nil {
				most = max(most, st.AnonRSS)
			}
			select {
			case <-done:
				peak <- most
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-peak
	}
}
