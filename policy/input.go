package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// InputVersion is the version of the input document; docs/policy-input.md
// describes it. It changes when a field is renamed or removed.
const InputVersion = "v1"

// The input document is built directly as OPA AST values: converting Go
// maps through JSON would cost several times the evaluation itself.

// keyTerms holds the terms of the input document's object keys, built once
// per Guard, so building an input allocates only the values.
type keyTerms map[string]*ast.Term

// inputKeys lists every key the input document uses.
var inputKeys = []string{
	"version", "request", "rollout", "config", "object", "oldObject",
	"operation", "namespace", "name", "dryRun", "user", "username", "groups",
	"deploymentMode", "deploymentModeSource", "rolloutMode", "components", "modelChanged", "revisionChanged", "raised", "raisedFromZero",
	"percentOutOfRange", "componentAdded", "componentRemoved",
	"metadataChanged", "internalAnnotationsChanged", "internalAnnotationsOld", "tagRouting", "stopped", "stopChanged", "anyStopped", "serviceStopped", "runsUnderStop", "firstRolloutPending", "notRolledOut", "splitsWithItself", "modelChangedAtZero", "routesMissingRevision", "unreadFormatName", "unreadFormatChange", "autoUpdateDisabled", "statusReady", "old", "new",
	"override", "requested", "reason", "allowed", "active",
	"step", "lastStepAt", "secondsSinceLastStep", "alwaysAdmit", "alwaysAdmitReason",
	"id", "kind", "path", "percentField", "inOld", "inNew", "changedFields",
	"oldModel", "newModel", "oldStorageUris", "newStorageUris", "oldPercent", "newPercent", "oldEffectivePercent", "newEffectivePercent",
	"percentChanged", "canaryInProgress", "stableRevision", "previousRevision",
	"latestReadyRevision", "latestCreatedRevision", "servedRevision", "canaryReady", "canaryReadyReason",
	"modelMesh", "promotedCanary", "promotedCanaryPercent", "promotedCanaryChangedFields", "promotionRestarts", "promotableByRename", "versionSelectsRuntime", "runtimeUnpinned", "runtimeInUse", "canaryEntriesAccepted", "multiNode", "predictorName", "predictorRenamed",
	"replicas", "oldMinReplicas", "newMinReplicas", "maxReplicas", "autoscalerClass", "minReplicasToKeep",
	"minReplicasToPromote",
	// Values as well: the deployment modes, in every input.
	string(ModeKnative), string(ModeStandard), string(ModeModelMesh),
}

func newKeyTerms() keyTerms {
	k := make(keyTerms, len(inputKeys)+4)
	for _, name := range inputKeys {
		k[name] = ast.StringTerm(name)
	}
	// The four transitions ({"old": bool, "new": bool}), shared by every
	// input: a stop, a resume or a change of tag routing is rare, and an
	// object built per request and component would cost three allocations.
	// Evaluation only reads input terms, so sharing them is safe.
	for _, before := range []bool{false, true} {
		for _, after := range []bool{false, true} {
			k[transitionKey(Transition{Old: before, New: after})] = ast.NewTerm(ast.NewObject(
				[2]*ast.Term{k["old"], boolean(before)}, [2]*ast.Term{k["new"], boolean(after)}))
		}
	}
	return k
}

// transitionKey names a transition's shared term in keyTerms; no input
// key starts with a NUL.
func transitionKey(t Transition) string {
	switch {
	case !t.Old && !t.New:
		return "\x00transition:false,false"
	case !t.Old && t.New:
		return "\x00transition:false,true"
	case t.Old && !t.New:
		return "\x00transition:true,false"
	}
	return "\x00transition:true,true"
}

// inputBuilder builds one input document. Its terms are carved from
// slabs: one allocation per slab instead of one per value.
type inputBuilder struct {
	keys  keyTerms
	terms []ast.Term
}

// termSlab is how many terms a further slab holds, when the first one,
// sized by termsFor, runs out (long lists).
const termSlab = 32

// termsFor estimates the terms carved for an input: about 18 for the
// request and the rollout, 17 for each component (interned numbers,
// booleans and null take none).
func termsFor(f *Facts) int { return 18 + 17*len(f.Components) }

