package main

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestUnregister_DeletesBothWebhookConfigurationsAndOnlyThem(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: meta("canary-guard")},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: meta("canary-guard")},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: meta("kserve-webhook-server")},
	).Build()
	ctx := context.Background()

	var out strings.Builder
	if err := unregister(ctx, c, "canary-guard", &out); err != nil {
		t.Fatal(err)
	}
	want := "MutatingWebhookConfiguration canary-guard: deleted\nValidatingWebhookConfiguration canary-guard: deleted\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	for _, obj := range []client.Object{&admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}} {
		if err := c.Get(ctx, client.ObjectKey{Name: "canary-guard"}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T canary-guard still there: %v", obj, err)
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "kserve-webhook-server"}, &admissionregistrationv1.ValidatingWebhookConfiguration{}); err != nil {
		t.Errorf("another webhook configuration was touched: %v", err)
	}

	// Run again (a retried hook): nothing left to delete is no error.
	out.Reset()
	if err := unregister(ctx, c, "canary-guard", &out); err != nil {
		t.Fatalf("a second run failed: %v", err)
	}
	if !strings.Contains(out.String(), "MutatingWebhookConfiguration canary-guard: already gone") {
		t.Errorf("second run said %q", out.String())
	}
}
