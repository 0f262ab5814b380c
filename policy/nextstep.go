package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
)

// Step is where one component's rollout stands and the next step the
// policy would admit.
type Step struct {
	// Component is predictor, transformer or explainer.
	Component string `json:"component"`
	// Percent is the canary percent now (nil: absent, all traffic on the latest revision).
	Percent *int64 `json:"percent"`
	// StableRevision and CanaryRevision come from status.
	StableRevision string `json:"stableRevision"`
	CanaryRevision string `json:"canaryRevision"`
	// CanaryReady is true, false or unknown.
	CanaryReady string `json:"canaryReady"`
	// InProgress is true while traffic is split.
	InProgress bool `json:"inProgress"`
	// HasNext is true when there is a next step: traffic is split, or a
	// canary rolled back to 0 may come back. Next, NextAllowed,
	// NotBefore and BlockedBy are set only then.
	HasNext bool `json:"hasNext"`
	// Next is the next percent to set; nil means "promote" (remove the field).
	Next *int64 `json:"next"`
	// NextAllowed says whether the policy would admit Next now.
	NextAllowed bool `json:"nextAllowed"`
	// NotBefore is the earliest time the next step is admitted when a
	// step interval is on; zero otherwise.
	NotBefore time.Time `json:"notBefore,omitzero"`
	// BlockedBy lists the denials the next step would get now.
	BlockedBy []Violation `json:"blockedBy"`
}

// NextSteps tells, for each Knative component of obj that is mid-rollout,
// the next step the policy would admit, by deciding that step as an
// update from obj with the namespace's settings.
func (g *Guard) NextSteps(ctx context.Context, obj *v1beta1.InferenceService, user UserInfo) ([]Step, error) {
	st := g.state.Load()
	settings, _ := st.settingsFor(obj.Namespace)
	req := &Request{Operation: OperationUpdate, Namespace: obj.Namespace, Name: obj.Name, User: user, Object: obj, OldObject: obj}
	req.LoadObjects = rawObjectsOf(obj, obj)
	facts, err := BuildFacts(req, FactsOptions{Settings: settings, Now: g.now()})
	if err != nil {
		return nil, err
	}
	var steps []Step
	for _, c := range facts.Components {
		if c.Kind == KindCanary || !c.InNew {
			continue
		}
		s := Step{
			Component: c.ID, Percent: c.NewPercent, StableRevision: c.StableRevision,
			CanaryRevision: c.LatestCreatedRevision, CanaryReady: c.CanaryReady, InProgress: c.CanaryInProgress,
		}
		if s.CanaryRevision == s.StableRevision {
			s.CanaryRevision = ""
		}
		// No next step where nothing is split: a model fully rolled out,
		// or a percent that routes nothing (Standard mode, ModelMesh). A
		// Knative percent at 0 is a canary rolled back, which may come back.
		routes := facts.RolloutMode == ModeKnative && !c.ModelMesh
		s.HasNext = c.CanaryInProgress || routes && c.NewPercent != nil && *c.NewPercent == 0
		if !s.HasNext {
			steps = append(steps, s)
			continue
		}
		// From 0, traffic re-enters as a new model would (max-step).
		next := c.NewEffectivePercent + settings.MaxStepPercent
		if c.NewEffectivePercent == 0 {
			next = settings.InitialCanaryPercent
		}
		if next < 100 {
			s.Next = &next
		}
		decision, err := g.Validate(ctx, withPercent(req, c.ID, s.Next))
		if err != nil {
			return nil, fmt.Errorf("deciding the next step of %s: %w", c.ID, err)
		}
		s.NextAllowed = decision.Allowed
		// What would refuse the step, or warn of it in a warn or audit
		// namespace; not a rule ruleEnforcement sets to audit, whose
		// trial the user is not told of.
		s.BlockedBy = slices.DeleteFunc(slices.Clone(decision.Denials), auditedByRule)
		if s.BlockedBy == nil {
			s.BlockedBy = []Violation{}
		}
		if settings.MinStepIntervalSeconds > 0 && facts.Step.SecondsSinceLastStep >= 0 {
			if at, err := time.Parse(time.RFC3339, facts.Step.LastStepAt); err == nil {
				s.NotBefore = at.Add(time.Duration(settings.MinStepIntervalSeconds) * time.Second)
			}
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// withPercent returns an update of req that sets one component's canary
// percent (nil removes the field).
func withPercent(req *Request, component string, percent *int64) *Request {
	obj := req.Object.DeepCopy()
	if ext := componentExtension(&obj.Spec, component); ext != nil {
		ext.CanaryTrafficPercent = percent
	}
	next := *req
	next.Object = obj
	next.ObjectJSON, next.LoadObjects = nil, rawObjectsOf(obj, req.OldObject)
	return &next
}

// rawObjectsOf gives rules that read input.object and input.oldObject the
// objects of a step decided here, as the API server would send them;
// they are encoded only when such a rule is loaded.
func rawObjectsOf(obj, old *v1beta1.InferenceService) func() ([]byte, []byte, error) {
	return func() ([]byte, []byte, error) {
		newJSON, err := json.Marshal(obj)
		if err != nil {
			return nil, nil, fmt.Errorf("encoding %s/%s: %w", obj.Namespace, obj.Name, err)
		}
		oldJSON, err := json.Marshal(old)
		if err != nil {
			return nil, nil, fmt.Errorf("encoding %s/%s: %w", old.Namespace, old.Name, err)
		}
		return newJSON, oldJSON, nil
	}
}
