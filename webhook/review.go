package webhook

import (
	"errors"
	"fmt"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/canary-guard/canary-guard/policy"
)

// DecodeReview parses an AdmissionReview v1 (JSON) and decodes its request
// as the webhooks do, for tools that replay a recorded review (canary-guard
// eval --review). Requests the webhooks admit without a decision (DELETE,
// CONNECT, subresources) are errors: there is nothing to evaluate.
func DecodeReview(data []byte) (*policy.Request, error) {
	review, err := decodeReview(data)
	if err != nil {
		return nil, err
	}
	r, err := decodeEvaluated(review.Request)
	if err != nil {
		return nil, err
	}
	if r.ObjectJSON, r.OldObjectJSON, err = rawObjects(data); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeRequest decodes one admission request as the webhooks do; its
// objects stay available as raw JSON too.
func DecodeRequest(req *admissionv1.AdmissionRequest) (*policy.Request, error) {
	w := &wireRequest{
		UID: req.UID, Kind: req.Kind, SubResource: req.SubResource, Name: req.Name, Namespace: req.Namespace,
		Operation: req.Operation, UserInfo: req.UserInfo, DryRun: req.DryRun,
	}
	// Objects of requests that are never evaluated are not read.
	evaluated := req.SubResource == "" && (req.Operation == admissionv1.Create || req.Operation == admissionv1.Update)
	for _, o := range []struct {
		name string
		raw  []byte
		dst  **wireInferenceService
	}{{"object", req.Object.Raw, &w.Object}, {"oldObject", req.OldObject.Raw, &w.OldObject}} {
		if !evaluated || len(o.raw) == 0 || string(o.raw) == "null" {
			continue
		}
		*o.dst = &wireInferenceService{}
		if err := unmarshal(o.raw, *o.dst); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", o.name, err)
		}
		(*o.dst).setSpecJSON(o.raw)
	}
	r, err := decodeEvaluated(w)
	if err != nil {
		return nil, err
	}
	r.ObjectJSON, r.OldObjectJSON = req.Object.Raw, req.OldObject.Raw
	return r, nil
}

// decodeEvaluated decodes a request the webhooks evaluate; the others are
// errors saying why there is nothing to evaluate.
func decodeEvaluated(req *wireRequest) (*policy.Request, error) {
	r, err := decode(req)
	var skip errSkip
	switch {
	case errors.As(err, &skip) && req.SubResource != "":
		return nil, fmt.Errorf("nothing to evaluate: the webhooks admit %s of the %s subresource unevaluated", skip.op, req.SubResource)
	case errors.As(err, &skip):
		return nil, fmt.Errorf("nothing to evaluate: the webhooks admit %s requests unevaluated", skip.op)
	}
	return r, err
}

// DecodeObject decodes an InferenceService as the webhooks decode the
// objects of a request; tools use it for an object the mutating webhook's
// patches were applied to.
func DecodeObject(raw []byte) (*v1beta1.InferenceService, error) {
	return decodeInferenceService(raw)
}
