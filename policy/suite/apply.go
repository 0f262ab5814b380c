package suite

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// annotationLastApplied is where kubectl's client-side apply (and Argo CD's
// default sync) records the manifest it applied.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// applyOver merges an applied manifest over the stored object where an
// apply leaves the stored object's fields: a canaryTrafficPercent of the
// predictor, transformer or explainer, or an annotation or label, that the
// manifest leaves out stays unless the apply owned it. An apply removes
// only what it set before: kubectl's client-side apply what its
// last-applied-configuration records, a server-side apply what its
// managedFields entry holds and no other manager's. What canary-guard's mutating webhook set (an
// injected percent, tag routing, the step stamp) is owned by no field
// manager, so it stays.
//
// Other fields are taken from the manifest as they are: canary-guard
// compares components after bringing both sides into the form KServe's
// defaulter stores, so fields the defaulter fills in are no change.
func applyOver(manifest, stored map[string]any, fieldManager string) error {
	owned, err := appliedFields(stored, fieldManager)
	if err != nil {
		return err
	}
	for _, component := range []string{"predictor", "transformer", "explainer"} {
		oldComp, _ := valueAt(stored, "spec", component).(map[string]any)
		newComp, _ := valueAt(manifest, "spec", component).(map[string]any)
		if oldComp == nil || newComp == nil {
			continue
		}
		if v, ok := oldComp["canaryTrafficPercent"]; ok {
			if _, set := newComp["canaryTrafficPercent"]; !set && !owned.has("spec", component, "canaryTrafficPercent") {
				newComp["canaryTrafficPercent"] = v
			}
		}
	}
	for _, field := range []string{"annotations", "labels"} {
		oldMeta, _ := valueAt(stored, "metadata", field).(map[string]any)
		if len(oldMeta) == 0 {
			continue
		}
		meta, _ := manifest["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			manifest["metadata"] = meta
		}
		newMeta, _ := meta[field].(map[string]any)
		for k, v := range oldMeta {
			if _, set := newMeta[k]; set || owned.has("metadata", field, k) ||
				k == annotationLastApplied { // an apply writes its own
				continue
			}
			if newMeta == nil {
				newMeta = map[string]any{}
				meta[field] = newMeta
			}
			newMeta[k] = v
		}
	}
	return nil
}

// valueAt is the value at keys in a decoded JSON object, nil where any is
// missing.
func valueAt(obj map[string]any, keys ...string) any {
	v, _ := lookup(obj, keys)
	return v
}

// ownedFields are the fields of the stored object the apply set: for a
// server-side apply, those its managedFields entry holds (fieldsV1, keys
// as "f:<name>") and no other manager's also does (shared ownership keeps
// a field); for a client-side apply (no Apply entry), those its
// last-applied-configuration records.
type ownedFields struct {
	lastApplied map[string]any
	applier     []map[string]any // the apply's entries
	others      []map[string]any // every other manager's
}

// appliedFields reads what the apply set: fieldManager names its manager
// (argocd-controller, kustomize-controller, kubectl); "" takes every
// Apply entry for it.
func appliedFields(stored map[string]any, fieldManager string) (ownedFields, error) {
	var o ownedFields
	entries, _ := valueAt(stored, "metadata", "managedFields").([]any)
	managers := map[string]bool{}
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		fields, ok := entry["fieldsV1"].(map[string]any)
		if !ok {
			continue
		}
		if entry["operation"] == "Apply" && (fieldManager == "" || entry["manager"] == fieldManager) {
			o.applier = append(o.applier, fields)
			manager, _ := entry["manager"].(string)
			managers[manager] = true
		} else {
			o.others = append(o.others, fields)
		}
	}
	if len(managers) > 1 {
		// Each drops only what it holds alone: which one syncs decides.
		names := make([]string, 0, len(managers))
		for m := range managers {
			names = append(names, m)
		}
		sort.Strings(names)
		return o, fmt.Errorf("the stored object has server-side applies by %s: name the one that syncs with --field-manager", strings.Join(names, ", "))
	}
	if len(o.applier) == 0 {
		if la, ok := valueAt(stored, "metadata", "annotations", annotationLastApplied).(string); ok {
			_ = json.Unmarshal([]byte(la), &o.lastApplied)
		}
	}
	return o, nil
}

// has reports whether the apply set the field at keys, so that leaving it
// out removes it.
func (o ownedFields) has(keys ...string) bool {
	if o.lastApplied != nil {
		_, ok := lookup(o.lastApplied, keys)
		return ok
	}
	fieldKeys := make([]string, len(keys))
	for i, k := range keys {
		fieldKeys[i] = "f:" + k
	}
	holds := func(entries []map[string]any) bool {
		for _, fields := range entries {
			if _, ok := lookup(fields, fieldKeys); ok {
				return true
			}
		}
		return false
	}
	return holds(o.applier) && !holds(o.others)
}

func lookup(obj map[string]any, keys []string) (any, bool) {
	var v any = obj
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}
