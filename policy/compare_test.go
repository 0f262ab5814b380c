package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Tests of the form-agnostic comparison of components, seen through
// BuildFacts: which changes swap the served model, which only make a new
// revision, and which are differences of form that KServe's defaulter
// makes on its own.

// predictorManifest renders an InferenceService whose spec.predictor is
// made of the given YAML lines (flow style, one top-level key a line).
func predictorManifest(lines ...string) string {
	return manifestWithMeta("", lines...)
}

// manifestWithMeta is predictorManifest with extra flow-style metadata
// fields, e.g. `labels: {team: a}`.
func manifestWithMeta(meta string, lines ...string) string {
	var b strings.Builder
	b.WriteString("metadata: {name: my-model, namespace: models")
	if meta != "" {
		b.WriteString(", " + meta)
	}
	b.WriteString("}\nspec:\n  predictor:\n")
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// defaultFactsOptions are the options of the tests: shipped settings and
// the fixed clock.
func defaultFactsOptions() FactsOptions {
	s := DefaultSettings()
	return FactsOptions{Settings: &s, Now: testNow}
}

// mustBuildFacts builds facts and fails the test on an error.
func mustBuildFacts(t *testing.T, req *Request, opts FactsOptions) *Facts {
	t.Helper()
	f, err := BuildFacts(req, opts)
	if err != nil {
		t.Fatalf("BuildFacts: %v", err)
	}
	return f
}

// updateFacts builds the facts of an UPDATE from old to new with the
// default settings.
func updateFacts(t *testing.T, oldManifest, newManifest string) *Facts {
	t.Helper()
	return mustBuildFacts(t, update(t, oldManifest, newManifest), defaultFactsOptions())
}

// component returns the component with the given id, failing the test
// when there is none.
func componentByID(t *testing.T, f *Facts, id string) *ComponentFacts {
	t.Helper()
	for i := range f.Components {
		if f.Components[i].ID == id {
			return &f.Components[i]
		}
	}
	ids := make([]string, len(f.Components))
	for i := range f.Components {
		ids[i] = f.Components[i].ID
	}
	t.Fatalf("no component %q in %v", id, ids)
	return nil
}

const sklearnV1 = `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"}`

func TestCompare_EveryModelFieldIsAModelChange(t *testing.T) {
	customV1 := `containers: [{name: kserve-container, image: "registry.example/server:1", env: [{name: STORAGE_URI, value: "gs://models/custom/v1"}]}]`
	tests := []struct {
		name      string
		old, new  []string
		wantField string
	}{
		{"storageUri",
			[]string{sklearnV1},
			[]string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`},
			"spec.predictor.model.storageUri"},
		{"legacy framework storageUri, reported in model form",
			[]string{`sklearn: {storageUri: "gs://models/iris/v1"}`},
			[]string{`sklearn: {storageUri: "gs://models/iris/v2"}`},
			"spec.predictor.model.storageUri"},
		{"storage.key",
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris/v1}}`},
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-b, path: iris/v1}}`},
			"spec.predictor.model.storage"},
		{"storage.path",
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris/v1}}`},
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris/v2}}`},
			"spec.predictor.model.storage"},
		{"storage.parameters",
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris, parameters: {bucket: models-a}}}`},
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris, parameters: {bucket: models-b}}}`},
			"spec.predictor.model.storage"},
		{"confidential enabled",
			[]string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/enc", confidential: {enabled: false, resourceId: "kbs:///repo/key/1"}}`},
			[]string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/enc", confidential: {enabled: true, resourceId: "kbs:///repo/key/1"}}`},
			"spec.predictor.model.confidential"},
		{"confidential resourceId (the decryption key)",
			[]string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/enc", confidential: {enabled: true, resourceId: "kbs:///repo/key/1"}}`},
			[]string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/enc", confidential: {enabled: true, resourceId: "kbs:///repo/key/2"}}`},
			"spec.predictor.model.confidential"},
		{"storageUris uri",
			[]string{sklearnV1, `storageUris: [{uri: "gs://models/extra/v1", mountPath: /mnt/extra}]`},
			[]string{sklearnV1, `storageUris: [{uri: "gs://models/extra/v2", mountPath: /mnt/extra}]`},
			"spec.predictor.storageUris"},
		{"storageUris mountPath",
			[]string{sklearnV1, `storageUris: [{uri: "gs://models/extra/v1", mountPath: /mnt/extra}]`},
			[]string{sklearnV1, `storageUris: [{uri: "gs://models/extra/v1", mountPath: /mnt/other}]`},
			"spec.predictor.storageUris"},
		{"storageContainerName",
			[]string{sklearnV1, `storageContainerName: s3-default`},
			[]string{sklearnV1, `storageContainerName: s3-mirror`},
			"spec.predictor.storageContainerName"},
		{"storageContainerName beside a custom container's STORAGE_URI",
			[]string{customV1, `storageContainerName: s3-default`},
			[]string{customV1, `storageContainerName: s3-mirror`},
			"spec.predictor.storageContainerName"},
		{"storageContainerName beside storageUris",
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris}}`, `storageUris: [{uri: "gs://models/extra/v1", mountPath: /mnt/extra}]`, `storageContainerName: s3-default`},
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris}}`, `storageUris: [{uri: "gs://models/extra/v1", mountPath: /mnt/extra}]`, `storageContainerName: s3-mirror`},
			"spec.predictor.storageContainerName"},
		{"STORAGE_URI env of kserve-container in a custom predictor",
			[]string{customV1},
			[]string{`containers: [{name: kserve-container, image: "registry.example/server:1", env: [{name: STORAGE_URI, value: "gs://models/custom/v2"}]}]`},
			"spec.predictor.containers"},
		{"modelFormat name",
			[]string{sklearnV1},
			[]string{`model: {modelFormat: {name: xgboost}, storageUri: "gs://models/iris/v1"}`},
			"spec.predictor.model.modelFormat"},
		{"runtime",
			[]string{`model: {modelFormat: {name: sklearn}, runtime: kserve-sklearnserver, storageUri: "gs://models/iris/v1"}`},
			[]string{`model: {modelFormat: {name: sklearn}, runtime: kserve-mlserver, storageUri: "gs://models/iris/v1"}`},
			"spec.predictor.model.runtime"},
		{"runtimeVersion",
			[]string{`model: {modelFormat: {name: sklearn}, runtimeVersion: "1.3.0", storageUri: "gs://models/iris/v1"}`},
			[]string{`model: {modelFormat: {name: sklearn}, runtimeVersion: "1.5.0", storageUri: "gs://models/iris/v1"}`},
			"spec.predictor.model.runtimeVersion"},
		// TorchServe's pods get the protocol (PROTOCOL_VERSION); other
		// runtimes' do not (TestCompare_ProtocolVersion).
		{"protocolVersion of TorchServe",
			[]string{`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, protocolVersion: v1, storageUri: "gs://models/mnist/v1"}`},
			[]string{`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, protocolVersion: v2, storageUri: "gs://models/mnist/v1"}`},
			"spec.predictor.model.protocolVersion"},
		{"image",
			[]string{`model: {modelFormat: {name: sklearn}, image: "registry.example/sklearn:1", storageUri: "gs://models/iris/v1"}`},
			[]string{`model: {modelFormat: {name: sklearn}, image: "registry.example/sklearn:2", storageUri: "gs://models/iris/v1"}`},
			"spec.predictor.model.image"},
		{"command",
			[]string{`model: {modelFormat: {name: sklearn}, command: [serve], storageUri: "gs://models/iris/v1"}`},
			[]string{`model: {modelFormat: {name: sklearn}, command: [serve-v2], storageUri: "gs://models/iris/v1"}`},
			"spec.predictor.model.command"},
		{"args",
			[]string{`model: {modelFormat: {name: huggingface}, args: [--model_id=bert-base-uncased], storageUri: "hf://bert"}`},
			[]string{`model: {modelFormat: {name: huggingface}, args: [--model_id=bert-large-uncased], storageUri: "hf://bert"}`},
			"spec.predictor.model.args"},
		{"env, e.g. a HuggingFace model id",
			[]string{`model: {modelFormat: {name: huggingface}, env: [{name: HF_MODEL_ID, value: bert-base-uncased}]}`},
			[]string{`model: {modelFormat: {name: huggingface}, env: [{name: HF_MODEL_ID, value: bert-large-uncased}]}`},
			"spec.predictor.model.env"},
		{"envFrom",
			[]string{`model: {modelFormat: {name: huggingface}, envFrom: [{configMapRef: {name: model-a}}]}`},
			[]string{`model: {modelFormat: {name: huggingface}, envFrom: [{configMapRef: {name: model-b}}]}`},
			"spec.predictor.model.envFrom"},
		{"volumes",
			[]string{sklearnV1, `volumes: [{name: models, persistentVolumeClaim: {claimName: models-v1}}]`},
			[]string{sklearnV1, `volumes: [{name: models, persistentVolumeClaim: {claimName: models-v2}}]`},
			"spec.predictor.volumes"},
		{"volumeMounts",
			[]string{`model: {modelFormat: {name: sklearn}, volumeMounts: [{name: models, mountPath: /mnt/v1}]}`},
			[]string{`model: {modelFormat: {name: sklearn}, volumeMounts: [{name: models, mountPath: /mnt/v2}]}`},
			"spec.predictor.model.volumeMounts"},
		{"image of a second container",
			[]string{`containers: [{name: kserve-container, image: "registry.example/server:1"}, {name: agent, image: "registry.example/agent:1"}]`},
			[]string{`containers: [{name: kserve-container, image: "registry.example/server:1"}, {name: agent, image: "registry.example/agent:2"}]`},
			"spec.predictor.containers"},
		{"initContainers",
			[]string{sklearnV1, `initContainers: [{name: fetch, image: "registry.example/fetch:1"}]`},
			[]string{sklearnV1, `initContainers: [{name: fetch, image: "registry.example/fetch:2"}]`},
			"spec.predictor.initContainers"},
		{"serviceAccountName (storage credentials)",
			[]string{sklearnV1, `serviceAccountName: s3-reader-a`},
			[]string{sklearnV1, `serviceAccountName: s3-reader-b`},
			"spec.predictor.serviceAccountName"},
		{"serviceAccount, the deprecated alias of serviceAccountName",
			[]string{sklearnV1, `serviceAccount: s3-reader-a`},
			[]string{sklearnV1, `serviceAccount: s3-reader-b`},
			"spec.predictor.serviceAccount"},
		{"workerSpec",
			[]string{`model: {modelFormat: {name: huggingface}, storageUri: "hf://llama"}`, `workerSpec: {pipelineParallelSize: 2}`},
			[]string{`model: {modelFormat: {name: huggingface}, storageUri: "hf://llama"}`, `workerSpec: {pipelineParallelSize: 4}`},
			"spec.predictor.workerSpec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, predictorManifest(tt.old...), predictorManifest(tt.new...))
			p := componentByID(t, f, KindPredictor)
			if !p.ModelChanged || !p.RevisionChanged {
				t.Errorf("predictor modelChanged=%v revisionChanged=%v, want both true", p.ModelChanged, p.RevisionChanged)
			}
			if !f.ModelChanged || !f.RevisionChanged {
				t.Errorf("facts modelChanged=%v revisionChanged=%v, want both true", f.ModelChanged, f.RevisionChanged)
			}
			if want := []string{tt.wantField}; !slices.Equal(p.ChangedFields, want) {
				t.Errorf("changedFields = %v, want %v", p.ChangedFields, want)
			}
			if f.AlwaysAdmit {
				t.Errorf("a model change is always admitted (%s)", f.AlwaysAdmitReason)
			}
		})
	}
}

