package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"dario.cat/mergo"
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/kserve/kserve/pkg/constants"
	"github.com/kserve/kserve/pkg/utils"
	corev1 "k8s.io/api/core/v1"
	knservingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// Annotations canary-guard reads or writes.
const (
	// AnnotationTagRouting is KServe's switch for latest-/prev- URLs.
	AnnotationTagRouting = constants.KServeAPIGroupName + "/enable-tag-routing"
	// AnnotationOverride carries the reason of an override.
	AnnotationOverride = "canary-guard.dev/override"
	// AnnotationStepAt is stamped on each step when minStepIntervalSeconds is on.
	AnnotationStepAt = "canary-guard.dev/step-at"
	// internalAnnotationPrefix marks KServe's internal annotations, which
	// are passed through to pods and can change the model.
	internalAnnotationPrefix = "internal.serving.kserve.io/"
)

// Component kinds.
const (
	KindPredictor   = "predictor"
	KindTransformer = "transformer"
	KindExplainer   = "explainer"
	// KindCanary is a Standard-mode spec.canary[] entry.
	KindCanary = "canary"
)

// Readiness of a canary revision as the old object's status tells it.
const (
	ReadyTrue    = "true"
	ReadyFalse   = "false"
	ReadyUnknown = "unknown"
)

// Facts is what canary-guard knows about one request: the input.rollout
// document of the policies. docs/policy-input.md describes every field.
type Facts struct {
	Operation string `json:"operation"`
	// DeploymentMode is Knative, Standard or ModelMesh.
	DeploymentMode Mode `json:"deploymentMode"`
	// DeploymentModeSource is where the mode came from: status, annotation or default.
	DeploymentModeSource string `json:"deploymentModeSource"`
	// RolloutMode is how KServe rolls Components out: the deployment
	// mode, except for a ModelMesh InferenceService with a transformer,
	// whose transformer and explainer KServe reconciles as Knative
	// Services (Knative), while ModelMesh serves the predictor.
	RolloutMode Mode `json:"rolloutMode"`
	// Components has one entry per predictor, transformer, explainer and
	// Standard-mode canary entry present in the old or new object; those
	// ModelMesh serves are marked (ComponentFacts.ModelMesh).
	Components []ComponentFacts `json:"components"`
	// ModelChanged, RevisionChanged and PercentChanged are true when they
	// are for any component.
	ModelChanged    bool `json:"modelChanged"`
	RevisionChanged bool `json:"revisionChanged"`
	PercentChanged  bool `json:"percentChanged"`
	// VersionSelectsRuntime is true when it is for any component: rules
	// about it open with it, which OPA's index uses.
	VersionSelectsRuntime bool `json:"versionSelectsRuntime"`
	// RuntimeUnpinned is true when it is for any component.
	RuntimeUnpinned bool `json:"runtimeUnpinned"`
	// Raised is true when any component's latest revision gains traffic,
	// a Standard-mode promotion included.
	Raised bool `json:"raised"`
	// RaisedFromZero is true when any component's latest revision, or a
	// spec.canary[] entry, gains traffic from 0 %: a canary rolled back,
	// or a model deployed at 0 %, coming back.
	RaisedFromZero bool `json:"raisedFromZero"`
	// PercentOutOfRange is true when any component sets a percent outside
	// 0..100; ComponentAdded and ComponentRemoved when an update adds or
	// removes a predictor, transformer or explainer. Like Raised, they
	// open the rules about them, so that OPA's index skips those rules
	// for every other update.
	PercentOutOfRange bool `json:"percentOutOfRange"`
	ComponentAdded    bool `json:"componentAdded"`
	ComponentRemoved  bool `json:"componentRemoved"`
	// MetadataChanged lists the labels and annotations whose change makes
	// a new revision of every component.
	MetadataChanged []string `json:"metadataChanged"`
	// InternalAnnotationsChanged lists internal.serving.kserve.io/* keys
	// that were added, removed or changed.
	InternalAnnotationsChanged []string `json:"internalAnnotationsChanged"`
	// InternalAnnotationsOld maps each of InternalAnnotationsChanged to
	// its value in the stored object, nil where it had none: what to put
	// back.
	InternalAnnotationsOld AnnotationValues `json:"internalAnnotationsOld"`
	// TagRouting says whether tag routing is on before and after.
	TagRouting Transition `json:"tagRouting"`
	// Stopped says whether the InferenceService's serving.kserve.io/stop
	// stops it before and after: KServe then clears the status. Which
	// components it stops (deleting their Knative Services, revisions
	// included) is each component's Stopped: a component may set its own.
	Stopped Transition `json:"stopped"`
	// StopChanged is true when serving.kserve.io/stop stops or resumes
	// some component (its stopped differs before and after).
	StopChanged bool `json:"stopChanged"`
	// AnyStopped is true when serving.kserve.io/stop stops some component
	// before or after the update.
	AnyStopped bool `json:"anyStopped"`
	// RunsUnderStop is true when some component runs on its own
	// serving.kserve.io/stop "false" under a stopped InferenceService
	// (ComponentFacts.RunsUnderStop).
	RunsUnderStop bool `json:"runsUnderStop"`
	// FirstRolloutPending is true when some component's first rollout is
	// pending (ComponentFacts.FirstRolloutPending).
	FirstRolloutPending bool `json:"firstRolloutPending"`
	// NotRolledOut is true when some component has no revision rolled out
	// yet (ComponentFacts.NotRolledOut).
	NotRolledOut bool `json:"notRolledOut"`
	// ModelChangedAtZero is true when, in Knative mode, some component's
	// model changes with canaryTrafficPercent 0 after the update (a dark
	// launch; Standard mode ignores the percent). The shipped dark-launch
	// rule opens with it, so OPA's index skips that rule on every other
	// update.
	ModelChangedAtZero bool `json:"modelChangedAtZero"`
	// RoutesMissingRevision is true when some component's route names a
	// deleted revision (ComponentFacts.RoutesMissingRevision).
	RoutesMissingRevision bool `json:"routesMissingRevision"`
	// UnreadFormatChange is true when some component's modelFormat.name
	// changes where its runtime reads it nowhere (ComponentFacts.UnreadFormatName).
	UnreadFormatChange bool `json:"unreadFormatChange"`
	// AutoUpdateDisabled says whether serving.kserve.io/disable-auto-update
	// is "true" before and after: KServe's controller does not reconcile
	// a Ready InferenceService that carries it, so a change of its spec
	// takes no effect and its status does not follow until it is removed.
	AutoUpdateDisabled Transition `json:"autoUpdateDisabled"`
	// StatusReady is true when the stored object's Ready condition is
	// True: with auto-update disabled, KServe then skips reconciling it.
	StatusReady bool `json:"statusReady"`
	// Override is the state of the override annotation.
	Override OverrideFacts `json:"override"`
	// Step is the state of the step interval stamp.
	Step StepFacts `json:"step"`
	// AlwaysAdmit is true for updates no rule may deny: rollbacks,
	// lowering a percent, and updates that change nothing revision-relevant.
	AlwaysAdmit       bool   `json:"alwaysAdmit"`
	AlwaysAdmitReason string `json:"alwaysAdmitReason"`
	// CanaryEntriesAccepted is whether KServe accepts spec.canary[]
	// entries beside the stable predictor as it is (the old object's;
	// validateCanarySpecs): only in Standard mode, and only for a
	// predictor with a model (model{} or a framework block) or a
	// STORAGE_URI env on its kserve-container.
	// A multi-node predictor (workerSpec) has none: KServe refuses an
	// entry with a workerSpec and runs one without it as a single node,
	// without the workers its runtime waits for (reconcileCanaryDeployments).
	CanaryEntriesAccepted bool `json:"canaryEntriesAccepted"`
	// MultiNode is true when the predictor runs on several nodes
	// (spec.predictor.workerSpec) before or after the update.
	MultiNode bool `json:"multiNode"`
	// PredictorName is the new spec.predictor.name, "" when unset. KServe
	// names the predictor's Service <isvc>-<name>-predictor with it.
	PredictorName string `json:"predictorName"`
	// PredictorRenamed is true when spec.predictor.name differs between
	// the old and the new object and KServe accepts it: its validator
	// refuses a rename that keeps the predictor's storage URI
	// (validatePredictorNameChange), and its error speaks for that one.
	PredictorRenamed bool `json:"predictorRenamed"`
}

// Transition is a boolean before and after the request.
type Transition struct {
	Old bool `json:"old"`
	New bool `json:"new"`
}

// OverrideFacts describes the override annotation on this request.
type OverrideFacts struct {
	// Requested is true when this update sets or changes the annotation.
	Requested bool `json:"requested"`
	// Reason is the annotation's value.
	Reason string `json:"reason"`
	// Allowed is true when the user is in one of override.groups.
	Allowed bool `json:"allowed"`
	// Active is Requested and Allowed: the rules are lifted for this update.
	Active bool `json:"active"`
	// stale: the annotation is kept as an earlier update set it, which
	// lifts nothing now.
	stale bool
}

// StepFacts describes the time since the last step.
type StepFacts struct {
	// LastStepAt is the old object's step stamp (RFC 3339), or "".
	LastStepAt string `json:"lastStepAt"`
	// SecondsSinceLastStep is -1 when there is no valid stamp.
	SecondsSinceLastStep int64 `json:"secondsSinceLastStep"`
}

