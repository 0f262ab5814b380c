package load

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// Webhook paths of canary-guard serve (webhook.MutatePath and
// webhook.ValidatePath; repeated so the generator stays free of the
// server's dependencies).
const (
	MutatePath   = "/mutate-inferenceservice"
	ValidatePath = "/validate-inferenceservice"
)

//go:embed corpus/sklearn-iris.yaml
var baseObject []byte

const (
	modelV1 = "gs://kfserving-examples/models/sklearn/1.0/model"
	modelV2 = "gs://kfserving-examples/models/sklearn/1.0/model-2"
)

// Expect is the answer a case must get.
type Expect struct {
	Allowed bool
	// Patched: the answer carries a JSON patch.
	Patched bool
	// Rule is the rule id a denial names ("[max-step]").
	Rule string
	// Warning, when set, is a rule id a warning must name; NoWarnings
	// wants none. Unset, warnings are not checked.
	Warning    string
	NoWarnings bool
}

// Case is one AdmissionReview of the corpus and the answer it must get.
type Case struct {
	Name   string
	Path   string
	UID    string
	Body   []byte
	Expect Expect
}

// CorpusOptions shape the corpus.
type CorpusOptions struct {
	// Namespace of every request ("bench" when empty).
	Namespace string
}

// Corpus returns AdmissionReview v1 requests the API server sends for
// KServe's canary rollout, derived from one stored InferenceService
// (corpus/sklearn-iris.yaml, with its managed fields and status): the
// create, the model change the mutating webhook turns into a canary,
// steps, a refused jump, a rise on an unready canary, a rollback, the
// promotion, label-only updates and a Standard-mode canary field. The mix
// is admitted, denied and mutated answers, each checked by the generator.
func Corpus(opts CorpusOptions) ([]Case, error) {
	ns := opts.Namespace
	if ns == "" {
		ns = "bench"
	}
	var base map[string]any
	if err := yaml.Unmarshal(baseObject, &base); err != nil {
		return nil, fmt.Errorf("reading the corpus object: %w", err)
	}
	setPath(base, ns, "metadata", "namespace")

	stable := base
	// The request object of a create: no status, uid or generation yet.
	created := clone(base)
	for _, k := range []string{"uid", "resourceVersion", "generation", "finalizers", "creationTimestamp"} {
		delete(created["metadata"].(map[string]any), k)
	}
	delete(created, "status")

	modelChange := func(pct int) map[string]any {
		o := withGeneration(withModel(clone(stable), modelV2), 2)
		if pct >= 0 {
			setPath(o, int64(pct), "spec", "predictor", "canaryTrafficPercent")
		}
		return o
	}
	canary := func(pct int, ready bool) map[string]any {
		o := withCanaryStatus(modelChange(pct), pct, ready)
		return o
	}
	relabelled := withGeneration(clone(stable), 2)
	setPath(relabelled, "ml-serving", "metadata", "labels", "team")
	standardOld := clone(stable)
	setPath(standardOld, "RawDeployment", "metadata", "annotations", "serving.kserve.io/deploymentMode")
	setPath(standardOld, "RawDeployment", "status", "deploymentMode")
	standardNew := withGeneration(withModel(clone(standardOld), modelV2), 2)
	setPath(standardNew, int64(10), "spec", "predictor", "canaryTrafficPercent")

	// Each case goes to both webhooks, the mutating one first, as an API
	// server without matchConditions sends it (the chart's skip the
	// mutating webhook for several of them); the validating one sees the
	// object after the mutation.
	specs := []struct {
		name     string
		path     string
		op       admissionv1.Operation
		old, obj map[string]any
		expect   Expect
	}{
		{"create", MutatePath, admissionv1.Create, nil, created, Expect{Allowed: true}},
		{"create", ValidatePath, admissionv1.Create, nil, created, Expect{Allowed: true}},
		{"model change, canary injected", MutatePath, admissionv1.Update, stable, modelChange(-1), Expect{Allowed: true, Patched: true}},
		{"model change at 10", ValidatePath, admissionv1.Update, stable, modelChange(10), Expect{Allowed: true}},
		// As in a namespace with onModelChange: deny, or with the mutating
		// webhook skipped (its failure policy is Ignore).
		{"model change without canary", ValidatePath, admissionv1.Update, stable, modelChange(-1), Expect{Rule: "canary-required"}},
		{"step 10 to 35", MutatePath, admissionv1.Update, canary(10, true), withPercent(canary(10, true), 35), Expect{Allowed: true}},
		{"step 10 to 35", ValidatePath, admissionv1.Update, canary(10, true), withPercent(canary(10, true), 35), Expect{Allowed: true}},
		{"jump 10 to 100", MutatePath, admissionv1.Update, canary(10, true), withPercent(canary(10, true), 100), Expect{Allowed: true}},
		{"jump 10 to 100", ValidatePath, admissionv1.Update, canary(10, true), withPercent(canary(10, true), 100), Expect{Rule: "max-step"}},
		{"rise on an unready canary", MutatePath, admissionv1.Update, canary(10, false), withPercent(canary(10, false), 35), Expect{Allowed: true}},
		{"rise on an unready canary", ValidatePath, admissionv1.Update, canary(10, false), withPercent(canary(10, false), 35), Expect{Rule: "canary-not-ready"}},
		{"rollback 35 to 0", MutatePath, admissionv1.Update, canary(35, true), withPercent(canary(35, true), 0), Expect{Allowed: true}},
		{"rollback 35 to 0", ValidatePath, admissionv1.Update, canary(35, true), withPercent(canary(35, true), 0), Expect{Allowed: true}},
		{"promote from 85", MutatePath, admissionv1.Update, canary(85, true), withPercent(canary(85, true), -1), Expect{Allowed: true}},
		{"promote from 85", ValidatePath, admissionv1.Update, canary(85, true), withPercent(canary(85, true), -1), Expect{Allowed: true}},
		{"label change", MutatePath, admissionv1.Update, stable, relabelled, Expect{Allowed: true}},
		{"label change", ValidatePath, admissionv1.Update, stable, relabelled, Expect{Allowed: true}},
		{"Standard mode canary field", MutatePath, admissionv1.Update, standardOld, standardNew, Expect{Allowed: true}},
		{"Standard mode canary field", ValidatePath, admissionv1.Update, standardOld, standardNew, Expect{Rule: "standard-canary-required"}},
	}
	cases := make([]Case, 0, len(specs))
	for i, s := range specs {
		uid := fmt.Sprintf("0b7c5a3e-load-%04d-0000-%012d", i, i)
		body, err := review(uid, ns, s.op, s.obj, s.old)
		if err != nil {
			return nil, fmt.Errorf("corpus case %q: %w", s.name, err)
		}
		webhook := "validate"
		if s.path == MutatePath {
			webhook = "mutate"
		}
		cases = append(cases, Case{Name: webhook + ": " + s.name, Path: s.path, UID: uid, Body: body, Expect: s.expect})
	}
	return cases, nil
}

