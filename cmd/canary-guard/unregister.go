package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func newUnregisterCommand() *cobra.Command {
	var (
		kube kubeFlags
		name string
	)
	cmd := &cobra.Command{
		Use:   "unregister --webhook-configuration NAME",
		Short: "Delete canary-guard's webhook configurations, so the API server stops calling it",
		Long: `Delete the MutatingWebhookConfiguration and the ValidatingWebhookConfiguration
named NAME; one already gone is not an error. The chart runs it as a pre-delete
hook: helm uninstall deletes the Service and the Deployment before the webhook
configurations, and in between the API server would refuse every InferenceService
write (the validating webhook's failure policy is Fail). The backstop, a
ValidatingAdmissionPolicy, is left to helm: it refuses only full cutovers.`,
		Example: `  canary-guard unregister --webhook-configuration canary-guard`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return fmt.Errorf("--webhook-configuration: want the name of canary-guard's webhook configurations")
			}
			c, _, err := kube.client()
			if err != nil {
				return err
			}
			return unregister(cmd.Context(), c, name, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	kube.add(f, "not used: webhook configurations belong to no namespace")
	f.StringVar(&name, "webhook-configuration", "", "the name of the MutatingWebhookConfiguration and ValidatingWebhookConfiguration to delete")
	return cmd
}

// unregister deletes the mutating and validating webhook configurations
// named name, and says what it did. One already gone is not an error.
func unregister(ctx context.Context, c client.Client, name string, out io.Writer) error {
	meta := metav1.ObjectMeta{Name: name}
	for _, w := range []struct {
		kind string
		obj  client.Object
	}{
		{"MutatingWebhookConfiguration", &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: meta}},
		{"ValidatingWebhookConfiguration", &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: meta}},
	} {
		switch err := c.Delete(ctx, w.obj); {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(out, "%s %s: already gone\n", w.kind, name)
		case err != nil:
			return fmt.Errorf("deleting %s %s: %w", w.kind, name, err)
		default:
			fmt.Fprintf(out, "%s %s: deleted\n", w.kind, name)
		}
	}
	return nil
}
