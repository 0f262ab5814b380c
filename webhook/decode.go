// Package webhook serves canary-guard's mutating and validating admission
// webhooks: decoding AdmissionReviews, asking the policy.Guard, and
// building admission responses.
package webhook

import (
	"fmt"
	"net/http"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	k8sjson "sigs.k8s.io/json"

	"github.com/canary-guard/canary-guard/policy"
)

// inferenceServiceGroup is the API group canary-guard handles.
const inferenceServiceGroup = "serving.kserve.io"

// errSkip marks requests that need no decision (DELETE, CONNECT).
type errSkip struct{ op admissionv1.Operation }

func (e errSkip) Error() string { return "nothing to check for " + string(e.op) }

// decode turns an admission request into a policy request. It fails with
// a message fit for the user on anything but an InferenceService CREATE
// or UPDATE with the objects it needs.
func decode(req *admission.Request) (*policy.Request, error) {
	if req.Kind.Kind == "" {
		return nil, fmt.Errorf("the AdmissionReview has no request (empty body, JSON nested too deeply, or not an AdmissionReview v1)")
	}
	if req.Kind.Group != inferenceServiceGroup || req.Kind.Kind != "InferenceService" {
		return nil, fmt.Errorf("canary-guard handles %s InferenceService objects only, got %s %s (check the webhook configuration's rules)",
			inferenceServiceGroup, req.Kind.Group+"/"+req.Kind.Version, req.Kind.Kind)
	}
	if req.SubResource != "" {
		return nil, errSkip{op: req.Operation}
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	default:
		return nil, errSkip{op: req.Operation}
	}
	r := &policy.Request{
		Operation: string(req.Operation),
		Namespace: req.Namespace,
		Name:      req.Name,
		User:      policy.UserInfo{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups},
		DryRun:    req.DryRun != nil && *req.DryRun,
	}
	if len(req.Object.Raw) == 0 {
		return nil, fmt.Errorf("%s request for %s/%s has no object", req.Operation, req.Namespace, req.Name)
	}
	obj, err := decodeInferenceService(req.Object.Raw)
	if err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	r.Object, r.ObjectJSON = obj, req.Object.Raw
	if r.Name == "" {
		r.Name = obj.Name
	}
	if req.Operation == admissionv1.Update {
		if len(req.OldObject.Raw) == 0 {
			return nil, fmt.Errorf("UPDATE request for %s/%s has no oldObject", req.Namespace, r.Name)
		}
		old, err := decodeInferenceService(req.OldObject.Raw)
		if err != nil {
			return nil, fmt.Errorf("decoding oldObject: %w", err)
		}
		r.OldObject, r.OldObjectJSON = old, req.OldObject.Raw
	}
	return r, nil
}

// decodeInferenceService decodes an object as the API server does: field
// names are case-sensitive (encoding/json would read "Spec" or "sPec" as
// spec, so the decision would be about another object than the one the
// API server stores, patches and gives the policies), the last duplicate
// key wins.
func decodeInferenceService(raw []byte) (*v1beta1.InferenceService, error) {
	obj := &v1beta1.InferenceService{}
	if err := k8sjson.UnmarshalCaseSensitivePreserveInts(raw, obj); err != nil {
		return nil, err
	}
	if obj.Kind != "" && obj.Kind != "InferenceService" {
		return nil, fmt.Errorf("object is a %s, not an InferenceService", obj.Kind)
	}
	return obj, nil
}

// errored is the response to a request canary-guard cannot read.
func errored(err error) admission.Response {
	return admission.Errored(http.StatusBadRequest, fmt.Errorf("canary-guard: %w", err))
}
