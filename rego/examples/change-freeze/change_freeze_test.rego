# Tests of the change-freeze example. Run with:
#
#   bin/opa-v1.22.3 test rego/canary_guard.rego rego/examples/change-freeze/
#
# The window check is tested as a function of a timestamp; the rules are
# tested with time.now_ns mocked (`with time.now_ns as ...`), so no test
# depends on the day it runs.
package change_freeze_test

import data.canary_guard

# Nanosecond timestamps around the "year-end 2026" window.
before_freeze := time.parse_rfc3339_ns("2026-12-18T16:59:59Z")

freeze_start := time.parse_rfc3339_ns("2026-12-18T17:00:00Z")

during_freeze := time.parse_rfc3339_ns("2026-12-24T12:00:00Z")

freeze_end := time.parse_rfc3339_ns("2027-01-04T08:00:00Z")

# --- The window check -----------------------------------------------------------

window_names(namespace, now) := {w.name | some w in canary_guard.freeze_open_windows(namespace, now)}

test_window_open_from_its_start if {
	window_names("prod-eu", freeze_start) == {"year-end 2026"}
	window_names("prod-eu", during_freeze) == {"year-end 2026"}
}

test_window_closed_before_its_start if {
	window_names("prod-eu", before_freeze) == set()
}

test_window_closed_at_its_end if {
	window_names("prod-eu", freeze_end) == set()
	window_names("prod-eu", freeze_end - 1) == {"year-end 2026"}
}

test_window_covers_only_its_namespaces if {
	window_names("staging-eu", during_freeze) == set()
	window_names("models", during_freeze) == set()
}

# --- Inputs ----------------------------------------------------------------------

config := {
	"enforcement": "enforce",
	"initialCanaryPercent": 10,
	"maxStepPercent": 25,
	"onModelChange": "inject",
	"tagRouting": "inject",
	"midRolloutModelChange": "restart",
	"requireReadyCanary": true,
	"minStepIntervalSeconds": 0,
	"override": {"groups": ["sre-oncall"]},
	"exempt": {"users": [], "groups": []},
	"defaultDeploymentMode": "Knative",
	"serviceAnnotationDisallowedList": [],
}

# A Knative predictor whose canaryTrafficPercent goes from old to new
# (null = absent, 100 % to the latest revision).
predictor(old, new, over) := object.union(
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

model_change := {
	"modelChanged": true, "revisionChanged": true,
	"oldModel": "gs://models/v2", "newModel": "gs://models/v3",
	"changedFields": ["spec.predictor.model.storageUri"],
}

update(namespace, components) := {
	"version": "v1",
	"request": {
		"operation": "UPDATE", "namespace": namespace, "name": "my-model", "dryRun": false,
		"user": {"username": "alice", "groups": ["ml-engineers"]},
	},
	"config": config,
	"rollout": {
		"operation": "UPDATE", "deploymentMode": "Knative", "rolloutMode": "Knative", "deploymentModeSource": "status",
		"components": components,
		"modelChanged": any_of(components, "modelChanged"),
		"revisionChanged": any_of(components, "revisionChanged"),
		"percentChanged": any_of(components, "percentChanged"),
		"raised": raised(components),
		"metadataChanged": [], "internalAnnotationsChanged": [],
		"tagRouting": {"old": true, "new": true},
		"override": {"requested": false, "reason": "", "allowed": false, "active": false},
		"step": {"lastStepAt": "", "secondsSinceLastStep": -1},
		"alwaysAdmit": false, "alwaysAdmitReason": "",
	},
}

any_of(components, key) if {
	some c in components
	c[key]
} else := false

raised(components) if {
	some c in components
	c.newEffectivePercent > c.oldEffectivePercent
} else := false

# The change-freeze messages for an input at a time.
freeze_denials(inp, now) := {d.msg |
	some d in all_denials(inp, now)
	d.rule == "change-freeze"
}

all_denials(inp, now) := denials if {
	denials := canary_guard.deny with input as inp with time.now_ns as now
}

# --- The rules -------------------------------------------------------------------

test_model_change_denied_during_freeze if {
	freeze_denials(update("prod-eu", [predictor(null, 10, model_change)]), during_freeze) == {
		`spec.predictor: a model change (gs://models/v2 → gs://models/v3) during the change freeze "year-end 2026" (2026-12-18T17:00:00Z to 2027-01-04T08:00:00Z, namespaces prod-*); no model change or traffic rise is allowed until it ends. Apply this change after 2027-01-04T08:00:00Z, or ask an override group member to set canary-guard.dev/override with the reason.`,
	}
}

test_rise_denied_during_freeze if {
	freeze_denials(update("prod-eu", [predictor(10, 35, {})]), during_freeze) == {
		`spec.predictor.canaryTrafficPercent 10 → 35 raises traffic during the change freeze "year-end 2026" (2026-12-18T17:00:00Z to 2027-01-04T08:00:00Z, namespaces prod-*); no traffic rise or model change is allowed until it ends. Keep the current split until 2027-01-04T08:00:00Z, or set spec.predictor.canaryTrafficPercent: 0 to roll back.`,
	}
}

test_promotion_denied_during_freeze if {
	msgs := freeze_denials(update("prod-eu", [predictor(85, null, {})]), during_freeze)
	count(msgs) == 1
	some msg in msgs
	startswith(msg, "spec.predictor.canaryTrafficPercent 85 → absent (100 %) raises traffic during the change freeze")
}

test_standard_entry_rise_denied_during_freeze if {
	entry := predictor(10, 35, {
		"id": "canary:v2", "kind": "canary", "name": "v2",
		"path": "spec.canary[0]", "percentField": "trafficPercent",
	})
	some msg in freeze_denials(update("prod-eu", [predictor(null, null, {}), entry]), during_freeze)
	endswith(msg, "Keep the current split until 2027-01-04T08:00:00Z, or remove the entry to roll back.")
}

test_rise_admitted_outside_freeze if {
	freeze_denials(update("prod-eu", [predictor(10, 35, {})]), before_freeze) == set()
	freeze_denials(update("prod-eu", [predictor(10, 35, {})]), freeze_end) == set()
}

test_rise_admitted_in_other_namespaces if {
	freeze_denials(update("models", [predictor(10, 35, {})]), during_freeze) == set()
}

# Rollbacks and lowered percents are neither rises nor model changes; canary-guard
# would admit them anyway (input.rollout.alwaysAdmit).
test_rollback_and_lowering_not_denied if {
	freeze_denials(update("prod-eu", [predictor(35, 0, {})]), during_freeze) == set()
	freeze_denials(update("prod-eu", [predictor(35, 20, {})]), during_freeze) == set()
}

test_revision_change_without_model_change_not_denied if {
	resources := predictor(null, null, {"revisionChanged": true, "changedFields": ["spec.predictor.model.resources"]})
	freeze_denials(update("prod-eu", [resources]), during_freeze) == set()
}
