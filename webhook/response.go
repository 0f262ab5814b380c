package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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
	resp.Warnings = warningStrings(d.ClientWarnings(), validateWarningBudget)
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
	resp.Warnings = warningStrings(m.Warnings, mutateWarningBudget)
	return resp
}

// The API server cuts every warning of a request to 256 characters once
// all of them, both webhooks' and KServe's, add up to more than 4096
// (k8s.io/apiserver filters/warning.go): each would lose its end, where
// the next step is. canary-guard's two webhooks keep below these budgets,
// whose sum leaves room for the others' (KServe's own are about 100
// characters each). The mutating webhook's warnings are few: a
// canary-injected per component, of about 400 characters, and the odd
// tag-routing-kept, step-stamp-kept or percent-applied.
const (
	validateWarningBudget = 2500
	mutateWarningBudget   = 1300
)

// warningStrings formats warnings for the admission response. The API
// server drops, silently, a warning with a control character (it must fit
// an HTTP Warning header): a custom rule's message over several lines, or
// an OPA error in a [policy-error] warning, would never reach the user. So
// each run of control characters and the spaces around it becomes one space.
// Past budget characters in all (see validateWarningBudget), fitWarnings
// keeps what fits.
func warningStrings(vs []policy.Violation, budget int) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	total := 0
	for i, v := range vs {
		out[i] = "canary-guard: " + oneLine(v.String())
		total += utf8.RuneCountInString(out[i])
	}
	if total <= budget {
		return out
	}
	return fitWarnings(out, vs, budget)
}

// fitWarnings keeps, in order, the warnings that fit in budget beside a
// last one naming the rules of the rest. Where not even the first fits
// beside it, the first is cut short to fit.
func fitWarnings(out []string, vs []policy.Violation, budget int) []string {
	kept, used := 0, 0
	for kept < len(out) {
		n := utf8.RuneCountInString(out[kept])
		if used+n+leftOutLen(vs[kept+1:]) > budget {
			break
		}
		used += n
		kept++
	}
	if kept == 0 {
		room := budget - leftOutLen(vs[1:])
		out[0] = string([]rune(out[0])[:room-1]) + "…"
		kept = 1
	}
	if kept == len(out) {
		return out
	}
	return append(out[:kept], leftOut(vs[kept:]))
}

// leftOut is the warning that stands for the warnings vs, left out.
func leftOut(vs []policy.Violation) string {
	if len(vs) == 0 {
		return ""
	}
	rules := make([]string, 0, len(vs))
	for _, v := range vs {
		// An id built at evaluation may hold a newline, which would get
		// this warning dropped (warningStrings).
		if rule := oneLine(v.Rule); !slices.Contains(rules, rule) {
			rules = append(rules, rule)
		}
	}
	w := "canary-guard: [warnings-left-out] " + strconv.Itoa(len(vs)) + " more warnings, of " + strings.Join(rules, ", ") +
		", are left out: the API server cuts every warning short past 4096 characters in all. canary-guard eval on this change shows them all."
	if utf8.RuneCountInString(w) > 400 {
		// Many rules: their names would crowd out the warnings kept.
		w = "canary-guard: [warnings-left-out] " + strconv.Itoa(len(vs)) + " more warnings are left out: the API server cuts every warning short past 4096 characters in all. canary-guard eval on this change shows them all."
	}
	return w
}

func leftOutLen(vs []policy.Violation) int { return utf8.RuneCountInString(leftOut(vs)) }

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
