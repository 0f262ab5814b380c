package policy

import (
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/kserve/kserve/pkg/constants"
	"github.com/kserve/kserve/pkg/utils"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// This file compares two versions of a component. KServe's defaulting
// webhook rewrites legacy framework blocks (spec.predictor.sklearn, ...)
// into spec.predictor.model{modelFormat}, so a stored old object and a raw
// request often differ in form only. Both sides are first brought into the
// model{} form, then compared field by field; changed fields are reported
// as paths in that normalised form.

// modelFields are the fields under spec.<component> (after normalisation)
// whose change swaps the served model: the "Where a model can change" list
// of the rollout facts.
var modelFields = map[string]bool{
	"model.modelFormat":     true,
	"model.runtime":         true,
	"model.storageUri":      true,
	"model.storage":         true,
	"model.runtimeVersion":  true,
	"model.protocolVersion": true,
	"model.image":           true,
	"model.command":         true,
	"model.args":            true,
	"model.env":             true,
	"model.envFrom":         true,
	"model.volumeMounts":    true,
	"storageUris":           true,
	"storageContainerName":  true,
	"containers":            true,
	"initContainers":        true,
	"volumes":               true,
	"serviceAccountName":    true,
	"workerSpec":            true,
	"art":                   true,
	// confidential selects the key the storage initializer decrypts the
	// model with (passed to the pods as internal annotations).
	"model.confidential": true,
	// serviceAccount is the deprecated alias of serviceAccountName: the API
	// server copies it into serviceAccountName when that is empty, so it
	// selects the storage credentials just the same.
	"serviceAccount": true,
}

// trafficFields change traffic, not the revision template.
var trafficFields = map[string]bool{
	"canaryTrafficPercent": true,
}

// legacyFramework returns the legacy framework block set on p, if any.
func legacyFramework(p *v1beta1.PredictorSpec) (string, *v1beta1.PredictorExtensionSpec) {
	switch {
	case p.SKLearn != nil:
		return constants.SupportedModelSKLearn, &p.SKLearn.PredictorExtensionSpec
	case p.Tensorflow != nil:
		return constants.SupportedModelTensorflow, &p.Tensorflow.PredictorExtensionSpec
	case p.XGBoost != nil:
		return constants.SupportedModelXGBoost, &p.XGBoost.PredictorExtensionSpec
	case p.PyTorch != nil:
		return constants.SupportedModelPyTorch, &p.PyTorch.PredictorExtensionSpec
	case p.Triton != nil:
		return constants.SupportedModelTriton, &p.Triton.PredictorExtensionSpec
	case p.ONNX != nil:
		return constants.SupportedModelONNX, &p.ONNX.PredictorExtensionSpec
	case p.HuggingFace != nil:
		return constants.SupportedModelHuggingFace, &p.HuggingFace.PredictorExtensionSpec
	case p.PMML != nil:
		return constants.SupportedModelPMML, &p.PMML.PredictorExtensionSpec
	case p.LightGBM != nil:
		return constants.SupportedModelLightGBM, &p.LightGBM.PredictorExtensionSpec
	case p.Paddle != nil:
		return constants.SupportedModelPaddle, &p.Paddle.PredictorExtensionSpec
	}
	return "", nil
}

// legacyDefaultsToProtocolV2 lists the legacy blocks KServe's defaulter
// gives protocol v2 when none is set (assignTritonRuntime,
// assignONNXRuntime, assignHuggingFaceRuntime in inference_service_defaults.go).
func legacyDefaultsToProtocolV2(format string) bool {
	switch format {
	case constants.SupportedModelTriton, constants.SupportedModelONNX,
		constants.SupportedModelHuggingFace:
		return true
	}
	return false
}

// modelDefaultsToProtocolV2 lists the model{} formats KServe's defaulter
// gives protocol v2 when none is set (setPredictorModelDefaults). Only
// triton and vLLM: a model{onnx} or model{huggingface} without
// protocolVersion stays unset and is served as v1 (ModelSpec.GetProtocol),
// so it must not be taken for the v2 a legacy block would get.
func modelDefaultsToProtocolV2(format string) bool {
	return format == constants.SupportedModelTriton || format == constants.SupportedModelVLLM
}

// normalizePredictor returns a shallow copy of p in the form KServe's
// defaulter stores (predictorForm), without the fields that reach no pod
// as they stand (dropUnread). p itself is not modified.
func normalizePredictor(p *v1beta1.PredictorSpec) v1beta1.PredictorSpec {
	n := predictorForm(p)
	dropUnread(&n)
	return n
}

// predictorForm returns a shallow copy of p in the form KServe's defaulter
// stores: legacy framework blocks moved into model{}, the protocol version
// it would default filled in, and the fields that only the defaulter sets
// cleared. p itself is not modified.
func predictorForm(p *v1beta1.PredictorSpec) v1beta1.PredictorSpec {
	n := *p
	// A legacy block wins over model{}, as in KServe's defaulter (a
	// client-side apply of a legacy manifest onto a stored object leaves both).
	if format, ext := legacyFramework(p); ext != nil {
		n.Model = &v1beta1.ModelSpec{
			ModelFormat:            v1beta1.ModelFormat{Name: format},
			PredictorExtensionSpec: *ext,
		}
		if n.Model.ProtocolVersion == nil && legacyDefaultsToProtocolV2(format) {
			v2 := constants.ProtocolV2
			n.Model.ProtocolVersion = &v2
		}
	}
	n.SKLearn, n.Tensorflow, n.XGBoost, n.PyTorch, n.Triton = nil, nil, nil, nil, nil
	n.ONNX, n.HuggingFace, n.PMML, n.LightGBM, n.Paddle = nil, nil, nil, nil, nil
	if n.Model != nil && n.Model.ProtocolVersion == nil && modelDefaultsToProtocolV2(n.Model.ModelFormat.Name) {
		m := *n.Model
		v2 := constants.ProtocolV2
		m.ProtocolVersion = &v2
		n.Model = &m
	}
	if n.Model != nil && n.Model.Storage != nil {
		// KServe passes the storage spec to the pods without schemaPath
		// and with the path's leading "/" trimmed (addStorageSpecAnnotations):
		// changing either alone makes no revision.
		m := *n.Model
		storage := *m.Storage
		storage.SchemaPath = nil
		if storage.Path != nil && strings.HasPrefix(*storage.Path, "/") {
			path := strings.TrimPrefix(*storage.Path, "/")
			storage.Path = &path
		}
		m.Storage = &storage
		n.Model = &m
	}
	if n.Model == nil {
		// Only a custom predictor gets its container named.
		normalizePodSpec(&n.PodSpec, false)
	} else if n.AutomountServiceAccountToken != nil && !*n.AutomountServiceAccountToken {
		n.AutomountServiceAccountToken = nil
	}
	return n
}

// dropUnread clears the fields of the whole predictor n that KServe passes
// to no pod as they stand. A canary entry's are judged once it is merged
// over the stable predictor: its storageContainerName applies beside the
// stable storage URI, and its resourceId beside the stable's enabled
// confidential spec.
func dropUnread(n *v1beta1.PredictorSpec) {
	if n.Model != nil && n.Model.Confidential != nil && !n.Model.Confidential.Enabled {
		// A confidential spec that is not enabled reaches no pod
		// (addConfidentialAnnotations returns before writing any).
		m := *n.Model
		m.Confidential = nil
		n.Model = &m
	}
	if n.StorageContainerName != nil && len(n.StorageUris) == 0 && !hasStorageURI(n) {
		// KServe passes storageContainerName to the storage initializer
		// only beside a storage URI (addStorageInitializerAnnotations) or
		// storageUris: with a storage spec alone it reaches no pod.
		n.StorageContainerName = nil
	}
}

// hasStorageURI reports whether KServe reads a storage URI from p's
// implementation: storageUri, or a custom container's STORAGE_URI.
func hasStorageURI(p *v1beta1.PredictorSpec) bool {
	return implementationStorageURI(p) != nil
}

// implementationStorageURI is the storage URI of p's implementation, as
// PredictorSpec.GetImplementation().GetStorageUri() gives it, or nil;
// unlike GetImplementation it does not panic on a predictor without one.
func implementationStorageURI(p *v1beta1.PredictorSpec) *string {
	impls := p.GetImplementations()
	if len(impls) == 0 {
		return nil
	}
	return impls[0].GetStorageUri()
}

// normalizePodSpec clears differences the defaulter alone makes: the name
// it gives the serving container and the service account token automount
// it turns off. KServe names a custom predictor's container when it is the
// only one or is unnamed (CustomPredictor.Default), and a transformer's or
// explainer's first container always (CustomTransformer/CustomExplainer.Default).
func normalizePodSpec(ps *v1beta1.PodSpec, alwaysNameFirst bool) {
	if len(ps.Containers) > 0 && ps.Containers[0].Name != constants.InferenceServiceContainerName &&
		(alwaysNameFirst || len(ps.Containers) == 1 || ps.Containers[0].Name == "") {
		containers := slices.Clone(ps.Containers)
		containers[0].Name = constants.InferenceServiceContainerName
		ps.Containers = containers
	}
	if ps.AutomountServiceAccountToken != nil && !*ps.AutomountServiceAccountToken {
		ps.AutomountServiceAccountToken = nil
	}
}

// diff holds the result of comparing two versions of one component.
type diff struct {
	fields   []string
	model    bool
	revision bool
	// gpuImage is set when model.resources changes the serving image
	// (gpuSwapsImage): then it is a model field too.
	gpuImage bool
	// versionSelectsRuntime is set when modelFormat.version is the only
	// model field that changes while KServe auto-selects the runtime.
	versionSelectsRuntime bool
	// runtimeUnpinned is set when the only model change is that the
	// runtime is no longer named (modelFormat.version may change with it):
	// KServe auto-selects one, maybe the same.
	runtimeUnpinned bool
	// unreadFormatName is the new modelFormat.name where it changes beside
	// a runtime in use that reads it nowhere (formatNameUnread): no change.
	unreadFormatName string
}

// modelFields lists the changed fields that are model fields.
func (d *diff) modelFields(prefix string) []string {
	var out []string
	for _, f := range d.fields {
		field := strings.TrimPrefix(f, prefix+".")
		if modelFields[field] || d.gpuImage && field == "model.resources" {
			out = append(out, f)
		}
	}
	return out
}

func (d *diff) add(prefix, field string) {
	d.fields = append(d.fields, prefix+"."+field)
	if modelFields[field] {
		d.model = true
	}
	if !trafficFields[field] {
		d.revision = true
	}
}

// comparePredictors compares two predictor specs form-agnostically.
// selectedRuntime is the runtime KServe selected for oldP ("" when not
// known): KServe fills an unset model.runtime and protocolVersion in
// memory only, so naming the values it chose changes no pod template.
func comparePredictors(prefix string, oldP, newP *v1beta1.PredictorSpec, selectedRuntime string) diff {
	o, n := normalizePredictor(oldP), normalizePredictor(newP)
	var d diff
	var autoSelected, unpinned, protocolSelects, nameSelects, versionToo bool
	if onlyPercentDiffers(&d, prefix, &o, &n, &o.CanaryTrafficPercent, &n.CanaryTrafficPercent) {
		return d
	}
	// The model implementation is compared one level down so a resources
	// change under model{} is not mistaken for a model change.
	switch {
	case o.Model == nil && n.Model == nil:
	case o.Model == nil || n.Model == nil:
		d.add(prefix, "model.modelFormat")
	default:
		// Resources left out of model{} are not refilled: KServe's defaulter
		// moves a framework block into model{} before defaulting, and
		// ModelSpec.Default sets nothing, so stored ones are the user's.
		if sameTorchServeProtocol(o.Model, n.Model, selectedRuntime) {
			// Compared as the same protocol from here on: with the runtime
			// named or left to selection, as either does.
			m := *n.Model
			m.ProtocolVersion = o.Model.ProtocolVersion
			n.Model = &m
		}
		spelled := spellsOutSelection(o.Model, n.Model, selectedRuntime)
		versionOnly := o.Model.ModelFormat.Name == n.Model.ModelFormat.Name &&
			!equalPtr(o.Model.ModelFormat.Version, n.Model.ModelFormat.Version)
		pinned := versionOnly && namesRuntimeInUse(o.Model, n.Model, selectedRuntime)
		// Beside the runtime in use, most of KServe's runtimes read the
		// format's name nowhere: no revision.
		nameUnread := formatNameUnread(o.Model, n.Model, selectedRuntime)
		// Under auto-selection the version may select another runtime, or
		// the same one: settled below, once every other field is compared.
		autoSelected = versionOnly && o.Model.Runtime == nil && n.Model.Runtime == nil
		// So may the name, where the runtime selected still lists it and
		// reads it nowhere.
		nameSelects = nameMaySelectSameRuntime(o.Model, n.Model, selectedRuntime)
		versionToo = !equalPtr(o.Model.ModelFormat.Version, n.Model.ModelFormat.Version)
		// A named runtime removed leaves it to auto-selection as well,
		// with the protocol it then defaults to: settled below too.
		unpinned = o.Model.Runtime != nil && n.Model.Runtime == nil
		if unpinned && !mayAutoSelect(*o.Model.Runtime, n.Model.ModelFormat.Name) {
			// Auto-selection cannot pick it again: another runtime, a model
			// change (compared as a changed runtime below).
			unpinned = false
		}
		// KServe reads protocolVersion to check or select a runtime, and
		// copies it into a pod template only for TorchServe: beside the
		// runtime in use another one makes no revision; under
		// auto-selection it filters the runtimes, so it may select another
		// one (settled below, like the version).
		protocolChanged := !equalPtr(o.Model.ProtocolVersion, n.Model.ProtocolVersion) && !protocolInPod(n.Model, selectedRuntime)
		protocolKept := protocolChanged && namesRuntimeInUse(o.Model, n.Model, selectedRuntime)
		protocolSelects = protocolChanged && o.Model.Runtime == nil && n.Model.Runtime == nil &&
			servedProtocol(o.Model) != servedProtocol(n.Model)
		if spelled || pinned || nameUnread || autoSelected || unpinned || protocolKept || protocolSelects || nameSelects {
			m := *n.Model
			if spelled || protocolKept {
				m.Runtime, m.ProtocolVersion = o.Model.Runtime, o.Model.ProtocolVersion
			}
			if protocolSelects {
				m.ProtocolVersion = o.Model.ProtocolVersion
			}
			if pinned || autoSelected || unpinned && versionOnly {
				m.ModelFormat.Version = o.Model.ModelFormat.Version
			}
			if nameSelects {
				m.ModelFormat = o.Model.ModelFormat
			}
			if nameUnread {
				// The version too: beside a named runtime it steers nothing.
				m.ModelFormat = o.Model.ModelFormat
				d.unreadFormatName = n.Model.ModelFormat.Name
			}
			if unpinned {
				m.Runtime = o.Model.Runtime
				// Unset, the protocol is the one auto-selection serves (v1,
				// or v2 where normalizePredictor filled in the defaulter's
				// v2): the same only where that was named; another (v2 for
				// kserve-mlserver, say) changes with the runtime.
				if m.ProtocolVersion == nil && servedProtocol(o.Model) == constants.ProtocolV1 {
					m.ProtocolVersion = o.Model.ProtocolVersion
				}
			}
			n.Model = &m
		}
		if n.Model.Image == o.Model.Image && strings.Contains(n.Model.Image, "@sha256:") &&
			!equalPtr(o.Model.RuntimeVersion, n.Model.RuntimeVersion) {
			// An image pinned by digest keeps it: KServe applies
			// runtimeVersion to an image's tag only (UpdateImageTag).
			m := *n.Model
			m.RuntimeVersion = o.Model.RuntimeVersion
			n.Model = &m
		}
		compareStruct(&d, prefix, "model.", reflect.ValueOf(o.Model).Elem(), reflect.ValueOf(n.Model).Elem())
		if gpuSwapsImage(o.Model, n.Model, selectedRuntime) {
			d.gpuImage, d.model = true, true
		}
	}
	o.Model, n.Model = nil, nil
	compareContainers(&d, prefix, o.Containers, n.Containers)
	o.Containers, n.Containers = nil, nil
	compareStruct(&d, prefix, "", reflect.ValueOf(&o).Elem(), reflect.ValueOf(&n).Elem())
	switch {
	case unpinned && d.model:
		// A model change anyway: the runtime comes with it.
		d.add(prefix, "model.runtime")
	case unpinned:
		// Auto-selection may pick the runtime that was named (no
		// revision: an injected percent would send traffic back to the
		// previous model) or another one; only the cluster's runtimes say.
		d.runtimeUnpinned, d.revision = true, true
		d.fields = append(d.fields, prefix+".model.runtime")
	case (autoSelected || protocolSelects || nameSelects) && d.model:
		// A model change anyway: the format or protocol comes with it.
		if autoSelected || nameSelects {
			d.add(prefix, "model.modelFormat")
		}
		if protocolSelects {
			d.add(prefix, "model.protocolVersion")
		}
	case autoSelected || protocolSelects || nameSelects:
		// KServe reads the version and the protocol only to select a
		// runtime: whether it selects another one (a new model server, a
		// revision) or the same one (no revision, where an injected
		// percent would send traffic back to the previous model) is the
		// cluster's runtimes' to say, which the request does not carry.
		d.versionSelectsRuntime, d.revision = true, true
		if nameSelects {
			d.fields = append(d.fields, prefix+".model.modelFormat.name")
		}
		if autoSelected || nameSelects && versionToo {
			d.fields = append(d.fields, prefix+".model.modelFormat.version")
		}
		if protocolSelects {
			d.fields = append(d.fields, prefix+".model.protocolVersion")
		}
	}
	return d
}

// protocolInPod reports whether KServe passes the predictor's protocol to
// its pods: only TorchServe's (SetTorchServeDefaults: the PROTOCOL_VERSION
// env and the serviceEnvelope label). The server is the named runtime's,
// else the selected one's, else, before KServe selected one, the one it
// auto-selects for the format. A runtime of the cluster's own declares its
// server type in an annotation canary-guard does not see: there the
// protocol is taken to stay out of the pods.
func protocolInPod(n *v1beta1.ModelSpec, selectedRuntime string) bool {
	runtime := runtimeOf(n, selectedRuntime)
	if runtime == "" {
		return n.ModelFormat.Name == constants.SupportedModelPyTorch
	}
	return constants.GetServerTypeFromRuntimeName(runtime) == constants.ServerTypeTorchServe
}

// sameTorchServeProtocol reports whether o and n, both on TorchServe, write
// the same protocol differently: TorchServe's pods read an unset one as v1
// (SetTorchServeDefaults, for a named runtime and a selected one alike),
// and auto-selection reads an unset one as v1 too (GetProtocol).
func sameTorchServeProtocol(o, n *v1beta1.ModelSpec, selectedRuntime string) bool {
	return !equalPtr(o.ProtocolVersion, n.ProtocolVersion) &&
		protocolInPod(o, selectedRuntime) && protocolInPod(n, selectedRuntime) &&
		torchServeProtocol(o) == torchServeProtocol(n)
}

// torchServeProtocol is the protocol TorchServe's pods get for m: its
// protocolVersion, v1 where it is unset.
func torchServeProtocol(m *v1beta1.ModelSpec) constants.InferenceServiceProtocol {
	if m.ProtocolVersion == nil {
		return constants.ProtocolV1
	}
	return *m.ProtocolVersion
}

// runtimeOf is the runtime n runs on: the one it names, else the one
// KServe selected ("" before it selected one).
func runtimeOf(n *v1beta1.ModelSpec, selectedRuntime string) string {
	if n.Runtime != nil {
		return *n.Runtime
	}
	return selectedRuntime
}

// gpuSwapsImage reports whether a GPU added to or removed from the model's
// container (an nvidia.com/gpu or nvidia.com/mig-* limit) swaps its
// serving image, so the model server: KServe serves TensorFlow Serving,
// TorchServe and the Hugging Face server with a GPU from the "-gpu" tag of
// their image, and vLLM without one from its "-cpu" image, unless
// runtimeVersion sets the tag (UpdateImageTag). The server is the named
// runtime's, else the selected one's (status), else, before KServe
// selected one, the runtime it auto-selects for the format. A runtime of
// the cluster's own says its server type in an annotation canary-guard
// does not see: there the image is taken to stay. So is a model.image that
// UpdateImageTag leaves as it is (servedImage).
func gpuSwapsImage(o, n *v1beta1.ModelSpec, selectedRuntime string) bool {
	if o.RuntimeVersion != nil || n.RuntimeVersion != nil ||
		utils.IsGPUEnabled(o.Resources) == utils.IsGPUEnabled(n.Resources) {
		return false
	}
	runtime := runtimeOf(n, selectedRuntime)
	serverType := constants.GetServerTypeFromRuntimeName(runtime)
	if serverType == "" && runtime == "" {
		// Before KServe selected one: the runtime it auto-selects.
		switch n.ModelFormat.Name {
		case constants.SupportedModelTensorflow:
			serverType = constants.ServerTypeTensorflowServing
		case constants.SupportedModelPyTorch:
			serverType = constants.ServerTypeTorchServe
		case constants.SupportedModelHuggingFace:
			serverType = constants.ServerTypeHuggingFaceServer
		case constants.SupportedModelVLLM:
			serverType = constants.ServerTypeVLLMServer
		}
	}
	// A new model.image is a model change of its own.
	return o.Image == n.Image && servedImage(o, serverType) != servedImage(n, serverType)
}

// imageTag is the ":tag" UpdateImageTag finds at the end of an image.
var imageTag = regexp.MustCompile(`(:([\w.\-_]*))$`)

// servedImage is the image KServe runs for m, as UpdateImageTag rewrites
// it for the server type when no runtimeVersion is set: the model's own
// image, else the runtime's (not seen here: taken to carry a tag). KServe
// leaves an image with a digest or without a tag as it is, and one that
// already ends in -gpu (vLLM: whose repository ends in -cpu).
func servedImage(m *v1beta1.ModelSpec, serverType string) string {
	image := m.Image
	if image == "" {
		image = "runtime-image:tag"
	}
	tag := imageTag.FindString(image)
	if strings.Contains(image, "@sha256:") || tag == "" {
		return image
	}
	repo := strings.TrimSuffix(image, tag)
	switch gpu := utils.IsGPUEnabled(m.Resources); {
	case gpu && (serverType == constants.ServerTypeTensorflowServing || serverType == constants.ServerTypeTorchServe ||
		serverType == constants.ServerTypeHuggingFaceServer) && !strings.HasSuffix(image, "-gpu"):
		return image + "-gpu"
	case !gpu && serverType == constants.ServerTypeVLLMServer && !strings.HasSuffix(repo, "-cpu"):
		return repo + "-cpu" + tag
	}
	return image
}

// spellsOutSelection reports whether n differs from o at most by naming
// what KServe's controller chose for o in memory: the runtime it selected
// (auto-selection of an unset runtime, recorded in the status) and the
// protocol. An unset protocolVersion is the lowest the runtime supports:
// v1 under auto-selection, which picks only runtimes that support v1 (the
// formats that default to v2 are filled in by normalizePredictor); with a
// runtime named it depends on that runtime, which canary-guard does not
// see, so any change counts. Such an update changes no pod template, so
// no revision: taken for a model change, the percent injected on it would
// send traffic back to the previous model.
func spellsOutSelection(o, n *v1beta1.ModelSpec, selectedRuntime string) bool {
	sameRuntime := equalPtr(o.Runtime, n.Runtime) ||
		o.Runtime == nil && n.Runtime != nil && selectedRuntime != "" && *n.Runtime == selectedRuntime
	op, np := servedProtocol(o), servedProtocol(n)
	sameProtocol := equalPtr(o.ProtocolVersion, n.ProtocolVersion) ||
		op != "" && op == np
	return sameRuntime && sameProtocol &&
		(!equalPtr(o.Runtime, n.Runtime) || !equalPtr(o.ProtocolVersion, n.ProtocolVersion))
}

// namesRuntimeInUse reports whether n names the runtime o runs on: the
// same one o names, or the one KServe auto-selected for o. Beside a named
// runtime, modelFormat.version steers nothing: KServe reads it only to
// auto-select a runtime and to check the named one lists the format
// (RuntimeSupportsModel), and copies it into no pod template. Pinning or
// changing it there makes no revision.
func namesRuntimeInUse(o, n *v1beta1.ModelSpec, selectedRuntime string) bool {
	if n.Runtime == nil {
		return false
	}
	return equalPtr(o.Runtime, n.Runtime) ||
		o.Runtime == nil && selectedRuntime != "" && *n.Runtime == selectedRuntime
}

// formatNameUnread reports whether n changes modelFormat.name beside the
// runtime in use where that runtime reads the name nowhere: KServe reads
// it to select a runtime or check the named one lists the format
// (RuntimeSupportsModel), and of its shipped runtimes' templates only
// kserve-mlserver's reads it, as the model class (SetMlServerDefaults'
// modelClass label: where the class changes). kserve-predictiveserver's
// --framework reads the modelFormat annotation, which KServe's defaulter
// writes from the name only where it is absent (modelFormatAnnotationChanged
// counts its changes). The huggingface format also decides whether a
// predictor without storage is served as a multi-model server. A runtime
// of the cluster's own may read the name in its templates: there it
// counts as a model change.
func formatNameUnread(o, n *v1beta1.ModelSpec, selectedRuntime string) bool {
	return o.ModelFormat.Name != n.ModelFormat.Name && namesRuntimeInUse(o, n, selectedRuntime) &&
		readsFormatNameNowhere(*n.Runtime, o.ModelFormat.Name, n.ModelFormat.Name)
}

// readsFormatNameNowhere reports whether runtime, one of KServe's, serves
// a model the same under the format name from and the name to: not to or
// from huggingface (it decides whether a predictor without storage is a
// multi-model server), and for kserve-mlserver only where the model class
// stays. A runtime of the cluster's own may read it.
func readsFormatNameNowhere(runtime, from, to string) bool {
	if from == constants.SupportedModelHuggingFace || to == constants.SupportedModelHuggingFace {
		return false
	}
	if runtime == constants.MLServer {
		return mlserverModelClass(from) == mlserverModelClass(to)
	}
	return shippedRuntime(runtime)
}

// nameMaySelectSameRuntime reports whether, under auto-selection, a new
// modelFormat.name may select the runtime KServe selected before (the
// stored status's), which reads it nowhere: then the update makes no
// revision, or another runtime and a new one; the request does not say
// which, as for the version. Where that runtime, one of KServe's, does not
// list the name with autoSelect, another one is selected: a model change.
// So it is where the runtime reads the name (kserve-mlserver's model
// class) or the name decides the kind of server (huggingface), or the
// selected runtime is not known.
func nameMaySelectSameRuntime(o, n *v1beta1.ModelSpec, selectedRuntime string) bool {
	return o.Runtime == nil && n.Runtime == nil && o.ModelFormat.Name != n.ModelFormat.Name &&
		mayAutoSelect(selectedRuntime, n.ModelFormat.Name) &&
		readsFormatNameNowhere(selectedRuntime, o.ModelFormat.Name, n.ModelFormat.Name)
}

// predictiveServer is KServe's runtime whose --framework argument is the
// modelFormat annotation ({{.Annotations.modelFormat}}).
const predictiveServer = "kserve-predictiveserver"

// modelFormatAnnotationChanged reports whether an update changes the
// modelFormat annotation as kserve-predictiveserver's pods see it
// ({{.Annotations.modelFormat}} in its --framework). It counts as KServe's
// defaulter leaves it: the annotation where the object sets it, else
// written from modelFormat.name (a manifest without it, as kept in Git,
// gets it back so). KServe keeps the annotation out of its Knative Service
// (ServiceAnnotationDisallowedList), so the metadata comparison leaves it
// out. A runtime of the cluster's own may read it too, but most do not,
// and a change counted where none is read would put a percent on an
// update that makes no revision: there it is not counted.
func modelFormatAnnotationChanged(oldObj, newObj *v1beta1.InferenceService, selectedRuntime string) bool {
	m := newObj.Spec.Predictor.Model
	if m == nil {
		return false
	}
	if runtimeOf(m, selectedRuntime) != predictiveServer {
		return false
	}
	return defaultedFormatAnnotation(oldObj) != defaultedFormatAnnotation(newObj)
}

// defaultedFormatAnnotation is obj's modelFormat annotation once KServe's
// defaulter has written it where it is absent.
func defaultedFormatAnnotation(obj *v1beta1.InferenceService) string {
	if v, ok := obj.Annotations[constants.ModelFormatAnnotationKey]; ok {
		return v
	}
	if m := obj.Spec.Predictor.Model; m != nil {
		return m.ModelFormat.Name
	}
	name, _ := legacyFramework(&obj.Spec.Predictor)
	return name
}

// autoSelectedFormats lists, for KServe's shipped runtimes
// (config/runtimes), the formats each marks autoSelect: auto-selection
// considers a runtime only for those (RuntimeSupportsModel).
// kserve-predictiveserver marks none.
var autoSelectedFormats = map[string][]string{
	constants.SKLearnServer:              {constants.SupportedModelSKLearn},
	constants.MLServer:                   {constants.SupportedModelSKLearn, constants.SupportedModelXGBoost, constants.SupportedModelLightGBM, constants.SupportedModelMLFlow},
	constants.TFServing:                  {constants.SupportedModelTensorflow},
	constants.XGBServer:                  {constants.SupportedModelXGBoost},
	constants.TorchServe:                 {constants.SupportedModelPyTorch},
	constants.TritonServer:               {"tensorrt", constants.SupportedModelTensorflow, constants.SupportedModelONNX, constants.SupportedModelTriton},
	constants.PMMLServer:                 {constants.SupportedModelPMML},
	constants.LGBServer:                  {constants.SupportedModelLightGBM},
	constants.PaddleServer:               {constants.SupportedModelPaddle},
	constants.HuggingFaceServer:          {constants.SupportedModelHuggingFace},
	"kserve-huggingfaceserver-multinode": {constants.SupportedModelHuggingFace},
	constants.VLLMServer:                 {constants.SupportedModelVLLM},
	"kserve-openvino":                    {"openvino", constants.SupportedModelONNX, constants.SupportedModelTensorflow, constants.SupportedModelHuggingFace},
	"kserve-autogluonserver":             {"autogluon"},
	predictiveServer:                     nil,
}

// mayAutoSelect reports whether auto-selection may pick runtime for a
// model of format: a runtime of the cluster's own may list it; one of
// KServe's only where it marks the format autoSelect (names compared as
// KServe does, exactly).
func mayAutoSelect(runtime, format string) bool {
	formats, shipped := autoSelectedFormats[runtime]
	return !shipped || slices.Contains(formats, format)
}

// shippedRuntime reports whether name is one of the ServingRuntimes KServe
// ships (config/runtimes), whose templates canary-guard knows.
func shippedRuntime(name string) bool {
	_, ok := autoSelectedFormats[name]
	return ok
}

// mlserverModelClass is the model class KServe gives MLServer for a format
// (SetMlServerDefaults).
func mlserverModelClass(format string) string {
	switch format {
	case constants.SupportedModelXGBoost:
		return constants.MLServerModelClassXGBoost
	case constants.SupportedModelLightGBM:
		return constants.MLServerModelClassLightGBM
	case constants.SupportedModelMLFlow:
		return constants.MLServerModelClassMLFlow
	}
	return constants.MLServerModelClassSKLearn
}

// servedProtocol is the protocol m is served with when KServe can tell
// from m alone: its protocolVersion, else v1 under auto-selection; ""
// when an unset protocol depends on a named runtime.
func servedProtocol(m *v1beta1.ModelSpec) constants.InferenceServiceProtocol {
	switch {
	case m.ProtocolVersion != nil:
		return *m.ProtocolVersion
	case m.Runtime == nil:
		return constants.ProtocolV1
	}
	return ""
}

// compareTransformers compares two transformer specs.
func compareTransformers(prefix string, oldT, newT *v1beta1.TransformerSpec) diff {
	o, n := *oldT, *newT
	normalizePodSpec(&o.PodSpec, true)
	normalizePodSpec(&n.PodSpec, true)
	var d diff
	if onlyPercentDiffers(&d, prefix, &o, &n, &o.CanaryTrafficPercent, &n.CanaryTrafficPercent) {
		return d
	}
	compareContainers(&d, prefix, o.Containers, n.Containers)
	o.Containers, n.Containers = nil, nil
	compareStruct(&d, prefix, "", reflect.ValueOf(&o).Elem(), reflect.ValueOf(&n).Elem())
	return d
}

// compareExplainers compares two explainer specs.
func compareExplainers(prefix string, oldE, newE *v1beta1.ExplainerSpec) diff {
	o, n := *oldE, *newE
	normalizePodSpec(&o.PodSpec, true)
	normalizePodSpec(&n.PodSpec, true)
	var d diff
	if onlyPercentDiffers(&d, prefix, &o, &n, &o.CanaryTrafficPercent, &n.CanaryTrafficPercent) {
		return d
	}
	compareContainers(&d, prefix, o.Containers, n.Containers)
	o.Containers, n.Containers = nil, nil
	if o.ART != nil && n.ART != nil {
		oa, na := *o.ART, *n.ART
		// KServe's defaulter names the container and fills in the default
		// runtimeVersion (ARTExplainerSpec.Default): an object sent without
		// them, as server-side apply or kubectl replace send it, is the
		// same explainer.
		oa.Name, na.Name = "", ""
		// runtimeVersion picks the image's tag only where no image is
		// given (ARTExplainerSpec.GetContainer).
		if na.RuntimeVersion == nil || na.Image != "" && na.Image == oa.Image {
			na.RuntimeVersion = oa.RuntimeVersion
		}
		if noResources(na.Resources) {
			na.Resources = oa.Resources
		}
		if !equal(oa.Resources, na.Resources) {
			d.add(prefix, "art.resources")
		}
		oa.Resources, na.Resources = corev1.ResourceRequirements{}, corev1.ResourceRequirements{}
		// KServe validates the explainer's storage spec and reads it
		// nowhere else (the explainer reconciler reads the storage URI and
		// the predictor's storage spec): a change of it makes no revision.
		oa.Storage, na.Storage = nil, nil
		if !equal(oa, na) {
			d.add(prefix, "art")
		}
		o.ART, n.ART = nil, nil
	}
	compareStruct(&d, prefix, "", reflect.ValueOf(&o).Elem(), reflect.ValueOf(&n).Elem())
	return d
}

// onlyPercentDiffers settles the common update, one that changes nothing
// but the canary percent, with one comparison of the whole spec instead of
// a walk over every field. It records the percent change and reports
// whether the rest is equal. o and n point at the specs; op and np at
// their percent fields.
func onlyPercentDiffers[T any](d *diff, prefix string, o, n *T, op, np **int64) bool {
	oldPct, newPct := *op, *np
	*op, *np = nil, nil
	// reflect.DeepEqual is several times cheaper than the semantic
	// comparison; where it is stricter (nil against empty lists, quantity
	// spellings) the field-by-field walk below settles it.
	same := reflect.DeepEqual(o, n)
	*op, *np = oldPct, newPct
	if !same {
		return false
	}
	*d = percentDiff(prefix, oldPct, newPct)
	return true
}

// percentDiff is the difference of two versions of a component that
// differ in nothing but their canary percent.
func percentDiff(prefix string, oldPct, newPct *int64) diff {
	var d diff
	if !equalPtr(oldPct, newPct) {
		d.add(prefix, "canaryTrafficPercent")
	}
	return d
}

// equal compares with reflect.DeepEqual first, which is several times
// cheaper, and only falls back to the semantic comparison (nil and empty
// lists alike, quantities by value) when that says no.
func equal(a, b any) bool {
	return reflect.DeepEqual(a, b) || equality.Semantic.DeepEqual(a, b)
}

// compareContainers reports "containers" when anything but resources
// changed (image, args, env such as STORAGE_URI, ...), and
// "containers.resources" when only resources did.
func compareContainers(d *diff, prefix string, o, n []corev1.Container) {
	if equal(o, n) {
		return
	}
	if len(o) == len(n) {
		onlyResources, refilled := true, true
		for i := range o {
			oc, nc := o[i], n[i]
			if !equal(oc.Resources, nc.Resources) && !noResources(nc.Resources) {
				refilled = false
			}
			oc.Resources, nc.Resources = corev1.ResourceRequirements{}, corev1.ResourceRequirements{}
			if !equal(oc, nc) {
				onlyResources = false
				break
			}
		}
		switch {
		case onlyResources && refilled:
			// Sent without the resources KServe's defaulter fills in
			// (setResourceRequirementDefaults): the same containers.
			return
		case onlyResources:
			d.add(prefix, "containers.resources")
			return
		}
	}
	d.add(prefix, "containers")
}

// noResources reports resources left unset, which KServe's defaulter
// fills in.
func noResources(r corev1.ResourceRequirements) bool {
	return len(r.Limits) == 0 && len(r.Requests) == 0 && len(r.Claims) == 0
}

// compareStruct compares the exported fields of two values of the same
// struct type, descending into inline (embedded) structs, and adds the
// JSON name of each field that differs.
func compareStruct(d *diff, prefix, fieldPrefix string, o, n reflect.Value) {
	t := o.Type()
	for i := range t.NumField() {
		of, nf := o.Field(i), n.Field(i)
		// Most fields (the pod spec's especially) are unset on both sides;
		// IsZero settles them without boxing the values or reading their
		// tags.
		if of.IsZero() && nf.IsZero() {
			continue
		}
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, inline := jsonName(f)
		if name == "-" {
			continue
		}
		if inline && f.Type.Kind() == reflect.Struct {
			compareStruct(d, prefix, fieldPrefix, of, nf)
			continue
		}
		if !equal(of.Interface(), nf.Interface()) {
			d.add(prefix, fieldPrefix+name)
		}
	}
}

func jsonName(f reflect.StructField) (name string, inline bool) {
	tag := f.Tag.Get("json")
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(opts, "inline") || (f.Anonymous && name == "") {
		return "", true
	}
	if name == "" {
		name = f.Name
	}
	return name, false
}
