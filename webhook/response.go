package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canary-guard/canary-guard/policy"
)

// validationResponse turns a decision into an admission response.
func validationResponse(d *policy.Decision) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{Allowed: d.Allowed, Result: &metav1.Status{Code: http.StatusOK}}
	if !d.Allowed {
		resp.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: d.Message(),
		}
		if d.NoSlot {
			// Refused for want of a free evaluation slot, not for what
			// the update does: the client sees TooManyRequests.
			resp.Result.Code, resp.Result.Reason = http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests
		}
	}
	resp.Warnings = warningStrings(d.ClientWarnings())
	return resp
}

// mutationResponse turns a mutation into an admission response.
func mutationResponse(m *policy.Mutation) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{Allowed: true, Result: &metav1.Status{Code: http.StatusOK}}
	if len(m.Patches) > 0 {
		patch, err := json.Marshal(m.Patches)
		if err != nil {
			return erroredResponse(http.StatusInternalServerError, fmt.Errorf("canary-guard: encoding the patch: %w", err))
		}
		patchType := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &patchType
	}
	resp.Warnings = warningStrings(m.Warnings)
	return resp
}

// warningStrings formats warnings for the admission response. The API
// server drops, silently, a warning with a control character (it must fit
// an HTTP Warning header): a custom rule's message over several lines, or
// an OPA error in a [policy-error] warning, would never reach the user. So
// each run of control characters and the spaces around it becomes one space.
func warningStrings(vs []policy.Violation) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = "canary-guard: " + oneLine(v.String())
	}
	return out
}

// oneLine replaces each run of control characters (newlines, tabs) in s,
// with the spaces around it, by one space.
func oneLine(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	parts := strings.FieldsFunc(s, unicode.IsControl)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), " ")
}
