package policy

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestBuildInput_IsTheJSONOfRequestAndFacts checks the input document,
// built directly as AST values, against the JSON form of the request and
// the facts that docs/policy-input.md describes: lists are arrays, never
// null.
func TestBuildInput_IsTheJSONOfRequestAndFacts(t *testing.T) {
	g := newGuard(t, "")
	create := &Request{
		Operation: OperationCreate, Namespace: "models", Name: "my-model", DryRun: true,
		User:   UserInfo{Username: "bob"},
		Object: isvc(t, canaryAt(20, true)),
	}
	standard := update(t, standardManifest("", stdStableV1), standardManifest("", stdStableV1, fmt.Sprintf(stdCanaryV2, 10)))
	standard.User.Groups = []string{"a", "b"}
	withObjects := update(t, canaryAt(10, true), canaryAt(35, true))
	withObjects.ObjectJSON = []byte(`{"spec": {"predictor": {"canaryTrafficPercent": 35}}}`)
	tests := []struct {
		name        string
		req         *Request
		withObjects bool
	}{
		{"create", create, false},
		{"standard canary entry", standard, false},
		{"objects", withObjects, true},
	}
	for _, bc := range benchCases {
		tests = append(tests, struct {
			name        string
			req         *Request
			withObjects bool
		}{bc.name, update(t, bc.old, bc.new), false})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := g.state.Load()
			settings, config := st.settingsFor(tc.req.Namespace)
			facts, err := BuildFacts(tc.req, FactsOptions{Settings: settings, Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			got, err := buildInput(g.keys, tc.req, facts, config, tc.withObjects)
			if err != nil {
				t.Fatal(err)
			}
			configJSON, err := ast.JSON(config)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"version": InputVersion,
				"request": map[string]any{
					"operation": tc.req.Operation, "namespace": tc.req.Namespace, "name": tc.req.Name, "dryRun": tc.req.DryRun,
					"user": map[string]any{"username": tc.req.User.Username, "groups": orEmpty(tc.req.User.Groups)},
				},
				"rollout": jsonValue(t, facts),
				"config":  configJSON,
			}
			if tc.withObjects {
				want["object"] = json.RawMessage(tc.req.ObjectJSON)
				want["oldObject"] = nil
			}
			wantValue, err := ast.InterfaceToValue(jsonValue(t, want))
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(wantValue) != 0 {
				t.Errorf("input differs from the JSON form:\n got %v\nwant %v", got, wantValue)
			}
		})
	}
}

func orEmpty(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// jsonValue round-trips v through JSON, turning the null lists of the
// facts into empty arrays.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return emptyLists(out)
}

func emptyLists(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			switch k {
			case "metadataChanged", "internalAnnotationsChanged", "changedFields", "promotedCanaryChangedFields", "groups":
				if e == nil {
					e = []any{}
				}
			}
			v[k] = emptyLists(e)
		}
	case []any:
		for i := range v {
			v[i] = emptyLists(v[i])
		}
	}
	return v
}