func TestCompare_NonModelChangesMakeARevisionButNotAModelChange(t *testing.T) {
	customV1 := `containers: [{name: kserve-container, image: "registry.example/server:1", resources: {limits: {cpu: "1"}}}]`
	tests := []struct {
		name             string
		oldMeta, newMeta string
		old, new         []string
		wantFields       []string
		wantMetadata     []string
	}{
		{name: "minReplicas",
			old: []string{sklearnV1, `minReplicas: 1`}, new: []string{sklearnV1, `minReplicas: 2`},
			wantFields: []string{"spec.predictor.minReplicas"}},
		{name: "maxReplicas",
			old: []string{sklearnV1, `maxReplicas: 3`}, new: []string{sklearnV1, `maxReplicas: 5`},
			wantFields: []string{"spec.predictor.maxReplicas"}},
		{name: "scaleTarget",
			old: []string{sklearnV1, `scaleTarget: 10`}, new: []string{sklearnV1, `scaleTarget: 20`},
			wantFields: []string{"spec.predictor.scaleTarget"}},
		{name: "scaleMetric",
			old: []string{sklearnV1, `scaleMetric: concurrency`}, new: []string{sklearnV1, `scaleMetric: rps`},
			wantFields: []string{"spec.predictor.scaleMetric"}},
		{name: "containerConcurrency",
			old: []string{sklearnV1}, new: []string{sklearnV1, `containerConcurrency: 4`},
			wantFields: []string{"spec.predictor.containerConcurrency"}},
		{name: "timeout",
			old: []string{sklearnV1, `timeout: 60`}, new: []string{sklearnV1, `timeout: 120`},
			wantFields: []string{"spec.predictor.timeout"}},
		{name: "logger",
			old: []string{sklearnV1}, new: []string{sklearnV1, `logger: {mode: all, url: "http://message-dumper.models"}`},
			wantFields: []string{"spec.predictor.logger"}},
		{name: "batcher",
			old: []string{sklearnV1}, new: []string{sklearnV1, `batcher: {maxBatchSize: 32}`},
			wantFields: []string{"spec.predictor.batcher"}},
		{name: "component labels",
			old: []string{sklearnV1, `labels: {team: a}`}, new: []string{sklearnV1, `labels: {team: b}`},
			wantFields: []string{"spec.predictor.labels"}},
		{name: "component annotations",
			old: []string{sklearnV1}, new: []string{sklearnV1, `annotations: {prometheus.io/scrape: "true"}`},
			wantFields: []string{"spec.predictor.annotations"}},
		{name: "resources of model{}",
			old:        []string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", resources: {limits: {cpu: "1"}}}`},
			new:        []string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", resources: {limits: {cpu: "2"}}}`},
			wantFields: []string{"spec.predictor.model.resources"}},
		{name: "resources of a custom container",
			old:        []string{customV1},
			new:        []string{`containers: [{name: kserve-container, image: "registry.example/server:1", resources: {limits: {cpu: "2"}}}]`},
			wantFields: []string{"spec.predictor.containers.resources"}},
		{name: "InferenceService label",
			oldMeta: `labels: {team: a}`, newMeta: `labels: {team: b}`,
			old: []string{sklearnV1}, new: []string{sklearnV1},
			wantMetadata: []string{"metadata.labels.team"}},
		{name: "InferenceService annotation",
			newMeta: `annotations: {example.com/owner: alice}`,
			old:     []string{sklearnV1}, new: []string{sklearnV1},
			wantMetadata: []string{"metadata.annotations.example.com/owner"}},
		{name: "tag routing annotation on its own",
			newMeta: `annotations: {serving.kserve.io/enable-tag-routing: "true"}`,
			old:     []string{sklearnV1}, new: []string{sklearnV1},
			wantMetadata: []string{"metadata.annotations.serving.kserve.io/enable-tag-routing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, manifestWithMeta(tt.oldMeta, tt.old...), manifestWithMeta(tt.newMeta, tt.new...))
			p := componentByID(t, f, KindPredictor)
			if p.ModelChanged || f.ModelChanged {
				t.Errorf("modelChanged: predictor %v, facts %v; want false", p.ModelChanged, f.ModelChanged)
			}
			if !p.RevisionChanged || !f.RevisionChanged {
				t.Errorf("revisionChanged: predictor %v, facts %v; want true", p.RevisionChanged, f.RevisionChanged)
			}
			if !slices.Equal(p.ChangedFields, tt.wantFields) {
				t.Errorf("changedFields = %v, want %v", p.ChangedFields, tt.wantFields)
			}
			if !slices.Equal(f.MetadataChanged, tt.wantMetadata) {
				t.Errorf("metadataChanged = %v, want %v", f.MetadataChanged, tt.wantMetadata)
			}
		})
	}
}

func TestCompare_CanaryTrafficPercentAloneIsTrafficOnly(t *testing.T) {
	f := updateFacts(t,
		predictorManifest(sklearnV1, `canaryTrafficPercent: 10`),
		predictorManifest(sklearnV1, `canaryTrafficPercent: 30`))
	p := componentByID(t, f, KindPredictor)
	if p.ModelChanged || p.RevisionChanged || f.ModelChanged || f.RevisionChanged {
		t.Errorf("modelChanged=%v revisionChanged=%v, want neither", f.ModelChanged, f.RevisionChanged)
	}
	if want := []string{"spec.predictor.canaryTrafficPercent"}; !slices.Equal(p.ChangedFields, want) {
		t.Errorf("changedFields = %v, want %v", p.ChangedFields, want)
	}
	if !p.PercentChanged {
		t.Error("percentChanged = false, want true")
	}
}

