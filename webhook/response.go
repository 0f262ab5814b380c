package webhook

import (
	"net/http"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/canary-guard/canary-guard/policy"
)

// validationResponse turns a decision into an admission response.
func validationResponse(d *policy.Decision) admission.Response {
	resp := admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: d.Allowed}}
	if !d.Allowed {
		resp.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: d.Message(),
		}
	}
	resp.Warnings = warningStrings(d.Warnings)
	return resp
}

// mutationResponse turns a mutation into an admission response.
func mutationResponse(m *policy.Mutation) admission.Response {
	resp := admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true}}
	if len(m.Patches) > 0 {
		resp.Patches = make([]jsonpatch.JsonPatchOperation, len(m.Patches))
		for i, p := range m.Patches {
			resp.Patches[i] = jsonpatch.JsonPatchOperation{Operation: p.Op, Path: p.Path, Value: p.Value}
		}
	}
	resp.Warnings = warningStrings(m.Warnings)
	return resp
}

func warningStrings(vs []policy.Violation) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = "canary-guard: " + v.String()
	}
	return out
}
