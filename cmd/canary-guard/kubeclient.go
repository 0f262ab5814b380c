package main

import (
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kubeFlags are the usual kubeconfig flags: --kubeconfig, --context and
// --namespace, resolved by client-go's loading rules (KUBECONFIG, ~/.kube/config, in-cluster).
type kubeFlags struct {
	kubeconfig string
	context    string
	namespace  string
}

// add registers the flags; namespaceHelp says what --namespace selects and
// its default, which differs between subcommands.
func (k *kubeFlags) add(f *pflag.FlagSet, namespaceHelp string) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&k.context, "context", "", "the kubeconfig context to use")
	f.StringVarP(&k.namespace, "namespace", "n", "", namespaceHelp)
}

func (k *kubeFlags) loader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
}

// restConfig returns the client configuration and the namespace to use.
func (k *kubeFlags) restConfig() (*rest.Config, string, error) {
	cc := k.loader()
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns := k.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, "", fmt.Errorf("reading the kubeconfig namespace: %w", err)
		}
	}
	return cfg, ns, nil
}

// client returns a client of the configured cluster (newClient) and the
// namespace to use.
func (k *kubeFlags) client() (client.Client, string, error) {
	cfg, ns, err := k.restConfig()
	if err != nil {
		return nil, "", err
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// newClient returns a client that knows core Kubernetes, KServe and cert-manager types.
func newClient(cfg *rest.Config) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := kservev1beta1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := cmapi.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	return c, nil
}

// metaListBySvc selects the EndpointSlices of a Service.
func metaListBySvc(service string) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service}
}