// ComponentFacts describes how one component changes.
type ComponentFacts struct {
	// ID is predictor, transformer, explainer or canary:<name>.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Name is the spec.canary[] entry's predictor name, or the kind.
	Name string `json:"name"`
	// Path is where the component lives in the new (else old) object.
	Path string `json:"path"`
	// PercentField is the field that carries the canary percent.
	PercentField string `json:"percentField"`
	InOld        bool   `json:"inOld"`
	InNew        bool   `json:"inNew"`
	// ModelMesh is true for a component ModelMesh serves, with no canary
	// (its percent routes nothing): in ModelMesh mode every component, and
	// beside a transformer the predictor.
	ModelMesh bool `json:"modelMesh"`
	// ChangedFields are paths in the normalised model{} form.
	ChangedFields   []string `json:"changedFields"`
	ModelChanged    bool     `json:"modelChanged"`
	RevisionChanged bool     `json:"revisionChanged"`
	// OldModel and NewModel summarise the model (storage URI, image, or the model an argument names).
	OldModel string `json:"oldModel"`
	NewModel string `json:"newModel"`
	// OldStorageURIs and NewStorageURIs list every location the component
	// loads a model from (storageURIs): what rules about storage
	// locations check, where the model summary gives the first only.
	OldStorageURIs []string `json:"oldStorageUris"`
	NewStorageURIs []string `json:"newStorageUris"`
	// OldPercent and NewPercent are nil when the field is absent.
	OldPercent *int64 `json:"oldPercent"`
	NewPercent *int64 `json:"newPercent"`
	// OldEffectivePercent and NewEffectivePercent are the traffic the
	// latest revision gets: an absent Knative percent means 100, and so
	// does a percent the status shows splitting the one revision there
	// is with itself (an InferenceService created with one), unless the
	// update makes a new revision.
	OldEffectivePercent int64 `json:"oldEffectivePercent"`
	NewEffectivePercent int64 `json:"newEffectivePercent"`
	// PercentChanged is true when the request changes the percent field,
	// that is, the user chose the new value in this update.
	PercentChanged bool `json:"percentChanged"`
	// CanaryInProgress is true when the old object splits traffic
	// between two revisions (whose Knative Service no stop has deleted).
	CanaryInProgress bool `json:"canaryInProgress"`
	// Revisions from the old object's status.
	StableRevision        string `json:"stableRevision"`
	PreviousRevision      string `json:"previousRevision"`
	LatestReadyRevision   string `json:"latestReadyRevision"`
	LatestCreatedRevision string `json:"latestCreatedRevision"`
	// Stopped says whether serving.kserve.io/stop stops the component
	// before and after (predictor, transformer, explainer): its own
	// annotation where it sets one, else the InferenceService's.
	Stopped Transition `json:"stopped"`
	// ServiceStopped is true where KServe has deleted the component's
	// Knative Service, or deletes it after this update: stopped after the
	// update, or stopped before where the stored status shows KServe acted
	// on the stop (no latest created revision). A model change there has no
	// canary to enter beside. A stop KServe has not reconciled yet (or
	// skips: disable-auto-update) leaves the service serving, and a resume
	// with a new model then updates it.
	ServiceStopped bool `json:"serviceStopped"`
	// RunsUnderStop is true where, after the update, the InferenceService's
	// serving.kserve.io/stop is "true" and the component's own "false"
	// keeps its Knative Service: KServe clears the whole status at the
	// stop and propagates none while it lasts, so the component's route
	// names no rolled-out revision and sends all traffic to its latest
	// revision, whatever the percent (ksvc_reconciler.go). No canary can
	// run there, and a percent injected on a model change splits nothing.
	RunsUnderStop bool `json:"runsUnderStop"`
	// RoutesMissingRevision is true where the status shows a rolled-out
	// revision numbered above the latest created one: a revision of the
	// Knative Service KServe deleted at a stop of the component alone (a
	// new service numbers its revisions from 1 again). A split (a percent
	// 0..99, in the old spec or set now) names it as the prev target, and
	// Knative refuses the route until the percent is removed: a route
	// never configured serves nothing, one configured before keeps its
	// last configuration. No split takes effect, so no canary runs, and a
	// percent injected on a model change would keep the new model out.
	RoutesMissingRevision bool `json:"routesMissingRevision"`
	// ServedRevision is, where RoutesMissingRevision holds and the status
	// shows the route still serving a revision other than the latest
	// ready one (a model changed while Knative refused the route), that
	// revision: removing the percent moves all traffic from it to the
	// latest at once, and no split below 100 takes effect before.
	ServedRevision string `json:"servedRevision"`
	// FirstRolloutPending is true where the old object is as created
	// (generation 1) and its status shows the component's revision created
	// but not rolled out yet (no latestRolledoutRevision), ready or not:
	// the first model is still starting, or failed. KServe splits traffic
	// only with a rolled-out revision (ksvc_reconciler.go), and the only
	// one to be rolled out is that revision, so no canary runs and no
	// percent of the old spec moves traffic between models. A new model
	// still gets its canary percent: the first revision may be rolled out
	// before the new one. Past generation 1 the status may predate a spec
	// change, and a ready revision before the latest may be rolled out
	// and split with it.
	FirstRolloutPending bool `json:"firstRolloutPending"`
	// NotRolledOut is true where the status shows the component's
	// revision created and none rolled out (no latestRolledoutRevision),
	// whatever the generation: as created, or after a stop of the
	// InferenceService, which clears the status. KServe splits nothing
	// then, so a new model may take all traffic once ready. Only a
	// warning follows: past generation 1 the status may lag a spec change
	// whose split will take effect (FirstRolloutPending).
	NotRolledOut bool `json:"notRolledOut"`
	// SplitsWithItself is true where the status shows the old percent
	// splitting the one revision there is (latestCreatedRevision) with
	// itself (routesOneRevision): no step moves traffic unless a model
	// changed after the status was written. Only while the spec is as
	// created (generation 1) does that lift the step rules.
	SplitsWithItself bool `json:"splitsWithItself"`
	// CanaryReady is true, false or unknown.
	CanaryReady       string `json:"canaryReady"`
	CanaryReadyReason string `json:"canaryReadyReason"`
	// PromotedCanary names the spec.canary[] entry this update promotes
	// (Standard mode: predictor.name set to it and the entry removed).
	PromotedCanary        string `json:"promotedCanary"`
	PromotedCanaryPercent int64  `json:"promotedCanaryPercent"`
	// PromotionRestarts is true for a promotion that keeps the stable
	// predictor's name: KServe rolls the stable Deployment to the
	// canary's model (a restart) instead of making the entry's Deployment
	// the stable one. KServe refuses a rename without a new storage URI,
	// so a model change in args, env or image can only be promoted so.
	PromotionRestarts bool `json:"promotionRestarts"`
	// PromotableByRename is true for a spec.canary[] entry that KServe
	// lets spec.predictor be renamed to: the storage URI it ran (a new
	// entry's, as written) differs from the stable predictor's (KServe
	// refuses a rename without a new storage URI,
	// validatePredictorNameChange).
	PromotableByRename bool `json:"promotableByRename"`
	// VersionSelectsRuntime is true when modelFormat.version or
	// protocolVersion are the only model fields that change while KServe
	// auto-selects the runtime: whether it selects another runtime is not
	// known from the request.
	VersionSelectsRuntime bool `json:"versionSelectsRuntime"`
	// UnreadFormatName is the new modelFormat.name where it changes
	// beside a runtime in use that reads it nowhere, which is no change:
	// KServe makes no revision, and reads the name only to check that the
	// runtime lists the format (else it stops reconciling the
	// InferenceService). "" otherwise.
	UnreadFormatName string `json:"unreadFormatName"`
	// RuntimeUnpinned is true when the only model change is that
	// model.runtime is no longer named: KServe auto-selects a runtime,
	// maybe the one that was named, which the request does not tell.
	RuntimeUnpinned bool `json:"runtimeUnpinned"`
	// RuntimeInUse is the runtime the predictor runs on: the one it names,
	// else the one KServe selected (the stored status); "" when unknown
	// and for other components.
	RuntimeInUse string `json:"runtimeInUse"`
	// PromotedCanaryChangedFields lists the model fields in which the new
	// spec.predictor differs from the promoted entry as it ran (merged
	// over the old stable predictor): empty when the promotion takes the
	// canary's model to all traffic, as it should.
	PromotedCanaryChangedFields []string `json:"promotedCanaryChangedFields"`
	// Replicas is, in Standard mode, what KServe configures for the
	// stable predictor and each spec.canary[] entry; nil otherwise.
	Replicas *ReplicaFacts `json:"replicas"`

	// ranAs is a removed canary entry as it ran (merged over the old
	// stable predictor), kept for markPromotion.
	ranAs *v1beta1.PredictorSpec
	// statusNotReady: the old object's canaryStatuses, current with the
	// spec, show the entry not ready.
	statusNotReady bool
	// selfSplitAsCreated: SplitsWithItself while the spec is as created.
	selfSplitAsCreated bool
}

// validPercent reports whether p is a traffic percent Knative accepts.
func validPercent(p int64) bool { return p >= 0 && p <= 100 }

// Raised reports whether the latest revision gets more traffic than before.
func (c *ComponentFacts) Raised() bool { return c.NewEffectivePercent > c.OldEffectivePercent }

// FactsOptions carries what facts depend on besides the request.
type FactsOptions struct {
	Settings *Settings
	Now      time.Time
}