func TestCompare_DisallowedAnnotationsChangeNothingRevisionRelevant(t *testing.T) {
	tests := []struct {
		name       string
		annotation string
		extra      []string
	}{
		{"kubectl last-applied-configuration", "kubectl.kubernetes.io/last-applied-configuration", nil},
		// KServe's defaulter adds modelFormat: <name> (constants.ModelFormatAnnotationKey).
		{"the defaulter's modelFormat annotation", "modelFormat", nil},
		{"autoscaling min-scale, on KServe's list", "autoscaling.knative.dev/min-scale", nil},
		{"an annotation of Settings.ServiceAnnotationDisallowedList", "example.com/build-id", []string{"example.com/build-id"}},
		// KServe moves these to the Knative Service (managedKsvcAnnotations).
		{"Knative rollout-duration, on the Knative Service", "serving.knative.dev/rollout-duration", nil},
		{"OpenShift passthrough, on the Knative Service", "serving.knative.openshift.io/enablePassthrough", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := defaultFactsOptions()
			opts.Settings.ServiceAnnotationDisallowedList = tt.extra
			req := update(t,
				manifestWithMeta(fmt.Sprintf("annotations: {%q: old}", tt.annotation), sklearnV1),
				manifestWithMeta(fmt.Sprintf("annotations: {%q: new}", tt.annotation), sklearnV1))
			f := mustBuildFacts(t, req, opts)
			if len(f.MetadataChanged) != 0 || f.RevisionChanged || f.ModelChanged {
				t.Errorf("metadataChanged=%v revisionChanged=%v modelChanged=%v, want nothing", f.MetadataChanged, f.RevisionChanged, f.ModelChanged)
			}
			if !f.AlwaysAdmit || f.AlwaysAdmitReason != "no revision change" {
				t.Errorf("alwaysAdmit=%v (%q), want true (no revision change)", f.AlwaysAdmit, f.AlwaysAdmitReason)
			}
		})
	}
	// KServe filters a component's annotations and labels the same way
	// (buildPredictorResources, createKnativeService).
	for _, tt := range []struct {
		name, field string
		settings    func(*Settings)
	}{
		{"a predictor annotation on KServe's list", `annotations: {autoscaling.knative.dev/min-scale: "%s"}`, nil},
		{"a predictor annotation KServe moves to the Knative Service", `annotations: {serving.knative.dev/rollout-duration: "%s"}`, nil},
		{"a predictor annotation of Settings.ServiceAnnotationDisallowedList", `annotations: {example.com/build-id: "%s"}`,
			func(s *Settings) { s.ServiceAnnotationDisallowedList = []string{"example.com/build-id"} }},
		{"a predictor label of Settings.ServiceLabelDisallowedList", `labels: {example.com/owner: "%s"}`,
			func(s *Settings) { s.ServiceLabelDisallowedList = []string{"example.com/owner"} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := defaultFactsOptions()
			if tt.settings != nil {
				tt.settings(opts.Settings)
			}
			req := update(t, predictorManifest(sklearnV1, fmt.Sprintf(tt.field, "1"), "canaryTrafficPercent: 10"),
				predictorManifest(sklearnV1, fmt.Sprintf(tt.field, "2"), "canaryTrafficPercent: 10"))
			f := mustBuildFacts(t, req, opts)
			if f.RevisionChanged || f.ModelChanged || f.AlwaysAdmitReason != "no revision change" {
				t.Errorf("revisionChanged=%v modelChanged=%v alwaysAdmit=%q changedFields=%v, want no revision change",
					f.RevisionChanged, f.ModelChanged, f.AlwaysAdmitReason, componentByID(t, f, KindPredictor).ChangedFields)
			}
		})
	}
	t.Run("another predictor annotation makes a revision", func(t *testing.T) {
		f := updateFacts(t, predictorManifest(sklearnV1, `annotations: {example.com/build-id: "1"}`),
			predictorManifest(sklearnV1, `annotations: {example.com/build-id: "2"}`))
		if !f.RevisionChanged || f.ModelChanged {
			t.Errorf("revisionChanged=%v modelChanged=%v, want a revision and no model change", f.RevisionChanged, f.ModelChanged)
		}
	})
	t.Run("a label of Settings.ServiceLabelDisallowedList", func(t *testing.T) {
		opts := defaultFactsOptions()
		req := update(t, manifestWithMeta(`labels: {example.com/owner: a}`, sklearnV1), manifestWithMeta(`labels: {example.com/owner: b}`, sklearnV1))
		if f := mustBuildFacts(t, req, opts); !slices.Equal(f.MetadataChanged, []string{"metadata.labels.example.com/owner"}) || !f.RevisionChanged {
			t.Errorf("without the list: metadataChanged=%v revisionChanged=%v, want the label and a revision", f.MetadataChanged, f.RevisionChanged)
		}
		opts.Settings.ServiceLabelDisallowedList = []string{"example.com/owner"}
		if f := mustBuildFacts(t, req, opts); len(f.MetadataChanged) != 0 || f.RevisionChanged || f.AlwaysAdmitReason != "no revision change" {
			t.Errorf("metadataChanged=%v revisionChanged=%v alwaysAdmit=%q, want nothing", f.MetadataChanged, f.RevisionChanged, f.AlwaysAdmitReason)
		}
	})
	t.Run("rollout-duration reaches the pods in Standard mode", func(t *testing.T) {
		f := updateFacts(t,
			manifestWithMeta(`annotations: {serving.kserve.io/deploymentMode: Standard, serving.knative.dev/rollout-duration: 60s}`, sklearnV1),
			manifestWithMeta(`annotations: {serving.kserve.io/deploymentMode: Standard, serving.knative.dev/rollout-duration: 120s}`, sklearnV1))
		if !f.RevisionChanged || !slices.Equal(f.MetadataChanged, []string{"metadata.annotations.serving.knative.dev/rollout-duration"}) {
			t.Errorf("revisionChanged=%v metadataChanged=%v", f.RevisionChanged, f.MetadataChanged)
		}
	})
	t.Run("the same annotation is revision-relevant when not disallowed", func(t *testing.T) {
		f := updateFacts(t,
			manifestWithMeta(`annotations: {example.com/build-id: old}`, sklearnV1),
			manifestWithMeta(`annotations: {example.com/build-id: new}`, sklearnV1))
		if !f.RevisionChanged || !slices.Equal(f.MetadataChanged, []string{"metadata.annotations.example.com/build-id"}) {
			t.Errorf("revisionChanged=%v metadataChanged=%v", f.RevisionChanged, f.MetadataChanged)
		}
	})
}

// legacyFrameworks are the legacy predictor blocks KServe's defaulter
// rewrites into model{modelFormat: {name: <framework>}}, with the protocol
// version the defaulter stores for each (assign<Framework>Runtime).
var legacyFrameworks = []struct {
	name     string
	protocol string // set by the defaulter when the legacy block has none
}{
	{"sklearn", ""}, {"xgboost", ""}, {"tensorflow", ""}, {"pytorch", ""},
	{"triton", "v2"}, {"onnx", "v2"}, {"huggingface", "v2"},
	{"pmml", ""}, {"lightgbm", ""}, {"paddle", ""},
}