func (b *inputBuilder) term(v ast.Value) *ast.Term {
	if len(b.terms) == cap(b.terms) {
		b.terms = make([]ast.Term, 0, termSlab)
	}
	b.terms = append(b.terms, ast.Term{Value: v})
	return &b.terms[len(b.terms)-1]
}

func (b *inputBuilder) item(key string, v *ast.Term) [2]*ast.Term {
	t, ok := b.keys[key]
	if !ok {
		t = b.str(key)
	}
	return [2]*ast.Term{t, v}
}

func (b *inputBuilder) object(items ...[2]*ast.Term) *ast.Term {
	return b.term(ast.NewObject(items...))
}

func (b *inputBuilder) str(s string) *ast.Term {
	if s == "" {
		return ast.InternedEmptyString
	}
	return b.term(ast.String(s))
}

// mode returns a deployment mode's shared term.
func (b *inputBuilder) mode(m Mode) *ast.Term {
	if t, ok := b.keys[string(m)]; ok {
		return t
	}
	return b.str(string(m))
}

func boolean(b bool) *ast.Term { return ast.InternedTerm(b) }

func (b *inputBuilder) transition(t Transition) *ast.Term {
	return b.keys[transitionKey(t)]
}

func integer(n int64) *ast.Term { return ast.InternedTerm(n) }

func optInt(p *int64) *ast.Term {
	if p == nil {
		return ast.InternedNullTerm
	}
	return integer(*p)
}

func (b *inputBuilder) strings(ss []string) *ast.Term {
	if len(ss) == 0 {
		return ast.InternedEmptyArray
	}
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = b.str(s)
	}
	return b.term(ast.NewArray(terms...))
}

// optStrings is an object of strings and nulls (nil values).
func (b *inputBuilder) optStrings(m map[string]*string) *ast.Term {
	if len(m) == 0 {
		return ast.InternedEmptyObject
	}
	items := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		value := ast.InternedNullTerm
		if v != nil {
			value = b.str(*v)
		}
		items = append(items, [2]*ast.Term{b.str(k), value})
	}
	return b.object(items...)
}

// buildInput assembles the whole input document of one request.
func buildInput(k keyTerms, req *Request, f *Facts, config ast.Value, withObjects bool) (ast.Value, error) {
	b := &inputBuilder{keys: k, terms: make([]ast.Term, 0, termsFor(f))}
	items := [][2]*ast.Term{
		b.item("version", b.str(InputVersion)),
		b.item("request", b.request(req)),
		b.item("rollout", b.rollout(f)),
		b.item("config", b.term(config)),
	}
	if withObjects {
		objJSON, oldJSON := req.ObjectJSON, req.OldObjectJSON
		if len(objJSON) == 0 && req.LoadObjects != nil {
			var err error
			if objJSON, oldJSON, err = req.LoadObjects(); err != nil {
				return nil, err
			}
		}
		obj, err := rawValue(objJSON)
		if err != nil {
			return nil, fmt.Errorf("object: %w", err)
		}
		old, err := rawValue(oldJSON)
		if err != nil {
			return nil, fmt.Errorf("oldObject: %w", err)
		}
		items = append(items, b.item("object", b.term(obj)), b.item("oldObject", b.term(old)))
	}
	return ast.NewObject(items...), nil
}

func rawValue(raw []byte) (ast.Value, error) {
	if len(raw) == 0 {
		return ast.Null{}, nil
	}
	return ast.ValueFromReader(bytes.NewReader(raw))
}

func (b *inputBuilder) request(req *Request) *ast.Term {
	return b.object(
		b.item("operation", b.str(req.Operation)),
		b.item("namespace", b.str(req.Namespace)),
		b.item("name", b.str(req.Name)),
		b.item("dryRun", boolean(req.DryRun)),
		b.item("user", b.object(
			b.item("username", b.str(req.User.Username)),
			b.item("groups", b.strings(req.User.Groups)),
		)),
	)
}