// BuildFacts computes the rollout facts of a request.
func BuildFacts(req *Request, opts FactsOptions) (*Facts, error) {
	if req.Object == nil {
		return nil, fmt.Errorf("request has no object")
	}
	if req.Operation == OperationUpdate && req.OldObject == nil {
		return nil, fmt.Errorf("UPDATE request has no oldObject")
	}
	newObj, oldObj := req.Object, req.OldObject
	if oldObj == nil {
		// On CREATE compare the object with itself: nothing changes.
		oldObj = newObj
	}
	s := opts.Settings
	if s == nil {
		defaults := DefaultSettings()
		s = &defaults
	}
	f := &Facts{Operation: req.Operation}
	f.DeploymentMode, f.DeploymentModeSource = resolveMode(oldObj, newObj, s.DefaultDeploymentMode)
	f.RolloutMode = f.DeploymentMode
	// KServe skips a ModelMesh InferenceService unless it has a
	// transformer; then it reconciles the transformer and the explainer as
	// in Knative mode (a Knative Service each, canaryTrafficPercent
	// splitting it) and leaves the predictor to ModelMesh
	// (inferenceservice/controller.go, components/transformer.go).
	modelMeshBeside := f.DeploymentMode == ModeModelMesh && (oldObj.Spec.Transformer != nil || newObj.Spec.Transformer != nil)
	if modelMeshBeside {
		f.RolloutMode = ModeKnative
	}
	knative := f.RolloutMode == ModeKnative
	f.MetadataChanged = metadataChanges(oldObj, newObj, s, knative)
	// An internal annotation KServe keeps out of the pods (its
	// serviceAnnotationDisallowedList: storage-initializer-sourceuri, which
	// its controller sets itself) changes no model.
	rev := revisionMeta{settings: s, knative: knative}
	// localModelKeysManaged is asked only where a local model cache key
	// changes: it walks the specs.
	f.InternalAnnotationsChanged = changedKeys(oldObj.Annotations, newObj.Annotations, func(k string) bool {
		return internalAnnotation(k) && !rev.annotationLeftOut(k) && (!localModelAnnotation(k) || !localModelKeysManaged(oldObj, newObj))
	})
	for _, k := range f.InternalAnnotationsChanged {
		f.recordInternalOld(k, oldObj.Annotations, k)
	}
	if labels := changedKeys(oldObj.Labels, newObj.Labels, localModelLabel); len(labels) > 0 && !localModelKeysManaged(oldObj, newObj) {
		for _, k := range labels {
			path := "metadata.labels." + k
			f.InternalAnnotationsChanged = append(f.InternalAnnotationsChanged, path)
			f.recordInternalOld(path, oldObj.Labels, k)
		}
	}
	f.PredictorName = newObj.Spec.Predictor.Name
	if newObj.Spec.Predictor.Name != oldObj.Spec.Predictor.Name {
		// KServe compares the URIs after its defaulter has moved a
		// framework block into model{}.
		oldForm, newForm := predictorForm(&oldObj.Spec.Predictor), predictorForm(&newObj.Spec.Predictor)
		f.PredictorRenamed = renameStorageURI(&newForm) != renameStorageURI(&oldForm)
	}
	f.TagRouting = Transition{Old: oldObj.Annotations[AnnotationTagRouting] == "true", New: newObj.Annotations[AnnotationTagRouting] == "true"}
	f.Stopped = Transition{Old: utils.GetForceStopRuntime(oldObj), New: utils.GetForceStopRuntime(newObj)}
	f.StatusReady = oldObj.Status.IsReady()
	f.AutoUpdateDisabled = Transition{
		Old: oldObj.Annotations[constants.DisableAutoUpdateAnnotationKey] == "true",
		New: newObj.Annotations[constants.DisableAutoUpdateAnnotationKey] == "true",
	}
	f.Override = overrideFacts(oldObj, newObj, req, s)
	f.Step = stepFacts(oldObj, opts.Now)

	metaRevision := len(f.MetadataChanged) > 0
	// A step of a rollout changes nothing but percents: then the raw specs
	// settle it, without comparing the decoded components.
	percentsOnly := req.OldSpecJSON != nil && req.SpecJSON != nil && onlyPercentsDiffer(req.OldSpecJSON, req.SpecJSON)
	if !percentsOnly {
		f.addComponentInternalAnnotations(&oldObj.Spec, &newObj.Spec, rev)
	}
	// The predictor ModelMesh serves stays a component, marked: custom
	// rules about models (storage locations, freezes) see it as in
	// ModelMesh mode without a transformer, and its model change is no
	// update without a new revision; rules about percents skip it.
	pred := predictorFacts(oldObj, newObj, knative && !modelMeshBeside, percentsOnly, rev)
	pred.ModelMesh = modelMeshBeside
	f.Components = append(f.Components, pred)
	if oldObj.Spec.Transformer != nil || newObj.Spec.Transformer != nil {
		f.Components = append(f.Components, transformerFacts(oldObj, newObj, knative, percentsOnly, rev))
	}
	if oldObj.Spec.Explainer != nil || newObj.Spec.Explainer != nil {
		f.Components = append(f.Components, explainerFacts(oldObj, newObj, knative, percentsOnly, rev))
	}
	f.StopChanged, f.AnyStopped, f.RunsUnderStop = setComponentsStopped(f.Components, oldObj, newObj)
	if !modelMeshBeside && (len(oldObj.Spec.Canary) > 0 || len(newObj.Spec.Canary) > 0) {
		canaries, err := canaryFacts(oldObj, newObj)
		if err != nil {
			return nil, err
		}
		f.Components = append(f.Components, canaries...)
		markPromotion(&f.Components[0], oldObj, newObj, canaries)
	}
	f.MultiNode = oldObj.Spec.Predictor.WorkerSpec != nil || newObj.Spec.Predictor.WorkerSpec != nil
	if f.DeploymentMode == ModeStandard {
		setStandardReplicas(f.Components, oldObj, newObj, req.Operation == OperationCreate)
		explainUnscaledEntries(f.Components, oldObj)
		// Beside the stable as it is: a model change is to leave it so and
		// come in as an entry, which KServe merges over it, so the entry
		// cannot turn a model into a custom container or back.
		f.CanaryEntriesAccepted = acceptsCanaryEntries(&oldObj.Spec.Predictor) &&
			customPredictor(&oldObj.Spec.Predictor) == customPredictor(&newObj.Spec.Predictor) &&
			!f.MultiNode
	}
	for i := range f.Components {
		c := &f.Components[i]
		if metaRevision && c.InOld && c.InNew {
			c.RevisionChanged = true
		}
		if c.selfSplitAsCreated || c.FirstRolloutPending || c.RoutesMissingRevision {
			// The one revision takes all traffic, and keeps it unless this
			// update makes another: no canary runs, and no percent moves
			// traffic between models. Before the first rollout, that
			// revision takes all traffic once ready; a new one gets the new
			// percent where the first is rolled out before it.
			c.OldEffectivePercent, c.CanaryInProgress = 100, false
			if c.InNew && !c.RevisionChanged {
				c.NewEffectivePercent = 100
			}
		}
		f.ModelChanged = f.ModelChanged || c.ModelChanged
		f.FirstRolloutPending = f.FirstRolloutPending || c.FirstRolloutPending
		f.NotRolledOut = f.NotRolledOut || c.NotRolledOut
		f.ModelChangedAtZero = f.ModelChangedAtZero || f.RolloutMode == ModeKnative && c.ModelChanged && c.NewPercent != nil && *c.NewPercent == 0
		f.UnreadFormatChange = f.UnreadFormatChange || c.UnreadFormatName != ""
		f.RoutesMissingRevision = f.RoutesMissingRevision || c.RoutesMissingRevision
		f.VersionSelectsRuntime = f.VersionSelectsRuntime || c.VersionSelectsRuntime
		f.RuntimeUnpinned = f.RuntimeUnpinned || c.RuntimeUnpinned
		f.RevisionChanged = f.RevisionChanged || c.RevisionChanged
		f.PercentChanged = f.PercentChanged || c.PercentChanged
		f.Raised = f.Raised || c.Raised() || c.PromotedCanary != ""
		f.RaisedFromZero = f.RaisedFromZero || c.Raised() && c.OldEffectivePercent == 0
		f.PercentOutOfRange = f.PercentOutOfRange || c.InNew && c.NewPercent != nil && !validPercent(*c.NewPercent)
		if c.Kind != KindCanary && req.Operation == OperationUpdate {
			f.ComponentAdded = f.ComponentAdded || c.InNew && !c.InOld
			f.ComponentRemoved = f.ComponentRemoved || c.InOld && !c.InNew
		}
		if f.RolloutMode == ModeModelMesh {
			c.ModelMesh = true
		}
		if c.ModelMesh {
			c.CanaryReadyReason = "ModelMesh serves the " + c.Kind + " without revisions"
		}
	}
	f.AlwaysAdmit, f.AlwaysAdmitReason = alwaysAdmit(f)
	return f, nil
}

// resolveMode resolves the deployment mode as KServe's controller does:
// the old object's status, else the annotation, else the cluster default.
func resolveMode(oldObj, newObj *v1beta1.InferenceService, clusterDefault string) (Mode, string) {
	if m, ok := ParseDeploymentMode(oldObj.Status.DeploymentMode); ok {
		return m, "status"
	}
	for _, obj := range []*v1beta1.InferenceService{newObj, oldObj} {
		if m, ok := ParseDeploymentMode(obj.Annotations[constants.DeploymentMode]); ok {
			return m, "annotation"
		}
	}
	if m, ok := ParseDeploymentMode(clusterDefault); ok {
		return m, "default"
	}
	return ModeKnative, "default"
}