func TestCompare_LegacyAndModelFormsAreTheSameModel(t *testing.T) {
	for _, fw := range legacyFrameworks {
		legacy := fmt.Sprintf(`%s: {storageUri: "gs://models/%s/v1", runtimeVersion: "1.0"}`, fw.name, fw.name)
		// The form KServe's defaulter stores for the legacy block.
		stored := fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: "gs://models/%s/v1", runtimeVersion: "1.0"`, fw.name, fw.name)
		if fw.protocol != "" {
			stored += ", protocolVersion: " + fw.protocol
		}
		stored += "}"
		for _, dir := range []struct{ name, old, new string }{
			{"legacy to model", legacy, stored},
			{"model to legacy", stored, legacy},
		} {
			t.Run(fw.name+"/"+dir.name, func(t *testing.T) {
				f := updateFacts(t, predictorManifest(dir.old), predictorManifest(dir.new))
				p := componentByID(t, f, KindPredictor)
				if p.ModelChanged || p.RevisionChanged || len(p.ChangedFields) > 0 {
					t.Errorf("modelChanged=%v revisionChanged=%v changedFields=%v, want no change", p.ModelChanged, p.RevisionChanged, p.ChangedFields)
				}
				if p.OldModel != p.NewModel {
					t.Errorf("oldModel %q != newModel %q", p.OldModel, p.NewModel)
				}
			})
		}
	}
}

func TestCompare_LegacyAndModelFormsWithADifferentStorageUriAreAModelChange(t *testing.T) {
	for _, fw := range legacyFrameworks {
		legacy := fmt.Sprintf(`%s: {storageUri: "gs://models/%s/v1"}`, fw.name, fw.name)
		stored := fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: "gs://models/%s/v2"`, fw.name, fw.name)
		if fw.protocol != "" {
			stored += ", protocolVersion: " + fw.protocol
		}
		stored += "}"
		for _, dir := range []struct{ name, old, new string }{
			{"legacy to model", legacy, stored},
			{"model to legacy", stored, legacy},
		} {
			t.Run(fw.name+"/"+dir.name, func(t *testing.T) {
				f := updateFacts(t, predictorManifest(dir.old), predictorManifest(dir.new))
				p := componentByID(t, f, KindPredictor)
				if !p.ModelChanged {
					t.Errorf("modelChanged = false, want true")
				}
				if want := []string{"spec.predictor.model.storageUri"}; !slices.Equal(p.ChangedFields, want) {
					t.Errorf("changedFields = %v, want %v", p.ChangedFields, want)
				}
			})
		}
	}
}

func TestCompare_DefaulterOnlyDifferencesAreNotChanges(t *testing.T) {
	tests := []struct {
		name     string
		old, new []string
	}{
		// KServe passes the storage spec to the pods without schemaPath and
		// with the path's leading "/" trimmed (addStorageSpecAnnotations).
		{"storage.schemaPath",
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris, schemaPath: schema/v1.json}}`},
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris, schemaPath: schema/v2.json}}`}},
		{"a leading slash on storage.path",
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: sklearn/iris}}`},
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: /sklearn/iris}}`}},
		// storageContainerName reaches the storage initializer only beside
		// a storage URI or storageUris (addStorageInitializerAnnotations).
		{"storageContainerName beside a storage spec without a storage URI",
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris}}`, `storageContainerName: s3-default`},
			[]string{`model: {modelFormat: {name: sklearn}, storage: {key: bucket-a, path: iris}}`, `storageContainerName: s3-mirror`}},
		{"runtimeVersion beside an image pinned by digest",
			[]string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", image: "registry.example/sklearnserver@sha256:aaaa", runtimeVersion: "1.3.0"}`},
			[]string{`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", image: "registry.example/sklearnserver@sha256:aaaa", runtimeVersion: "1.5.0"}`}},
		{"runtimeVersion added beside a legacy block's image pinned by digest",
			[]string{`tensorflow: {storageUri: "gs://models/tf/v1", image: "registry.example/tfserving@sha256:aaaa"}`},
			[]string{`tensorflow: {storageUri: "gs://models/tf/v1", image: "registry.example/tfserving@sha256:aaaa", runtimeVersion: "2.6.2"}`}},
		{"a confidential spec that stays disabled",
			[]string{sklearnV1},
			[]string{sklearnV1[:len(sklearnV1)-1] + `, confidential: {enabled: false, resourceId: "kbs:///repo/key/1"}}`}},
		{"automountServiceAccountToken false added by the defaulter",
			[]string{sklearnV1, `automountServiceAccountToken: false`},
			[]string{sklearnV1}},
		{"single custom container: empty name vs kserve-container",
			[]string{`containers: [{name: kserve-container, image: "registry.example/server:1"}]`},
			[]string{`containers: [{image: "registry.example/server:1"}]`}},
		{"model{triton} gets protocol v2 from the defaulter",
			[]string{`model: {modelFormat: {name: triton}, storageUri: "gs://models/triton/v1", protocolVersion: v2}`},
			[]string{`model: {modelFormat: {name: triton}, storageUri: "gs://models/triton/v1"}`}},
		{"legacy triton vs model{triton} without protocol: both v2",
			[]string{`triton: {storageUri: "gs://models/triton/v1"}`},
			[]string{`model: {modelFormat: {name: triton}, storageUri: "gs://models/triton/v1"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, predictorManifest(tt.old...), predictorManifest(tt.new...))
			if f.ModelChanged || f.RevisionChanged {
				t.Errorf("modelChanged=%v revisionChanged=%v changedFields=%v, want no change",
					f.ModelChanged, f.RevisionChanged, componentByID(t, f, KindPredictor).ChangedFields)
			}
		})
	}
}

// KServe's defaulter gives model{} protocol v2 only for triton and vllm;
// for onnx and huggingface only the legacy blocks get it. A model{onnx}
// without protocolVersion is served as v1 (ModelSpec.GetProtocol), so it
// differs from the stored v2: under auto-selection, a protocol that may
// select another runtime.
func TestCompare_ModelFormWithoutProtocolIsV1ExceptTritonAndVLLM(t *testing.T) {
	for _, format := range []string{"onnx", "huggingface"} {
		t.Run(format, func(t *testing.T) {
			f := updateFacts(t,
				predictorManifest(fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: "gs://m/v1", protocolVersion: v2}`, format)),
				predictorManifest(fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: "gs://m/v1"}`, format)))
			p := componentByID(t, f, KindPredictor)
			if want := []string{"spec.predictor.model.protocolVersion"}; !p.VersionSelectsRuntime || !slices.Equal(p.ChangedFields, want) {
				t.Errorf("versionSelectsRuntime=%v changedFields=%v, want a protocolVersion that selects the runtime", p.VersionSelectsRuntime, p.ChangedFields)
			}
		})
	}
	// constants.SupportedModelVLLM is spelled vLLM.
	t.Run("vLLM", func(t *testing.T) {
		f := updateFacts(t,
			predictorManifest(`model: {modelFormat: {name: vLLM}, storageUri: "hf://llama", protocolVersion: v2}`),
			predictorManifest(`model: {modelFormat: {name: vLLM}, storageUri: "hf://llama"}`))
		if f.ModelChanged || f.RevisionChanged {
			t.Errorf("modelChanged=%v revisionChanged=%v, want no change", f.ModelChanged, f.RevisionChanged)
		}
	})
}

func TestCompare_NamingWhatKServeSelectedIsNoChange(t *testing.T) {
	// KServe's controller fills an unset runtime (auto-selection, recorded
	// in the status) and protocolVersion in memory only: naming them
	// changes no pod template, so no revision, and injecting a percent
	// there would send traffic back to the previous model.
	withStatus := func(status string, lines ...string) string {
		return predictorManifest(lines...) + "status: " + status + "\n"
	}
	const selected = "{clusterServingRuntimeName: kserve-sklearnserver}"
	tests := []struct {
		name       string
		old, new   string
		wantFields []string // nil: neither a model nor a revision change
	}{
		{"the selected ClusterServingRuntime named",
			withStatus(selected, sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`), nil},
		{"the selected ServingRuntime named",
			withStatus("{servingRuntimeName: team-sklearn}", sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: team-sklearn}`), nil},
		{"the selected runtime named on a legacy block",
			withStatus(selected, `sklearn: {storageUri: "gs://models/iris/v1"}`),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`), nil},
		{"protocolVersion v1 named",
			predictorManifest(sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", protocolVersion: v1}`), nil},
		{"protocolVersion v1 removed",
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", protocolVersion: v1}`),
			predictorManifest(sklearnV1), nil},
		{"both named at once",
			withStatus(selected, sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver, protocolVersion: v1}`), nil},
		{"another runtime named",
			withStatus(selected, sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-mlserver}`),
			[]string{"spec.predictor.model.runtime"}},
		{"a runtime named without a recorded selection",
			predictorManifest(sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`),
			[]string{"spec.predictor.model.runtime"}},
		{"a protocolVersion named beside a named runtime",
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-mlserver}`),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-mlserver, protocolVersion: v2}`), nil},
		{"a modelFormat.version pinned beside a named runtime",
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`),
			predictorManifest(`model: {modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`), nil},
		{"a modelFormat.version changed beside a named runtime",
			predictorManifest(`model: {modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`),
			predictorManifest(`model: {modelFormat: {name: sklearn, version: "2"}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`), nil},
		{"the selected runtime named and a version pinned at once",
			withStatus(selected, sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`), nil},
		{"a modelFormat.version pinned beside a newly named runtime",
			predictorManifest(sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`),
			[]string{"spec.predictor.model.modelFormat", "spec.predictor.model.runtime"}},
		// MLServer reads the format's name in its model class; a runtime of
		// the cluster's own may. The others read it nowhere: no revision
		// (kserve-predictiveserver reads the modelFormat annotation, which
		// KServe's defaulter writes only where it is absent).
		{"modelFormat.name changed beside kserve-predictiveserver, its annotation kept",
			manifestWithMeta("annotations: {modelFormat: sklearn}", `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: kserve-predictiveserver}`),
			manifestWithMeta("annotations: {modelFormat: sklearn}", `model: {modelFormat: {name: xgboost}, storageUri: "gs://models/m/v1", runtime: kserve-predictiveserver}`), nil},
		{"the modelFormat annotation changed beside kserve-predictiveserver: its --framework",
			manifestWithMeta("annotations: {modelFormat: sklearn}", `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: kserve-predictiveserver}`),
			manifestWithMeta("annotations: {modelFormat: xgboost}", `model: {modelFormat: {name: xgboost}, storageUri: "gs://models/m/v1", runtime: kserve-predictiveserver}`),
			[]string{"metadata.annotations.modelFormat"}},
		{"modelFormat.name changed beside MLServer, to another model class",
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: kserve-mlserver, protocolVersion: v2}`),
			predictorManifest(`model: {modelFormat: {name: xgboost}, storageUri: "gs://models/m/v1", runtime: kserve-mlserver, protocolVersion: v2}`),
			[]string{"spec.predictor.model.modelFormat"}},
		{"modelFormat.name changed beside MLServer, to the same model class",
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: kserve-mlserver, protocolVersion: v2}`),
			predictorManifest(`model: {modelFormat: {name: scikit-learn}, storageUri: "gs://models/m/v1", runtime: kserve-mlserver, protocolVersion: v2}`), nil},
		{"modelFormat.name changed beside Triton",
			predictorManifest(`model: {modelFormat: {name: triton}, storageUri: "gs://models/m/v1", runtime: kserve-tritonserver, protocolVersion: v2}`),
			predictorManifest(`model: {modelFormat: {name: onnx, version: "1"}, storageUri: "gs://models/m/v1", runtime: kserve-tritonserver, protocolVersion: v2}`), nil},
		{"modelFormat.name changed beside the selected runtime, named",
			withStatus(selected, sklearnV1),
			predictorManifest(`model: {modelFormat: {name: xgboost}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`), nil},
		// A runtime of the cluster's own may read the name in its
		// templates: it counts. The annotation is counted for
		// kserve-predictiveserver alone.
		{"modelFormat.name changed beside a runtime of the cluster's own",
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: team-runtime}`),
			predictorManifest(`model: {modelFormat: {name: xgboost}, storageUri: "gs://models/m/v1", runtime: team-runtime}`),
			[]string{"spec.predictor.model.modelFormat"}},
		{"the modelFormat annotation changed beside a runtime of the cluster's own",
			manifestWithMeta("annotations: {modelFormat: sklearn}", `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: team-runtime}`),
			manifestWithMeta("annotations: {modelFormat: xgboost}", `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: team-runtime}`), nil},
		// A manifest from Git leaves the annotation out; KServe's defaulter
		// writes it back from the name, as it was.
		{"the modelFormat annotation left out beside kserve-predictiveserver",
			manifestWithMeta("annotations: {modelFormat: sklearn}", `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: kserve-predictiveserver}`),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: kserve-predictiveserver}`), nil},
		{"the modelFormat annotation left out beside kserve-predictiveserver, with a new name",
			manifestWithMeta("annotations: {modelFormat: sklearn}", `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: kserve-predictiveserver}`),
			predictorManifest(`model: {modelFormat: {name: xgboost}, storageUri: "gs://models/m/v1", runtime: kserve-predictiveserver}`),
			[]string{"metadata.annotations.modelFormat"}},
		{"modelFormat.name changed to huggingface beside the Hugging Face runtime",
			predictorManifest(`model: {modelFormat: {name: pytorch}, storageUri: "gs://models/m/v1", runtime: kserve-huggingfaceserver}`),
			predictorManifest(`model: {modelFormat: {name: huggingface}, storageUri: "gs://models/m/v1", runtime: kserve-huggingfaceserver}`),
			[]string{"spec.predictor.model.modelFormat"}},
		{"modelFormat.name changed with the runtime",
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/m/v1", runtime: kserve-sklearnserver}`),
			predictorManifest(`model: {modelFormat: {name: xgboost}, storageUri: "gs://models/m/v1", runtime: kserve-xgbserver}`),
			[]string{"spec.predictor.model.modelFormat", "spec.predictor.model.runtime"}},
		{"the selected runtime named with a new model",
			withStatus(selected, sklearnV1),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2", runtime: kserve-sklearnserver}`),
			[]string{"spec.predictor.model.storageUri"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			p := componentByID(t, f, KindPredictor)
			if tt.wantFields == nil {
				if p.ModelChanged || p.RevisionChanged || len(p.ChangedFields) > 0 {
					t.Errorf("modelChanged=%v revisionChanged=%v changedFields=%v, want no change", p.ModelChanged, p.RevisionChanged, p.ChangedFields)
				}
				return
			}
			if !p.ModelChanged || !slices.Equal(p.ChangedFields, tt.wantFields) {
				t.Errorf("modelChanged=%v changedFields=%v, want a model change in %v", p.ModelChanged, p.ChangedFields, tt.wantFields)
			}
		})
	}
}

