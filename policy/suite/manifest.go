package suite

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/canary-guard/canary-guard/policy"
	"github.com/canary-guard/canary-guard/webhook"
)

// The InferenceService API canary-guard guards.
const (
	isvcGroup      = "serving.kserve.io"
	isvcVersion    = "v1beta1"
	isvcKind       = "InferenceService"
	isvcResource   = "inferenceservices"
	isvcAPIVersion = isvcGroup + "/" + isvcVersion
)

// DefaultNamespace is the namespace of a request whose manifests name none,
// as kubectl uses it without a context namespace.
const DefaultNamespace = "default"

// ParseManifest returns, as JSON, the one InferenceService of a YAML or JSON
// manifest. A multi-document file, or a v1 List, may hold other kinds,
// which are skipped; it is an error unless exactly one InferenceService is
// found. Unknown fields are errors, as kubectl's strict field validation
// makes them, so a misspelt field does not silently drop out.
func ParseManifest(data []byte) ([]byte, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, err
	}
	var found [][]byte
	var others []string
	for len(docs) > 0 {
		doc := docs[0]
		docs = docs[1:]
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Items      []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("a document is not an object: %w", err)
		}
		switch {
		case meta.Kind == "List" && meta.APIVersion == "v1":
			docs = append(docs, rawDocs(meta.Items)...)
		case meta.Kind == isvcKind && meta.APIVersion == isvcAPIVersion:
			if err := checkFields(doc); err != nil {
				return nil, err
			}
			found = append(found, doc)
		case meta.Kind == isvcKind:
			return nil, fmt.Errorf("InferenceService with apiVersion %q: want %s", meta.APIVersion, isvcAPIVersion)
		case meta.Kind == "":
			return nil, errors.New("a document has no kind: want apiVersion " + isvcAPIVersion + " and kind " + isvcKind)
		default:
			others = append(others, meta.Kind)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		if len(others) == 0 {
			return nil, errors.New("no InferenceService: the manifest is empty")
		}
		return nil, fmt.Errorf("no InferenceService among the manifest's documents (%s)", strings.Join(others, ", "))
	default:
		return nil, fmt.Errorf("%d InferenceServices in one manifest: give exactly one", len(found))
	}
}

// splitDocuments returns the non-empty documents of a YAML or JSON stream,
// each converted to JSON.
func splitDocuments(data []byte) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading YAML: %w", err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("parsing YAML document %d: %w", len(out)+1, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
			continue
		}
		out = append(out, j)
	}
}

func rawDocs(items []json.RawMessage) [][]byte {
	out := make([][]byte, len(items))
	for i, item := range items {
		out[i] = item
	}
	return out
}

// checkFields refuses fields the InferenceService API does not have,
// matching names case-sensitively as the API server does.
func checkFields(doc []byte) error {
	var obj v1beta1.InferenceService
	strict, err := sigsjson.UnmarshalStrict(doc, &obj)
	if err != nil {
		return fmt.Errorf("InferenceService: %w", err)
	}
	if len(strict) > 0 {
		return fmt.Errorf("InferenceService: %w", errors.Join(strict...))
	}
	return nil
}

// Manifests describes an admission request made from InferenceService
// manifests, as `kubectl apply` would send it.
type Manifests struct {
	// Old is the stored object (ParseManifest's JSON); nil means CREATE.
	Old []byte
	// New is the object sent.
	New []byte
	// Namespace is the request's namespace; "" takes the manifests',
	// else DefaultNamespace.
	Namespace string
	User      string
	Groups    []string
	DryRun    bool
	// Apply says New is written by an apply of itself (kubectl apply, a
	// GitOps sync) over Old: what the manifest leaves out and the apply
	// did not set stays as Old has it (applyOver).
	Apply bool
	// FieldManager names the apply's field manager, whose managedFields
	// entry says what it set; "" takes every Apply entry for it.
	FieldManager string
}

// Request builds the admission request and decodes it as the webhooks do.
// The API server sets metadata.namespace on the objects it sends; so does
// Request. Manifests that disagree on the name or namespace are errors,
// as the API server refuses them.
func (m Manifests) Request() (*policy.Request, error) {
	newObj, err := objectMap(m.New, "new")
	if err != nil {
		return nil, err
	}
	var oldObj map[string]any
	if m.Old != nil {
		if oldObj, err = objectMap(m.Old, "old"); err != nil {
			return nil, err
		}
	}
	if m.Apply && oldObj != nil {
		if err := applyOver(newObj, oldObj, m.FieldManager); err != nil {
			return nil, err
		}
	}
	name, err := agree("metadata.name", metaString(newObj, "name"), metaString(oldObj, "name"))
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("the manifest has no metadata.name")
	}
	namespace, err := agree("metadata.namespace", metaString(newObj, "namespace"), metaString(oldObj, "namespace"))
	if err != nil {
		return nil, err
	}
	switch {
	case m.Namespace != "" && namespace != "" && m.Namespace != namespace:
		return nil, fmt.Errorf("the manifest's metadata.namespace %q differs from the request's namespace %q", namespace, m.Namespace)
	case m.Namespace != "":
		namespace = m.Namespace
	case namespace == "":
		namespace = DefaultNamespace
	}
	dryRun := m.DryRun
	req := &admissionv1.AdmissionRequest{
		UID:         "canary-guard-eval",
		Kind:        metav1.GroupVersionKind{Group: isvcGroup, Version: isvcVersion, Kind: isvcKind},
		Resource:    metav1.GroupVersionResource{Group: isvcGroup, Version: isvcVersion, Resource: isvcResource},
		Name:        name,
		Namespace:   namespace,
		Operation:   admissionv1.Create,
		UserInfo:    authenticationv1.UserInfo{Username: m.User, Groups: m.Groups},
		DryRun:      &dryRun,
		RequestKind: &metav1.GroupVersionKind{Group: isvcGroup, Version: isvcVersion, Kind: isvcKind},
	}
	if req.Object.Raw, err = withNamespace(newObj, namespace); err != nil {
		return nil, err
	}
	if oldObj != nil {
		req.Operation = admissionv1.Update
		if req.OldObject.Raw, err = withNamespace(oldObj, namespace); err != nil {
			return nil, err
		}
	}
	return webhook.DecodeRequest(req)
}

func objectMap(doc []byte, which string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // keep numbers exactly as written
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("%s object: %w", which, err)
	}
	return obj, nil
}

func metaString(obj map[string]any, key string) string {
	meta, _ := obj["metadata"].(map[string]any)
	s, _ := meta[key].(string)
	return s
}

// agree returns the non-empty value of a field in the new and old
// objects, or an error when they differ.
func agree(field string, vals ...string) (string, error) {
	out := ""
	for _, v := range vals {
		switch {
		case v == "":
		case out == "":
			out = v
		case v != out:
			return "", fmt.Errorf("%s differs between the new (%q) and old (%q) objects", field, out, v)
		}
	}
	return out, nil
}

// withNamespace sets metadata.namespace, as the API server does before
// admission, and returns the object's JSON.
func withNamespace(obj map[string]any, namespace string) ([]byte, error) {
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	meta["namespace"] = namespace
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding object: %w", err)
	}
	return raw, nil
}