func (b *inputBuilder) rollout(f *Facts) *ast.Term {
	components := make([]*ast.Term, len(f.Components))
	for i := range f.Components {
		components[i] = b.component(&f.Components[i])
	}
	return b.object(
		b.item("operation", b.str(f.Operation)),
		b.item("deploymentMode", b.mode(f.DeploymentMode)),
		b.item("deploymentModeSource", b.str(f.DeploymentModeSource)),
		b.item("rolloutMode", b.mode(f.RolloutMode)),
		b.item("components", b.term(ast.NewArray(components...))),
		b.item("modelChanged", boolean(f.ModelChanged)),
		b.item("revisionChanged", boolean(f.RevisionChanged)),
		b.item("percentChanged", boolean(f.PercentChanged)),
		b.item("raised", boolean(f.Raised)),
		b.item("raisedFromZero", boolean(f.RaisedFromZero)),
		b.item("percentOutOfRange", boolean(f.PercentOutOfRange)),
		b.item("componentAdded", boolean(f.ComponentAdded)),
		b.item("componentRemoved", boolean(f.ComponentRemoved)),
		b.item("versionSelectsRuntime", boolean(f.VersionSelectsRuntime)),
		b.item("runtimeUnpinned", boolean(f.RuntimeUnpinned)),
		b.item("metadataChanged", b.strings(f.MetadataChanged)),
		b.item("internalAnnotationsChanged", b.strings(f.InternalAnnotationsChanged)),
		b.item("internalAnnotationsOld", b.optStrings(f.InternalAnnotationsOld)),
		b.item("tagRouting", b.transition(f.TagRouting)),
		b.item("stopped", b.transition(f.Stopped)),
		b.item("stopChanged", boolean(f.StopChanged)),
		b.item("anyStopped", boolean(f.AnyStopped)),
		b.item("runsUnderStop", boolean(f.RunsUnderStop)),
		b.item("firstRolloutPending", boolean(f.FirstRolloutPending)),
		b.item("notRolledOut", boolean(f.NotRolledOut)),
		b.item("modelChangedAtZero", boolean(f.ModelChangedAtZero)),
		b.item("unreadFormatChange", boolean(f.UnreadFormatChange)),
		b.item("routesMissingRevision", boolean(f.RoutesMissingRevision)),
		b.item("autoUpdateDisabled", b.transition(f.AutoUpdateDisabled)),
		b.item("statusReady", boolean(f.StatusReady)),
		b.item("override", b.object(
			b.item("requested", boolean(f.Override.Requested)),
			b.item("reason", b.str(f.Override.Reason)),
			b.item("allowed", boolean(f.Override.Allowed)),
			b.item("active", boolean(f.Override.Active)),
		)),
		b.item("step", b.object(
			b.item("lastStepAt", b.str(f.Step.LastStepAt)),
			b.item("secondsSinceLastStep", integer(f.Step.SecondsSinceLastStep)),
		)),
		b.item("alwaysAdmit", boolean(f.AlwaysAdmit)),
		b.item("alwaysAdmitReason", b.str(f.AlwaysAdmitReason)),
		b.item("canaryEntriesAccepted", boolean(f.CanaryEntriesAccepted)),
		b.item("multiNode", boolean(f.MultiNode)),
		b.item("predictorName", b.str(f.PredictorName)),
		b.item("predictorRenamed", boolean(f.PredictorRenamed)),
	)
}