// predictorFacts describes the predictor. percentsOnly says the specs are
// known to differ in canary percents only.
func predictorFacts(oldObj, newObj *v1beta1.InferenceService, knative, percentsOnly bool, rev revisionMeta) ComponentFacts {
	c := ComponentFacts{
		ID: KindPredictor, Kind: KindPredictor, Name: KindPredictor,
		Path: "spec.predictor", PercentField: "canaryTrafficPercent",
		InOld: true, InNew: true,
	}
	if percentsOnly {
		c.setDiff(percentDiff(c.Path, oldObj.Spec.Predictor.CanaryTrafficPercent, newObj.Spec.Predictor.CanaryTrafficPercent))
	} else {
		predictorExt := func(p *v1beta1.PredictorSpec) *v1beta1.ComponentExtensionSpec { return &p.ComponentExtensionSpec }
		c.setDiff(comparePredictors(c.Path, asRevision(&oldObj.Spec.Predictor, predictorExt, rev),
			asRevision(&newObj.Spec.Predictor, predictorExt, rev), selectedRuntime(&oldObj.Status)))
	}
	if modelFormatAnnotationChanged(oldObj, newObj, selectedRuntime(&oldObj.Status)) {
		c.ChangedFields = append(c.ChangedFields, "metadata.annotations."+constants.ModelFormatAnnotationKey)
		c.ModelChanged, c.RevisionChanged = true, true
	}
	c.OldModel = predictorModel(&oldObj.Spec.Predictor)
	c.NewModel = predictorModel(&newObj.Spec.Predictor)
	c.OldStorageURIs = predictorStorageURIs(&oldObj.Spec.Predictor)
	c.NewStorageURIs = predictorStorageURIs(&newObj.Spec.Predictor)
	c.RuntimeInUse = selectedRuntime(&oldObj.Status)
	if m := oldObj.Spec.Predictor.Model; m != nil && m.Runtime != nil {
		c.RuntimeInUse = *m.Runtime
	}
	c.setPercents(oldObj.Spec.Predictor.CanaryTrafficPercent, newObj.Spec.Predictor.CanaryTrafficPercent, knative)
	c.setKnativeStatus(oldObj, v1beta1.PredictorComponent, knative)
	return c
}

// selectedRuntime is the serving runtime KServe's controller selected for
// the predictor, from the status it wrote.
func selectedRuntime(st *v1beta1.InferenceServiceStatus) string {
	if st.ClusterServingRuntimeName != "" {
		return st.ClusterServingRuntimeName
	}
	return st.ServingRuntimeName
}

func transformerFacts(oldObj, newObj *v1beta1.InferenceService, knative, percentsOnly bool, rev revisionMeta) ComponentFacts {
	ext := func(t *v1beta1.TransformerSpec) *v1beta1.ComponentExtensionSpec { return &t.ComponentExtensionSpec }
	return optionalComponentFacts(KindTransformer, v1beta1.TransformerComponent, oldObj,
		oldObj.Spec.Transformer, newObj.Spec.Transformer, knative, percentsOnly,
		func(t *v1beta1.TransformerSpec) *int64 { return t.CanaryTrafficPercent },
		func(t *v1beta1.TransformerSpec) string { return podModel(&t.PodSpec) },
		transformerStorageURIs,
		func(prefix string, o, n *v1beta1.TransformerSpec) diff {
			return compareTransformers(prefix, asRevision(o, ext, rev), asRevision(n, ext, rev))
		})
}

func explainerFacts(oldObj, newObj *v1beta1.InferenceService, knative, percentsOnly bool, rev revisionMeta) ComponentFacts {
	ext := func(e *v1beta1.ExplainerSpec) *v1beta1.ComponentExtensionSpec { return &e.ComponentExtensionSpec }
	return optionalComponentFacts(KindExplainer, v1beta1.ExplainerComponent, oldObj,
		oldObj.Spec.Explainer, newObj.Spec.Explainer, knative, percentsOnly,
		func(e *v1beta1.ExplainerSpec) *int64 { return e.CanaryTrafficPercent },
		explainerModel,
		explainerStorageURIs,
		func(prefix string, o, n *v1beta1.ExplainerSpec) diff {
			return compareExplainers(prefix, asRevision(o, ext, rev), asRevision(n, ext, rev))
		})
}

// revisionMeta tells which labels and annotations KServe copies into a
// component's revision template: not those on its disallowed lists or the
// ones configured beside them, nor, in Knative mode, the annotations it
// moves to the Knative Service (buildPredictorResources and its
// transformer and explainer twins, createKnativeService). A change of the
// others alone makes no revision.
type revisionMeta struct {
	settings *Settings
	knative  bool
}

func (r revisionMeta) annotationLeftOut(k string) bool {
	return slices.Contains(constants.ServiceAnnotationDisallowedList, k) || slices.Contains(r.settings.ServiceAnnotationDisallowedList, k) ||
		r.knative && ksvcAnnotation(k)
}

// labelLeftOut holds in Knative mode only: KServe filters labels in its
// Knative Service reconciler; Standard mode's Deployment gets them all.
func (r revisionMeta) labelLeftOut(k string) bool {
	return r.knative && (slices.Contains(constants.RevisionTemplateLabelDisallowedList, k) || slices.Contains(r.settings.ServiceLabelDisallowedList, k))
}

// asRevision returns component p as its revision template sees it: p
// itself, or, where some of its labels or annotations are left out, a
// shallow copy without them.
func asRevision[T any](p *T, ext func(*T) *v1beta1.ComponentExtensionSpec, r revisionMeta) *T {
	e := ext(p)
	if !anyKey(e.Annotations, r.annotationLeftOut) && !anyKey(e.Labels, r.labelLeftOut) {
		return p
	}
	c := *p
	ce := ext(&c)
	ce.Annotations = withoutKeys(e.Annotations, r.annotationLeftOut)
	ce.Labels = withoutKeys(e.Labels, r.labelLeftOut)
	return &c
}

func anyKey(m map[string]string, match func(string) bool) bool {
	for k := range m {
		if match(k) {
			return true
		}
	}
	return false
}

// withoutKeys returns m without the keys that match: m itself where none does.
func withoutKeys(m map[string]string, match func(string) bool) map[string]string {
	if !anyKey(m, match) {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !match(k) {
			out[k] = v
		}
	}
	return out
}

// optionalComponentFacts describes a component an InferenceService may
// have or not (transformer, explainer); o and n are nil where it is absent.
func optionalComponentFacts[T any](kind string, component v1beta1.ComponentType, oldObj *v1beta1.InferenceService,
	o, n *T, knative, percentsOnly bool, percent func(*T) *int64, model func(*T) string, storage func(*T) []string,
	compare func(string, *T, *T) diff,
) ComponentFacts {
	c := ComponentFacts{
		ID: kind, Kind: kind, Name: kind,
		Path: "spec." + kind, PercentField: "canaryTrafficPercent",
		InOld: o != nil, InNew: n != nil,
	}
	var oldPct, newPct *int64
	if o != nil {
		oldPct = percent(o)
		c.OldModel, c.OldStorageURIs = model(o), storage(o)
	}
	if n != nil {
		newPct = percent(n)
		c.NewModel, c.NewStorageURIs = model(n), storage(n)
	}
	switch {
	case o != nil && n != nil && percentsOnly:
		c.setDiff(percentDiff(c.Path, oldPct, newPct))
	case o != nil && n != nil:
		c.setDiff(compare(c.Path, o, n))
	case c.InNew:
		// An added component is new revisions, not a model change of a
		// component that serves traffic already.
		c.RevisionChanged = true
	}
	c.setPercents(oldPct, newPct, knative)
	c.setKnativeStatus(oldObj, component, knative)
	return c
}

