package policy

import (
	"context"
	"testing"
	"time"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"sigs.k8s.io/yaml"
)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// isvc parses an InferenceService manifest.
func isvc(t testing.TB, manifest string) *v1beta1.InferenceService {
	t.Helper()
	obj := &v1beta1.InferenceService{}
	if err := yaml.UnmarshalStrict([]byte(manifest), obj); err != nil {
		t.Fatalf("parsing manifest: %v\n%s", err, manifest)
	}
	return obj
}

// update builds an UPDATE request from two manifests.
func update(t testing.TB, oldManifest, newManifest string) *Request {
	t.Helper()
	return &Request{
		Operation: OperationUpdate, Namespace: "models", Name: "my-model",
		User:      UserInfo{Username: "alice", Groups: []string{"ml-engineers"}},
		OldObject: isvc(t, oldManifest), Object: isvc(t, newManifest),
	}
}

// shippedPolicy compiles the shipped bundle.
func shippedPolicy(t testing.TB) *Policy {
	t.Helper()
	return policyWith(t)
}

// policyWith compiles the shipped bundle with custom sources beside it,
// as canary-guard serve compiles a policy directory.
func policyWith(t testing.TB, custom ...Source) *Policy {
	t.Helper()
	src, err := ShippedSources()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(context.Background(), append(src, custom...))
	if err != nil {
		t.Fatalf("compiling the shipped bundle with %d custom sources: %v", len(custom), err)
	}
	return p
}

// guardWith is a guard with the default configuration, the shipped bundle
// and custom sources.
func guardWith(t testing.TB, custom ...Source) *Guard {
	t.Helper()
	g, err := NewGuard(policyWith(t, custom...), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// newGuard returns a guard with the shipped bundle and the given config YAML.
func newGuard(t testing.TB, configYAML string) *Guard {
	t.Helper()
	cfg, err := ParseConfig([]byte(configYAML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g, err := NewGuard(shippedPolicy(t), cfg, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	return g
}
