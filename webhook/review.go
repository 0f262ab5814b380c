package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/canary-guard/canary-guard/policy"
)

// DecodeReview parses an AdmissionReview v1 (JSON) and decodes its request
// as the webhooks do, for tools that replay a recorded review (canary-guard
// eval --review). Requests the webhooks admit without a decision (DELETE,
// CONNECT, subresources) are errors: there is nothing to evaluate.
func DecodeReview(data []byte) (*policy.Request, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &review); err != nil {
		return nil, fmt.Errorf("parsing AdmissionReview: %w", err)
	}
	// The webhook server also reads v1beta1, which has v1's wire format.
	versions := []string{admissionv1.SchemeGroupVersion.String(), "admission.k8s.io/v1beta1"}
	if review.Kind != "AdmissionReview" || !slices.Contains(versions, review.APIVersion) {
		return nil, fmt.Errorf("not an AdmissionReview v1: apiVersion %q, kind %q", review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, errors.New("the AdmissionReview has no request")
	}
	return DecodeRequest(review.Request)
}

// DecodeRequest decodes one admission request as the webhooks do.
func DecodeRequest(req *admissionv1.AdmissionRequest) (*policy.Request, error) {
	r, err := decode(&admission.Request{AdmissionRequest: *req})
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