// canaryFacts describes each Standard-mode spec.canary[] entry, comparing
// the entry merged over its stable predictor, as KServe deploys it.
func canaryFacts(oldObj, newObj *v1beta1.InferenceService) ([]ComponentFacts, error) {
	oldByName := map[string]int{}
	for i := range oldObj.Spec.Canary {
		oldByName[oldObj.Spec.Canary[i].Predictor.Name] = i
	}
	var out []ComponentFacts
	seen := map[string]bool{}
	for i := range newObj.Spec.Canary {
		nc := &newObj.Spec.Canary[i]
		name := nc.Predictor.Name
		seen[name] = true
		c := ComponentFacts{
			ID: KindCanary + ":" + name, Kind: KindCanary, Name: name,
			Path: fmt.Sprintf("spec.canary[%d]", i), PercentField: "trafficPercent",
			InNew: true, NewPercent: ptr(int64(nc.TrafficPercent)), NewEffectivePercent: int64(nc.TrafficPercent),
		}
		newMerged, err := mergeCanary(&newObj.Spec.Predictor, nc)
		if err != nil {
			return nil, err
		}
		c.NewModel = predictorModel(&newMerged)
		c.NewStorageURIs = entryStorageURIs(&newMerged)
		if j, ok := oldByName[name]; ok {
			oc := &oldObj.Spec.Canary[j]
			oldMerged, err := mergeCanary(&oldObj.Spec.Predictor, oc)
			if err != nil {
				return nil, err
			}
			c.InOld = true
			c.OldPercent = ptr(int64(oc.TrafficPercent))
			c.OldEffectivePercent = int64(oc.TrafficPercent)
			c.OldModel = predictorModel(&oldMerged)
			c.OldStorageURIs = entryStorageURIs(&oldMerged)
			c.PromotableByRename = renameStorageURI(&oldMerged) != renameStorageURI(&oldObj.Spec.Predictor)
			rt := selectedRuntime(&oldObj.Status)
			c.setDiff(comparePredictors(c.Path+".predictor", onStableRuntime(oldMerged, rt), onStableRuntime(newMerged, rt), rt))
			if c.RuntimeUnpinned {
				// Only where the status names no stable runtime (else the
				// entry runs on it, onStableRuntime): the entry's model may
				// move to another runtime, which runtime-selection, a rule
				// of the stable components, does not speak for.
				c.RuntimeUnpinned, c.ModelChanged = false, true
			}
			c.CanaryInProgress = true
		} else {
			// A new entry enters with a model of its own; compare it with
			// the stable predictor it will run beside.
			c.OldModel = predictorModel(&oldObj.Spec.Predictor)
			c.OldStorageURIs = predictorStorageURIs(&oldObj.Spec.Predictor)
			c.PromotableByRename = renameStorageURI(&newMerged) != renameStorageURI(&oldObj.Spec.Predictor)
			d := comparePredictors(c.Path+".predictor", &oldObj.Spec.Predictor, &newMerged, "")
			c.ChangedFields = d.fields
			c.ModelChanged = d.model
			c.RevisionChanged = true
		}
		c.PercentChanged = !equalPtr(c.OldPercent, c.NewPercent)
		c.setCanaryStatus(oldObj)
		out = append(out, c)
	}
	for i := range oldObj.Spec.Canary {
		oc := &oldObj.Spec.Canary[i]
		if seen[oc.Predictor.Name] {
			continue
		}
		oldMerged, err := mergeCanary(&oldObj.Spec.Predictor, oc)
		if err != nil {
			return nil, err
		}
		c := ComponentFacts{
			ID: KindCanary + ":" + oc.Predictor.Name, Kind: KindCanary, Name: oc.Predictor.Name,
			Path: fmt.Sprintf("spec.canary[%d]", i), PercentField: "trafficPercent",
			InOld: true, OldPercent: ptr(int64(oc.TrafficPercent)), OldEffectivePercent: int64(oc.TrafficPercent),
			OldModel: predictorModel(&oldMerged), OldStorageURIs: entryStorageURIs(&oldMerged), PercentChanged: true, CanaryInProgress: true,
			PromotableByRename: renameStorageURI(&oldMerged) != renameStorageURI(&oldObj.Spec.Predictor),
			ranAs:              &oldMerged,
		}
		c.setCanaryStatus(oldObj)
		out = append(out, c)
	}
	return out, nil
}

// onStableRuntime returns p, an entry merged over the stable predictor,
// with the runtime KServe runs it on named: KServe reconciles the stable
// predictor first, and reconcileModel names the runtime it auto-selected
// in the stable's spec (in memory), which the entry merged over it then
// keeps unless it names its own (reconcileCanaryDeployments). So an
// entry's modelFormat.version selects no runtime, and naming the one it
// runs on changes nothing. selected is the stable's runtime from the
// stored status; p is returned as it is when that is unknown.
func onStableRuntime(p v1beta1.PredictorSpec, selected string) *v1beta1.PredictorSpec {
	if p.Model != nil && p.Model.Runtime == nil && selected != "" {
		m := *p.Model
		m.Runtime = &selected
		p.Model = &m
	}
	return &p
}

// mergeCanary builds the predictor KServe deploys for a canary entry: the
// entry's predictor merged over the stable one (buildCanaryPredictor in
// KServe's predictor reconciler, which uses the same mergo call).
func mergeCanary(stable *v1beta1.PredictorSpec, canary *v1beta1.CanarySpec) (v1beta1.PredictorSpec, error) {
	merged := *stable.DeepCopy()
	// Legacy blocks are normalised first so a legacy stable predictor and
	// a model{} canary do not merge into two implementations.
	merged = predictorForm(&merged)
	entry := predictorForm(&canary.Predictor)
	if err := mergo.Merge(&merged, entry, mergo.WithOverride); err != nil {
		return merged, fmt.Errorf("merging canary %q over the stable predictor: %w", canary.Predictor.Name, err)
	}
	merged.MaxReplicas, merged.ScaleTarget, merged.ScaleMetric, merged.AutoScaling, merged.MinReplicas = 0, nil, nil, nil, nil
	return merged, nil
}

// markPromotion records a Standard-mode promotion on the stable predictor:
// predictor.name set to a canary's name whose entry is removed. KServe then
// serves the new spec.predictor under the canary's name, so it records
// too where that spec's model differs from the one the canary ran.
// Without a rename, a stable predictor that takes exactly the model a
// removed entry ran is a promotion too, one that restarts the stable
// Deployment (KServe's "promote without restart" is the rename).
func markPromotion(pred *ComponentFacts, oldObj, newObj *v1beta1.InferenceService, canaries []ComponentFacts) {
	newName := newObj.Spec.Predictor.Name
	renamed := newName != "" && newName != oldObj.Spec.Predictor.Name
	if !renamed && !pred.ModelChanged {
		return
	}
	for i := range canaries {
		c := &canaries[i]
		if !c.InOld || c.InNew || renamed && c.Name != newName {
			continue
		}
		var changed []string
		if c.ranAs != nil {
			d := comparePredictors(pred.Path, c.ranAs, &newObj.Spec.Predictor, "")
			changed = d.modelFields(pred.Path)
		}
		if !renamed && (c.ranAs == nil || len(changed) > 0) {
			continue
		}
		pred.PromotedCanary = c.Name
		pred.PromotedCanaryPercent = c.OldEffectivePercent
		pred.PromotedCanaryChangedFields = changed
		pred.PromotionRestarts = !renamed
		return
	}
}

// renameStorageURI is the storage URI KServe compares when spec.predictor
// is renamed (getPredictorStorageURI): model.storageUri, else the one of
// the implementation (a framework block's, a custom container's
// STORAGE_URI env); "" when there is none.
func renameStorageURI(p *v1beta1.PredictorSpec) string {
	if p.Model != nil && p.Model.StorageURI != nil {
		return *p.Model.StorageURI
	}
	if uri := implementationStorageURI(p); uri != nil {
		return *uri
	}
	return ""
}

// customPredictor reports whether p serves a custom container rather
// than a model (model{} or a framework block).
func customPredictor(p *v1beta1.PredictorSpec) bool {
	_, ext := legacyFramework(p)
	return p.Model == nil && ext == nil
}

// acceptsCanaryEntries reports whether KServe's validator accepts
// spec.canary[] entries beside stable predictor p: it needs a model, in
// model{} or a framework block, or the STORAGE_URI env of its
// kserve-container.
func acceptsCanaryEntries(p *v1beta1.PredictorSpec) bool {
	n := normalizePredictor(p) // framework blocks into model{}, the container named
	if n.Model != nil {
		return true
	}
	for _, c := range n.Containers {
		if c.Name != constants.InferenceServiceContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name == constants.CustomSpecStorageUriEnvVarKey {
				return true
			}
		}
		return false
	}
	return false
}

func (c *ComponentFacts) setDiff(d diff) {
	c.ChangedFields = d.fields
	c.ModelChanged = d.model
	c.RevisionChanged = d.revision
	c.VersionSelectsRuntime = d.versionSelectsRuntime
	c.RuntimeUnpinned = d.runtimeUnpinned
	c.UnreadFormatName = d.unreadFormatName
}

// setPercents records canaryTrafficPercent; absent means the latest
// revision takes 100 %. Where the percent routes nothing (knative false:
// Standard mode ignores it, ModelMesh has no revisions), the one model
// takes all traffic whatever it says: no canary runs and nothing rises.
func (c *ComponentFacts) setPercents(oldPct, newPct *int64, knative bool) {
	c.OldPercent, c.NewPercent = oldPct, newPct
	c.PercentChanged = c.InOld && !equalPtr(oldPct, newPct)
	if !knative {
		c.OldEffectivePercent, c.NewEffectivePercent = 100, 100
		return
	}
	c.OldEffectivePercent, c.NewEffectivePercent = effectivePercent(oldPct), effectivePercent(newPct)
	c.CanaryInProgress = c.InOld && oldPct != nil && *oldPct > 0 && *oldPct < 100
}

// servedRevision is the revision the first traffic target with a share
// names, "" where none has one.
func servedRevision(traffic []knservingv1.TrafficTarget) string {
	for _, t := range traffic {
		if t.Percent != nil && *t.Percent > 0 {
			return t.RevisionName
		}
	}
	return ""
}

// routesOnly reports whether every traffic target with a share names
// revision.
func routesOnly(traffic []knservingv1.TrafficTarget, revision string) bool {
	for _, t := range traffic {
		if t.Percent != nil && *t.Percent > 0 && t.RevisionName != revision {
			return false
		}
	}
	return true
}