func review(uid, ns string, op admissionv1.Operation, obj, old map[string]any) ([]byte, error) {
	raw := func(o any) (runtime.RawExtension, error) {
		if o == nil {
			return runtime.RawExtension{}, nil
		}
		b, err := json.Marshal(o)
		return runtime.RawExtension{Raw: b}, err
	}
	object, err := raw(obj)
	if err != nil {
		return nil, err
	}
	oldObject, err := raw(old)
	if err != nil {
		return nil, err
	}
	gvk := metav1.GroupVersionKind{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"}
	gvr := metav1.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	options := `{"kind":"UpdateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-client-side-apply","fieldValidation":"Strict"}`
	if op == admissionv1.Create {
		options = `{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-client-side-apply","fieldValidation":"Strict"}`
	}
	dryRun := false
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID(uid),
			Kind:            gvk,
			Resource:        gvr,
			RequestKind:     &gvk,
			RequestResource: &gvr,
			Name:            "sklearn-iris",
			Namespace:       ns,
			Operation:       op,
			UserInfo: authenticationv1.UserInfo{
				Username: "alice@example.com",
				UID:      "a1c3e5f7-0000-4000-8000-000000000001",
				Groups:   []string{"ml-engineers", "system:authenticated"},
			},
			Object:    object,
			OldObject: oldObject,
			DryRun:    &dryRun,
			Options:   runtime.RawExtension{Raw: []byte(options)},
		},
	}
	return json.Marshal(r)
}

// clone deep-copies a JSON-shaped object.
func clone(o map[string]any) map[string]any {
	return runtime.DeepCopyJSON(o)
}

func setPath(o map[string]any, value any, path ...string) {
	for _, k := range path[:len(path)-1] {
		next, ok := o[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			o[k] = next
		}
		o = next
	}
	o[path[len(path)-1]] = value
}

func withModel(o map[string]any, uri string) map[string]any {
	setPath(o, uri, "spec", "predictor", "model", "storageUri")
	return o
}

func withGeneration(o map[string]any, g int64) map[string]any {
	setPath(o, g, "metadata", "generation")
	setPath(o, strconv.FormatInt(48213+g, 10), "metadata", "resourceVersion")
	return o
}

// withPercent sets the predictor's canaryTrafficPercent (< 0: removes it).
func withPercent(o map[string]any, pct int) map[string]any {
	o = clone(o)
	predictor := o["spec"].(map[string]any)["predictor"].(map[string]any)
	if pct < 0 {
		delete(predictor, "canaryTrafficPercent")
	} else {
		predictor["canaryTrafficPercent"] = int64(pct)
	}
	return o
}

// withCanaryStatus writes the status KServe's controller reports while
// revision 00002 takes pct % of the traffic (ready: it is ready).
func withCanaryStatus(o map[string]any, pct int, ready bool) map[string]any {
	if pct < 0 {
		pct = 100
	}
	p := "sklearn-iris-predictor-"
	readyRevision := p + "00002"
	if !ready {
		readyRevision = p + "00001"
	}
	predictor := o["status"].(map[string]any)["components"].(map[string]any)["predictor"].(map[string]any)
	predictor["latestCreatedRevision"] = p + "00002"
	predictor["latestReadyRevision"] = readyRevision
	predictor["latestRolledoutRevision"] = p + "00001"
	predictor["traffic"] = []any{
		map[string]any{"latestRevision": true, "percent": int64(pct), "revisionName": p + "00002", "tag": "latest",
			"url": "http://latest-sklearn-iris-predictor.bench.example.com"},
		map[string]any{"latestRevision": false, "percent": int64(100 - pct), "revisionName": p + "00001", "tag": "prev",
			"url": "http://prev-sklearn-iris-predictor.bench.example.com"},
	}
	setPath(o, int64(2), "status", "observedGeneration")
	return o
}

// AdmitAll returns the cases expecting plain admission: the answers of
// the no-op baseline, which checks nothing.
func AdmitAll(cases []Case) []Case {
	out := slices.Clone(cases)
	for i := range out {
		out[i].Expect = Expect{Allowed: true}
	}
	return out
}
