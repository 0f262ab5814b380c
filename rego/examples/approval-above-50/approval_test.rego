# Tests of the approval-above-50 example. Run with:
#
#   bin/opa-v1.22.3 test rego/canary_guard.rego rego/examples/approval-above-50/
package approval_test

import data.canary_guard

# --- Inputs ----------------------------------------------------------------------------

# A Knative predictor whose canaryTrafficPercent goes from old to new.
predictor(old, new) := {
	"id": "predictor", "kind": "predictor", "name": "predictor", "path": "spec.predictor",
	"percentField": "canaryTrafficPercent", "inOld": true, "inNew": true, "modelMesh": false,
	"changedFields": [], "modelChanged": false, "revisionChanged": false,
	"oldModel": "gs://models/v2", "newModel": "gs://models/v2",
	"oldPercent": old, "newPercent": new,
	"oldEffectivePercent": effective(old), "newEffectivePercent": effective(new),
	"percentChanged": old != new, "canaryInProgress": old != null,
	"stableRevision": "my-model-predictor-00001", "previousRevision": "",
	"latestReadyRevision": "my-model-predictor-00002", "latestCreatedRevision": "my-model-predictor-00002",
	"canaryReady": "true", "canaryReadyReason": "revision my-model-predictor-00002 is ready",
	"promotedCanary": "", "promotedCanaryPercent": 0,
}

effective(p) := 100 if p == null

effective(p) := p if p != null

# An object with the given annotations (input.object / input.oldObject).
isvc(annotations) := {
	"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
	"metadata": {"name": "my-model", "annotations": annotations},
}

# A Knative update of the components, with the old and new annotations.
update(mode, components, old_annotations, new_annotations) := in_namespace("prod-eu", mode, components, old_annotations, new_annotations)

in_namespace(namespace, mode, components, old_annotations, new_annotations) := {
	"version": "v1",
	"request": {
		"operation": "UPDATE", "namespace": namespace, "name": "my-model", "dryRun": false,
		"user": {"username": "alice", "groups": ["ml-engineers"]},
	},
	"config": {"enforcement": "enforce", "initialCanaryPercent": 10, "maxStepPercent": 25, "requireReadyCanary": true},
	"rollout": {
		"operation": "UPDATE", "deploymentMode": mode, "rolloutMode": mode, "deploymentModeSource": "status",
		"components": components,
		"modelChanged": false, "revisionChanged": false, "percentChanged": true, "raised": true,
		"metadataChanged": [], "internalAnnotationsChanged": [],
		"override": {"requested": false, "reason": "", "allowed": false, "active": false},
		"step": {"lastStepAt": "", "secondsSinceLastStep": -1},
		"alwaysAdmit": false, "alwaysAdmitReason": "",
	},
	"object": isvc(new_annotations),
	"oldObject": isvc(old_annotations),
}

approved := {"canary-guard.dev/approved-by": "carol (CHG-1234)"}

approval_denials(inp) := {d.msg |
	some d in all_denials(inp)
	d.rule == "approval-required"
}

all_denials(inp) := denials if {
	denials := canary_guard.deny with input as inp
}

# --- The rule ---------------------------------------------------------------------------

test_rise_above_50_without_approval_denied if {
	approval_denials(update("Knative", [predictor(35, 60)], {}, {})) == {
		`spec.predictor.canaryTrafficPercent 35 → 60 gives the canary 60 % of the traffic; in prod-eu a rise above 50 % needs an approval given with it. Set the annotation canary-guard.dev/approved-by: "<approver>" (a new value) in the same update, or raise it to 50 at most.`,
	}
}

test_rise_above_50_with_a_new_approval_admitted if {
	approval_denials(update("Knative", [predictor(35, 60)], {}, approved)) == set()
}

test_changed_approval_admitted if {
	old := {"canary-guard.dev/approved-by": "carol (CHG-1234)"}
	new := {"canary-guard.dev/approved-by": "dave (CHG-1240)"}
	approval_denials(update("Knative", [predictor(60, 85)], old, new)) == set()
}

test_approval_from_an_earlier_step_does_not_carry_over if {
	approval_denials(update("Knative", [predictor(60, 85)], approved, approved)) == {
		`spec.predictor.canaryTrafficPercent 60 → 85 gives the canary 85 % of the traffic; in prod-eu a rise above 50 % needs an approval given with it. Set the annotation canary-guard.dev/approved-by: "<approver>" (a new value) in the same update.`,
	}
}

test_blank_approval_denied if {
	count(approval_denials(update("Knative", [predictor(35, 60)], {}, {"canary-guard.dev/approved-by": " "}))) == 1
}

test_other_namespaces_need_no_approval if {
	approval_denials(in_namespace("models", "Knative", [predictor(35, 60)], {}, {})) == set()
}

test_rise_to_50_needs_no_approval if {
	approval_denials(update("Knative", [predictor(25, 50)], {}, {})) == set()
}

test_promotion_by_removing_the_field_needs_approval if {
	some msg in approval_denials(update("Knative", [predictor(85, null)], {}, {}))
	startswith(msg, "spec.predictor.canaryTrafficPercent 85 → absent gives the canary 100 % of the traffic")
}

test_lowering_needs_no_approval if {
	approval_denials(update("Knative", [predictor(85, 60)], {}, {})) == set()
}

test_standard_mode_predictor_percent_is_not_traffic if {
	approval_denials(update("Standard", [predictor(35, 60)], {}, {})) == set()
}

test_standard_canary_entry_above_50_denied if {
	entry := object.union(predictor(35, 60), {
		"id": "canary:v2", "kind": "canary", "name": "v2", "path": "spec.canary[0]", "percentField": "trafficPercent",
	})
	some msg in approval_denials(update("Standard", [predictor(null, null), entry], {}, {}))
	startswith(msg, "spec.canary[0].trafficPercent 35 → 60 gives the canary 60 %")
}

test_standard_promotion_denied if {
	promotion := object.union(predictor(null, null), {"promotedCanary": "v2", "promotedCanaryPercent": 85, "modelChanged": true})
	some msg in approval_denials(update("Standard", [promotion], {}, {}))
	startswith(msg, "spec.predictor.name → v2 (promoting canary v2) gives the canary 100 % of the traffic")
}
