package certs_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canary-guard/canary-guard/certs"
)

// The names the chart gives a release called canary-guard.
const (
	namespace      = "canary-guard"
	fullname       = "canary-guard"
	secretName     = fullname + "-tls"
	serviceAccount = fullname

	day          = 24 * time.Hour
	certValidity = 90 * day
	caValidity   = 120 * day
	renewBefore  = 15 * day
	overlap      = time.Minute
	// checkInterval is how often the test's replicas check; every wait
	// below polls at a fraction of it.
	checkInterval = 250 * time.Millisecond
	waitTimeout   = 20 * time.Second
)

// TestTwoReplicasShareOneRotatingCertificate runs two Managers ("replicas")
// against a real API server, with the chart's RBAC, and walks them
// through issuance, renewal, a CA rotation, the old CA's expiry, a
// garbage Secret and a change of leader. The replicas' clock is a fake
// that the test moves to make certificates fall due.
func TestTwoReplicasShareOneRotatingCertificate(t *testing.T) {
	c, user := startCluster(t)
	ctx := t.Context()
	started := time.Now()
	clock := &fakeClock{now: time.Now().Truncate(time.Second)}
	replicas := map[string]*replica{}
	for _, id := range []string{"replica-a", "replica-b"} {
		replicas[id] = startReplica(t, user, id, clock, checkInterval)
	}

	// 1. Both replicas get the one certificate the leader issues.
	for id, r := range replicas {
		if err := r.manager.WaitForCertificate(ctx, waitTimeout); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	secret := c.secret(ctx)
	leader := c.leaseHolder(ctx)
	if replicas[leader] == nil {
		t.Fatalf("Lease held by %q, want one of the replicas", leader)
	}
	if writers := c.secretWriters(ctx); !slices.Equal(writers, []string{leader}) {
		t.Fatalf("the Secret was written by %v, want only the leader %s", writers, leader)
	}
	if secret.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %q, want %q", secret.Type, corev1.SecretTypeTLS)
	}
	for _, key := range []string{certs.KeyServingCert, certs.KeyServingKey, certs.KeyCABundle, certs.KeyCAKey} {
		if len(secret.Data[key]) == 0 {
			t.Errorf("Secret lacks %s", key)
		}
	}
	c.waitFilesFollow(ctx, replicas)
	c.waitBundleInjected(ctx)
	firstCA := parseBundle(t, secret.Data[certs.KeyCABundle])
	if len(firstCA) != 1 {
		t.Fatalf("first bundle holds %d CAs, want 1", len(firstCA))
	}
	servingA := parseCert(t, secret.Data[certs.KeyServingCert])
	c.verify(servingA, clock.Now(), c.injectedBundle(ctx))
	t.Logf("1. issued and injected after %s", time.Since(started).Round(time.Millisecond))

	// 2. Renewal: the leader renews within renew-before of expiry; the
	// bundle (same CA) verifies the old and the new certificate alike.
	clock.Set(servingA.NotAfter.Add(-renewBefore + time.Minute))
	servingB := c.waitServingChange(ctx, servingA)
	c.waitFilesFollow(ctx, replicas)
	bundle := c.injectedBundle(ctx)
	c.verify(servingA, clock.Now(), bundle)
	c.verify(servingB, clock.Now(), bundle)
	if !issuedBy(servingB, firstCA[0]) {
		t.Fatal("the renewed certificate does not come from the CA")
	}
	t.Logf("2. renewed after %s", time.Since(started).Round(time.Millisecond))

	// 3. CA rotation: the new CA joins the bundle and is injected while
	// the replicas keep serving the old CA's certificate.
	clock.Set(firstCA[0].NotAfter.Add(-renewBefore + time.Minute))
	c.eventually(ctx, "the bundle to hold the old and the new CA", func(ctx context.Context) (bool, string) {
		s := c.secret(ctx)
		n := len(parseBundle(t, s.Data[certs.KeyCABundle]))
		return n == 2, fmt.Sprintf("%d CAs", n)
	})
	c.waitBundleInjected(ctx)
	rotated := c.secret(ctx)
	bothCAs := parseBundle(t, rotated.Data[certs.KeyCABundle])
	newCA := bothCAs[1]
	if !bothCAs[0].Equal(firstCA[0]) || newCA.Equal(firstCA[0]) {
		t.Fatal("the bundle is not [old CA, new CA]")
	}
	// The overlap: nothing moves while the clock stands within it.
	c.consistently(ctx, 6*checkInterval, "the old CA's certificate to be served through the overlap", func(ctx context.Context) (bool, string) {
		s := c.secret(ctx)
		if !bytes.Equal(s.Data[certs.KeyServingCert], pemOf(servingB)) {
			return false, "the Secret's certificate changed"
		}
		for id, r := range replicas {
			if crt := r.servedCert(t); !crt.Equal(servingB) {
				return false, id + "'s certificate changed"
			}
		}
		return true, ""
	})
	c.verify(servingB, clock.Now(), c.injectedBundle(ctx))

	// After the overlap the certificate moves to the new CA; the bundle
	// still verifies the old CA's certificate too.
	clock.Set(clock.Now().Add(2 * overlap))
	servingC := c.waitServingChange(ctx, servingB)
	if !issuedBy(servingC, newCA) {
		t.Fatal("after the overlap the certificate does not come from the new CA")
	}
	c.waitFilesFollow(ctx, replicas)
	bundle = c.injectedBundle(ctx)
	if n := len(parseBundle(t, bundle)); n != 2 {
		t.Fatalf("injected bundle holds %d CAs after the switch, want 2", n)
	}
	c.verify(servingB, clock.Now(), bundle)
	c.verify(servingC, clock.Now(), bundle)
	t.Logf("3. CA rotated after %s", time.Since(started).Round(time.Millisecond))

	// 4. Once the old CA has expired it leaves the bundle.
	clock.Set(firstCA[0].NotAfter.Add(time.Minute))
	c.eventually(ctx, "the expired CA to leave the bundle", func(ctx context.Context) (bool, string) {
		cas := parseBundle(t, c.secret(ctx).Data[certs.KeyCABundle])
		return len(cas) == 1 && cas[0].Equal(newCA), fmt.Sprintf("%d CAs", len(cas))
	})
	c.waitBundleInjected(ctx)
	c.verify(servingC, clock.Now(), c.injectedBundle(ctx))
	t.Logf("4. old CA dropped after %s", time.Since(started).Round(time.Millisecond))

	// 5. Garbage in the Secret (or a Secret deleted): the replicas never
	// write it; the leader replaces it with a bundle that keeps the CA the
	// webhooks trust beside a new one, and no serving pair, so the
	// replicas keep serving what every webhook verifies until the new CA
	// has been injected for the overlap.
	garbled := c.secret(ctx)
	garbled.Data[certs.KeyServingCert] = []byte("garbage")
	garbled.Data[certs.KeyServingKey] = []byte("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
	garbled.Data[certs.KeyCABundle] = []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
	if _, err := c.admin.CoreV1().Secrets(namespace).Update(ctx, garbled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var freshCA *x509.Certificate
	c.eventually(ctx, "the leader to replace the garbage", func(ctx context.Context) (bool, string) {
		if ok, why := c.servedTrusted(ctx, replicas, clock.Now()); !ok {
			c.t.Fatal(why)
		}
		cas, err := tryParseBundle(c.secret(ctx).Data[certs.KeyCABundle])
		if err != nil {
			return false, err.Error()
		}
		if len(cas) != 2 || !cas[0].Equal(newCA) {
			return false, fmt.Sprintf("%d CAs", len(cas))
		}
		freshCA = cas[1]
		return true, ""
	})
	c.waitBundleInjected(ctx)
	c.consistently(ctx, 6*checkInterval, "the replicas to keep the trusted certificate through the overlap", func(ctx context.Context) (bool, string) {
		if len(c.secret(ctx).Data[certs.KeyServingCert]) != 0 {
			return false, "a serving certificate was issued within the overlap"
		}
		for id, r := range replicas {
			if crt := r.servedCert(t); !crt.Equal(servingC) {
				return false, id + "'s certificate changed"
			}
		}
		return c.servedTrusted(ctx, replicas, clock.Now())
	})
	clock.Set(clock.Now().Add(2 * overlap))
	repairedCert := c.waitServingChange(ctx, servingC)
	if !issuedBy(repairedCert, freshCA) {
		t.Fatal("after the overlap the certificate does not come from the new CA")
	}
	c.waitFilesFollow(ctx, replicas)
	if ok, why := c.servedTrusted(ctx, replicas, clock.Now()); !ok {
		t.Fatal(why)
	}
	repaired := c.secret(ctx)
	t.Logf("5. garbage replaced after %s", time.Since(started).Round(time.Millisecond))

	// 6. The leader stops: the other replica takes over the Lease and the
	// next renewal.
	var follower string
	for id := range replicas {
		if id != leader {
			follower = id
		}
	}
	replicas[leader].stop(t)
	c.eventually(ctx, follower+" to take the Lease", func(ctx context.Context) (bool, string) {
		holder := c.leaseHolder(ctx)
		return holder == follower, "held by " + holder
	})
	current := parseCert(t, repaired.Data[certs.KeyServingCert])
	clock.Set(current.NotAfter.Add(-renewBefore + time.Minute))
	c.waitServingChange(ctx, current)
	c.waitFilesFollow(ctx, map[string]*replica{follower: replicas[follower]})
	if writers := c.secretWriters(ctx); !slices.Contains(writers, follower) {
		t.Fatalf("the Secret was written by %v, not by the new leader %s", writers, follower)
	}
	t.Logf("6. new leader renewed after %s", time.Since(started).Round(time.Millisecond))

	c.checkUnrelatedUntouched(ctx)
}

// cluster holds the test's view of the API server, as an administrator.
type cluster struct {
	t     *testing.T
	admin kubernetes.Interface
	// unrelated are the configurations that must stay as created.
	unrelatedMutating   *admissionregistrationv1.MutatingWebhookConfiguration
	unrelatedValidating *admissionregistrationv1.ValidatingWebhookConfiguration
}

// create makes the namespace, canary-guard's two webhook configurations
// (without a bundle, as the chart renders them) and two unrelated ones.
func (c *cluster) create(ctx context.Context) {
	t := c.t
	if _, err := c.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	unrelatedBundle := throwawayCA(t)
	mutating := c.admin.AdmissionregistrationV1().MutatingWebhookConfigurations()
	validating := c.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := mutating.Create(ctx, mutatingConfig(fullname, nil, "mutate.canary-guard.dev", "mutate-again.canary-guard.dev"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := validating.Create(ctx, validatingConfig(fullname, nil, "validate.canary-guard.dev"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if c.unrelatedMutating, err = mutating.Create(ctx, mutatingConfig(fullname+"-extra", unrelatedBundle, "extra.example.com"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if c.unrelatedValidating, err = validating.Create(ctx, validatingConfig("other-webhooks", unrelatedBundle, "other.example.com"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) checkUnrelatedUntouched(ctx context.Context) {
	t := c.t
	m, err := c.admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, c.unrelatedMutating.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.ResourceVersion != c.unrelatedMutating.ResourceVersion || !bytes.Equal(m.Webhooks[0].ClientConfig.CABundle, c.unrelatedMutating.Webhooks[0].ClientConfig.CABundle) {
		t.Errorf("MutatingWebhookConfiguration %s was changed", m.Name)
	}
	v, err := c.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, c.unrelatedValidating.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.ResourceVersion != c.unrelatedValidating.ResourceVersion || !bytes.Equal(v.Webhooks[0].ClientConfig.CABundle, c.unrelatedValidating.Webhooks[0].ClientConfig.CABundle) {
		t.Errorf("ValidatingWebhookConfiguration %s was changed", v.Name)
	}
}

func (c *cluster) secret(ctx context.Context) *corev1.Secret {
	c.t.Helper()
	s, err := c.admin.CoreV1().Secrets(namespace).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		c.t.Fatalf("reading the Secret: %v", err)
	}
	return s
}

func (c *cluster) leaseHolder(ctx context.Context) string {
	c.t.Helper()
	l, err := c.admin.CoordinationV1().Leases(namespace).Get(ctx, certs.LeaseName(secretName), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// secretWriters are the field managers (the replicas' user agents, their
// identities) that have written the Secret, sorted.
func (c *cluster) secretWriters(ctx context.Context) []string {
	var writers []string
	for _, f := range c.secret(ctx).ManagedFields {
		if !slices.Contains(writers, f.Manager) {
			writers = append(writers, f.Manager)
		}
	}
	slices.Sort(writers)
	return writers
}

// webhookBundles are the caBundles of every webhook of canary-guard's two
// configurations.
func (c *cluster) webhookBundles(ctx context.Context) [][]byte {
	c.t.Helper()
	m, err := c.admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, fullname, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	v, err := c.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, fullname, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out [][]byte
	for _, w := range m.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	for _, w := range v.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

// injectedBundle is the bundle every webhook holds (they must agree).
func (c *cluster) injectedBundle(ctx context.Context) []byte {
	c.t.Helper()
	bundles := c.webhookBundles(ctx)
	for _, b := range bundles[1:] {
		if !bytes.Equal(b, bundles[0]) {
			c.t.Fatal("the webhooks hold different bundles")
		}
	}
	return bundles[0]
}

// waitBundleInjected waits until every webhook holds the Secret's bundle
// and the Secret records it as injected.
func (c *cluster) waitBundleInjected(ctx context.Context) {
	c.eventually(ctx, "the Secret's CA bundle in every webhook", func(ctx context.Context) (bool, string) {
		s := c.secret(ctx)
		want := s.Data[certs.KeyCABundle]
		for i, b := range c.webhookBundles(ctx) {
			if !bytes.Equal(b, want) {
				return false, fmt.Sprintf("webhook %d holds another bundle", i)
			}
		}
		if s.Annotations[certs.AnnotationInjectedAt] == "" {
			return false, "injection not recorded"
		}
		return true, ""
	})
}

// waitServingChange waits for the Secret's certificate to differ from old
// and returns the new one.
func (c *cluster) waitServingChange(ctx context.Context, old *x509.Certificate) *x509.Certificate {
	var current *x509.Certificate
	c.eventually(ctx, "a new serving certificate in the Secret", func(ctx context.Context) (bool, string) {
		s := c.secret(ctx)
		crt, err := tryParseCert(s.Data[certs.KeyServingCert])
		if err != nil {
			return false, err.Error()
		}
		current = crt
		return !crt.Equal(old), "serial " + crt.SerialNumber.String()
	})
	return current
}

// waitFilesFollow waits until every replica's directory holds the Secret's pair.
func (c *cluster) waitFilesFollow(ctx context.Context, replicas map[string]*replica) {
	c.eventually(ctx, "every replica's files to hold the Secret's certificate", func(ctx context.Context) (bool, string) {
		s := c.secret(ctx)
		for id, r := range replicas {
			crt, key := r.files(c.t)
			if !bytes.Equal(crt, s.Data[certs.KeyServingCert]) || !bytes.Equal(key, s.Data[certs.KeyServingKey]) {
				return false, id + " is behind"
			}
		}
		return true, ""
	})
}

// servedTrusted reports whether every webhook's bundle verifies the
// certificate every replica serves, as the API server would.
func (c *cluster) servedTrusted(ctx context.Context, replicas map[string]*replica, now time.Time) (bool, string) {
	for i, bundle := range c.webhookBundles(ctx) {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(bundle) {
			return false, fmt.Sprintf("webhook %d holds no CA", i)
		}
		for id, r := range replicas {
			crt := r.servedCert(c.t)
			if _, err := crt.Verify(x509.VerifyOptions{
				DNSName: fullname + "." + namespace + ".svc", Roots: roots, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				return false, fmt.Sprintf("webhook %d does not verify %s's certificate: %v", i, id, err)
			}
		}
	}
	return true, ""
}

// verify checks that bundle verifies cert as the API server would, for
// the name it calls the webhook by.
func (c *cluster) verify(cert *x509.Certificate, now time.Time, bundle []byte) {
	c.t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		c.t.Fatal("the injected bundle holds no certificate")
	}
	_, err := cert.Verify(x509.VerifyOptions{
		DNSName:     fullname + "." + namespace + ".svc",
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		c.t.Fatalf("the injected bundle does not verify certificate %s: %v", cert.SerialNumber, err)
	}
}

// eventually polls cond until it holds or waitTimeout passes.
func (c *cluster) eventually(ctx context.Context, what string, cond func(context.Context) (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, state := cond(ctx)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %s for %s; last: %s", waitTimeout, what, state)
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(checkInterval / 5):
		}
	}
}

// consistently polls cond for d; it must hold every time.
func (c *cluster) consistently(ctx context.Context, d time.Duration, what string, cond func(context.Context) (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok, state := cond(ctx); !ok {
			c.t.Fatalf("expected %s: %s", what, state)
		}
		select {
		case <-ctx.Done():
			c.t.Fatal(ctx.Err())
		case <-time.After(checkInterval / 5):
		}
	}
}

// TestLeaderWritesAWipedBundleBackAtOnce: the leader watches its two
// webhook configurations, so a bundle another writer wipes (helm upgrade
// --force, a GitOps sync) is written back long before the next periodic
// check, which is an hour away here.
func TestLeaderWritesAWipedBundleBackAtOnce(t *testing.T) {
	c, user := startCluster(t)
	ctx := t.Context()
	clock := &fakeClock{now: time.Now().Truncate(time.Second)}
	r := startReplica(t, user, "replica-a", clock, time.Hour)
	if err := r.manager.WaitForCertificate(ctx, waitTimeout); err != nil {
		t.Fatal(err)
	}
	c.waitBundleInjected(ctx)
	want := c.injectedBundle(ctx)
	firstInjectedAt := c.secret(ctx).Annotations[certs.AnnotationInjectedAt]
	clock.Set(clock.Now().Add(time.Hour))

	validating := c.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	v, err := validating.Get(ctx, fullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Webhooks {
		v.Webhooks[i].ClientConfig.CABundle = nil
	}
	if _, err := validating.Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually(ctx, "the wiped CA bundle written back", func(ctx context.Context) (bool, string) {
		for i, b := range c.webhookBundles(ctx) {
			if !bytes.Equal(b, want) {
				return false, fmt.Sprintf("webhook %d holds %d bytes", i, len(b))
			}
		}
		return true, ""
	})
	// Written back, the bundle counts as injected from then: a CA switch
	// waits the overlap again.
	c.eventually(ctx, "the injection recorded again", func(ctx context.Context) (bool, string) {
		at := c.secret(ctx).Annotations[certs.AnnotationInjectedAt]
		return at != firstInjectedAt, "injected at " + at
	})
	c.checkUnrelatedUntouched(ctx)
}

// startCluster starts an API server with canary-guard's webhook
// configurations and the chart's RBAC, and returns the configuration of
// the chart's ServiceAccount: only the chart's Role and ClusterRole let a
// replica do anything.
func startCluster(t *testing.T) (*cluster, *rest.Config) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "kube-apiserver")); err != nil {
		if os.Getenv("CI") != "" {
			// make test builds the binaries first: in CI a skip would hide a broken build.
			t.Fatalf("%s/kube-apiserver missing: %v", bin, err)
		}
		t.Skipf("%s/kube-apiserver missing (make envtest-assets): %v", bin, err)
	}
	started := time.Now()
	env := &envtest.Environment{BinaryAssetsDirectory: bin}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	t.Logf("API server up in %s", time.Since(started).Round(time.Millisecond))

	ctx := t.Context()
	c := &cluster{t: t, admin: kubernetes.NewForConfigOrDie(cfg)}
	c.create(ctx)
	applyChartRBAC(ctx, t, c.admin, bin)
	// The replicas authenticate as the chart's ServiceAccount: only the
	// chart's Role and ClusterRole let them do anything.
	user, err := env.AddUser(envtest.User{
		Name:   "system:serviceaccount:" + namespace + ":" + serviceAccount,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, user.Config()
}

// replica is one running Manager.
type replica struct {
	manager *certs.Manager
	dir     string
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
}

func startReplica(t *testing.T, userConfig *rest.Config, identity string, clock *fakeClock, interval time.Duration) *replica {
	t.Helper()
	cfg := rest.CopyConfig(userConfig)
	// The user agent names the field manager of the replica's writes.
	cfg.UserAgent = identity
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), identity)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("replica", identity)
	m, err := certs.NewManager(client, certs.Options{
		Namespace:             namespace,
		SecretName:            secretName,
		ServiceName:           fullname,
		WebhookConfigurations: fullname,
		CertDir:               dir,
		Identity:              identity,
		CertValidity:          certValidity,
		CAValidity:            caValidity,
		RenewBefore:           renewBefore,
		CheckInterval:         interval,
		Overlap:               overlap,
		LeaseDuration:         4 * time.Second,
		RenewDeadline:         3 * time.Second,
		RetryPeriod:           500 * time.Millisecond,
		Now:                   clock.Now,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{manager: m, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- m.Run(ctx) }()
	// Registered after the API server's cleanup, so it runs before it.
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the replica and waits for Run to return, so nothing logs
// after the test.
func (r *replica) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
}

func (r *replica) files(t *testing.T) (crt, key []byte) {
	t.Helper()
	crt, errC := os.ReadFile(filepath.Join(r.dir, certs.KeyServingCert))
	key, errK := os.ReadFile(filepath.Join(r.dir, certs.KeyServingKey))
	if err := errors.Join(errC, errK); err != nil {
		t.Fatal(err)
	}
	return crt, key
}

// servedCert is the certificate in the replica's directory, which must
// be a valid pair. The key and the certificate are replaced one after the
// other (each atomically), so a reader between the two renames can see a
// mismatched pair for a moment, which the certwatcher rejects, keeping the
// old pair; a mismatch that lasts is a failure, and garbage never appears.
func (r *replica) servedCert(t *testing.T) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		crt, key := r.files(t)
		_, err := tls.X509KeyPair(crt, key)
		if err == nil {
			return parseCert(t, crt)
		}
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("%s holds an unusable pair: %v", r.dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// applyChartRBAC creates the chart's self-managed RBAC, rendered by helm
// when bin/ has it, else the same rules written out here.
func applyChartRBAC(ctx context.Context, t *testing.T, admin kubernetes.Interface, bin string) {
	t.Helper()
	helms, _ := filepath.Glob(filepath.Join(bin, "helm-v*"))
	if len(helms) == 0 {
		t.Log("no helm in bin/: applying a copy of charts/canary-guard/templates/rbac.yaml")
		applyRBACObjects(ctx, t, admin, rbacCopy())
		return
	}
	out, err := exec.CommandContext(ctx, helms[len(helms)-1], "template", fullname, filepath.Join("..", "charts", "canary-guard"),
		"--namespace", namespace, "--set", "certs.mode=self-managed", "--show-only", "templates/rbac.yaml").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var objects []any
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var meta metav1.TypeMeta
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch meta.Kind {
		case "Role":
			obj = &rbacv1.Role{}
		case "RoleBinding":
			obj = &rbacv1.RoleBinding{}
		case "ClusterRole":
			obj = &rbacv1.ClusterRole{}
		case "ClusterRoleBinding":
			obj = &rbacv1.ClusterRoleBinding{}
		case "":
			continue
		default:
			t.Fatalf("unexpected %s in rbac.yaml", meta.Kind)
		}
		if err := json.Unmarshal(raw, obj); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, obj)
	}
	if len(objects) != 4 {
		t.Fatalf("rbac.yaml rendered %d objects, want 4", len(objects))
	}
	applyRBACObjects(ctx, t, admin, objects)
}

func applyRBACObjects(ctx context.Context, t *testing.T, admin kubernetes.Interface, objects []any) {
	t.Helper()
	rbac := admin.RbacV1()
	for _, obj := range objects {
		var err error
		switch o := obj.(type) {
		case *rbacv1.Role:
			_, err = rbac.Roles(namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = rbac.RoleBindings(namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = rbac.ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = rbac.ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
	}
}

// rbacCopy is charts/canary-guard/templates/rbac.yaml for the release canary-guard.
func rbacCopy() []any {
	meta := metav1.ObjectMeta{Name: fullname, Namespace: namespace}
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: namespace}}
	return []any{
		&rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{secretName}, Verbs: []string{"get", "list", "watch", "update"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{certs.LeaseName(secretName)}, Verbs: []string{"get", "update"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: meta, Subjects: subjects, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: fullname}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fullname}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}, ResourceNames: []string{fullname}, Verbs: []string{"get", "update", "list", "watch"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fullname}, Subjects: subjects, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: fullname}},
	}
}

func mutatingConfig(name string, bundle []byte, webhooks ...string) *admissionregistrationv1.MutatingWebhookConfiguration {
	c := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, w := range webhooks {
		c.Webhooks = append(c.Webhooks, admissionregistrationv1.MutatingWebhook{
			Name:                    w,
			ClientConfig:            clientConfig(bundle),
			SideEffects:             ptr(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr(admissionregistrationv1.Ignore),
		})
	}
	return c
}

func validatingConfig(name string, bundle []byte, webhooks ...string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	c := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, w := range webhooks {
		c.Webhooks = append(c.Webhooks, admissionregistrationv1.ValidatingWebhook{
			Name:                    w,
			ClientConfig:            clientConfig(bundle),
			SideEffects:             ptr(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr(admissionregistrationv1.Ignore),
		})
	}
	return c
}

// clientConfig points at canary-guard's Service. The webhooks have no
// rules, so the API server never calls them.
func clientConfig(bundle []byte) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{
		Service:  &admissionregistrationv1.ServiceReference{Namespace: namespace, Name: fullname, Path: ptr("/x")},
		CABundle: bundle,
	}
}

func ptr[T any](v T) *T { return &v }

// throwawayCA is a CA certificate (PEM) of nobody's.
func throwawayCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unrelated CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(day), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// testWriter sends the replicas' logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func tryParseBundle(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

func parseBundle(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	cas, err := tryParseBundle(data)
	if err != nil {
		t.Fatalf("parsing bundle: %v", err)
	}
	return cas
}

func tryParseCert(data []byte) (*x509.Certificate, error) {
	cas, err := tryParseBundle(data)
	if err != nil {
		return nil, err
	}
	return cas[0], nil
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	c, err := tryParseCert(data)
	if err != nil {
		t.Fatalf("parsing certificate: %v", err)
	}
	return c
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func issuedBy(c, ca *x509.Certificate) bool { return c.CheckSignatureFrom(ca) == nil }
