package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// maxRequestBytes bounds a review body: the API server's 3 MiB object
// limit, twice (object and oldObject), plus the review around them.
const maxRequestBytes = 7 << 20

// maxPooledBody keeps the buffers of rare huge requests out of the pool.
const maxPooledBody = 1 << 20

// supportedReview reports whether an AdmissionReview version is answered;
// v1beta1 has v1's wire format.
func supportedReview(apiVersion string) bool {
	return apiVersion == "admission.k8s.io/v1" || apiVersion == "admission.k8s.io/v1beta1"
}

// decider answers one decoded request. raw returns the request's objects
// as they came; it is called only for rules that read them.
type decider func(ctx context.Context, req *wireRequest, raw func() (object, oldObject []byte, err error)) *admissionv1.AdmissionResponse

// reviewHandler serves AdmissionReviews over HTTP. canary-guard serves
// them itself rather than through controller-runtime's admission.Webhook:
// that one decodes each review twice (the runtime codec sniffs the kind
// with one pass, then decodes the review with the objects left raw) before
// the objects are decoded a third time; here the review and its objects
// are decoded in one pass, which cut the CPU time of a review by more than
// half (BenchmarkCorpus).
type reviewHandler struct {
	webhook string
	obs     *Observers
	decide  decider
	// failOpen answers a recovered panic by admitting the request
	// unpatched (the mutating webhook, as failurePolicy Ignore would).
	failOpen bool
	// bodies hold request bodies between requests: a review is ten
	// kilobytes or more, and reading each into a fresh, growing slice was
	// the largest allocation of a request. Decoding copies what it keeps,
	// so a buffer is free again once the answer is written.
	bodies sync.Pool
}

func newReviewHandler(webhook string, obs *Observers, decide decider) *reviewHandler {
	h := &reviewHandler{webhook: webhook, obs: obs, decide: decide}
	h.bodies.New = func() any { return new(bytes.Buffer) }
	return h
}

func (h *reviewHandler) putBody(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBody {
		h.bodies.Put(b)
	}
}

func (h *reviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The duration covers the whole answer: reading, decoding, deciding
	// and encoding.
	start := time.Now()
	defer func() { h.obs.Metrics.duration.WithLabelValues(h.webhook).Observe(time.Since(start).Seconds()) }()
	apiVersion := admissionv1.SchemeGroupVersion.String()
	// uid answers the review even from a panic, once it is known: the API
	// server reports a missing one instead of the error.
	var uid types.UID
	resp := func() (resp *admissionv1.AdmissionResponse) {
		defer func() {
			if p := recover(); p != nil {
				h.obs.Metrics.decisions.WithLabelValues(h.webhook, "errored", "", "").Inc()
				h.obs.Log.Error("panic answering an admission request", "webhook", h.webhook, "panic", fmt.Sprint(p))
				resp = erroredResponse(http.StatusInternalServerError, fmt.Errorf("canary-guard: internal error: %v", p))
				if h.failOpen {
					// The mutating webhook fails open, as its failure policy
					// does: the validating webhook decides the update, and a
					// rollback that reaches this one (to have its step stamp
					// put back) is not refused for canary-guard's fault.
					resp = admittedUnpatched(fmt.Sprintf("internal error: %v", p))
				}
				resp.UID = uid
			}
		}()
		if r.Method != http.MethodPost {
			return h.unreadable(http.StatusMethodNotAllowed, fmt.Errorf("canary-guard: method %s, want POST", r.Method))
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			return h.unreadable(http.StatusBadRequest, fmt.Errorf("canary-guard: contentType=%s, expected application/json", ct))
		}
		buf := h.bodies.Get().(*bytes.Buffer)
		defer h.putBody(buf)
		buf.Reset()
		if r.ContentLength > 0 && r.ContentLength <= maxRequestBytes {
			buf.Grow(int(r.ContentLength) + bytes.MinRead)
		}
		_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxRequestBytes))
		body := buf.Bytes()
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return h.unreadable(http.StatusRequestEntityTooLarge, fmt.Errorf("canary-guard: request entity is too large; limit is %d bytes", maxRequestBytes))
			}
			return h.unreadable(http.StatusBadRequest, fmt.Errorf("canary-guard: reading the request: %w", err))
		}
		review, err := decodeReview(body)
		if err != nil {
			// The API server shows an answer only when it carries the
			// review's uid: read it, if the review's head is readable.
			if v, id, ok := reviewHead(body); ok {
				apiVersion, uid = v, id
			}
			resp := h.unreadable(http.StatusBadRequest, fmt.Errorf("canary-guard: %w", err))
			resp.UID = uid
			return resp
		}
		apiVersion, uid = review.APIVersion, review.Request.UID
		raw := func() ([]byte, []byte, error) { return rawObjects(body) }
		ctx, cancel := context.WithTimeout(r.Context(), decisionTimeout(r.URL.RawQuery))
		defer cancel()
		resp = h.decide(ctx, review.Request, raw)
		resp.UID = uid
		return resp
	}()
	w.Header().Set("Content-Type", "application/json")
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"},
		Response: resp,
	}
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		// The connection is gone; there is no one to answer.
		h.obs.Log.Warn("writing an admission response", "webhook", h.webhook, "error", err)
	}
}

