# Tests of the prod-step-cap example. Run with:
#
#   bin/opa-v1.22.3 test rego/canary_guard.rego rego/examples/prod-step-cap/
package prod_step_cap_test

import data.canary_guard

# --- Inputs ----------------------------------------------------------------------------

config(max_step) := {
	"enforcement": "enforce", "initialCanaryPercent": 10, "maxStepPercent": max_step,
	"onModelChange": "inject", "tagRouting": "inject", "midRolloutModelChange": "restart",
	"requireReadyCanary": true, "minStepIntervalSeconds": 0,
	"override": {"groups": []}, "exempt": {"users": [], "groups": []},
	"defaultDeploymentMode": "Knative", "serviceAnnotationDisallowedList": [],
}

# A component whose percent goes from old to new (null = absent: 100 % for
# a Knative component).
component(old, new, over) := object.union(
	{
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
	},
	over,
)

effective(p) := 100 if p == null

effective(p) := p if p != null

canary_entry(old, new) := component(old, new, {
	"id": "canary:v2", "kind": "canary", "name": "v2",
	"path": "spec.canary[0]", "percentField": "trafficPercent",
})

update(namespace, mode, max_step, components) := {
	"version": "v1",
	"request": {
		"operation": "UPDATE", "namespace": namespace, "name": "my-model", "dryRun": false,
		"user": {"username": "alice", "groups": ["ml-engineers"]},
	},
	"config": config(max_step),
	"rollout": {
		"operation": "UPDATE", "deploymentMode": mode, "rolloutMode": mode, "deploymentModeSource": "status",
		"components": components,
		"modelChanged": any_model_change(components), "revisionChanged": any_model_change(components),
		"percentChanged": true, "raised": raised(components),
		"metadataChanged": [], "internalAnnotationsChanged": [],
		"tagRouting": {"old": true, "new": true},
		"override": {"requested": false, "reason": "", "allowed": false, "active": false},
		"step": {"lastStepAt": "", "secondsSinceLastStep": -1},
		"alwaysAdmit": false, "alwaysAdmitReason": "",
	},
}

any_model_change(components) if {
	some c in components
	c.modelChanged
} else := false

raised(components) if {
	some c in components
	c.newEffectivePercent > c.oldEffectivePercent
} else if {
	some c in components
	c.promotedCanary != ""
} else := false

knative(namespace, old, new) := update(namespace, "Knative", 25, [component(old, new, {})])

prod_denials(inp) := {d.msg |
	some d in all_denials(inp)
	d.rule == "prod-max-step"
}

all_denials(inp) := denials if {
	denials := canary_guard.deny with input as inp
}

# --- Knative ------------------------------------------------------------------------------

test_rise_of_25_in_prod_denied if {
	prod_denials(knative("prod-eu", 10, 35)) == {
		"spec.predictor.canaryTrafficPercent 10 → 35 rises by 25; in production namespaces (prod-*) a canary rises by at most 10 per update. Set 20 now, or 0 to roll back.",
	}
}

test_rise_of_10_in_prod_admitted if {
	prod_denials(knative("prod-eu", 10, 20)) == set()
}

test_rise_of_25_elsewhere_admitted if {
	prod_denials(knative("models", 10, 35)) == set()
	prod_denials(knative("preprod-eu", 10, 35)) == set()
}

test_promotion_from_85_in_prod_denied if {
	prod_denials(knative("prod-eu", 85, null)) == {
		"spec.predictor.canaryTrafficPercent 85 → absent (100 %) rises by 15; in production namespaces (prod-*) a canary rises by at most 10 per update. Set 95 now, or 0 to roll back.",
	}
}

test_promotion_from_90_in_prod_admitted if {
	prod_denials(knative("prod-eu", 90, null)) == set()
	prod_denials(knative("prod-eu", 90, 100)) == set()
}

test_lowering_and_rollback_not_denied if {
	prod_denials(knative("prod-eu", 60, 20)) == set()
	prod_denials(knative("prod-eu", 60, 0)) == set()
}

# A new model enters at the initial percent; the shipped initial-percent
# rule governs that, not the step cap.
test_model_change_not_a_step if {
	change := component(null, 10, {"modelChanged": true, "revisionChanged": true, "newModel": "gs://models/v3"})
	prod_denials(update("prod-eu", "Knative", 25, [change])) == set()
}

test_transformer_rise_in_prod_denied if {
	transformer := component(10, 35, {"id": "transformer", "kind": "transformer", "name": "transformer", "path": "spec.transformer"})
	some msg in prod_denials(update("prod-eu", "Knative", 25, [component(null, null, {}), transformer]))
	startswith(msg, "spec.transformer.canaryTrafficPercent 10 → 35 rises by 25;")
}

# The configuration already caps prod at 10: the shipped max-step rule says it.
test_silent_when_the_configuration_caps_as_low if {
	prod_denials(update("prod-eu", "Knative", 10, [component(10, 35, {})])) == set()
	some d in all_denials(update("prod-eu", "Knative", 10, [component(10, 35, {})]))
	d.rule == "max-step"
}

# --- Standard ------------------------------------------------------------------------------

test_standard_entry_rise_in_prod_denied if {
	prod_denials(update("prod-eu", "Standard", 25, [component(null, null, {}), canary_entry(10, 35)])) == {
		"spec.canary[0].trafficPercent 10 → 35 rises by 25; in production namespaces (prod-*) a canary rises by at most 10 per update. Set 20 now, or remove the entry to roll back.",
	}
}

test_standard_predictor_percent_is_not_a_step if {
	# Standard mode ignores canaryTrafficPercent; the shipped
	# standard-ignores-percent rule deals with it.
	prod_denials(update("prod-eu", "Standard", 25, [component(10, 35, {})])) == set()
}

test_standard_promotion_from_85_in_prod_denied if {
	promotion := component(null, null, {"promotedCanary": "v2", "promotedCanaryPercent": 85, "modelChanged": true})
	removed := object.union(canary_entry(85, null), {"inNew": false, "newEffectivePercent": 0})
	prod_denials(update("prod-eu", "Standard", 25, [promotion, removed])) == {
		"promoting canary v2 (at 85 %) to all traffic rises by 15; in production namespaces (prod-*) a canary rises by at most 10 per update. Raise its trafficPercent to 95 first; promotion is allowed from 90 %.",
	}
}

test_standard_promotion_from_90_in_prod_admitted if {
	promotion := component(null, null, {"promotedCanary": "v2", "promotedCanaryPercent": 90, "modelChanged": true})
	removed := object.union(canary_entry(90, null), {"inNew": false, "newEffectivePercent": 0})
	prod_denials(update("prod-eu", "Standard", 25, [promotion, removed])) == set()
}
