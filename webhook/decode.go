// Package webhook serves canary-guard's mutating and validating admission
// webhooks: decoding AdmissionReviews, asking the policy.Guard, and
// building admission responses.
package webhook

import (
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"

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
func decode(req *wireRequest) (*policy.Request, error) {
	if !isInferenceService(req.Kind) {
		return nil, wrongKind(req.Kind)
	}
	if req.SubResource != "" {
		return nil, errSkip{op: req.Operation}
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	case admissionv1.Delete, admissionv1.Connect:
		return nil, errSkip{op: req.Operation}
	default:
		return nil, fmt.Errorf("operation %q: want CREATE, UPDATE, DELETE or CONNECT", req.Operation)
	}
	r := &policy.Request{
		Operation: string(req.Operation),
		Namespace: req.Namespace,
		Name:      req.Name,
		User:      policy.UserInfo{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups},
		DryRun:    req.DryRun != nil && *req.DryRun,
	}
	if req.Object == nil {
		return nil, fmt.Errorf("%s request for %s/%s has no object", req.Operation, req.Namespace, req.Name)
	}
	obj, err := req.Object.inferenceService()
	if err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	r.Object, r.SpecJSON = obj, req.Object.specJSON
	if r.Name == "" {
		r.Name = obj.Name
	}
	if req.Operation == admissionv1.Update {
		if req.OldObject == nil {
			return nil, fmt.Errorf("UPDATE request for %s/%s has no oldObject", req.Namespace, r.Name)
		}
		if r.OldObject, err = req.OldObject.inferenceService(); err != nil {
			return nil, fmt.Errorf("decoding oldObject: %w", err)
		}
		r.OldSpecJSON = req.OldObject.specJSON
	}
	return r, nil
}