// unreadable answers a request that carries no review to decide: it is
// logged and counted as errored, its namespace unknown.
func (h *reviewHandler) unreadable(code int32, err error) *admissionv1.AdmissionResponse {
	h.obs.Metrics.decisions.WithLabelValues(h.webhook, "errored", "", "").Inc()
	h.obs.Log.Warn("bad admission request", "webhook", h.webhook, "status", code, "error", err)
	return erroredResponse(code, err)
}

// reviewHead reads the apiVersion and uid of a review that failed to
// decode, when its head is readable and of a version canary-guard speaks.
func reviewHead(body []byte) (string, types.UID, bool) {
	var head wireHead
	if unmarshal(body, &head) != nil || head.Request == nil || !supportedReview(head.APIVersion) {
		return "", "", false
	}
	return head.APIVersion, head.Request.UID, true
}

// decodeReview decodes an AdmissionReview and its InferenceServices.
func decodeReview(body []byte) (*wireReview, error) {
	var review wireReview
	if err := unmarshal(body, &review); err != nil {
		return explainDecodeError(body, err)
	}
	if req := review.Request; req != nil {
		req.Object.setSpecJSON(body)
		req.OldObject.setSpecJSON(body)
	}
	return checkReview(&review)
}

func checkReview(review *wireReview) (*wireReview, error) {
	if review.Kind != "AdmissionReview" || !supportedReview(review.APIVersion) {
		return nil, fmt.Errorf("not an AdmissionReview v1: apiVersion %q, kind %q", review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, errors.New("the AdmissionReview has no request")
	}
	return review, nil
}

// explainDecodeError turns a failed one-pass decode into a clear error,
// decoding the review again part by part (this path is rare, so its cost
// does not matter). A request that is never evaluated (DELETE, a
// subresource) is returned without its objects, to be admitted whatever
// they hold.
func explainDecodeError(body []byte, err error) (*wireReview, error) {
	if len(body) == 0 {
		return nil, errors.New("the request body is empty")
	}
	// encoding/json names syntax errors, nesting depth included, best.
	var syntax struct{}
	if stdErr := json.Unmarshal(body, &syntax); stdErr != nil {
		if strings.Contains(stdErr.Error(), "exceeded max depth") {
			return nil, fmt.Errorf("the AdmissionReview JSON is nested too deeply: %w", stdErr)
		}
		return nil, fmt.Errorf("the AdmissionReview is not valid JSON: %w", stdErr)
	}
	var head wireHead
	if unmarshal(body, &head) != nil || head.Request == nil {
		return nil, fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	req := head.Request
	if !isInferenceService(req.Kind) {
		return nil, wrongKind(req.Kind)
	}
	if req.SubResource != "" || req.Operation == admissionv1.Delete || req.Operation == admissionv1.Connect {
		return checkReview(&wireReview{APIVersion: head.APIVersion, Kind: head.Kind, Request: &wireRequest{
			UID: req.UID, Kind: req.Kind, SubResource: req.SubResource, Operation: req.Operation,
		}})
	}
	object, oldObject, rawErr := rawObjects(body)
	if rawErr != nil {
		return nil, fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	for _, o := range []struct {
		name string
		raw  []byte
	}{{"object", object}, {"oldObject", oldObject}} {
		if len(o.raw) > 0 {
			if _, objErr := decodeInferenceService(o.raw); objErr != nil {
				return nil, fmt.Errorf("decoding %s: %w", o.name, objErr)
			}
		}
	}
	return nil, fmt.Errorf("decoding the AdmissionReview: %w", err)
}

// rawObjects reads a review's objects as they came, for rules that read
// input.object and input.oldObject.
func rawObjects(body []byte) (object, oldObject []byte, err error) {
	var raw wireRaw
	if err := unmarshal(body, &raw); err != nil {
		return nil, nil, fmt.Errorf("reading the request's objects: %w", err)
	}
	if raw.Request == nil {
		return nil, nil, errors.New("reading the request's objects: the AdmissionReview has no request")
	}
	return raw.Request.Object, raw.Request.OldObject, nil
}

func isInferenceService(k metav1.GroupVersionKind) bool {
	return k.Group == inferenceServiceGroup && k.Kind == "InferenceService"
}

func wrongKind(k metav1.GroupVersionKind) error {
	return fmt.Errorf("canary-guard handles %s InferenceService objects only, got %s %s (check the webhook configuration's rules)",
		inferenceServiceGroup, k.Group+"/"+k.Version, k.Kind)
}

// allowedResponse admits with nothing to say.
func allowedResponse() *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: true, Result: &metav1.Status{Code: http.StatusOK}}
}

// admittedUnpatched is the mutating webhook's answer to a fault of its own
// where it fails open: the update admitted as sent, with a warning naming
// the cause.
func admittedUnpatched(cause string) *admissionv1.AdmissionResponse {
	resp := allowedResponse()
	resp.Warnings = []string{fmt.Sprintf("canary-guard could not work out its changes to this update (%s), so none were made; its validating webhook decides the update.", cause)}
	return resp
}

// erroredResponse is the answer to a request canary-guard cannot decide:
// not allowed, with the code and the reason.
func erroredResponse(code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Result: &metav1.Status{Code: code, Message: err.Error()}}
}

