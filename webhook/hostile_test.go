package webhook

import (
	"encoding/json"
	"fmt"
	"k8s.io/apimachinery/pkg/types"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// nested returns depth nested JSON arrays.
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// withPredictorField adds a field to the predictor of an InferenceService.
func withPredictorField(isvc, field string) string {
	return strings.Replace(isvc, `"predictor":{`, `"predictor":{`+field+`,`, 1)
}

// withAnnotation gives an InferenceService one annotation.
func withAnnotation(isvc, key, value string) string {
	return strings.Replace(isvc, `"name":"my-model","namespace":"models"}`,
		fmt.Sprintf(`"name":"my-model","namespace":"models","annotations":{%q:%q}}`, key, value), 1)
}

func TestHandlers_HostileInput(t *testing.T) {
	h := testHandler(t)
	good := review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10)
	at := func(pct string) string {
		return strings.Replace(isvcV2At10, `"canaryTrafficPercent":10`, `"canaryTrafficPercent":`+pct, 1)
	}
	// Built as text: json.Marshal refuses the deeply nested objects.
	update := func(newObj string) string {
		return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"uid-1",` +
			`"kind":{"group":"serving.kserve.io","version":"v1beta1","kind":"InferenceService"},` +
			`"resource":{"group":"serving.kserve.io","version":"v1beta1","resource":"inferenceservices"},` +
			`"namespace":"models","name":"my-model","operation":"UPDATE","userInfo":{"username":"alice","groups":["ml-engineers"]},` +
			`"object":` + newObj + `,"oldObject":` + isvcV2At10 + `}}`
	}
	if want, got := review("UPDATE", "InferenceService", isvcV2At10, isvcV2At10), update(isvcV2At10); !jsonEqual(t, want, got) {
		t.Fatalf("update() builds another review than review():\n%s\n%s", got, want)
	}
	huge := strings.Repeat("x", 3<<20)

	// Who answers: "both" webhooks, or only "validate"/"mutate" when their
	// answers differ (the mutating webhook decides nothing, it patches).
	tests := []struct {
		name        string
		paths       string
		body        string
		wantAllowed bool
		wantCode    int32
		wantMessage string
	}{
		{name: "invalid JSON", body: `{"apiVersion":"admission.k8s.io/v1",kind}`, wantCode: 400, wantMessage: "invalid character"},
		{name: "truncated body", body: good[:len(good)/2], wantCode: 400, wantMessage: "unexpected end of JSON input"},
		{name: "truncated to one byte", body: "{", wantCode: 400, wantMessage: "unexpected end of JSON input"},
		// Only the versions the API server sends (v1, and v1beta1 with the
		// same wire format) are read; anything else is refused, never
		// admitted unread.
		{name: "AdmissionReview admission.k8s.io/v2", body: strings.Replace(update(at("100")), "admission.k8s.io/v1", "admission.k8s.io/v2", 1), wantCode: 400, wantMessage: `not an AdmissionReview v1: apiVersion "admission.k8s.io/v2"`},
		{name: "review of kind Pod", body: strings.Replace(update(at("100")), `"kind":"AdmissionReview"`, `"kind":"Pod"`, 1), wantCode: 400, wantMessage: `kind "Pod"`},
		{name: "AdmissionReview v2 without request", body: `{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview"}`, wantCode: 400, wantMessage: "not an AdmissionReview v1"},
		{name: "AdmissionReview v1 without request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantCode: 400, wantMessage: "no request"},
		{name: "a kind other than InferenceService", body: review("CREATE", "Deployment", `{"kind":"Deployment"}`, ""), wantCode: 400, wantMessage: "InferenceService objects only"},
		{name: "an object of another kind", body: review("CREATE", "InferenceService", `{"kind":"Deployment"}`, ""), wantCode: 400, wantMessage: "object is a Deployment"},
		{name: "UPDATE without oldObject", body: review("UPDATE", "InferenceService", isvcV2, ""), wantCode: 400, wantMessage: "no oldObject"},
		{name: "oldObject that is not an InferenceService", body: review("UPDATE", "InferenceService", isvcV2, `{"spec":[]}`), wantCode: 400, wantMessage: "decoding oldObject"},
		{name: "3 MiB annotation value, unchanged", body: review("UPDATE", "InferenceService", withAnnotation(isvcV2At10, "team.example/notes", huge), withAnnotation(isvcV2At10, "team.example/notes", huge)), wantAllowed: true},
		{name: "3 MiB annotation value on a jump is still judged", paths: "validate", body: review("UPDATE", "InferenceService", withAnnotation(at("100"), "team.example/notes", huge), withAnnotation(isvcV2At10, "team.example/notes", huge)), wantCode: 403, wantMessage: "[max-step]"},
		{name: "body over the 7 MiB limit", body: review("UPDATE", "InferenceService", withAnnotation(at("100"), "a", huge+huge+huge), isvcV2At10), wantCode: 413, wantMessage: "request entity is too large"},
		// Past the JSON decoder's depth limit (10,000) the review decodes
		// to nothing: a 400, no stack overflow.
		{name: "10,000 nested arrays in an unknown field", body: update(withPredictorField(isvcV2At10, `"x":`+nested(10000))), wantCode: 400, wantMessage: "nested too deeply"},
		{name: "100,000 nested arrays in an unknown field", body: update(withPredictorField(isvcV2At10, `"x":`+nested(100000))), wantCode: 400, wantMessage: "nested too deeply"},
		{name: "100,000 nested arrays on a jump", body: update(withPredictorField(at("100"), `"x":`+nested(100000))), wantCode: 400, wantMessage: "nested too deeply"},
		{name: "1,000 nested arrays in an unknown field", body: update(withPredictorField(isvcV2At10, `"x":`+nested(1000))), wantAllowed: true},
		{name: "unknown fields are ignored", body: update(withPredictorField(strings.Replace(isvcV2At10, `"spec":{`, `"spec":{"frobnicate":{"a":[1,2]},`, 1), `"extra":"y"`)), wantAllowed: true},
		{name: "unknown fields do not hide a jump", paths: "validate", body: update(withPredictorField(at("100"), `"extra":{"canaryTrafficPercent":10}`)), wantCode: 403, wantMessage: "[max-step]"},
		{name: "canaryTrafficPercent 1e30", body: update(at("1e30")), wantCode: 400, wantMessage: "JSON number 1e30"},
		{name: "canaryTrafficPercent 2^63", body: update(at("9223372036854775808")), wantCode: 400, wantMessage: "JSON number 9223372036854775808"},
		{name: "canaryTrafficPercent -2^63-1", body: update(at("-9223372036854775809")), wantCode: 400, wantMessage: "JSON number -9223372036854775809"},
		{name: "canaryTrafficPercent 10.5", body: update(at("10.5")), wantCode: 400, wantMessage: "JSON number 10.5"},
		{name: "canaryTrafficPercent as a string", body: update(at(`"100"`)), wantCode: 400, wantMessage: "JSON string into Go int64 within \"/spec/predictor/canaryTrafficPercent\""},
		{name: "oldObject percent out of range", body: review("UPDATE", "InferenceService", isvcV2At10, at("1e30")), wantCode: 400, wantMessage: "decoding oldObject"},
		// Duplicate keys: the last one wins, as in the API server's decoder.
		{name: "duplicate percent, last wins (10 then 100)", paths: "validate", body: update(withPredictorField(at("100"), `"canaryTrafficPercent":10`)), wantCode: 403, wantMessage: "10 → 100"},
		{name: "duplicate percent, last wins (100 then 10)", body: update(withPredictorField(isvcV2At10, `"canaryTrafficPercent":100`)), wantAllowed: true},
		{name: "duplicate operation in the review, last wins", paths: "validate", body: strings.Replace(update(at("100")), `"operation":"UPDATE"`, `"operation":"DELETE","operation":"UPDATE"`, 1), wantCode: 403, wantMessage: "[max-step]"},
		// A repeated object member: the last object is the one judged,
		// its spec compared whole (not through the span of the first).
		{name: "duplicate object, the last is judged", paths: "validate",
			body: strings.Replace(update(strings.Replace(strings.Replace(at("35"), "flowers-2", "flowers-3", 1),
				`"spec":`, `"spec":{"predictor":{"canaryTrafficPercent":35}},"spec":`, 1)),
				`"object":`, `"object":`+at("35")+`,"object":`, 1),
			wantCode: 403, wantMessage: "[initial-percent]"},
		{name: "operation in lower case", body: strings.Replace(update(at("100")), `"operation":"UPDATE"`, `"operation":"update"`, 1), wantCode: 400, wantMessage: `operation "update"`},
		{name: "no operation", body: strings.Replace(update(at("100")), `"operation":"UPDATE",`, ``, 1), wantCode: 400, wantMessage: `operation ""`},
		// Field names are case-sensitive, as in the API server: a
		// differently cased key is an unknown field, it cannot hide a jump.
		{name: "case-variant key does not hide a jump", paths: "validate", body: update(strings.Replace(at("100"), `"model":`, `"CanaryTrafficPercent":10,"model":`, 1)), wantCode: 403, wantMessage: "10 → 100"},
		{name: "case-variant spec is not the spec", paths: "mutate", body: review("UPDATE", "InferenceService", `{"metadata":{"name":"my-model"},"Spec":{"predictor":{"model":{"storageUri":"gs://x"}}}}`, isvcV1), wantAllowed: true},
		// Requests that are not evaluated are admitted whatever they carry.
		{name: "DELETE with an unreadable oldObject", body: review("DELETE", "InferenceService", "", `{"spec":"x"}`), wantAllowed: true},
		{name: "status subresource with an unreadable object", body: strings.Replace(update(`{"spec":"x"}`), `"operation":"UPDATE"`, `"operation":"UPDATE","subResource":"status"`, 1), wantAllowed: true},
	}

	// Warm up so lazily started goroutines are not counted as leaks.
	post(t, h, ValidatePath, "application/json", good)
	post(t, h, MutatePath, "application/json", good)
	before := runtime.NumGoroutine()

	for _, tc := range tests {
		for _, path := range []string{MutatePath, ValidatePath} {
			if tc.paths != "" && !strings.HasSuffix(path, "/"+tc.paths+"-inferenceservice") {
				continue
			}
			t.Run(tc.name+path, func(t *testing.T) {
				resp := post(t, h, path, "application/json", tc.body)
				if resp.Allowed != tc.wantAllowed {
					t.Errorf("allowed = %v, want %v (%+v)", resp.Allowed, tc.wantAllowed, resp.Result)
				}
				if tc.wantCode != 0 && (resp.Result == nil || resp.Result.Code != tc.wantCode) {
					t.Errorf("result = %+v, want code %d", resp.Result, tc.wantCode)
				}
				// The API server shows an answer only with the review's
				// uid: every answer carries it when the head is readable
				// (a body over the limit is not read to the end).
				if want := readableUID(tc.body); tc.wantCode != 413 && resp.UID != want {
					t.Errorf("uid = %q, want %q", resp.UID, want)
				}
				if tc.wantMessage != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tc.wantMessage)) {
					msg := ""
					if resp.Result != nil {
						msg = resp.Result.Message
					}
					if len(msg) > 400 {
						msg = msg[:400] + "..."
					}
					t.Errorf("message = %q, want it to contain %q", msg, tc.wantMessage)
				}
			})
		}
	}

	// No goroutine outlives its request.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("goroutines: %d before the hostile requests, %d after", before, after)
	}
	// The server still decides good requests.
	if resp := post(t, h, ValidatePath, "application/json", good); !resp.Allowed {
		t.Errorf("good request after hostile input was not admitted: %+v", resp.Result)
	}
}

// readableUID is the uid of a review whose head (apiVersion v1 or v1beta1,
// request.uid) encoding/json can read, else "".
func readableUID(body string) types.UID {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Request    *struct {
			UID types.UID `json:"uid"`
		} `json:"request"`
	}
	if json.Unmarshal([]byte(body), &head) != nil || head.Request == nil ||
		head.APIVersion != "admission.k8s.io/v1" && head.APIVersion != "admission.k8s.io/v1beta1" {
		return ""
	}
	return head.Request.UID
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
