package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/canary-guard/canary-guard/policy"
)

// writeCert writes a fresh self-signed serving certificate for 127.0.0.1.
func writeCert(t *testing.T, dir string) {
	t.Helper()
	writeCertValid(t, dir, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
}

// writeCertValid writes a self-signed serving pair valid from notBefore
// to notAfter.
func writeCertValid(t *testing.T, dir string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "canary-guard"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Write to temporary names and rename, as a Secret volume update does.
	writeAtomic(t, filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	writeAtomic(t, filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func writeAtomic(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

type running struct {
	srv                        *Server
	webhook, health, metrics   string
	cancel                     context.CancelFunc
	done                       chan error
	certDir, policyDir, config string
}

// startServer runs a Server on loopback ports with a policy dir and config file.
func startServer(t *testing.T, opts Options) *running {
	t.Helper()
	return startServerWith(t, opts, nil)
}

// startServerWith runs a Server as startServer does, after setup has
// written to its policy dir and config file.
func startServerWith(t *testing.T, opts Options, setup func(*running)) *running {
	t.Helper()
	r := &running{certDir: t.TempDir(), policyDir: t.TempDir(), done: make(chan error, 1)}
	r.config = filepath.Join(t.TempDir(), "config.yaml")
	writeCert(t, r.certDir)
	if err := os.WriteFile(r.config, []byte("maxStepPercent: 25\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(r)
	}
	opts.CertDir = r.certDir
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = 50 * time.Millisecond
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := NewServer(context.Background(), opts, policy.Loader{ConfigFile: r.config, PolicyDir: r.policyDir}, log)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	wl, hl, ml := listen(), listen(), listen()
	r.webhook, r.health, r.metrics = wl.Addr().String(), hl.Addr().String(), ml.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- srv.Serve(ctx, wl, hl, ml) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	if srv.Guard().LoadError() != nil {
		// On the fallback: serving, but unready.
		eventually(t, func() bool { return get(r.health, "/readyz") == http.StatusServiceUnavailable }, "server answering unready")
		return r
	}
	eventually(t, func() bool { return get(r.health, "/readyz") == http.StatusOK }, "server ready")
	return r
}

func get(addr, path string) int {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

func getBody(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpsClient(minV, maxV uint16) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: minV, MaxVersion: maxV}, //nolint:gosec // test client
	}}
}

// validate posts a review to the running webhook over HTTPS.
func (r *running) validate(t *testing.T, body string) (allowed bool, message string) {
	t.Helper()
	resp, err := httpsClient(tls.VersionTLS12, 0).Post("https://"+r.webhook+ValidatePath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(data), `"allowed":true`), string(data)
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

func TestServer_ServesTLS12AndUpButNotOlder(t *testing.T) {
	r := startServer(t, Options{})
	if resp, err := httpsClient(tls.VersionTLS10, tls.VersionTLS11).Get("https://" + r.webhook + ValidatePath); err == nil {
		resp.Body.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}
	allowed, body := r.validate(t, review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10))
	if !allowed {
		t.Errorf("no-op update denied: %s", body)
	}
}

func TestServer_TLSMinVersionCanBeRaised(t *testing.T) {
	r := startServer(t, Options{TLSMinVersion: tls.VersionTLS13})
	if resp, err := httpsClient(tls.VersionTLS12, tls.VersionTLS12).Get("https://" + r.webhook + ValidatePath); err == nil {
		resp.Body.Close()
		t.Error("TLS 1.2 handshake succeeded with a 1.3 minimum")
	}
}

func TestServer_ServesHTTP1EvenToClientsThatPreferHTTP2(t *testing.T) {
	r := startServer(t, Options{})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test client
		ForceAttemptHTTP2: true,
	}}
	resp, err := client.Post("https://"+r.webhook+ValidatePath, "application/json",
		strings.NewReader(review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10)))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.StatusCode != http.StatusOK {
		t.Errorf("got %s %d, want HTTP/1.1 200", resp.Proto, resp.StatusCode)
	}
}

func TestServer_BrokenPolicyReloadKeepsServingTheLastGoodOne(t *testing.T) {
	r := startServer(t, Options{})
	// A rise within the step cap: admitted unless a custom rule denies it.
	deny := review("UPDATE", "InferenceService", strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":30`, 1), isvcV2At10)
	if ok, body := r.validate(t, deny); !ok {
		t.Fatalf("10 → 30 denied by the shipped bundle: %s", body)
	}
	customDeny := "package canary_guard\n\ndeny contains {\"rule\": \"freeze\", \"msg\": \"change freeze\"} if input.request.operation == \"UPDATE\"\n"
	if err := os.WriteFile(filepath.Join(r.policyDir, "freeze.rego"), []byte(customDeny), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { ok, _ := r.validate(t, deny); return !ok }, "custom rule loaded")

	// A broken file: the freeze rule keeps applying, the failure is counted.
	if err := os.WriteFile(filepath.Join(r.policyDir, "broken.rego"), []byte("package canary_guard\n\ndeny contains x if {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		return strings.Contains(metricsText(t, r.metrics), `canary_guard_reloads_total{result="failure"} 1`)
	}, "reload failure counted")
	if ok, body := r.validate(t, deny); ok || !strings.Contains(body, "change freeze") {
		t.Errorf("after a broken reload the last good policy must still decide: %s", body)
	}
	if !strings.Contains(metricsText(t, r.metrics), "canary_guard_last_reload_successful 0") {
		t.Error("last reload not reported as failed")
	}

	// Fixing the file recovers.
	if err := os.Remove(filepath.Join(r.policyDir, "broken.rego")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r.policyDir, "freeze.rego")); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { ok, _ := r.validate(t, deny); return ok }, "fixed policy loaded")
}