// KServe reads protocolVersion to check or select a runtime; only
// TorchServe's pods get it (SetTorchServeDefaults). Beside the runtime in
// use it makes no revision; under auto-selection it may select another
// runtime, which the request cannot tell.
func TestCompare_ProtocolVersion(t *testing.T) {
	withStatus := func(status string, lines ...string) string {
		return predictorManifest(lines...) + "status: " + status + "\n"
	}
	model := func(extra string) string {
		return `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"` + extra + `}`
	}
	tests := []struct {
		name        string
		old, new    string
		wantModel   bool
		wantSelects bool
		wantFields  []string
	}{
		{"changed beside a named runtime", predictorManifest(model(", runtime: kserve-sklearnserver, protocolVersion: v1")),
			predictorManifest(model(", runtime: kserve-sklearnserver, protocolVersion: v2")), false, false, nil},
		{"removed beside a named runtime", predictorManifest(model(", runtime: kserve-sklearnserver, protocolVersion: v2")),
			predictorManifest(model(", runtime: kserve-sklearnserver")), false, false, nil},
		{"set with the selected runtime named", withStatus("{clusterServingRuntimeName: kserve-sklearnserver}", model("")),
			predictorManifest(model(", runtime: kserve-sklearnserver, protocolVersion: v2")), false, false, nil},
		{"set under auto-selection", predictorManifest(model("")),
			predictorManifest(model(", protocolVersion: v2")), false, true, []string{"spec.predictor.model.protocolVersion"}},
		{"set under auto-selection with a new model", predictorManifest(model("")),
			predictorManifest(`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2", protocolVersion: v2}`),
			true, false, []string{"spec.predictor.model.storageUri", "spec.predictor.model.protocolVersion"}},
		{"set beside another runtime named", withStatus("{clusterServingRuntimeName: kserve-sklearnserver}", model("")),
			predictorManifest(model(", runtime: kserve-mlserver, protocolVersion: v2")), true, false,
			[]string{"spec.predictor.model.runtime", "spec.predictor.model.protocolVersion"}},
		{"changed on TorchServe, named", predictorManifest(`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, storageUri: "gs://m/v1"}`),
			predictorManifest(`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, storageUri: "gs://m/v1", protocolVersion: v2}`),
			true, false, []string{"spec.predictor.model.protocolVersion"}},
		{"changed on TorchServe, selected", withStatus("{clusterServingRuntimeName: kserve-torchserve}", `pytorch: {storageUri: "gs://m/v1"}`),
			predictorManifest(`model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1", protocolVersion: v2}`),
			true, false, []string{"spec.predictor.model.protocolVersion"}},
		{"changed on pytorch before a runtime is selected", predictorManifest(`model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1"}`),
			predictorManifest(`model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1", protocolVersion: v2}`),
			true, false, []string{"spec.predictor.model.protocolVersion"}},
		// SetTorchServeDefaults reads an unset protocol as v1: the pods stay.
		{"v1 written out on TorchServe, named", predictorManifest(`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, storageUri: "gs://m/v1"}`),
			predictorManifest(`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, storageUri: "gs://m/v1", protocolVersion: v1}`), false, false, nil},
		{"v1 left out on TorchServe, selected", withStatus("{clusterServingRuntimeName: kserve-torchserve}", `model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1", protocolVersion: v1}`),
			predictorManifest(`model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1"}`), false, false, nil},
		{"v1 written out on pytorch before a runtime is selected", predictorManifest(`model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1"}`),
			predictorManifest(`model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1", protocolVersion: v1}`), false, false, nil},
		{"v1 left out with the selected TorchServe named", withStatus("{clusterServingRuntimeName: kserve-torchserve}", `model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1", protocolVersion: v1}`),
			predictorManifest(`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, storageUri: "gs://m/v1"}`), false, false, nil},
		{"v1 written out with the runtime named away from TorchServe", predictorManifest(`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, storageUri: "gs://m/v1"}`),
			predictorManifest(`model: {modelFormat: {name: pytorch}, runtime: kserve-tritonserver, storageUri: "gs://m/v1", protocolVersion: v1}`),
			true, false, []string{"spec.predictor.model.runtime", "spec.predictor.model.protocolVersion"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, tt.old, tt.new)
			p := componentByID(t, f, KindPredictor)
			if p.ModelChanged != tt.wantModel || p.VersionSelectsRuntime != tt.wantSelects || !slices.Equal(p.ChangedFields, tt.wantFields) {
				t.Errorf("modelChanged=%v versionSelectsRuntime=%v changedFields=%v, want %v, %v, %v",
					p.ModelChanged, p.VersionSelectsRuntime, p.ChangedFields, tt.wantModel, tt.wantSelects, tt.wantFields)
			}
			if wantRevision := tt.wantModel || tt.wantSelects; p.RevisionChanged != wantRevision {
				t.Errorf("revisionChanged=%v, want %v", p.RevisionChanged, wantRevision)
			}
		})
	}
}

