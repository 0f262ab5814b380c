package certs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestInject_LeavesConfigurationsCertManagerInjects(t *testing.T) {
	const name = "canary-guard"
	old := []byte("bundle cert-manager wrote")
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annotationCertManagerInject: "canary-guard/canary-guard-tls"}},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "m.canary-guard.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: old}}},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "v.canary-guard.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: old}}},
	}
	client := fake.NewClientset(mutating, validating)
	m := &Manager{client: client, opts: Options{WebhookConfigurations: name}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	changed, err := m.inject(context.Background(), []byte("new bundle"))
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Error("changed = false, want true: the validating configuration took the bundle")
	}
	gotM, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotM.Webhooks[0].ClientConfig.CABundle, old) {
		t.Errorf("the configuration cert-manager injects got %q, want it left as %q", gotM.Webhooks[0].ClientConfig.CABundle, old)
	}
	gotV, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(gotV.Webhooks[0].ClientConfig.CABundle) != "new bundle" {
		t.Errorf("the other configuration holds %q, want the new bundle", gotV.Webhooks[0].ClientConfig.CABundle)
	}
}