func (c *ComponentFacts) setKnativeStatus(oldObj *v1beta1.InferenceService, component v1beta1.ComponentType, knative bool) {
	c.CanaryReady, c.CanaryReadyReason = ReadyUnknown, "status has no revisions for "+c.Kind
	if !knative {
		c.CanaryReadyReason = "Standard mode has no revisions for " + c.Kind + "; readiness is read for spec.canary[] entries"
	}
	st, ok := oldObj.Status.Components[component]
	if !ok {
		return
	}
	c.StableRevision = st.LatestRolledoutRevision
	c.PreviousRevision = st.PreviousRolledoutRevision
	c.LatestReadyRevision = st.LatestReadyRevision
	c.LatestCreatedRevision = st.LatestCreatedRevision
	if !knative {
		return
	}
	// Whatever the old percent (ksvc_reconciler.go splits any percent
	// below 100 with the rolled-out revision) and whatever the route
	// serves: one never configured serves nothing, one configured before
	// keeps its last configuration when Knative refuses a new one (as
	// after KServe moves a deleted previous revision back into
	// latestRolledoutRevision at a percent set on a fully rolled-out
	// component). No split takes effect until the percent is removed, so
	// none is a rise, and a percent injected on a model change would keep
	// the new model out. Where the route was left on an older revision,
	// removing the percent moves all traffic from it at once
	// (ServedRevision; resume-cutover says so).
	c.RoutesMissingRevision = st.LatestCreatedRevision != "" &&
		(c.OldPercent == nil || *c.OldPercent >= 0 && *c.OldPercent <= 100) &&
		revisionNumber(st.LatestRolledoutRevision) > revisionNumber(st.LatestCreatedRevision)
	if c.RoutesMissingRevision && (st.LatestReadyRevision != st.LatestCreatedRevision || !routesOnly(st.Traffic, st.LatestReadyRevision)) {
		c.ServedRevision = servedRevision(st.Traffic)
	}
	c.NotRolledOut = st.LatestCreatedRevision != "" && st.LatestRolledoutRevision == ""
	c.FirstRolloutPending = oldObj.Generation == 1 && c.NotRolledOut &&
		(st.LatestReadyRevision == "" || st.LatestReadyRevision == st.LatestCreatedRevision)
	// Only while the spec is as created: the status cannot show whether
	// a later spec change (a model changed at the same percent) has been
	// reconciled yet (observedGeneration is the Knative Service's), and
	// a stale split must not lift the step rules.
	c.SplitsWithItself = c.routesOneRevision(&st)
	c.selfSplitAsCreated = oldObj.Generation == 1 && c.SplitsWithItself
	// status.observedGeneration is no guide here: KServe copies it from
	// the last component's Knative Service, whose generation is not the
	// InferenceService's. The route's traffic in the status is.
	switch lag := c.trafficLag(st.Traffic); {
	case lag != "":
		c.CanaryReady, c.CanaryReadyReason = ReadyFalse, lag
	case st.LatestCreatedRevision == "" || st.LatestReadyRevision == "":
	case st.LatestCreatedRevision != st.LatestReadyRevision:
		c.CanaryReady = ReadyFalse
		c.CanaryReadyReason = fmt.Sprintf("revision %s is not ready (latest ready: %s)", st.LatestCreatedRevision, st.LatestReadyRevision)
	default:
		c.CanaryReady = ReadyTrue
		c.CanaryReadyReason = "revision " + st.LatestReadyRevision + " is ready"
	}
}

// revisionNumber is the number Knative ends a revision's name with
// (<configuration>-00003), 0 where there is none.
func revisionNumber(name string) int {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// trafficLag says how the status lags the stored spec while a canary is in
// progress: its route still gives the latest revision another percent than
// canaryTrafficPercent (the controller or Knative has not caught up with
// the last change, so the revisions it names may be the old ones). "" when
// it agrees, or when the status shows no latest-revision target to judge.
func (c *ComponentFacts) trafficLag(traffic []knservingv1.TrafficTarget) string {
	if c.OldPercent == nil || *c.OldPercent <= 0 || *c.OldPercent >= 100 {
		return ""
	}
	for i := range traffic {
		t := &traffic[i]
		if t.LatestRevision == nil || !*t.LatestRevision {
			continue
		}
		var shown int64
		if t.Percent != nil {
			shown = *t.Percent
		}
		if shown == *c.OldPercent {
			return ""
		}
		return fmt.Sprintf("status has not caught up with the spec yet (its traffic gives the latest revision %d %%, the spec %d %%)", shown, *c.OldPercent)
	}
	return ""
}

// routesOneRevision reports whether the status shows the old percent
// splitting one revision with itself: KServe's prev target is
// latestRolledoutRevision (ksvc_reconciler.go), which is the latest
// revision itself from the first reconcile of an InferenceService created
// with canaryTrafficPercent until a model change. Then the latest revision
// takes all traffic whatever the percent says, and a rise moves none.
// Only a route the status shows split so counts: a status that names one
// revision without it may predate the latest change.
func (c *ComponentFacts) routesOneRevision(st *v1beta1.ComponentStatusSpec) bool {
	rev := st.LatestCreatedRevision
	if c.OldPercent == nil || *c.OldPercent < 0 || *c.OldPercent >= 100 || rev == "" ||
		st.LatestReadyRevision != rev || st.LatestRolledoutRevision != rev || len(st.Traffic) < 2 {
		return false
	}
	latest := false
	for i := range st.Traffic {
		t := &st.Traffic[i]
		if t.RevisionName != rev {
			return false
		}
		if t.LatestRevision != nil && *t.LatestRevision && !latest {
			latest = true
			if t.Percent == nil && *c.OldPercent != 0 || t.Percent != nil && *t.Percent != *c.OldPercent {
				return false
			}
		}
	}
	return latest
}

func (c *ComponentFacts) setCanaryStatus(oldObj *v1beta1.InferenceService) {
	c.CanaryReady, c.CanaryReadyReason = ReadyUnknown, "status has no entry for canary "+c.Name
	if oldObj.Status.DeploymentMode != "" {
		// KServe's controller has written the status, but not this
		// entry's: it has not reconciled the entry's Deployment yet, or
		// fails to (reconcileCanaryDeployments returns before writing
		// canaryStatuses). Either way nothing shows it serves.
		c.CanaryReady = ReadyFalse
		c.CanaryReadyReason = "the status KServe wrote has no entry for canary " + c.Name + ": its Deployment is not reconciled yet, or fails to be (see the InferenceService's conditions)"
	}
	for _, cs := range oldObj.Status.CanaryStatuses {
		if cs.Name != c.Name {
			continue
		}
		switch {
		case c.OldPercent != nil && int64(cs.TrafficPercent) != *c.OldPercent:
			// The controller writes the entry's trafficPercent with its
			// status: a different one is a status from before the last
			// change, whose readiness may be the old Deployment's.
			c.CanaryReady = ReadyFalse
			c.CanaryReadyReason = fmt.Sprintf("status has not caught up with the spec yet (its canaryStatuses give canary %s %d %%, the spec %d %%)",
				c.Name, cs.TrafficPercent, *c.OldPercent)
		case cs.Ready:
			c.CanaryReady, c.CanaryReadyReason = ReadyTrue, "canary "+c.Name+" is ready"
		default:
			c.CanaryReady, c.CanaryReadyReason = ReadyFalse, "canary "+c.Name+" is not ready"
			c.statusNotReady = true
		}
	}
}

// alwaysAdmit decides whether the update is one no rule may deny: every
// component is rolled back, lowered or left alone, and no component
// changes its model or gains traffic.
func alwaysAdmit(f *Facts) (bool, string) {
	if f.Operation != OperationUpdate || len(f.InternalAnnotationsChanged) > 0 {
		return false, ""
	}
	rollback, lowered := false, false
	for i := range f.Components {
		c := &f.Components[i]
		switch {
		case c.InNew && c.NewPercent != nil && !validPercent(*c.NewPercent):
			// Not a percent at all: Knative rejects the route and keeps
			// failing, so -5 is no rollback and the rules must see it.
			return false, ""
		case c.Kind == KindCanary && c.InOld && !c.InNew:
			// Removing a canary entry is the Standard-mode rollback.
			rollback = true
		case c.InOld && !c.InNew:
			// Removing a transformer or explainer moves its traffic at
			// once (the ingress follows spec.transformer): neither a
			// rollback nor an update without a new revision, and the
			// rules may deny it.
			return false, ""
		case c.ModelChanged, c.Raised(), c.InNew && !c.InOld, c.PromotedCanary != "":
			// A new model, even one entering at 0 % (deployed, reachable
			// through its tag, subject to every rule), a new component or
			// entry, and a promotion, which raises the canary to all
			// traffic even when spec.predictor keeps its model: never
			// always admitted.
			return false, ""
		case c.InNew && c.NewPercent != nil && *c.NewPercent == 0 && (f.RolloutMode == ModeKnative && !c.ModelMesh || c.Kind == KindCanary):
			// All traffic pinned to the stable revision: the rollback.
			// Only where the percent routes traffic: in Standard mode
			// KServe ignores canaryTrafficPercent (kserve #5335), and
			// ModelMesh has no canary.
			rollback = rollback || c.PercentChanged
		case c.NewEffectivePercent < c.OldEffectivePercent:
			lowered = true
		}
	}
	switch {
	case rollback:
		return true, "rollback"
	case lowered:
		return true, "lowered"
	case !f.RevisionChanged:
		return true, "no revision change"
	}
	return false, ""
}

func predictorModel(p *v1beta1.PredictorSpec) string {
	n := normalizePredictor(p)
	if n.Model != nil {
		if n.Model.StorageURI != nil {
			return *n.Model.StorageURI
		}
		if n.Model.Image != "" {
			return n.Model.Image
		}
		if id := modelArg(n.Model.Args, n.Model.ModelFormat.Name); id != "" {
			return id
		}
	}
	if len(n.StorageUris) > 0 {
		return n.StorageUris[0].Uri
	}
	return podModel(&n.PodSpec)
}

// modelArg is the model an argument names where no storage URI does:
// --model_id, with which KServe's Hugging Face server loads a model from
// the Hub (its samples name the model so), and for KServe's vLLM runtime
// (model format vLLM) vLLM's own --model. The last one counts, as with
// Python's argparse.
func modelArg(args []string, format string) string {
	flags := []string{"--model_id"}
	if strings.EqualFold(format, "vllm") {
		flags = append(flags, "--model")
	}
	model := ""
	for i, a := range args {
		for _, flag := range flags {
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				model = v
			} else if a == flag && i+1 < len(args) {
				model = args[i+1]
			}
		}
	}
	return model
}