// TorchServe no longer named, with its v1 written out: the runtime removed
// alone, which auto-selection may pick again (runtime-selection), not a
// protocol change.
func TestCompare_TorchServeUnpinnedWithV1WrittenOutIsUndecided(t *testing.T) {
	f := updateFacts(t,
		predictorManifest(`model: {modelFormat: {name: pytorch}, runtime: kserve-torchserve, storageUri: "gs://m/v1"}`)+"status: {clusterServingRuntimeName: kserve-torchserve}\n",
		predictorManifest(`model: {modelFormat: {name: pytorch}, storageUri: "gs://m/v1", protocolVersion: v1}`))
	p := componentByID(t, f, KindPredictor)
	if !p.RuntimeUnpinned || p.ModelChanged || !slices.Equal(p.ChangedFields, []string{"spec.predictor.model.runtime"}) {
		t.Errorf("runtimeUnpinned=%v modelChanged=%v fields=%v, want the runtime removed alone", p.RuntimeUnpinned, p.ModelChanged, p.ChangedFields)
	}
}

const transformerBase = `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"}
  transformer:
    %s
`

func TestCompare_TransformerChangesAreItsOwn(t *testing.T) {
	old := `containers: [{name: kserve-container, image: "registry.example/transformer:1", args: [--model_name=iris], env: [{name: STORAGE_URI, value: "gs://models/transformer/v1"}]}]`
	tests := []struct {
		name       string
		new        string
		wantModel  bool
		wantFields []string
	}{
		{"image", `containers: [{name: kserve-container, image: "registry.example/transformer:2", args: [--model_name=iris], env: [{name: STORAGE_URI, value: "gs://models/transformer/v1"}]}]`,
			true, []string{"spec.transformer.containers"}},
		{"args", `containers: [{name: kserve-container, image: "registry.example/transformer:1", args: [--model_name=iris-v2], env: [{name: STORAGE_URI, value: "gs://models/transformer/v1"}]}]`,
			true, []string{"spec.transformer.containers"}},
		{"STORAGE_URI env", `containers: [{name: kserve-container, image: "registry.example/transformer:1", args: [--model_name=iris], env: [{name: STORAGE_URI, value: "gs://models/transformer/v2"}]}]`,
			true, []string{"spec.transformer.containers"}},
		{"storageUris", old + "\n    storageUris: [{uri: \"gs://models/vocab/v2\", mountPath: /mnt/vocab}]",
			true, []string{"spec.transformer.storageUris"}},
		{"resources only", `containers: [{name: kserve-container, image: "registry.example/transformer:1", args: [--model_name=iris], env: [{name: STORAGE_URI, value: "gs://models/transformer/v1"}], resources: {limits: {cpu: "2"}}}]`,
			false, []string{"spec.transformer.containers.resources"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, fmt.Sprintf(transformerBase, old), fmt.Sprintf(transformerBase, tt.new))
			tr := componentByID(t, f, KindTransformer)
			if tr.ModelChanged != tt.wantModel || !tr.RevisionChanged {
				t.Errorf("transformer modelChanged=%v revisionChanged=%v, want %v and true", tr.ModelChanged, tr.RevisionChanged, tt.wantModel)
			}
			if !slices.Equal(tr.ChangedFields, tt.wantFields) {
				t.Errorf("transformer changedFields = %v, want %v", tr.ChangedFields, tt.wantFields)
			}
			if f.ModelChanged != tt.wantModel {
				t.Errorf("facts modelChanged = %v, want %v", f.ModelChanged, tt.wantModel)
			}
			p := componentByID(t, f, KindPredictor)
			if p.ModelChanged || p.RevisionChanged || len(p.ChangedFields) > 0 {
				t.Errorf("predictor changed too: model=%v revision=%v fields=%v", p.ModelChanged, p.RevisionChanged, p.ChangedFields)
			}
		})
	}
	t.Run("the model summary is the STORAGE_URI env", func(t *testing.T) {
		f := updateFacts(t, fmt.Sprintf(transformerBase, old), fmt.Sprintf(transformerBase, tests[2].new))
		tr := componentByID(t, f, KindTransformer)
		if tr.OldModel != "gs://models/transformer/v1" || tr.NewModel != "gs://models/transformer/v2" {
			t.Errorf("oldModel=%q newModel=%q", tr.OldModel, tr.NewModel)
		}
	})
}

const explainerBase = `
metadata: {name: my-model, namespace: models}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"}
  explainer:
    art: %s
`

func TestCompare_ExplainerArtChangesAreItsOwn(t *testing.T) {
	old := `{type: SquareAttack, storageUri: "gs://models/explainer/v1"}`
	tests := []struct {
		name      string
		new       string
		wantModel bool
		wantField string
	}{
		{"art.storageUri", `{type: SquareAttack, storageUri: "gs://models/explainer/v2"}`, true, "spec.explainer.art"},
		{"art.type", `{type: OtherAttack, storageUri: "gs://models/explainer/v1"}`, true, "spec.explainer.art"},
		{"art.resources", `{type: SquareAttack, storageUri: "gs://models/explainer/v1", resources: {limits: {cpu: "2"}}}`, false, "spec.explainer.art.resources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, fmt.Sprintf(explainerBase, old), fmt.Sprintf(explainerBase, tt.new))
			e := componentByID(t, f, KindExplainer)
			if e.ModelChanged != tt.wantModel || !e.RevisionChanged {
				t.Errorf("explainer modelChanged=%v revisionChanged=%v, want %v and true", e.ModelChanged, e.RevisionChanged, tt.wantModel)
			}
			if want := []string{tt.wantField}; !slices.Equal(e.ChangedFields, want) {
				t.Errorf("explainer changedFields = %v, want %v", e.ChangedFields, want)
			}
			if p := componentByID(t, f, KindPredictor); p.ModelChanged || p.RevisionChanged {
				t.Errorf("predictor changed too: %v", p.ChangedFields)
			}
		})
	}
}