// errored is the answer to a request canary-guard cannot read.
func errored(err error) *admissionv1.AdmissionResponse {
	return erroredResponse(http.StatusBadRequest, fmt.Errorf("canary-guard: %w", err))
}

// defaultWebhookTimeout is the API server's default timeoutSeconds of a
// webhook registration: the bound of a request that names none.
const defaultWebhookTimeout = 10 * time.Second

// decisionTimeout reads the timeout the API server puts on a webhook call
// (?timeout=10s, the registration's timeoutSeconds) and returns how long
// canary-guard may take to decide: a fifth less, at most half a second,
// left for the answer to travel back. Answering in time is what lets warn
// and audit namespaces, and rollbacks, pass a rule that ran out of time;
// an API server that gives up first applies the failure policy instead.
// A request without a readable timeout (not the API server's: it always
// sends one) gets the API server's default, so that nothing, a wait for an
// evaluation slot included, waits without a bound.
func decisionTimeout(rawQuery string) time.Duration {
	d := defaultWebhookTimeout
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		v, ok := strings.CutPrefix(kv, "timeout=")
		if !ok {
			continue
		}
		if t, err := time.ParseDuration(v); err == nil && t > 0 {
			d = t
		}
		break
	}
	return d - min(d/5, 500*time.Millisecond)
}