func TestServer_EvalTimeoutStopsASlowRuleWithPolicyError(t *testing.T) {
	r := startServer(t, Options{EvalTimeout: 100 * time.Millisecond})
	step := review("UPDATE", "InferenceService", strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":30`, 1), isvcV2At10)
	slow := `package canary_guard

deny contains {"rule": "slow", "msg": "never reached"} if {
	some i in numbers.range(1, 1000)
	some j in numbers.range(1, 1000)
	some k in numbers.range(1, 1000)
	i * j * k < 0
}
`
	// Loaded by a reload: the timeout outlives the policy it started with.
	if err := os.WriteFile(filepath.Join(r.policyDir, "slow.rego"), []byte(slow), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { ok, _ := r.validate(t, step); return !ok }, "slow rule loaded")
	start := time.Now()
	ok, body := r.validate(t, step)
	if ok || !strings.Contains(body, "[policy-error]") {
		t.Errorf("want a [policy-error] denial: %s", body)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("answered after %v with --eval-timeout 100ms", elapsed)
	}
}

func TestServer_BrokenConfigReloadKeepsServingTheLastGoodOne(t *testing.T) {
	r := startServer(t, Options{})
	jump := review("UPDATE", "InferenceService", strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":40`, 1), isvcV2At10)
	if ok, _ := r.validate(t, jump); ok {
		t.Fatal("10 → 40 admitted with maxStepPercent 25")
	}
	if err := os.WriteFile(r.config, []byte("maxStepPercent: fifty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		return strings.Contains(metricsText(t, r.metrics), `canary_guard_reloads_total{result="failure"} 1`)
	}, "config reload failure counted")
	if ok, _ := r.validate(t, jump); ok {
		t.Error("broken config changed the decision")
	}
	if err := os.WriteFile(r.config, []byte("maxStepPercent: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { ok, _ := r.validate(t, jump); return ok }, "fixed config loaded")
}

// The policy and the configuration reload on their own: a namespace put in
// warn mode during an incident takes effect while a Rego file is broken,
// and a fixed rule while the configuration is.
func TestServer_GoodHalfOfAReloadTakesEffectBesideABrokenOne(t *testing.T) {
	r := startServer(t, Options{})
	// Written as a ConfigMap volume swaps them, whole: a reload that read
	// a half-written file would count a failure of its own.
	write := func(name, content string) {
		t.Helper()
		tmp := filepath.Join(filepath.Dir(name), ".tmp-"+filepath.Base(name))
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, name); err != nil {
			t.Fatal(err)
		}
	}
	step := review("UPDATE", "InferenceService", strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":30`, 1), isvcV2At10)
	freeze := "package canary_guard\n\ndeny contains {\"rule\": \"freeze\", \"msg\": \"change freeze\"} if input.request.operation == \"UPDATE\"\n"
	write(filepath.Join(r.policyDir, "freeze.rego"), freeze)
	eventually(t, func() bool { ok, _ := r.validate(t, step); return !ok }, "freeze rule loaded")
	before := metricsText(t, r.metrics)

	// A broken Rego file, then a configuration that puts every namespace
	// in warn mode: the freeze still decides, but only warns.
	write(filepath.Join(r.policyDir, "broken.rego"), "package canary_guard\n\ndeny contains x if {\n")
	eventually(t, func() bool {
		return strings.Contains(metricsText(t, r.metrics), `canary_guard_reloads_total{result="failure"} 1`)
	}, "policy reload failure counted")
	write(r.config, "enforcement: warn\n")
	eventually(t, func() bool { ok, body := r.validate(t, step); return ok && strings.Contains(body, "change freeze") }, "warn mode applied beside the broken policy")
	after := metricsText(t, r.metrics)
	if !strings.Contains(after, "canary_guard_last_reload_successful 0") {
		t.Error("a reload that left the policy behind is not reported as failed")
	}
	if policyInfo(before) == policyInfo(after) || !strings.Contains(policyInfo(after), `revision="`) {
		t.Errorf("canary_guard_policy_info does not show the new configuration: before %q, after %q", policyInfo(before), policyInfo(after))
	}

	// A broken configuration, then the policy fixed without the freeze:
	// the fixed policy serves, in the last good (warn) configuration.
	write(r.config, "enforcement: sometimes\n")
	eventually(t, func() bool {
		return strings.Contains(metricsText(t, r.metrics), `canary_guard_reloads_total{result="failure"} 3`)
	}, "configuration reload failure counted")
	for _, f := range []string{"broken.rego", "freeze.rego"} {
		if err := os.Remove(filepath.Join(r.policyDir, f)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() bool { ok, body := r.validate(t, step); return ok && !strings.Contains(body, "change freeze") }, "fixed policy applied beside the broken configuration")
}

// policyInfo is the canary_guard_policy_info line of a metrics text.
func policyInfo(metrics string) string {
	for line := range strings.SplitSeq(metrics, "\n") {
		if strings.HasPrefix(line, "canary_guard_policy_info{") {
			return line
		}
	}
	return ""
}

func TestServer_RotatedCertificateIsServedWithoutRestart(t *testing.T) {
	r := startServer(t, Options{})
	first := servedCert(t, r.webhook)
	writeCert(t, r.certDir)
	eventually(t, func() bool { return string(servedCert(t, r.webhook)) != string(first) }, "new certificate served")
	eventually(t, func() bool { return get(r.health, "/readyz") == http.StatusOK }, "ready with the new certificate")
}

func TestServer_ReadinessFollowsTheServedCertificateNotTheFilesOnDisk(t *testing.T) {
	r := startServer(t, Options{})
	first := servedCert(t, r.webhook)

	// A key that does not match the certificate: certwatcher keeps the
	// last good pair, and the replica stays ready while it serves it.
	writeAtomic(t, filepath.Join(r.certDir, "tls.key"), []byte("-----BEGIN EC PRIVATE KEY-----\nbm90IGEga2V5\n-----END EC PRIVATE KEY-----\n"))
	for range 20 {
		if code := get(r.health, "/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz = %d with a broken pair on disk, want 200 while the last good certificate is served", code)
		}
		if string(servedCert(t, r.webhook)) != string(first) {
			t.Fatal("the served certificate changed to a broken pair")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// An expired certificate, served: every call would fail verification.
	writeCertValid(t, r.certDir, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	eventually(t, func() bool { return string(servedCert(t, r.webhook)) != string(first) }, "the expired certificate served")
	eventually(t, func() bool { return get(r.health, "/readyz") == http.StatusServiceUnavailable }, "unready with an expired certificate")
}

func servedCert(t *testing.T, addr string) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test client
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

func TestServer_ShutdownKeepsServingUnreadyForTheDelay(t *testing.T) {
	r := startServer(t, Options{ShutdownDelay: 700 * time.Millisecond})
	r.cancel()
	eventually(t, func() bool { return get(r.health, "/readyz") == http.StatusServiceUnavailable }, "unready after SIGTERM")
	// Still answering admission requests during the delay.
	if ok, body := r.validate(t, review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10)); !ok {
		t.Errorf("request during the shutdown delay not answered: %s", body)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
		r.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after the delay")
	}
}

// TestServer_ShutdownDelayClosesKeptAliveConnections: the API server keeps
// its connections to a pod alive, and removing the pod from the Service's
// endpoints does not move an established connection. Answers during the
// shutdown delay therefore carry Connection: close, so the API server's
// next call dials again, through the Service, to a replica that stays;
// otherwise it would keep using this pod until Shutdown closes the idle
// connection, racing a request being written to it, which fails that
// request (a POST is not retried) and, with failurePolicy Fail, the
// user's write.
func TestServer_ShutdownDelayClosesKeptAliveConnections(t *testing.T) {
	r := startServer(t, Options{ShutdownDelay: 2 * time.Second})
	client := httpsClient(tls.VersionTLS12, 0)
	// Count the connections: the kept-alive one must still be there after
	// SIGTERM, and be closed only after its next answer.
	var dials atomic.Int32
	transport := client.Transport.(*http.Transport)
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	// post answers the status and whether the answer closes the connection.
	post := func() (status int, closes bool) {
		t.Helper()
		resp, err := client.Post("https://"+r.webhook+ValidatePath, "application/json",
			strings.NewReader(review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10)))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Close
	}
	if _, closes := post(); closes {
		t.Fatal("before SIGTERM: the answer closes the connection, want it kept alive")
	}
	r.cancel()
	eventually(t, func() bool { return get(r.health, "/readyz") == http.StatusServiceUnavailable }, "unready after SIGTERM")
	// Time for a close of the idle connection at SIGTERM to happen and
	// reach the client, which then dials again (or, racing it, fails).
	time.Sleep(200 * time.Millisecond)
	status, closes := post()
	if status != http.StatusOK {
		t.Errorf("during the shutdown delay: status %d, want an answer", status)
	}
	if !closes {
		t.Error("during the shutdown delay: the answer keeps the connection alive, want Connection: close")
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections dialled, want 1: SIGTERM closed the idle kept-alive connection the API server may be writing to", n)
	}
}

func TestNewServer_MissingCertificateIsAClearError(t *testing.T) {
	_, err := NewServer(context.Background(), Options{CertDir: t.TempDir()}, policy.Loader{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("err = %v, want one naming tls.crt", err)
	}
}

// A policy or configuration that does not load at start: the replica
// runs unready, so a rollout of the broken file stalls with the replicas
// serving the last good one in place, and names the file on /readyz. A
// request that reaches it all the same is refused where the rules would
// decide it; a rollback passes. Fixing the file makes it ready, without a
// restart.
func TestServer_BrokenFileAtStartIsUnreadyUntilFixed(t *testing.T) {
	step := review("UPDATE", "InferenceService", strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":30`, 1), isvcV2At10)
	rollback := review("UPDATE", "InferenceService", strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":0`, 1), isvcV2At10)
	tests := []struct {
		name, file, content, wantNamed string
	}{
		{"a policy that does not compile", "mine.rego", "package canary_guard\n\ndeny contains x if {\n  x := http.send({})\n}\n", "mine.rego:4"},
		{"a configuration with a bad value", "", "maxStepPercent: many\n", "maxStepPercent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var broken string
			r := startServerWith(t, Options{}, func(r *running) {
				broken = r.config
				if tt.file != "" {
					broken = filepath.Join(r.policyDir, tt.file)
				}
				if err := os.WriteFile(broken, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			})
			if err := r.srv.Guard().LoadError(); err == nil || !strings.Contains(err.Error(), tt.wantNamed) {
				t.Errorf("load error %v, want %s named", err, tt.wantNamed)
			}
			if body := getBody(t, r.health, "/readyz"); !strings.Contains(body, tt.wantNamed) {
				t.Errorf("/readyz says %q, want %s named", body, tt.wantNamed)
			}
			if ok, body := r.validate(t, step); ok || !strings.Contains(body, "[policy-error]") || !strings.Contains(body, tt.wantNamed) {
				t.Errorf("a step while the file is broken: allowed=%v %s, want a [policy-error] naming %s", ok, body, tt.wantNamed)
			}
			if ok, body := r.validate(t, rollback); !ok {
				t.Errorf("a rollback while the file is broken was refused: %s", body)
			}
			if m := metricsText(t, r.metrics); !strings.Contains(m, "canary_guard_last_reload_successful 0") ||
				!strings.Contains(m, `canary_guard_reloads_total{result="failure"} 1`) {
				t.Error("the failed load is not in the metrics")
			}
			if tt.file != "" {
				// Broken another way: the error named is the new one.
				if err := os.WriteFile(broken, []byte("package canary_guard\n\ndeny contains x if {\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				eventually(t, func() bool {
					err := r.srv.Guard().LoadError()
					return err != nil && strings.Contains(err.Error(), "rego_parse_error")
				}, "the second error named")
			}
			fixed := []byte("maxStepPercent: 25\n")
			if tt.file != "" {
				fixed = []byte("package canary_guard\n")
			}
			if err := os.WriteFile(broken, fixed, 0o600); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { ok, _ := r.validate(t, step); return ok }, "fixed file loaded")
			if err := r.srv.Guard().LoadError(); err != nil {
				t.Errorf("load error %v after the fix, want none", err)
			}
			eventually(t, func() bool { return get(r.health, "/readyz") == http.StatusOK }, "ready after the fix")
		})
	}
}

func TestServer_ProfilesOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		r := startServer(t, Options{EnableProfiling: enabled})
		resp, err := http.Get("http://" + r.metrics + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[enabled]; resp.StatusCode != want {
			t.Errorf("profiling %v: /debug/pprof/goroutine answered %s, want %d", enabled, resp.Status, want)
		}
		if !strings.Contains(metricsText(t, r.metrics), "canary_guard_reloads_total") {
			t.Errorf("profiling %v: /metrics is not served", enabled)
		}
	}
}

// TestServer_RuleReadingTheObjectSeesIt loads, while serving, a rule that
// reads input.object: the webhook hands the raw objects to the evaluation
// that needs them, whatever the policy was when the request arrived.
func TestServer_RuleReadingTheObjectSeesIt(t *testing.T) {
	r := startServer(t, Options{})
	to30 := strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":30`, 1)
	step := review("UPDATE", "InferenceService", to30, isvcV2At10)
	if ok, body := r.validate(t, step); !ok {
		t.Fatalf("10 → 30 denied by the shipped bundle: %s", body)
	}
	readsObject := "package canary_guard\n\ndeny contains {\"rule\": \"object-seen\", \"msg\": sprintf(\"object %s, old percent %d\", [input.object.metadata.name, input.oldObject.spec.predictor.canaryTrafficPercent])} if input.object.spec.predictor.canaryTrafficPercent == 30\n"
	if err := os.WriteFile(filepath.Join(r.policyDir, "object.rego"), []byte(readsObject), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { ok, _ := r.validate(t, step); return !ok }, "rule reading input.object loaded")
	if _, body := r.validate(t, step); !strings.Contains(body, "[object-seen] object my-model, old percent 10") {
		t.Errorf("the rule did not see the request's objects: %s", body)
	}
}

// TestServer_ReloadOfARefusedCustomFileKeepsTheLastGoodPolicy: what the
// loader refuses beyond compile errors takes the path of a broken file.
func TestServer_ReloadOfARefusedCustomFileKeepsTheLastGoodPolicy(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{name: "a rule named like a shipped helper", file: "package canary_guard\n\nentry_ok(c) if true\n",
			want: "team.rego:3: entry_ok is also defined by the shipped bundle"},
		{name: "a default deny", file: "package canary_guard\n\ndefault deny := set()\n",
			want: "team.rego:3: deny: a custom file may only add to deny"},
		{name: "a read of data outside the rules", file: "package canary_guard\n\nwarn contains \"x\" if \"gs://a\" in data.team_buckets\n",
			want: "team.rego:3: data.team_buckets: canary-guard reads only .rego files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certDir, policyDir := t.TempDir(), t.TempDir()
			writeCert(t, certDir)
			var logs bytes.Buffer
			srv, err := NewServer(context.Background(), Options{CertDir: certDir}, policy.Loader{PolicyDir: policyDir}, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			good := srv.Guard().Policy().Revision
			if err := os.WriteFile(filepath.Join(policyDir, "team.rego"), []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			srv.Reload(context.Background())
			if got := srv.Guard().Policy().Revision; got != good {
				t.Errorf("revision %s after the reload, want the last good %s", got, good)
			}
			if !strings.Contains(logs.String(), "policy failed to load; serving the last good policy") || !strings.Contains(logs.String(), tc.want) {
				t.Errorf("log lacks the failed reload naming %q:\n%s", tc.want, logs.String())
			}
		})
	}
}

// A release that ships a rule and the setting it goes with changes both
// files: one that fails to load holds back the other, so that no replica
// serves a pair that was never deployed.
func TestServer_HalvesChangedTogetherAreAppliedTogetherOrNotAtAll(t *testing.T) {
	certDir, policyDir := t.TempDir(), t.TempDir()
	writeCert(t, certDir)
	configFile := filepath.Join(t.TempDir(), "config.yaml")
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(configFile, "maxStepPercent: 10\n")
	var logs bytes.Buffer
	srv, err := NewServer(context.Background(), Options{CertDir: certDir}, policy.Loader{ConfigFile: configFile, PolicyDir: policyDir}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	good := srv.Guard().Config().Revision

	// Together: a broken rule and a configuration that leaves the cap to it.
	write(filepath.Join(policyDir, "cap.rego"), "package canary_guard\n\ndeny contains x if {\n")
	write(configFile, "maxStepPercent: 100\n")
	srv.Reload(context.Background())
	if got := srv.Guard().Config(); got.Revision != good || got.Defaults.MaxStepPercent != 10 {
		t.Errorf("configuration %s (maxStepPercent %d) served beside the policy that failed with it, want the last good %s", got.Revision, got.Defaults.MaxStepPercent, good)
	}
	if !strings.Contains(logs.String(), "reload failed; serving the last good policy and configuration") {
		t.Errorf("log lacks the failed reload:\n%s", logs.String())
	}

	// A failed read in between, the files then as they were: the release
	// stays refused as a whole.
	hidden := configFile + ".away"
	if err := os.Rename(configFile, hidden); err != nil {
		t.Fatal(err)
	}
	srv.Reload(context.Background())
	if err := os.Rename(hidden, configFile); err != nil {
		t.Fatal(err)
	}
	srv.Reload(context.Background())
	if got := srv.Guard().Config().Defaults.MaxStepPercent; got != 10 {
		t.Errorf("maxStepPercent %d after a failed read of the refused release, want the last good 10", got)
	}

	// Alone, later: the configuration is applied beside the broken rule.
	write(configFile, "maxStepPercent: 20\n")
	srv.Reload(context.Background())
	if got := srv.Guard().Config().Defaults.MaxStepPercent; got != 20 {
		t.Errorf("maxStepPercent %d after a configuration change alone, want 20", got)
	}
	if !strings.Contains(logs.String(), "configuration reloaded") || !strings.Contains(logs.String(), "policy failed to load; serving the last good policy") {
		t.Errorf("log lacks the partial reload:\n%s", logs.String())
	}
}

// A file that cannot be read is counted once as a failed reload, and once
// it reads again the replica reports its reload good, though the files
// are as they were.
func TestServer_UnreadableFileIsCountedOnceAndClearedWhenItReadsAgain(t *testing.T) {
	certDir, policyDir := t.TempDir(), t.TempDir()
	writeCert(t, certDir)
	configFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(configFile, []byte("maxStepPercent: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(context.Background(), Options{CertDir: certDir}, policy.Loader{ConfigFile: configFile, PolicyDir: policyDir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hidden := configFile + ".away"
	if err := os.Rename(configFile, hidden); err != nil {
		t.Fatal(err)
	}
	srv.Reload(context.Background())
	srv.Reload(context.Background())
	text := metricsOf(t, srv)
	if !strings.Contains(text, `canary_guard_reloads_total{result="failure"} 1`) || !strings.Contains(text, "canary_guard_last_reload_successful 0") {
		t.Errorf("after two reloads of a missing file, want one failure and last reload failed:\n%s", text)
	}
	if err := os.Rename(hidden, configFile); err != nil {
		t.Fatal(err)
	}
	srv.Reload(context.Background())
	if text := metricsOf(t, srv); !strings.Contains(text, "canary_guard_last_reload_successful 1") {
		t.Errorf("once the file reads again, want the last reload good:\n%s", text)
	}
}

// metricsOf is the metrics text of srv's registry.
func metricsOf(t *testing.T, srv *Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(srv.registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func TestServer_RuleEnforcementOfNoLoadedRuleIsLogged(t *testing.T) {
	const owner = "package canary_guard\n\ndeny contains {\"rule\": \"team-owner\", \"msg\": \"set an owner\"} if input.rollout.operation == \"CREATE\"\n"
	tests := []struct {
		name, policy, config string
		wantTypo             bool
	}{
		{name: "a rule of the policy", policy: owner, config: "ruleEnforcement: {team-owner: audit}\n"},
		{name: "a misspelt id", policy: owner, config: "ruleEnforcement: {team-ownr: audit}\n", wantTypo: true},
		// The start's fallback serves the shipped rules alone; the ids of
		// the custom file it could not load are no typos.
		{name: "a custom file that does not compile at start", policy: owner + "deny contains x if {\n", config: "ruleEnforcement: {team-owner: audit}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certDir, policyDir := t.TempDir(), t.TempDir()
			writeCert(t, certDir)
			config := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(config, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(policyDir, "team.rego"), []byte(tt.policy), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			if _, err := NewServer(context.Background(), Options{CertDir: certDir}, policy.Loader{PolicyDir: policyDir, ConfigFile: config},
				slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logs.String(), "no loaded deny or warn rule has the constant id"); got != tt.wantTypo {
				t.Errorf("rule id warning logged: %v, want %v:\n%s", got, tt.wantTypo, logs.String())
			}
		})
	}

	// A reload that removes the rule makes the setting name nothing.
	certDir, policyDir := t.TempDir(), t.TempDir()
	writeCert(t, certDir)
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte("ruleEnforcement: {team-owner: audit}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policyDir, "team.rego"), []byte(owner), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv, err := NewServer(context.Background(), Options{CertDir: certDir}, policy.Loader{PolicyDir: policyDir, ConfigFile: config}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(policyDir, "team.rego")); err != nil {
		t.Fatal(err)
	}
	srv.Reload(context.Background())
	if !strings.Contains(logs.String(), "ruleEnforcement.team-owner: no loaded deny or warn rule") {
		t.Errorf("log lacks the warning after the rule was removed:\n%s", logs.String())
	}
}