func TestCompare_ExplainerArtDefaultsAreNoChange(t *testing.T) {
	// What KServe's defaulter stores (ARTExplainerSpec.Default) against the
	// same explainer sent without the fields it fills in.
	stored := `{type: SquareAttack, storageUri: "gs://models/explainer/v1", name: kserve-container, runtimeVersion: "v0.20.0"}`
	// runtimeVersion picks the image's tag only where no image is given
	// (ARTExplainerSpec.GetContainer).
	withImage := `{type: SquareAttack, storageUri: "gs://models/explainer/v1", image: "kserve/art-explainer:v0.14.0", runtimeVersion: "v0.14.0"}`
	tests := []struct {
		name, stored, sent string
		wantChange         bool
	}{
		{"sent without the defaulted name and runtimeVersion", stored, `{type: SquareAttack, storageUri: "gs://models/explainer/v1"}`, false},
		{"sent as stored", stored, stored, false},
		{"another runtimeVersion", stored, `{type: SquareAttack, storageUri: "gs://models/explainer/v1", runtimeVersion: "v0.21.0"}`, true},
		// KServe reads the explainer's storage spec nowhere: no revision.
		{"a storage spec, which KServe does not read", stored, `{type: SquareAttack, storageUri: "gs://models/explainer/v1", storage: {key: k, path: p}}`, false},
		{"another runtimeVersion beside the same image", withImage, `{type: SquareAttack, storageUri: "gs://models/explainer/v1", image: "kserve/art-explainer:v0.14.0", runtimeVersion: "v0.15.0"}`, false},
		{"another image", withImage, `{type: SquareAttack, storageUri: "gs://models/explainer/v1", image: "kserve/art-explainer:v0.15.0", runtimeVersion: "v0.14.0"}`, true},
		{"the image removed, so runtimeVersion picks the tag", withImage, `{type: SquareAttack, storageUri: "gs://models/explainer/v1", runtimeVersion: "v0.15.0"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, fmt.Sprintf(explainerBase, tt.stored), fmt.Sprintf(explainerBase, tt.sent))
			if e := componentByID(t, f, KindExplainer); e.ModelChanged != tt.wantChange {
				t.Errorf("explainer modelChanged=%v (%v), want %v", e.ModelChanged, e.ChangedFields, tt.wantChange)
			}
		})
	}
}

func TestCompare_LegacyBlockWinsOverModelAsKServesDefaulterDoes(t *testing.T) {
	// A client-side apply of a legacy manifest onto a stored object leaves
	// both blocks; KServe's defaulter lets the legacy one win.
	stored := isvc(t, `
metadata: {name: my-model}
spec:
  predictor:
    model: {modelFormat: {name: tensorflow}, storageUri: "gs://models/v1"}
`)
	applied := isvc(t, `
metadata: {name: my-model}
spec:
  predictor:
    tensorflow: {storageUri: "gs://models/v2"}
    model: {modelFormat: {name: tensorflow}, storageUri: "gs://models/v1"}
`)
	d := comparePredictors("spec.predictor", &stored.Spec.Predictor, &applied.Spec.Predictor, "")
	if !d.model {
		t.Errorf("fields %v: the legacy block's new storageUri must count as a model change", d.fields)
	}
}

func TestCompare_ResourcesLeftForKServesDefaulterAreNoChange(t *testing.T) {
	const defaults = `resources: {requests: {cpu: "1", memory: 2Gi}, limits: {cpu: "1", memory: 2Gi}}`
	tests := []struct {
		name, stored, sent string
		wantRevision       bool
	}{
		{"custom container sent without resources",
			`containers: [{name: kserve-container, image: "example/model:1", ` + defaults + `}]`,
			`containers: [{name: kserve-container, image: "example/model:1"}]`, false},
		{"custom container with other resources",
			`containers: [{name: kserve-container, image: "example/model:1", ` + defaults + `}]`,
			`containers: [{name: kserve-container, image: "example/model:1", resources: {limits: {cpu: "2"}}}]`, true},
		// KServe's defaulter fills no resources into model{}
		// (ModelSpec.Default): stored ones were the user's to remove.
		{"model sent without resources",
			`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1", ` + defaults + `}`,
			`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1"}`, true},
		{"model with other resources",
			`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1", ` + defaults + `}`,
			`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/v1", resources: {limits: {cpu: "2"}}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := componentByID(t, updateFacts(t, predictorManifest(tt.stored), predictorManifest(tt.sent)), KindPredictor)
			if p.RevisionChanged != tt.wantRevision || p.ModelChanged {
				t.Errorf("revisionChanged=%v modelChanged=%v (%v), want revision %v and no model change", p.RevisionChanged, p.ModelChanged, p.ChangedFields, tt.wantRevision)
			}
		})
	}
	stored := `{type: SquareAttack, storageUri: "gs://models/explainer/v1", ` + defaults + `}`
	e := componentByID(t, updateFacts(t, fmt.Sprintf(explainerBase, stored), fmt.Sprintf(explainerBase, `{type: SquareAttack, storageUri: "gs://models/explainer/v1"}`)), KindExplainer)
	if e.RevisionChanged {
		t.Errorf("ART explainer sent without resources: revisionChanged (%v)", e.ChangedFields)
	}
}

// A GPU added to or removed from the model's container swaps the serving
// image of TensorFlow Serving, TorchServe and the Hugging Face server
// ("-gpu" tag) and of vLLM ("-cpu" image) unless runtimeVersion pins the
// tag: the model server changes, as with runtimeVersion.
func TestCompare_AGPUThatSwapsTheServingImageIsAModelChange(t *testing.T) {
	model := func(format, extra, resources string) string {
		return fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: "gs://models/m/v1"%s, resources: %s}`, format, extra, resources)
	}
	const cpu, gpu, mig = `{limits: {cpu: "1"}}`, `{limits: {cpu: "1", nvidia.com/gpu: "1"}}`, `{limits: {cpu: "1", nvidia.com/mig-1g.5gb: "1"}}`
	tests := []struct {
		name      string
		old, new  string
		wantModel bool
	}{
		{"tensorflow gains a GPU", model("tensorflow", "", cpu), model("tensorflow", "", gpu), true},
		{"pytorch loses its GPU", model("pytorch", "", gpu), model("pytorch", "", cpu), true},
		{"huggingface gains a MIG slice", model("huggingface", "", cpu), model("huggingface", "", mig), true},
		{"vLLM runtime loses its GPU", model("huggingface", ", runtime: kserve-vllmserver", gpu), model("huggingface", ", runtime: kserve-vllmserver", cpu), true},
		{"runtimeVersion pins the tag", model("tensorflow", `, runtimeVersion: "2.6.2"`, cpu), model("tensorflow", `, runtimeVersion: "2.6.2"`, gpu), false},
		{"sklearn has one image", model("sklearn", "", cpu), model("sklearn", "", gpu), false},
		{"a runtime of the cluster's own", model("tensorflow", ", runtime: team-tf", cpu), model("tensorflow", ", runtime: team-tf", gpu), false},
		{"a second GPU", model("tensorflow", "", gpu), model("tensorflow", "", `{limits: {cpu: "1", nvidia.com/gpu: "2"}}`), false},
		// UpdateImageTag leaves these images as they are.
		{"an image pinned by digest", model("tensorflow", `, image: "tensorflow/serving@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`, cpu), model("tensorflow", `, image: "tensorflow/serving@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`, gpu), false},
		{"an image without a tag", model("tensorflow", `, image: "tensorflow/serving"`, cpu), model("tensorflow", `, image: "tensorflow/serving"`, gpu), false},
		{"a -gpu image already", model("pytorch", `, image: "pytorch/torchserve:0.9.0-gpu"`, gpu), model("pytorch", `, image: "pytorch/torchserve:0.9.0-gpu"`, cpu), false},
		{"a -cpu vLLM image already", model("vLLM", `, image: "vllm/vllm-openai-cpu:v0.9.0"`, gpu), model("vLLM", `, image: "vllm/vllm-openai-cpu:v0.9.0"`, cpu), false},
		{"a tagged image of its own", model("tensorflow", `, image: "tensorflow/serving:2.6.2"`, cpu), model("tensorflow", `, image: "tensorflow/serving:2.6.2"`, gpu), true},
		{"the vLLM format, auto-selected", model("vLLM", "", gpu), model("vLLM", "", cpu), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, predictorManifest(tt.old), predictorManifest(tt.new))
			p := componentByID(t, f, KindPredictor)
			if p.ModelChanged != tt.wantModel || !p.RevisionChanged {
				t.Errorf("modelChanged=%v revisionChanged=%v (fields %v), want modelChanged=%v and a new revision",
					p.ModelChanged, p.RevisionChanged, p.ChangedFields, tt.wantModel)
			}
		})
	}
}