func explainerModel(e *v1beta1.ExplainerSpec) string {
	if e.ART != nil {
		if e.ART.StorageURI != "" {
			return e.ART.StorageURI
		}
		return e.ART.Image
	}
	return podModel(&e.PodSpec)
}

// predictorStorageURIs lists every location p loads a model from:
// model.storageUri (a framework block's too), model.storage as
// "storage:<key>/<path>" (the key names an entry of KServe's storage
// configuration Secret, whose bucket the request does not carry), each
// storageUris[].uri, and a custom container's STORAGE_URI env.
func predictorStorageURIs(p *v1beta1.PredictorSpec) []string {
	// Read in place rather than through normalizePredictor, whose copy
	// of the spec every request would pay for.
	var out []string
	_, ext := legacyFramework(p)
	if ext == nil && p.Model != nil {
		ext = &p.Model.PredictorExtensionSpec
	}
	if ext != nil {
		// A legacy block wins over model{}, as in KServe's defaulter.
		if ext.StorageURI != nil && *ext.StorageURI != "" {
			out = append(out, *ext.StorageURI)
		}
		if ext.Storage != nil {
			out = append(out, storageSpecLocation(&ext.Storage.StorageSpec))
		}
	}
	out = appendStorageUris(out, p.StorageUris)
	return append(out, podStorageURIs(&p.PodSpec)...)
}

// entryStorageURIs lists the locations a spec.canary[] entry, merged over
// the stable predictor, loads a model from: KServe's canary reconciler
// gives the entry's Deployment no storageUris (reconcileCanaryDeployments
// passes none), so the merge's are not among them.
func entryStorageURIs(merged *v1beta1.PredictorSpec) []string {
	p := *merged
	p.StorageUris = nil
	return predictorStorageURIs(&p)
}

func transformerStorageURIs(t *v1beta1.TransformerSpec) []string {
	return append(appendStorageUris(nil, t.StorageUris), podStorageURIs(&t.PodSpec)...)
}

func explainerStorageURIs(e *v1beta1.ExplainerSpec) []string {
	out := appendStorageUris(nil, e.StorageUris)
	// An ART explainer's storage spec is not read (KServe adds storage
	// spec annotations for predictors only).
	if e.ART != nil && e.ART.StorageURI != "" {
		out = append(out, e.ART.StorageURI)
	}
	return append(out, podStorageURIs(&e.PodSpec)...)
}

func appendStorageUris(out []string, uris []v1beta1.StorageUri) []string {
	for _, u := range uris {
		out = append(out, u.Uri)
	}
	return out
}

// storageSpecLocation names a storage: {key, path, parameters} spec as
// "storage:<key>/<path>", the key being the entry of KServe's storage
// configuration Secret it reads ("default", or "default_<type>" with a
// type parameter, when none is given: CreateStorageSpecSecretEnvs). Parameters override the entry (a bucket,
// a type) and are listed after the key, "storage:<key>{bucket=b}/<path>",
// so a prefix that allows a key does not allow it with another bucket.
func storageSpecLocation(s *v1beta1.StorageSpec) string {
	var params map[string]string
	if s.Parameters != nil {
		params = *s.Parameters
	}
	key := deref(s.StorageKey)
	if key == "" {
		key = "default"
		if t := params["type"]; t != "" {
			key += "_" + t
		}
	}
	var list string
	if len(params) > 0 {
		pairs := make([]string, 0, len(params))
		for k, v := range params {
			pairs = append(pairs, k+"="+v)
		}
		slices.Sort(pairs)
		list = "{" + strings.Join(pairs, ",") + "}"
	}
	// KServe strips a leading slash from the path.
	return "storage:" + key + list + "/" + strings.TrimPrefix(deref(s.Path), "/")
}

// podStorageURIs is the STORAGE_URI env of a custom container (the one
// named kserve-container, or the only one), as a list.
func podStorageURIs(ps *v1beta1.PodSpec) []string {
	if c := modelContainer(ps); c != nil {
		if uri, ok := storageURIEnv(c); ok && uri != "" {
			return []string{uri}
		}
	}
	return nil
}

// modelContainer is the container of a custom component that serves the
// model: the one named kserve-container, or the only one; nil if none.
func modelContainer(ps *v1beta1.PodSpec) *corev1.Container {
	for i := range ps.Containers {
		if len(ps.Containers) == 1 || ps.Containers[i].Name == constants.InferenceServiceContainerName {
			return &ps.Containers[i]
		}
	}
	return nil
}

// storageURIEnv is c's STORAGE_URI env, the model KServe's storage
// initializer loads for a custom container.
func storageURIEnv(c *corev1.Container) (string, bool) {
	for _, e := range c.Env {
		if e.Name == constants.CustomSpecStorageUriEnvVarKey {
			return e.Value, true
		}
	}
	return "", false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// podModel names the model of a custom container: its STORAGE_URI env,
// else its image.
func podModel(ps *v1beta1.PodSpec) string {
	c := modelContainer(ps)
	if c == nil {
		return ""
	}
	if uri, ok := storageURIEnv(c); ok {
		return uri
	}
	return c.Image
}

// metadataChanges lists the object labels and annotations whose change
// KServe copies into every component's revision template.
func metadataChanges(oldObj, newObj *v1beta1.InferenceService, s *Settings, knative bool) []string {
	rev := revisionMeta{settings: s, knative: knative}
	annotationIgnored := func(k string) bool {
		return rev.annotationLeftOut(k) || k == AnnotationStepAt || k == AnnotationOverride ||
			(localModelAnnotation(k) && localModelKeysManaged(oldObj, newObj)) ||
			(k == constants.DisableAutoUpdateAnnotationKey && pausedAnnotationUnseen(oldObj, newObj)) ||
			(k == constants.DeploymentMode && sameMode(oldObj.Annotations[k], newObj.Annotations[k]))
	}
	var out []string
	for _, k := range changedKeys(oldObj.Annotations, newObj.Annotations, func(k string) bool { return !annotationIgnored(k) }) {
		out = append(out, "metadata.annotations."+k)
	}
	for _, k := range changedKeys(oldObj.Labels, newObj.Labels, func(k string) bool {
		return !rev.labelLeftOut(k) && (!localModelLabel(k) || !localModelKeysManaged(oldObj, newObj))
	}) {
		out = append(out, "metadata.labels."+k)
	}
	return out
}

// pausedAnnotationUnseen reports whether a change of disable-auto-update
// reaches no revision template. On a Ready InferenceService, "true" stops
// KServe's controller before it copies anything, so setting it copies
// nothing, and removing a "true" leaves a template that never had it (as a
// rule: unless it was set while not Ready). Any other value is copied
// into the components' metadata like any annotation, and so is every
// value on an InferenceService that is not Ready.
func pausedAnnotationUnseen(oldObj, newObj *v1beta1.InferenceService) bool {
	if !oldObj.Status.IsReady() {
		return false
	}
	newValue, kept := newObj.Annotations[constants.DisableAutoUpdateAnnotationKey]
	oldValue, had := oldObj.Annotations[constants.DisableAutoUpdateAnnotationKey]
	return newValue == "true" || !kept && (!had || oldValue == "true")
}

// sameMode reports whether two deploymentMode annotation values name the
// same mode: KServe's defaulter rewrites the legacy names (Serverless,
// RawDeployment) after canary-guard's first pass.
func sameMode(a, b string) bool {
	ma, okA := ParseDeploymentMode(a)
	mb, okB := ParseDeploymentMode(b)
	return a == b || (okA && okB && ma == mb)
}

// ksvcAnnotation reports whether KServe moves annotation k from the
// revision template to the Knative Service itself (managedKsvcAnnotations
// in its ksvc reconciler): a change of k configures the rollout of
// revisions and makes none.
func ksvcAnnotation(k string) bool {
	return k == constants.RollOutDurationAnnotationKey || k == constants.KnativeOpenshiftEnablePassthroughKey
}

// localModelKeysManaged reports whether KServe's defaulting webhook, which
// runs before canary-guard's validation, writes the local model cache
// labels and annotations of the InferenceService's own metadata itself
// (either object's, see below): on every write of
// an InferenceService whose predictor has a storage URI it sets them when
// a LocalModelCache holds that URI and removes them otherwise
// (setLocalModelLabel). Their changes then follow the spec and the caches,
// so they are no way around the rules. Both objects are asked: an update
// that moves from a storage URI to a storage spec may drop the keys the
// defaulter wrote for the URI. Elsewhere (a storage spec, and a
// component's own labels and annotations, which the defaulter never
// touches) they reach the pods as written, and the storage initializer
// mounts the cache's PVC in place of the model's storage.
func localModelKeysManaged(oldObj, newObj *v1beta1.InferenceService) bool {
	return hasStorageURI(&oldObj.Spec.Predictor) || hasStorageURI(&newObj.Spec.Predictor)
}

func localModelAnnotation(k string) bool {
	return k == constants.LocalModelSourceUriAnnotationKey || k == constants.LocalModelPVCNameAnnotationKey
}

func localModelLabel(k string) bool {
	return k == constants.LocalModelLabel || k == constants.LocalModelNamespaceLabel
}

func internalAnnotation(k string) bool { return strings.HasPrefix(k, internalAnnotationPrefix) }

// addComponentInternalAnnotations records, as paths, the internal
// annotations changed on a component: KServe merges a component's
// annotations over the ones it derives from the storage spec
// (buildObjectMeta), so they too can swap the model the pods load. So can
// the local model cache label, which the defaulter leaves alone there.
func (f *Facts) addComponentInternalAnnotations(o, n *v1beta1.InferenceServiceSpec, rev revisionMeta) {
	internal := func(k string) bool { return internalAnnotation(k) && !rev.annotationLeftOut(k) }
	add := func(path string, old, new *v1beta1.ComponentExtensionSpec) {
		var oa, na, ol, nl map[string]string
		if old != nil {
			oa, ol = old.Annotations, old.Labels
		}
		if new != nil {
			na, nl = new.Annotations, new.Labels
		}
		for _, k := range changedKeys(oa, na, internal) {
			f.InternalAnnotationsChanged = append(f.InternalAnnotationsChanged, path+".annotations."+k)
			f.recordInternalOld(path+".annotations."+k, oa, k)
		}
		for _, k := range changedKeys(ol, nl, localModelLabel) {
			f.InternalAnnotationsChanged = append(f.InternalAnnotationsChanged, path+".labels."+k)
			f.recordInternalOld(path+".labels."+k, ol, k)
		}
	}
	for _, kind := range []string{KindPredictor, KindTransformer, KindExplainer} {
		add("spec."+kind, componentExtension(o, kind), componentExtension(n, kind))
	}
	for i := range n.Canary {
		e := &n.Canary[i]
		var old *v1beta1.ComponentExtensionSpec
		if oe := canaryEntry(o, e.Predictor.Name); oe != nil {
			old = &oe.Predictor.ComponentExtensionSpec
		}
		add(fmt.Sprintf("spec.canary[%d].predictor", i), old, &e.Predictor.ComponentExtensionSpec)
	}
}

// AnnotationValues maps annotations to values, nil for none. It is an
// object in JSON even when empty, as in the policy input.
type AnnotationValues map[string]*string

// MarshalJSON writes {} for an empty map, where encoding/json writes null.
func (m AnnotationValues) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]*string(m))
}

