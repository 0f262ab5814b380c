package suite

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/canary-guard/canary-guard/policy"
)

const isvcDoc = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: my-model}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1"}
`

func TestParseManifest_FindsExactlyOneInferenceService(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		wantErr  string
	}{
		{name: "one YAML document", manifest: isvcDoc},
		{name: "JSON", manifest: `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"my-model"},"spec":{"predictor":{}}}`},
		{name: "other kinds around it are skipped", manifest: "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n---\n" + isvcDoc + "---\n"},
		{name: "a v1 List", manifest: `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"my-model"},"spec":{"predictor":{}}}]}`},
		{name: "two InferenceServices", manifest: isvcDoc + "---\n" + isvcDoc, wantErr: "2 InferenceServices in one manifest: give exactly one"},
		{name: "none", manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", wantErr: "no InferenceService among the manifest's documents (ConfigMap)"},
		{name: "empty", manifest: "# nothing\n", wantErr: "the manifest is empty"},
		{name: "no kind", manifest: "metadata: {name: a}\n", wantErr: "a document has no kind"},
		{name: "another API version", manifest: strings.Replace(isvcDoc, "v1beta1", "v1alpha1", 1), wantErr: `InferenceService with apiVersion "serving.kserve.io/v1alpha1"`},
		{name: "a misspelt field", manifest: strings.Replace(isvcDoc, "storageUri", "storageUrl", 1), wantErr: `unknown field "spec.predictor.model.storageUrl"`},
		{name: "a field in the wrong case", manifest: strings.Replace(isvcDoc, "storageUri", "storageURI", 1), wantErr: `unknown field "spec.predictor.model.storageURI"`},
		{name: "YAML that does not parse", manifest: "spec: [", wantErr: "YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := ParseManifest([]byte(tc.manifest))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(doc) || !strings.Contains(string(doc), `"InferenceService"`) {
				t.Errorf("doc = %s", doc)
			}
		})
	}
}

func TestManifests_RequestIsWhatTheAPIServerWouldSend(t *testing.T) {
	doc := func(namespace string) []byte {
		m := isvcDoc
		if namespace != "" {
			m = strings.Replace(m, "{name: my-model}", "{name: my-model, namespace: "+namespace+"}", 1)
		}
		out, err := ParseManifest([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name          string
		m             Manifests
		wantOp        string
		wantNamespace string
		wantErr       string
	}{
		{name: "no old object is a CREATE in the default namespace", m: Manifests{New: doc("")}, wantOp: policy.OperationCreate, wantNamespace: "default"},
		{name: "the manifest's namespace", m: Manifests{New: doc("models"), Old: doc("")}, wantOp: policy.OperationUpdate, wantNamespace: "models"},
		{name: "the request's namespace", m: Manifests{New: doc(""), Old: doc(""), Namespace: "prod-eu"}, wantOp: policy.OperationUpdate, wantNamespace: "prod-eu"},
		{name: "a manifest in another namespace than the request", m: Manifests{New: doc("models"), Namespace: "prod-eu"}, wantErr: `the manifest's metadata.namespace "models" differs from the request's namespace "prod-eu"`},
		{name: "old and new in different namespaces", m: Manifests{New: doc("a"), Old: doc("b")}, wantErr: `metadata.namespace differs between the new ("a") and old ("b") objects`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.User, tc.m.Groups, tc.m.DryRun = "alice", []string{"ml"}, true
			r, err := tc.m.Request()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Operation != tc.wantOp || r.Namespace != tc.wantNamespace || r.Name != "my-model" {
				t.Errorf("operation=%s namespace=%s name=%s", r.Operation, r.Namespace, r.Name)
			}
			if r.User.Username != "alice" || len(r.User.Groups) != 1 || !r.DryRun {
				t.Errorf("user=%+v dryRun=%v", r.User, r.DryRun)
			}
			if r.Object.Namespace != tc.wantNamespace || !strings.Contains(string(r.ObjectJSON), `"namespace":"`+tc.wantNamespace+`"`) {
				t.Errorf("the object's namespace is not set: %s", r.ObjectJSON)
			}
			if (r.OldObject != nil) != (tc.wantOp == policy.OperationUpdate) {
				t.Errorf("oldObject = %v for %s", r.OldObject, tc.wantOp)
			}
		})
	}
}

func TestEvaluate_ValidatesThePatchedObject(t *testing.T) {
	old := `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: my-model}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1"}
`
	newModel := strings.Replace(old, "gs://models/v1", "gs://models/v2", 1)
	m := Manifests{}
	var err error
	if m.Old, err = ParseManifest([]byte(old)); err != nil {
		t.Fatal(err)
	}
	if m.New, err = ParseManifest([]byte(newModel)); err != nil {
		t.Fatal(err)
	}
	req, err := m.Request()
	if err != nil {
		t.Fatal(err)
	}
	p, cfg, err := policy.Loader{}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := policy.NewGuard(p, cfg)
	if err != nil {
		t.Fatal(err)
	}

	// Unpatched, the model change has no canary and is denied.
	d, err := g.Validate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed {
		t.Fatal("the unpatched model change was admitted; the test needs one the mutation fixes")
	}

	out, err := Evaluate(context.Background(), g, req)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Allowed() {
		t.Errorf("the patched model change was denied: %v", out.Denials())
	}
	if p, err := out.Percent("predictor"); err != nil || p == nil || *p != 10 {
		t.Errorf("patched percent = %v (%v), want 10", p, err)
	}
	if !strings.Contains(string(out.Patched), `"canaryTrafficPercent":10`) || !strings.Contains(string(out.Patched), `"serving.kserve.io/enable-tag-routing":"true"`) {
		t.Errorf("patched object = %s", out.Patched)
	}
	if strings.Contains(string(req.ObjectJSON), "canaryTrafficPercent") {
		t.Error("Evaluate changed the request it was given")
	}
	if got := out.Warnings(); len(got) != 1 || got[0].Rule != "canary-injected" {
		t.Errorf("warnings = %v, want the mutating webhook's", got)
	}
}

func TestApplyPatches_FailsOnAPathThatDoesNotExist(t *testing.T) {
	_, err := ApplyPatches([]byte(`{"spec":{}}`), []policy.PatchOp{{Op: "replace", Path: "/spec/predictor/canaryTrafficPercent", Value: 10}})
	if err == nil || !strings.Contains(err.Error(), "applying patches") {
		t.Errorf("error = %v, want a failed patch", err)
	}
}