// Under auto-selection a new format name may select the runtime selected
// before, where it still lists the name and reads it nowhere (no revision),
// or another one: undecided, as the version. Where that runtime cannot be
// selected for the name, or reads it, it is a model change.
func TestCompare_AFormatNameUnderAutoSelection(t *testing.T) {
	tests := []struct {
		name, oldFormat, newFormat, selected, newURI string
		wantSelects, wantModel                       bool
		wantFields                                   []string
	}{
		{"onnx to triton on Triton", "onnx", "triton", "kserve-tritonserver", "", true, false, []string{"spec.predictor.model.modelFormat.name"}},
		{"tensorflow to onnx on Triton", "tensorflow", "onnx", "kserve-tritonserver", "", true, false, []string{"spec.predictor.model.modelFormat.name"}},
		{"sklearn to xgboost on the sklearn server, which does not list it", "sklearn", "xgboost", "kserve-sklearnserver", "", false, true, []string{"spec.predictor.model.modelFormat"}},
		{"sklearn to xgboost on MLServer, another model class", "sklearn", "xgboost", "kserve-mlserver", "", false, true, []string{"spec.predictor.model.modelFormat"}},
		{"onnx to triton, no runtime selected yet", "onnx", "triton", "", "", false, true, []string{"spec.predictor.model.modelFormat"}},
		{"onnx to triton on a runtime of the cluster's own", "onnx", "triton", "team-triton", "", false, true, []string{"spec.predictor.model.modelFormat"}},
		{"onnx to triton on Triton with a new model", "onnx", "triton", "kserve-tritonserver", "gs://m/v2", false, true,
			[]string{"spec.predictor.model.storageUri", "spec.predictor.model.modelFormat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := ""
			if tt.selected != "" {
				status = fmt.Sprintf("status: {clusterServingRuntimeName: %s}\n", tt.selected)
			}
			uri := "gs://m/v1"
			if tt.newURI != "" {
				uri = tt.newURI
			}
			f := updateFacts(t,
				predictorManifest(fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: "gs://m/v1", protocolVersion: v2}`, tt.oldFormat))+status,
				predictorManifest(fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: %q, protocolVersion: v2}`, tt.newFormat, uri)))
			p := componentByID(t, f, KindPredictor)
			if p.VersionSelectsRuntime != tt.wantSelects || p.ModelChanged != tt.wantModel || !p.RevisionChanged || !slices.Equal(p.ChangedFields, tt.wantFields) {
				t.Errorf("versionSelectsRuntime=%v modelChanged=%v revisionChanged=%v fields=%v, want %v %v true %v",
					p.VersionSelectsRuntime, p.ModelChanged, p.RevisionChanged, p.ChangedFields, tt.wantSelects, tt.wantModel, tt.wantFields)
			}
		})
	}
}

// A shipped runtime that does not auto-select the format cannot be picked
// again once it is no longer named: another runtime serves the model.
func TestCompare_ARuntimeAutoSelectionCannotPickIsAModelChangeWhenRemoved(t *testing.T) {
	tests := []struct {
		name, format, runtime string
		wantModel             bool
	}{
		{"kserve-predictiveserver auto-selects nothing", "sklearn", "kserve-predictiveserver", true},
		{"kserve-tritonserver does not auto-select pytorch", "pytorch", "kserve-tritonserver", true},
		{"kserve-tritonserver auto-selects onnx", "onnx", "kserve-tritonserver", false},
		{"a runtime of the cluster's own may", "sklearn", "team-sklearn", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := fmt.Sprintf("status: {clusterServingRuntimeName: %s}\n", tt.runtime)
			f := updateFacts(t,
				predictorManifest(fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: "gs://m/v1", runtime: %s}`, tt.format, tt.runtime))+status,
				predictorManifest(fmt.Sprintf(`model: {modelFormat: {name: %s}, storageUri: "gs://m/v1"}`, tt.format)))
			p := componentByID(t, f, KindPredictor)
			if p.ModelChanged != tt.wantModel || p.RuntimeUnpinned == tt.wantModel ||
				!slices.Equal(p.ChangedFields, []string{"spec.predictor.model.runtime"}) {
				t.Errorf("modelChanged=%v runtimeUnpinned=%v fields=%v, want a model change %v (else undecided)",
					p.ModelChanged, p.RuntimeUnpinned, p.ChangedFields, tt.wantModel)
			}
		})
	}
}

// Removing a named runtime leaves it to auto-selection, which may select
// the same runtime (no revision) or another: alone, it is neither a model
// change nor no change; with another model field it is part of a model
// change.
func TestCompare_ARuntimeRemovedAloneIsUndecided(t *testing.T) {
	pinned := `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver}`
	tests := []struct {
		name         string
		old, new     string
		wantUnpinned bool
		wantModel    bool
		wantFields   []string
	}{
		{"removed", pinned, sklearnV1, true, false, []string{"spec.predictor.model.runtime"}},
		{"removed with a version pinned", pinned, `model: {modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v1"}`,
			true, false, []string{"spec.predictor.model.runtime"}},
		{"removed with protocol v1, which auto-selection serves",
			`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-sklearnserver, protocolVersion: v1}`,
			`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"}`,
			true, false, []string{"spec.predictor.model.runtime"}},
		{"removed with protocol v2, which becomes v1",
			`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-mlserver, protocolVersion: v2}`,
			`model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1"}`,
			false, true, []string{"spec.predictor.model.protocolVersion", "spec.predictor.model.runtime"}},
		{"removed with a new storageUri", pinned, `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v2"}`,
			false, true, []string{"spec.predictor.model.storageUri", "spec.predictor.model.runtime"}},
		{"another runtime named", pinned, `model: {modelFormat: {name: sklearn}, storageUri: "gs://models/iris/v1", runtime: kserve-mlserver}`,
			false, true, []string{"spec.predictor.model.runtime"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, predictorManifest(tt.old)+"status: {clusterServingRuntimeName: kserve-sklearnserver}\n", predictorManifest(tt.new))
			p := componentByID(t, f, KindPredictor)
			if p.RuntimeUnpinned != tt.wantUnpinned || f.RuntimeUnpinned != tt.wantUnpinned || p.ModelChanged != tt.wantModel || !p.RevisionChanged ||
				!slices.Equal(p.ChangedFields, tt.wantFields) {
				t.Errorf("runtimeUnpinned=%v (rollout %v) modelChanged=%v revisionChanged=%v fields=%v, want %v %v true %v",
					p.RuntimeUnpinned, f.RuntimeUnpinned, p.ModelChanged, p.RevisionChanged, p.ChangedFields, tt.wantUnpinned, tt.wantModel, tt.wantFields)
			}
		})
	}
}

// Under auto-selection, modelFormat.version only selects a runtime: the
// same one (no revision) or another (a new model server). Alone, it is
// neither a model change nor no change; with another model field it is
// part of a model change.
func TestCompare_AVersionAloneUnderAutoSelectionIsUndecided(t *testing.T) {
	tests := []struct {
		name        string
		old, new    string
		wantSelects bool
		wantModel   bool
		wantFields  []string
	}{
		{"pinned", sklearnV1, `model: {modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v1"}`,
			true, false, []string{"spec.predictor.model.modelFormat.version"}},
		{"changed", `model: {modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v1"}`,
			`model: {modelFormat: {name: sklearn, version: "2"}, storageUri: "gs://models/iris/v1"}`,
			true, false, []string{"spec.predictor.model.modelFormat.version"}},
		{"with a new storageUri", sklearnV1, `model: {modelFormat: {name: sklearn, version: "1"}, storageUri: "gs://models/iris/v2"}`,
			false, true, []string{"spec.predictor.model.storageUri", "spec.predictor.model.modelFormat"}},
		{"with a new format name", sklearnV1, `model: {modelFormat: {name: xgboost, version: "1"}, storageUri: "gs://models/iris/v1"}`,
			false, true, []string{"spec.predictor.model.modelFormat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := updateFacts(t, predictorManifest(tt.old)+"status: {clusterServingRuntimeName: kserve-sklearnserver}\n", predictorManifest(tt.new))
			p := componentByID(t, f, KindPredictor)
			if p.VersionSelectsRuntime != tt.wantSelects || p.ModelChanged != tt.wantModel || !p.RevisionChanged ||
				!slices.Equal(p.ChangedFields, tt.wantFields) {
				t.Errorf("versionSelectsRuntime=%v modelChanged=%v revisionChanged=%v fields=%v, want %v %v true %v",
					p.VersionSelectsRuntime, p.ModelChanged, p.RevisionChanged, p.ChangedFields, tt.wantSelects, tt.wantModel, tt.wantFields)
			}
			if p.RuntimeInUse != "kserve-sklearnserver" {
				t.Errorf("runtimeInUse = %q, want the one the status names", p.RuntimeInUse)
			}
		})
	}
}
