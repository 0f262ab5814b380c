package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"

	"github.com/canary-guard/canary-guard/policy"
	"github.com/canary-guard/canary-guard/webhook"
)

// Outcome is what the API server's admission chain makes of one request:
// the mutating webhook's answer, the object with its patches applied, and
// the validating webhook's decision on that object.
type Outcome struct {
	// Request is the request as the mutating webhook received it.
	Request *policy.Request
	// Mutation is the mutating webhook's answer.
	Mutation *policy.Mutation
	// Patched is the new object with the patches applied (JSON), as the
	// validating webhook received it; PatchedObject is it decoded.
	Patched       []byte
	PatchedObject *v1beta1.InferenceService
	// Validated is the request as the validating webhook received it:
	// Request with the patched object.
	Validated *policy.Request
	// Decision is the validating webhook's answer.
	Decision *policy.Decision
}

// Evaluate runs a request through both webhooks as the API server does:
// Guard.Mutate, its JSON patches applied to the object, the patched object
// decoded as the webhooks decode objects, then Guard.Validate on the
// patched object and the unchanged old one.
func Evaluate(ctx context.Context, g *policy.Guard, req *policy.Request) (*Outcome, error) {
	if len(req.ObjectJSON) == 0 {
		return nil, errors.New("the request has no object JSON to patch")
	}
	m, err := g.Mutate(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("mutating webhook: %w", err)
	}
	out := &Outcome{Request: req, Mutation: m, Patched: req.ObjectJSON, PatchedObject: req.Object}
	vreq := req
	if len(m.Patches) > 0 {
		if out.Patched, err = ApplyPatches(req.ObjectJSON, m.Patches); err != nil {
			return nil, err
		}
		if out.PatchedObject, err = webhook.DecodeObject(out.Patched); err != nil {
			return nil, fmt.Errorf("decoding the patched object: %w", err)
		}
		patched := *req
		patched.Object, patched.ObjectJSON = out.PatchedObject, out.Patched
		vreq = &patched
	}
	out.Validated = vreq
	if out.Decision, err = g.Validate(ctx, vreq); err != nil {
		return nil, fmt.Errorf("validating webhook: %w", err)
	}
	return out, nil
}

// ApplyPatches applies JSON patch operations (RFC 6902) to a JSON object,
// encoded as the mutating webhook's response carries them.
func ApplyPatches(object []byte, ops []policy.PatchOp) ([]byte, error) {
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encoding patches: %w", err)
	}
	patch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("decoding patches: %w", err)
	}
	out, err := patch.Apply(object)
	if err != nil {
		return nil, fmt.Errorf("applying patches %s: %w", raw, err)
	}
	return out, nil
}

// Allowed is the API server's answer: both webhooks admitted the request.
// The mutating webhook always admits.
func (o *Outcome) Allowed() bool { return o.Decision.Allowed }

// Enforcement is the enforcement mode of the request's namespace.
func (o *Outcome) Enforcement() policy.Enforcement { return o.Decision.Enforcement }

// Reason says why the request was admitted in spite of denials, or
// unevaluated: the validating webhook's reason, else the mutating one's.
func (o *Outcome) Reason() string {
	if o.Decision.Reason != "" {
		return o.Decision.Reason
	}
	return o.Mutation.Reason
}

// Denials are what the rules denied, before enforcement, overrides and the
// always-admit rule.
func (o *Outcome) Denials() []policy.Violation { return o.Decision.Denials }

// Warnings are the warnings the client sees, the mutating webhook's first.
func (o *Outcome) Warnings() []policy.Violation {
	out := make([]policy.Violation, 0, len(o.Mutation.Warnings)+len(o.Decision.Warnings))
	out = append(out, o.Mutation.Warnings...)
	return append(out, o.Decision.ClientWarnings()...)
}

// LoggedWarnings are the validating decision's warnings the client does
// not see: in audit mode, or of a rule ruleEnforcement sets to audit,
// they are logged and counted only.
func (o *Outcome) LoggedWarnings() []policy.Violation { return o.Decision.LoggedOnlyWarnings() }

// BuiltinErrors are the built-in calls that failed in the validating
// webhook's evaluation, each leaving its rule undefined (as in opa eval): a
// deny or warn rule that said nothing because of one. serve logs and
// counts them (canary_guard_policy_builtin_errors_total).
func (o *Outcome) BuiltinErrors() []string { return o.Decision.BuiltinErrors }

// Percent returns a component's canary percent in the patched object, nil
// when absent. Components are predictor, transformer, explainer and
// canary:<name> (a spec.canary[] entry's trafficPercent).
func (o *Outcome) Percent(component string) (*int64, error) {
	return componentPercent(o.PatchedObject, component)
}

func componentPercent(obj *v1beta1.InferenceService, component string) (*int64, error) {
	spec := &obj.Spec
	switch component {
	case policy.KindPredictor:
		return spec.Predictor.CanaryTrafficPercent, nil
	case policy.KindTransformer:
		if spec.Transformer == nil {
			return nil, nil
		}
		return spec.Transformer.CanaryTrafficPercent, nil
	case policy.KindExplainer:
		if spec.Explainer == nil {
			return nil, nil
		}
		return spec.Explainer.CanaryTrafficPercent, nil
	}
	name, ok := strings.CutPrefix(component, policy.KindCanary+":")
	if !ok || name == "" {
		return nil, fmt.Errorf("unknown component %q: want predictor, transformer, explainer or canary:<name>", component)
	}
	for _, c := range spec.Canary {
		if c.Predictor.Name == name {
			p := int64(c.TrafficPercent)
			return &p, nil
		}
	}
	return nil, nil
}