func (b *inputBuilder) component(c *ComponentFacts) *ast.Term {
	// Most updates keep the storage locations: one term serves both.
	oldStorage := b.strings(c.OldStorageURIs)
	newStorage := oldStorage
	if !slices.Equal(c.OldStorageURIs, c.NewStorageURIs) {
		newStorage = b.strings(c.NewStorageURIs)
	}
	return b.object(
		b.item("id", b.str(c.ID)),
		b.item("kind", b.str(c.Kind)),
		b.item("name", b.str(c.Name)),
		b.item("path", b.str(c.Path)),
		b.item("percentField", b.str(c.PercentField)),
		b.item("inOld", boolean(c.InOld)),
		b.item("inNew", boolean(c.InNew)),
		b.item("modelMesh", boolean(c.ModelMesh)),
		b.item("changedFields", b.strings(c.ChangedFields)),
		b.item("modelChanged", boolean(c.ModelChanged)),
		b.item("revisionChanged", boolean(c.RevisionChanged)),
		b.item("oldModel", b.str(c.OldModel)),
		b.item("newModel", b.str(c.NewModel)),
		b.item("oldStorageUris", oldStorage),
		b.item("newStorageUris", newStorage),
		b.item("oldPercent", optInt(c.OldPercent)),
		b.item("newPercent", optInt(c.NewPercent)),
		b.item("oldEffectivePercent", integer(c.OldEffectivePercent)),
		b.item("newEffectivePercent", integer(c.NewEffectivePercent)),
		b.item("percentChanged", boolean(c.PercentChanged)),
		b.item("canaryInProgress", boolean(c.CanaryInProgress)),
		b.item("stopped", b.transition(c.Stopped)),
		b.item("serviceStopped", boolean(c.ServiceStopped)),
		b.item("runsUnderStop", boolean(c.RunsUnderStop)),
		b.item("routesMissingRevision", boolean(c.RoutesMissingRevision)),
		b.item("servedRevision", b.str(c.ServedRevision)),
		b.item("firstRolloutPending", boolean(c.FirstRolloutPending)),
		b.item("notRolledOut", boolean(c.NotRolledOut)),
		b.item("splitsWithItself", boolean(c.SplitsWithItself)),
		b.item("stableRevision", b.str(c.StableRevision)),
		b.item("previousRevision", b.str(c.PreviousRevision)),
		b.item("latestReadyRevision", b.str(c.LatestReadyRevision)),
		b.item("latestCreatedRevision", b.str(c.LatestCreatedRevision)),
		b.item("canaryReady", b.str(c.CanaryReady)),
		b.item("canaryReadyReason", b.str(c.CanaryReadyReason)),
		b.item("promotedCanary", b.str(c.PromotedCanary)),
		b.item("promotedCanaryPercent", integer(c.PromotedCanaryPercent)),
		b.item("promotedCanaryChangedFields", b.strings(c.PromotedCanaryChangedFields)),
		b.item("promotionRestarts", boolean(c.PromotionRestarts)),
		b.item("promotableByRename", boolean(c.PromotableByRename)),
		b.item("versionSelectsRuntime", boolean(c.VersionSelectsRuntime)),
		b.item("runtimeUnpinned", boolean(c.RuntimeUnpinned)),
		b.item("unreadFormatName", b.str(c.UnreadFormatName)),
		b.item("runtimeInUse", b.str(c.RuntimeInUse)),
		b.item("replicas", b.replicas(c.Replicas)),
	)
}

func (b *inputBuilder) replicas(r *ReplicaFacts) *ast.Term {
	if r == nil {
		return ast.InternedNullTerm
	}
	return b.object(
		b.item("old", integer(r.Old)),
		b.item("new", integer(r.New)),
		b.item("oldMinReplicas", optInt(r.OldMinReplicas)),
		b.item("newMinReplicas", optInt(r.NewMinReplicas)),
		b.item("maxReplicas", integer(r.MaxReplicas)),
		b.item("autoscalerClass", b.str(r.AutoscalerClass)),
		b.item("minReplicasToKeep", integer(r.MinReplicasToKeep)),
		b.item("minReplicasToPromote", integer(r.MinReplicasToPromote)),
	)
}

// settingsValue converts settings to the input.config document. It runs
// once per configuration load, so a JSON round trip is fine here.
func settingsValue(s *Settings) (ast.Value, error) {
	c := *s
	// Lists are always arrays for the policies, never null.
	for _, l := range []*[]string{&c.Override.Groups, &c.Exempt.Users, &c.Exempt.Groups, &c.ServiceAnnotationDisallowedList, &c.ServiceLabelDisallowedList} {
		if *l == nil {
			*l = []string{}
		}
	}
	if c.RuleEnforcement == nil {
		c.RuleEnforcement = map[string]Enforcement{}
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encoding settings: %w", err)
	}
	v, err := ast.ValueFromReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("converting settings: %w", err)
	}
	return v, nil
}
