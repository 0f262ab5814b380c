package certs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

const testConfigName = "canary-guard"

// webhookConfigurations are canary-guard's two configurations holding
// bundle; the mutating one annotated for cert-manager when cmInjects.
func webhookConfigurations(bundle []byte, cmInjects bool) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: testConfigName},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "m.canary-guard.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: bundle}}},
	}
	if cmInjects {
		mutating.Annotations = map[string]string{annotationCertManagerInject: "canary-guard/canary-guard-tls"}
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: testConfigName},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "v.canary-guard.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: bundle}}},
	}
	return mutating, validating
}

func testManager(t *testing.T, client *fake.Clientset, now time.Time) *Manager {
	t.Helper()
	m, err := NewManager(client, Options{
		Namespace: "guard-system", SecretName: "canary-guard-tls", ServiceName: "canary-guard",
		WebhookConfigurations: testConfigName, CertDir: t.TempDir(), Identity: "replica-a",
		Now: func() time.Time { return now },
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInject_LeavesConfigurationsCertManagerInjects(t *testing.T) {
	old := []byte("bundle cert-manager wrote")
	mutating, validating := webhookConfigurations(old, true)
	client := fake.NewClientset(mutating, validating)
	m := testManager(t, client, t0)

	_, err := m.inject(context.Background(), []byte("new bundle"))
	if err == nil || !strings.Contains(err.Error(), "cert-manager injects it") {
		t.Errorf("inject error = %v, want one naming cert-manager's injection", err)
	}
	gotM, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), testConfigName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotM.Webhooks[0].ClientConfig.CABundle, old) {
		t.Errorf("the configuration cert-manager injects got %q, want it left as %q", gotM.Webhooks[0].ClientConfig.CABundle, old)
	}
	gotV, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), testConfigName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(gotV.Webhooks[0].ClientConfig.CABundle) != "new bundle" {
		t.Errorf("the other configuration holds %q, want the new bundle", gotV.Webhooks[0].ClientConfig.CABundle)
	}
}

func TestReconcile_NeverRecordsAnInjectionCertManagerHeldBack(t *testing.T) {
	// A CA rotation under way: [old, new], serving from old, or (a Secret
	// replaced under running replicas) no serving pair at all.
	names := DNSNames("canary-guard", "guard-system")
	oldCA := mustCA(t, t0, 365*day)
	newCA := mustCA(t, t0, 365*day)
	serving := mustServing(t, t0, 90*day, oldCA, names)
	for _, tc := range []struct {
		name   string
		secret secretOf
	}{
		{"serving from the old CA", secretOf{bundle: []*keyPair{oldCA, newCA}, signer: newCA, serving: serving}},
		{"no serving pair", secretOf{bundle: []*keyPair{oldCA, newCA}, signer: newCA, raw: map[string]string{KeyServingCert: "", KeyServingKey: ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := tc.secret.build()
			secret.Namespace = "guard-system"
			mutating, validating := webhookConfigurations(encodeBundle(certsOf([]*keyPair{oldCA})), true)
			client := fake.NewClientset(secret, mutating, validating)
			for _, now := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour), t0.Add(30 * day)} {
				m := testManager(t, client, now)
				if _, err := m.reconcile(context.Background()); err == nil {
					t.Errorf("reconcile at %s: no error, want cert-manager's injection reported", now)
				}
			}
			got, err := client.CoreV1().Secrets("guard-system").Get(context.Background(), "canary-guard-tls", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Annotations[AnnotationInjected] != "" {
				t.Error("the bundle was recorded as injected though cert-manager's configuration never took it")
			}
			if !bytes.Equal(got.Data[KeyServingCert], secret.Data[KeyServingCert]) {
				t.Error("the serving certificate moved to the new CA, which cert-manager's configuration does not trust")
			}
		})
	}
}

func TestApply_CreateKeepsTheCAsTheWebhooksTrust(t *testing.T) {
	trustedCA := mustCA(t, t0, 365*day)
	mutating, validating := webhookConfigurations(encodeBundle(certsOf([]*keyPair{trustedCA})), false)
	client := fake.NewClientset(mutating, validating)
	m := testManager(t, client, t0.Add(time.Hour))

	if _, err := m.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Secrets("guard-system").Get(context.Background(), "canary-guard-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cas, err := parseBundle(got.Data[KeyCABundle])
	if err != nil || len(cas) != 2 || !cas[0].Equal(trustedCA.cert) {
		t.Fatalf("bundle %d CAs (%v), want the trusted CA then a new one", len(cas), err)
	}
	if len(got.Data[KeyServingCert]) != 0 || len(got.Data[KeyServingKey]) != 0 {
		t.Error("a serving certificate from the new CA was issued before the webhooks trust it")
	}
	if got.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %q", got.Type)
	}
}

func TestReconcile_AMissingConfigurationNeedsNoBundle(t *testing.T) {
	trustedCA := mustCA(t, t0, 365*day)
	_, validating := webhookConfigurations(encodeBundle(certsOf([]*keyPair{trustedCA})), false)
	client := fake.NewClientset(validating) // no MutatingWebhookConfiguration
	m := testManager(t, client, t0.Add(time.Hour))
	if _, err := m.reconcile(context.Background()); err != nil {
		t.Fatalf("reconcile: %v, want a missing configuration to need nothing", err)
	}
	got, err := client.CoreV1().Secrets("guard-system").Get(context.Background(), "canary-guard-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[AnnotationInjected] != bundleHash(got.Data[KeyCABundle]) {
		t.Error("the injection into the configuration that exists was not recorded")
	}
}
