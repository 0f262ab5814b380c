package policy

import (
	"encoding/json"
	"testing"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
)

func TestOnlyPercentsDiffer(t *testing.T) {
	const model = `"model":{"modelFormat":{"name":"sklearn"},"storageUri":"gs://m/v1"}`
	tests := []struct {
		name     string
		old, new string
		want     bool
	}{
		{"identical", `{"predictor":{` + model + `}}`, `{"predictor":{` + model + `}}`, true},
		{"a step", `{"predictor":{"canaryTrafficPercent":10,` + model + `}}`, `{"predictor":{"canaryTrafficPercent":35,` + model + `}}`, true},
		{"a step within the first digit", `{"predictor":{"canaryTrafficPercent":10,` + model + `}}`, `{"predictor":{"canaryTrafficPercent":15,` + model + `}}`, true},
		{"a step to 100", `{"predictor":{"canaryTrafficPercent":10,` + model + `}}`, `{"predictor":{"canaryTrafficPercent":100,` + model + `}}`, true},
		{"a rollback to 0", `{"predictor":{"canaryTrafficPercent":35,` + model + `}}`, `{"predictor":{"canaryTrafficPercent":0,` + model + `}}`, true},
		{"null to a number", `{"predictor":{"canaryTrafficPercent":null,` + model + `}}`, `{"predictor":{"canaryTrafficPercent":10,` + model + `}}`, true},
		{"the last member", `{"predictor":{` + model + `,"canaryTrafficPercent":10}}`, `{"predictor":{` + model + `,"canaryTrafficPercent":20}}`, true},
		{"predictor and transformer", `{"predictor":{"canaryTrafficPercent":10,` + model + `},"transformer":{"canaryTrafficPercent":10,"containers":[]}}`,
			`{"predictor":{"canaryTrafficPercent":20,` + model + `},"transformer":{"canaryTrafficPercent":30,"containers":[]}}`, true},
		{"spaces", `{ "predictor" : { "canaryTrafficPercent" : 10 } }`, `{ "predictor" : { "canaryTrafficPercent" : 20 } }`, true},

		{"the model changes", `{"predictor":{"canaryTrafficPercent":10,` + model + `}}`, `{"predictor":{"canaryTrafficPercent":10,"model":{"modelFormat":{"name":"sklearn"},"storageUri":"gs://m/v2"}}}`, false},
		{"the percent is added", `{"predictor":{` + model + `}}`, `{"predictor":{"canaryTrafficPercent":10,` + model + `}}`, false},
		{"the percent is removed", `{"predictor":{"canaryTrafficPercent":10,` + model + `}}`, `{"predictor":{` + model + `}}`, false},
		{"a percent and the model", `{"predictor":{"canaryTrafficPercent":10,` + model + `}}`, `{"predictor":{"canaryTrafficPercent":20,"model":{"modelFormat":{"name":"sklearn"},"storageUri":"gs://m/v2"}}}`, false},
		{"a member of that name one level down", `{"predictor":{"model":{"canaryTrafficPercent":10}}}`, `{"predictor":{"model":{"canaryTrafficPercent":20}}}`, false},
		{"a member of that name directly under spec", `{"canaryTrafficPercent":10}`, `{"canaryTrafficPercent":20}`, false},
		{"a member of that name in another component", `{"canary":{"canaryTrafficPercent":10}}`, `{"canary":{"canaryTrafficPercent":20}}`, false},
		{"an escaped name", `{"predictor":{"canaryTraffic\u0050ercent":10}}`, `{"predictor":{"canaryTraffic\u0050ercent":20}}`, false},
		{"the name inside a string", `{"predictor":{"args":["{\"canaryTrafficPercent\":10}"]}}`, `{"predictor":{"args":["{\"canaryTrafficPercent\":20}"]}}`, false},
		{"a string value", `{"predictor":{"canaryTrafficPercent":"10"}}`, `{"predictor":{"canaryTrafficPercent":"20"}}`, false},
		{"a fraction", `{"predictor":{"canaryTrafficPercent":10}}`, `{"predictor":{"canaryTrafficPercent":10.5}}`, false},
		{"a boolean", `{"predictor":{"canaryTrafficPercent":10}}`, `{"predictor":{"canaryTrafficPercent":true}}`, false},
		{"an array at the component's place", `{"predictor":[{"canaryTrafficPercent":10}]}`, `{"predictor":[{"canaryTrafficPercent":20}]}`, false},
		{"a percent step and a label-like change", `{"predictor":{"canaryTrafficPercent":10,"labels":{"a":"1"}}}`, `{"predictor":{"canaryTrafficPercent":20,"labels":{"a":"2"}}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range []string{tt.old, tt.new} {
				if !json.Valid([]byte(s)) {
					t.Fatalf("test spec is not JSON: %s", s)
				}
			}
			if got := onlyPercentsDiffer([]byte(tt.old), []byte(tt.new)); got != tt.want {
				t.Errorf("onlyPercentsDiffer = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzOnlyPercentsDiffer checks the fast path against the comparison of
// decoded specs: whenever the raw specs are said to differ only in
// percents, comparing the decoded components finds nothing else.
func FuzzOnlyPercentsDiffer(f *testing.F) {
	f.Add(`{"predictor":{"canaryTrafficPercent":10,"model":{"storageUri":"gs://m/v1"}}}`, `{"predictor":{"canaryTrafficPercent":35,"model":{"storageUri":"gs://m/v1"}}}`)
	f.Add(`{"predictor":{"model":{"storageUri":"gs://m/v1"}},"transformer":{"canaryTrafficPercent":5,"containers":[{"name":"t","image":"x"}]}}`,
		`{"predictor":{"model":{"storageUri":"gs://m/v1"}},"transformer":{"canaryTrafficPercent":null,"containers":[{"name":"t","image":"x"}]}}`)
	f.Add(`{"predictor":{"canaryTrafficPercent":1,"containers":[{"name":"kserve-container","env":[{"name":"STORAGE_URI","value":"a"}]}]}}`,
		`{"predictor":{"canaryTrafficPercent":2,"containers":[{"name":"kserve-container","env":[{"name":"STORAGE_URI","value":"b"}]}]}}`)
	f.Fuzz(func(t *testing.T, oldJSON, newJSON string) {
		if !onlyPercentsDiffer([]byte(oldJSON), []byte(newJSON)) {
			return
		}
		var oldSpec, newSpec v1beta1.InferenceServiceSpec
		if json.Unmarshal([]byte(oldJSON), &oldSpec) != nil || json.Unmarshal([]byte(newJSON), &newSpec) != nil {
			return
		}
		for _, d := range []diff{
			comparePredictors("spec.predictor", &oldSpec.Predictor, &newSpec.Predictor, ""),
			compareOptional(compareTransformers, oldSpec.Transformer, newSpec.Transformer),
			compareOptional(compareExplainers, oldSpec.Explainer, newSpec.Explainer),
		} {
			for _, field := range d.fields {
				if field != "spec.predictor.canaryTrafficPercent" && field != "spec.c.canaryTrafficPercent" {
					t.Fatalf("raw specs said to differ only in percents, but %s differs:\nold %s\nnew %s", field, oldJSON, newJSON)
				}
			}
		}
	})
}

func compareOptional[T any](compare func(string, *T, *T) diff, o, n *T) diff {
	if o == nil || n == nil {
		return diff{}
	}
	return compare("spec.c", o, n)
}