// recordInternalOld records the stored value of the changed internal
// annotation k of annotations under name.
func (f *Facts) recordInternalOld(name string, annotations map[string]string, k string) {
	if f.InternalAnnotationsOld == nil {
		f.InternalAnnotationsOld = AnnotationValues{}
	}
	var old *string
	if v, ok := annotations[k]; ok {
		old = &v
	}
	f.InternalAnnotationsOld[name] = old
}

// extensionAnnotations is e's annotations, nil where the component is
// absent.
func extensionAnnotations(e *v1beta1.ComponentExtensionSpec) map[string]string {
	if e == nil {
		return nil
	}
	return e.Annotations
}

// changedKeys lists, sorted, the keys accepted by keep whose value
// differs between a and b.
func changedKeys(a, b map[string]string, keep func(string) bool) []string {
	var out []string
	for k, v := range a {
		if bv, ok := b[k]; (!ok || bv != v) && keep(k) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && keep(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func overrideFacts(oldObj, newObj *v1beta1.InferenceService, req *Request, s *Settings) OverrideFacts {
	reason := strings.TrimSpace(newObj.Annotations[AnnotationOverride])
	o := OverrideFacts{Reason: reason}
	if req.Operation != OperationUpdate || reason == "" {
		return o
	}
	if reason == strings.TrimSpace(oldObj.Annotations[AnnotationOverride]) {
		o.stale = true
		return o
	}
	o.Requested = true
	o.Allowed = intersects(req.User.Groups, s.Override.Groups)
	o.Active = o.Allowed
	return o
}

func stepFacts(oldObj *v1beta1.InferenceService, now time.Time) StepFacts {
	st := StepFacts{LastStepAt: oldObj.Annotations[AnnotationStepAt], SecondsSinceLastStep: -1}
	if st.LastStepAt == "" {
		return st
	}
	at, err := time.Parse(time.RFC3339, st.LastStepAt)
	if err != nil {
		return st
	}
	st.SecondsSinceLastStep = max(int64(now.Sub(at)/time.Second), 0)
	return st
}

func effectivePercent(p *int64) int64 {
	if p == nil {
		return 100
	}
	return *p
}

// equalPtr reports whether two optional values are both unset or equal.
func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// explainUnscaledEntries names why a spec.canary[] entry that runs no
// replicas is not ready, and the step that gets it some. KServe sizes an
// entry at ceil(stable minReplicas × trafficPercent / 100), 0 at 0 %;
// with the autoscaler class none the Deployment then has 0 replicas
// (createRawDefaultDeployment sets them from minReplicas for none only),
// so the controller's canaryStatuses (ready: availableReplicas > 0) stay
// false: waiting for it to be ready, as canary-not-ready asks, never ends.
// The other classes leave the Deployment's replicas unset (1): hpa floors
// the entry at 1 replica (createHPA), external leaves them to another
// controller, and keda gets no trigger for an entry (buildCanaryPredictor
// clears AutoScaling), which KEDA refuses; an entry not ready there is
// not for want of a replica, and minReplicas: 1 would not help. Nor is the
// hint given where the stable's minReplicas is 0: KServe refuses an
// entry's minReplicas above the stable's.
func explainUnscaledEntries(comps []ComponentFacts, oldObj *v1beta1.InferenceService) {
	for i := range comps {
		c := &comps[i]
		if c.Kind != KindCanary || !c.InOld || !c.statusNotReady || c.Replicas == nil || c.Replicas.Old != 0 {
			continue
		}
		e := canaryEntry(&oldObj.Spec, c.Name)
		if e == nil {
			continue
		}
		if m := oldObj.Spec.Predictor.MinReplicas; m != nil && *m < 1 {
			continue
		}
		class := entryAutoscalerClass(oldObj, e)
		if class != string(constants.AutoscalerClassNone) {
			continue
		}
		c.CanaryReadyReason = fmt.Sprintf("canary %s is not ready, and cannot become ready: at %d %% KServe gives it 0 replicas "+
			"(autoscalerClass %s), so first give it one with %s.predictor.minReplicas: 1, which is admitted on its own",
			c.Name, e.TrafficPercent, class, c.Path)
	}
}

// entryAutoscalerClass resolves a spec.canary[] entry's autoscaler class:
// the entry's predictor is merged over the stable one, whose annotations
// KServe merges over the InferenceService's.
func entryAutoscalerClass(obj *v1beta1.InferenceService, e *v1beta1.CanarySpec) string {
	if cl := e.Predictor.Annotations[constants.AutoscalerClass]; cl != "" {
		return cl
	}
	return autoscalerClass(obj)
}

// setComponentsStopped sets Stopped of the predictor, transformer and
// explainer, and ServiceStopped from them and the stored status. A
// component's Knative Service template carries the InferenceService's
// annotations merged with the component's, the component's winning
// (buildObjectMeta), and ksvc_reconciler deletes the service where
// serving.kserve.io/stop there is "true" (in any case). It reports whether
// any component is stopped or resumed, and whether any is stopped before
// or after.
func setComponentsStopped(comps []ComponentFacts, oldObj, newObj *v1beta1.InferenceService) (changed, any, underStop bool) {
	isvcStopped := Transition{Old: utils.GetForceStopRuntime(oldObj), New: utils.GetForceStopRuntime(newObj)}
	for i := range comps {
		c := &comps[i]
		if c.Kind != KindPredictor && c.Kind != KindTransformer && c.Kind != KindExplainer {
			continue
		}
		o, n := extensionAnnotations(componentExtension(&oldObj.Spec, c.Kind)), extensionAnnotations(componentExtension(&newObj.Spec, c.Kind))
		c.Stopped = Transition{Old: componentStopped(oldObj.Annotations, o), New: componentStopped(newObj.Annotations, n)}
		changed = changed || c.Stopped.Old != c.Stopped.New
		any = any || c.Stopped.Old || c.Stopped.New
		// KServe clears the whole status at a stop on the InferenceService,
		// and the latest created and ready revisions (not the rolled-out
		// one) at a stop on the component alone, once its Knative Service
		// is gone (PropagateStatus): a stop it has not acted on leaves them.
		stoppedBefore := c.Stopped.Old && oldObj.Status.DeploymentMode != "" && c.LatestCreatedRevision == ""
		c.ServiceStopped = c.Stopped.New || stoppedBefore
		c.RunsUnderStop = c.InNew && !c.Stopped.New && isvcStopped.New
		underStop = underStop || c.RunsUnderStop
		// Kept running by its own "false" under a stop KServe has acted on
		// (the status cleared): the route sends all traffic to the latest
		// revision alone.
		clearedUnder := isvcStopped.Old && !c.Stopped.Old && !c.Stopped.New && oldObj.Status.DeploymentMode != "" && c.LatestCreatedRevision == ""
		if stoppedBefore || clearedUnder {
			// No canary runs, and no percent moves traffic between models:
			// the Knative Service is gone with every revision (on resume the
			// new service's first revision takes what traffic is routed:
			// after a stop of the InferenceService KServe has no rolled-out
			// revision to split with; after one of the component alone a
			// split names a deleted revision, and nothing is routed until
			// the percent is removed), or it routes its latest revision
			// alone. Removing the percent is no rise.
			c.CanaryInProgress = false
			c.OldEffectivePercent = 100
			// Except for a new model at the resume from under the stop:
			// KServe rolls out the served revision in the same reconcile,
			// and the new model's percent splits with it (a canary).
			resumedWithModel := clearedUnder && !c.RunsUnderStop && c.ModelChanged
			if c.InNew && !resumedWithModel {
				c.NewEffectivePercent = 100
			}
		}
	}
	return changed, any, underStop
}

func componentStopped(isvc, component map[string]string) bool {
	v, ok := component[constants.StopAnnotationKey]
	if !ok {
		v = isvc[constants.StopAnnotationKey]
	}
	return strings.EqualFold(v, "true")
}
