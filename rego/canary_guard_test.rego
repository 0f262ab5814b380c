# Unit tests of the shipped rollout rules (rego/canary_guard.rego).
#
# Run with `opa test -v rego/`; policy.TestRegoUnitTests runs them from
# `go test` too. Inputs follow policy/input.go: input.rollout carries the
# facts canary-guard computed, input.config the namespace settings. Each
# test builds its input from the helpers below and overrides only what
# the behaviour under test needs.
package canary_guard_test

import data.canary_guard

# --- Input builders -----------------------------------------------------------

# The default settings (policy.DefaultSettings), as input.config sees them.
base_config := {
	"enforcement": "enforce",
	"ruleEnforcement": {},
	"initialCanaryPercent": 10,
	"maxStepPercent": 25,
	"onModelChange": "inject",
	"tagRouting": "inject",
	"midRolloutModelChange": "restart",
	"requireReadyCanary": true,
	"minStepIntervalSeconds": 0,
	"override": {"groups": []},
	"exempt": {"users": [], "groups": []},
	"defaultDeploymentMode": "Knative",
	"serviceAnnotationDisallowedList": [],
}

base_request := {
	"operation": "UPDATE",
	"namespace": "models",
	"name": "my-model",
	"dryRun": false,
	"user": {"username": "alice", "groups": ["ml-engineers"]},
}

base_rollout := {
	"operation": "UPDATE",
	"deploymentMode": "Knative",
	"deploymentModeSource": "status",
	"components": [],
	"metadataChanged": [],
	"internalAnnotationsChanged": [],
	"internalAnnotationsOld": {},
	"tagRouting": {"old": true, "new": true},
	"stopped": {"old": false, "new": false},
	"anyStopped": false,
	"firstRolloutPending": false,
	"notRolledOut": false,
	"modelChangedAtZero": false,
	"runsUnderStop": false,
	"stopChanged": false,
	"autoUpdateDisabled": {"old": false, "new": false},
	"statusReady": true,
	"override": {"requested": false, "reason": "", "allowed": false, "active": false},
	"step": {"lastStepAt": "", "secondsSinceLastStep": -1},
	"alwaysAdmit": false,
	"alwaysAdmitReason": "",
	"predictorName": "",
	"predictorRenamed": false,
	"multiNode": false,
}

# A predictor that exists before and after the update and changes nothing:
# every field the bundle reads, with a ready canary revision in status.
base_component := {
	"id": "predictor",
	"kind": "predictor",
	"name": "predictor",
	"path": "spec.predictor",
	"percentField": "canaryTrafficPercent",
	"inOld": true,
	"inNew": true,
	"changedFields": [],
	"modelChanged": false,
	"revisionChanged": false,
	"oldModel": "gs://models/v1",
	"newModel": "gs://models/v1",
	"oldPercent": null,
	"newPercent": null,
	"oldEffectivePercent": 100,
	"newEffectivePercent": 100,
	"percentChanged": false,
	"canaryInProgress": false,
	"stopped": {"old": false, "new": false},
	"serviceStopped": false,
	"firstRolloutPending": false,
	"notRolledOut": false,
	"splitsWithItself": false,
	"runsUnderStop": false,
	"routesMissingRevision": false,
	"stableRevision": "my-model-predictor-00001",
	"previousRevision": "my-model-predictor-00000",
	"latestReadyRevision": "my-model-predictor-00002",
	"latestCreatedRevision": "my-model-predictor-00002",
	"servedRevision": "",
	"canaryReady": "true",
	"canaryReadyReason": "revision my-model-predictor-00002 is ready",
	"promotedCanary": "",
	"promotedCanaryPercent": 0,
	"promotedCanaryChangedFields": [],
	"promotionRestarts": false,
	"modelMesh": false,
	"promotableByRename": false,
	"versionSelectsRuntime": false,
	"runtimeUnpinned": false,
	"unreadFormatName": "",
	"runtimeInUse": "",
	"replicas": null,
}

# The model of a component changes (v1 -> v2), which creates a revision.
model_change := {
	"modelChanged": true,
	"revisionChanged": true,
	"newModel": "gs://models/v2",
	"changedFields": ["model.storageUri"],
}

# Only a revision-relevant, non-model field changes.
revision_change := {"revisionChanged": true, "changedFields": ["minReplicas"]}

not_ready := {
	"canaryReady": "false",
	"canaryReadyReason": "revision my-model-predictor-00002 is not ready (latest ready: my-model-predictor-00001)",
}

ready_unknown := {"canaryReady": "unknown", "canaryReadyReason": "status has no revisions for predictor"}

# Knative percents as policy/facts.go records them: null is absent, whose
# effective percent is 100.
knative_percents(old, new) := {
	"oldPercent": old,
	"newPercent": new,
	"oldEffectivePercent": effective(old),
	"newEffectivePercent": effective(new),
	"percentChanged": old != new,
	"canaryInProgress": in_progress(old),
}

effective(p) := 100 if p == null

effective(p) := p if p != null

in_progress(p) if {
	is_number(p)
	p > 0
	p < 100
} else := false

component(over) := object.union(base_component, over)

# predictor(old, new, over): the predictor's canaryTrafficPercent goes from
# old to new (null = absent); over overrides any other field.
predictor(old, new, over) := component(object.union(knative_percents(old, new), over))

transformer(old, new, over) := predictor(old, new, object.union(component_identity("transformer"), over))

explainer(old, new, over) := predictor(old, new, object.union(component_identity("explainer"), over))

component_identity(kind) := {
	"id": kind,
	"kind": kind,
	"name": kind,
	"path": sprintf("spec.%s", [kind]),
	"oldModel": sprintf("registry.example/%s:v1", [kind]),
	"newModel": sprintf("registry.example/%s:v1", [kind]),
	"stableRevision": sprintf("my-model-%s-00001", [kind]),
	"previousRevision": sprintf("my-model-%s-00000", [kind]),
	"latestReadyRevision": sprintf("my-model-%s-00002", [kind]),
	"latestCreatedRevision": sprintf("my-model-%s-00002", [kind]),
	"canaryReadyReason": sprintf("revision my-model-%s-00002 is ready", [kind]),
}

container_change(kind) := object.union(model_change, {"newModel": sprintf("registry.example/%s:v2", [kind])})

# canary_entry(name, index, old, new, over): a Standard-mode spec.canary[]
# entry whose trafficPercent goes from old to new (null = no entry).
canary_entry(name, index, old, new, over) := component(object.union(
	{
		"id": sprintf("canary:%s", [name]),
		"kind": "canary",
		"name": name,
		"path": sprintf("spec.canary[%d]", [index]),
		"percentField": "trafficPercent",
		"inOld": old != null,
		"inNew": new != null,
		"newModel": "gs://models/v2",
		"oldModel": old_entry_model(old),
		"oldPercent": old,
		"newPercent": new,
		"oldEffectivePercent": entry_effective(old),
		"newEffectivePercent": entry_effective(new),
		"percentChanged": old != new,
		"canaryInProgress": old != null,
		"promotableByRename": old != null,
		"canaryReady": "true",
		"canaryReadyReason": sprintf("canary %s is ready", [name]),
	},
	over,
))

entry_effective(p) := 0 if p == null

entry_effective(p) := p if p != null

# A new entry is compared with the stable predictor: its model changes.
old_entry_model(p) := "gs://models/v1" if p == null

old_entry_model(p) := "gs://models/v2" if p != null

new_entry := {"modelChanged": true, "revisionChanged": true}

# The Standard-mode stable predictor: no percent, status readiness unknown.
standard_predictor(over) := predictor(null, null, object.union(ready_unknown, over))

# make_input builds the whole input document from overrides of the
# rollout facts and of the settings.
make_input(rollout_over, config_over) := {
	"version": "v1",
	"request": object.union(base_request, {"operation": r.operation}),
	"rollout": r,
	"config": object.union(base_config, config_over),
} if {
	r1 := object.union(base_rollout, rollout_over)

	# As canary-guard sets it: the deployment mode, unless a test sets
	# it (a ModelMesh InferenceService with a transformer: Knative).
	mode := object.get(rollout_over, "rolloutMode", r1.deploymentMode)
	r0 := object.union(r1, {"components": [routed(c, mode) | some c in r1.components]})
	r := object.union(r0, {
		# KServe accepts spec.canary[] entries in Standard mode only.
		"canaryEntriesAccepted": object.get(r0, "canaryEntriesAccepted", r0.deploymentMode == "Standard"),
		"rolloutMode": mode,
		"modelChanged": count([c | some c in r0.components; c.modelChanged]) > 0,
		"revisionChanged": count([c | some c in r0.components; c.revisionChanged]) > 0,
		"percentChanged": count([c | some c in r0.components; c.percentChanged]) > 0,
		"versionSelectsRuntime": count([c | some c in r0.components; object.get(c, "versionSelectsRuntime", false)]) > 0,
		"runtimeUnpinned": count([c | some c in r0.components; object.get(c, "runtimeUnpinned", false)]) > 0,
		"raised": count([c | some c in r0.components; raises(c)]) > 0,
		"raisedFromZero": count([c | some c in r0.components; c.newEffectivePercent > c.oldEffectivePercent; c.oldEffectivePercent == 0]) > 0,
		"percentOutOfRange": count([c | some c in r0.components; out_of_range(c)]) > 0,
		"componentAdded": count([c | some c in r0.components; r0.operation == "UPDATE"; c.kind != "canary"; c.inNew; c.inOld == false]) > 0,
		"componentRemoved": count([c | some c in r0.components; r0.operation == "UPDATE"; c.kind != "canary"; c.inOld; c.inNew == false]) > 0,
	})
}

# routed mirrors setPercents in policy/facts.go: where canaryTrafficPercent
# routes nothing (Standard mode, ModelMesh), the one model takes all
# traffic whatever it says.
routed(c, mode) := object.union(c, {"oldEffectivePercent": 100, "newEffectivePercent": 100, "canaryInProgress": false}) if {
	c.kind != "canary"
	routes_nothing(c, mode)
} else := c

routes_nothing(_, mode) if mode != "Knative"

routes_nothing(c, _) if object.get(c, "modelMesh", false)

# out_of_range mirrors Facts.PercentOutOfRange.
out_of_range(c) if {
	c.inNew
	c.newPercent != null
	c.newPercent < 0
}

out_of_range(c) if {
	c.inNew
	c.newPercent != null
	c.newPercent > 100
}

# raises mirrors Facts.Raised in policy/facts.go.
raises(c) if c.newEffectivePercent > c.oldEffectivePercent

raises(c) if c.promotedCanary != ""

knative_update(components) := make_input({"components": components}, {})

knative_update_with(components, config_over) := make_input({"components": components}, config_over)

standard_update(components) := make_input({"deploymentMode": "Standard", "components": components}, {})

standard_update_with(components, config_over) := make_input(
	{"deploymentMode": "Standard", "components": components},
	config_over,
)

# On CREATE canary-guard compares the object with itself: every component
# is in old and new, and nothing changes.
create_input(mode, components) := make_input({"operation": "CREATE", "deploymentMode": mode, "components": components}, {})

with_request(inp, over) := object.union(inp, {"request": over})

# --- Assertion helpers ----------------------------------------------------------

deny_of(inp) := result if {
	result := canary_guard.deny with input as inp
}

warn_of(inp) := result if {
	result := canary_guard.warn with input as inp
}

rules(set) := {v.rule | some v in set}

# fires holds when set has a violation of rule whose message contains
# every one of parts.
fires(set, rule, parts) if {
	some v in set
	v.rule == rule
	every p in parts {
		contains(v.msg, p)
	}
}

# --- Knative: a model change must enter as a canary ------------------------------

test_model_change_without_percent_is_denied if {
	d := deny_of(knative_update([predictor(null, null, model_change)]))
	rules(d) == {"canary-required"}
	fires(d, "canary-required", [
		"spec.predictor needs a canary. Set spec.predictor.canaryTrafficPercent: 10 in the same update: the model changes from gs://models/v1 to gs://models/v2",
		"100 % of traffic",
		"at most 10 %",
		"Set spec.predictor.canaryTrafficPercent: 10 in the same update",
	])
}

# During a canary, a model change without a percent is often a Git revert
# meant as the rollback: the denial says how to roll back, and why the
# revert is none (KServe sends all traffic to the canary until the new
# revision is ready).
test_model_change_without_percent_during_a_canary_names_the_rollback if {
	d := deny_of(knative_update([predictor(10, null, mid_rollout_change)]))
	rules(d) == {"canary-required"}
	fires(d, "canary-required", [
		"Set spec.predictor.canaryTrafficPercent: 10 in the same update",
		"To roll the canary back instead, leave the model as it is and set spec.predictor.canaryTrafficPercent: 0;",
		"the canary my-model-predictor-00002, until the new one is ready.",
	])
	not fires(deny_of(knative_update([predictor(null, null, model_change)])), "canary-required", ["roll the canary back"])
}

# A canary that never became ready is not the latest ready revision:
# without a percent Knative keeps the traffic on the one that is (here the
# stable revision) until the new revision is ready, and the hint names it.
test_model_change_without_percent_during_an_unready_canary_names_the_latest_ready_revision if {
	c := predictor(10, null, object.union_n([mid_rollout_change, not_ready, {"latestReadyRevision": "my-model-predictor-00001"}]))
	d := deny_of(knative_update([c]))
	fires(d, "canary-required", [
		"set spec.predictor.canaryTrafficPercent: 0;",
		"the latest ready revision, my-model-predictor-00001 (the canary my-model-predictor-00002 is not ready), until the new one is ready.",
	])
	not fires(d, "canary-required", ["the canary my-model-predictor-00002, until"])
	unknown := predictor(10, null, object.union(mid_rollout_change, {"latestReadyRevision": "", "latestCreatedRevision": ""}))
	fires(deny_of(knative_update([unknown])), "canary-required", ["the latest ready revision, (unknown: status has none), until"])
}

test_model_change_from_unset_model_names_it_not_set if {
	d := deny_of(knative_update([predictor(null, null, object.union(model_change, {"oldModel": ""}))]))
	fires(d, "canary-required", ["from (not set) to gs://models/v2"])
}

test_model_change_at_initial_percent_is_allowed if {
	d := deny_of(knative_update([predictor(null, 10, model_change)]))
	count(d) == 0
}

test_model_change_below_initial_percent_is_allowed if {
	d := deny_of(knative_update([predictor(null, 0, model_change)]))
	count(d) == 0
}

test_model_change_above_initial_percent_is_denied if {
	d := deny_of(knative_update([predictor(null, 30, model_change)]))
	rules(d) == {"initial-percent"}
	fires(d, "initial-percent", [
		"spec.predictor: the new model gs://models/v2 would enter with canaryTrafficPercent 30",
		"at most 10",
		"Set spec.predictor.canaryTrafficPercent: 10 (or less) now",
	])
}

test_model_change_at_explicit_100_is_denied if {
	d := deny_of(knative_update([predictor(null, 100, model_change)]))
	rules(d) == {"initial-percent"}
	fires(d, "initial-percent", ["would enter with canaryTrafficPercent 100", "at most 10"])
}

test_initial_percent_follows_config if {
	inp := knative_update_with([predictor(null, 20, model_change)], {"initialCanaryPercent": 20})
	count(deny_of(inp)) == 0
	d := deny_of(knative_update_with([predictor(null, 21, model_change)], {"initialCanaryPercent": 20}))
	fires(d, "initial-percent", ["enter with canaryTrafficPercent 21", "at most 20"])
}

test_percent_above_100_is_denied if {
	d := deny_of(knative_update([predictor(10, 150, {})]))
	rules(d) == {"percent-range"}
	fires(d, "percent-range", [
		"spec.predictor.canaryTrafficPercent 150 is outside 0..100",
		"Knative would reject it",
		"Set 35 now, or 0 to roll back.",
	])
}

test_negative_percent_is_denied if {
	d := deny_of(knative_update([predictor(10, -5, {})]))
	fires(d, "percent-range", ["canaryTrafficPercent -5 is outside 0..100", "Set 35 now, or 0 to roll back."])
}

# The value to set instead is one the other rules admit: not "0 to 100"
# when max-step, canary-not-ready or initial-percent would refuse most of it.
test_percent_range_names_what_the_other_rules_admit if {
	fires(deny_of(knative_update([predictor(10, 150, not_ready)])), "percent-range", ["Once the canary is ready, set 35, or 0 to roll back."])
	fires(deny_of(knative_update([predictor(0, 150, {})])), "percent-range", ["Set 10 now, or leave it at 0."])
	fires(deny_of(knative_update([predictor(null, 150, model_change)])), "percent-range", [
		"A new model may enter with at most 10 %: set spec.predictor.canaryTrafficPercent: 10 (or less).",
	])
	fires(deny_of(knative_update([predictor(null, 150, {})])), "percent-range", ["Remove it to keep all traffic on the current model, or set 0 to roll back."])
	inp := knative_update_with([predictor(35, 150, mid_rollout_change)], {"midRolloutModelChange": "deny"})
	fires(deny_of(inp), "percent-range", ["Leave it at 35 and the model as it was."])
	fires(deny_of(inp), "mid-rollout", ["Roll it back first (set spec.predictor.canaryTrafficPercent: 0"])
}

test_negative_percent_after_promotion_is_only_a_range_denial if {
	inp := knative_update([predictor(null, -5, {})])
	rules(deny_of(inp)) == {"percent-range"}
	not "traffic-to-previous" in rules(warn_of(inp))
}

test_out_of_range_percent_on_model_change_is_only_a_range_denial if {
	d := deny_of(knative_update([predictor(null, 150, model_change)]))
	rules(d) == {"percent-range"}
}

test_percents_0_and_100_are_in_range if {
	not "percent-range" in rules(deny_of(knative_update([predictor(10, 0, {})])))
	not "percent-range" in rules(deny_of(knative_update([predictor(80, 100, {})])))
}

# --- Knative: step size --------------------------------------------------------

test_jump_above_step_is_denied if {
	d := deny_of(knative_update([predictor(10, null, {})]))
	rules(d) == {"max-step"}
	fires(d, "max-step", [
		"spec.predictor.canaryTrafficPercent 10 → absent (100 %)",
		"rises by 90",
		"at most 25 per update",
		"Set 35 now",
		"0 to roll back",
	])
}

test_rise_within_step_is_allowed if {
	d := deny_of(knative_update([predictor(10, 35, {})]))
	count(d) == 0
}

test_rise_one_above_step_is_denied if {
	d := deny_of(knative_update([predictor(10, 36, {})]))
	fires(d, "max-step", ["10 → 36 rises by 26", "at most 25 per update", "Set 35 now"])
}

# From 0 (a canary rolled back, or a new model deployed dark) traffic
# re-enters as a new model would: at most the initial percent.
test_rise_from_rollback_is_capped_at_the_initial_percent if {
	d := deny_of(knative_update([predictor(0, 25, {})]))
	fires(d, "max-step", ["0 → 25 rises by 25; at most 10 from 0 %, as for a new model.", "Set 10 now, or leave it at 0."])
	count(deny_of(knative_update([predictor(0, 10, {})]))) == 0
	inp := knative_update_with([predictor(0, 30, {})], {"initialCanaryPercent": 30})
	count(deny_of(inp)) == 0
}

test_promotion_by_removing_field_from_75_is_allowed if {
	d := deny_of(knative_update([predictor(75, null, {})]))
	count(d) == 0
}

test_promotion_by_removing_field_from_50_is_denied if {
	d := deny_of(knative_update([predictor(50, null, {})]))
	rules(d) == {"max-step"}
	fires(d, "max-step", ["50 → absent (100 %) rises by 50", "at most 25 per update", "Set 75 now", "0 to roll back"])
}

# Past generation 1 a percent splitting the one revision with itself is
# still capped (the status may predate a model change), and the denial
# says why the steps look idle.
test_promotion_of_a_revision_split_with_itself_is_capped_and_says_why if {
	self_split := {
		"splitsWithItself": true,
		"stableRevision": "my-model-predictor-00002",
		"latestReadyRevision": "my-model-predictor-00002",
		"latestCreatedRevision": "my-model-predictor-00002",
	}
	d := deny_of(knative_update([predictor(10, null, self_split)]))
	rules(d) == {"max-step"}
	fires(d, "max-step", [
		"10 → absent (100 %) rises by 90",
		"Set 35 now",
		"Set 35 now, or 0 to roll back. The status shows one revision, my-model-predictor-00002, on both sides of spec.predictor.canaryTrafficPercent, so these steps move no traffic unless the model changed after that status was written, which canary-guard cannot rule out (0 would keep my-model-predictor-00002 too).",
	])
	not fires(deny_of(knative_update([predictor(10, null, {})])), "max-step", ["with itself"])
}

test_promotion_to_explicit_100_from_75_is_allowed if {
	d := deny_of(knative_update([predictor(75, 100, {})]))
	count(d) == 0
}

test_promotion_to_explicit_100_from_50_is_denied if {
	d := deny_of(knative_update([predictor(50, 100, {})]))
	fires(d, "max-step", ["50 → 100 rises by 50", "Set 75 now"])
}

test_max_step_follows_config if {
	count(deny_of(knative_update_with([predictor(10, 60, {})], {"maxStepPercent": 50}))) == 0
	d := deny_of(knative_update_with([predictor(10, null, {})], {"maxStepPercent": 50}))
	fires(d, "max-step", ["rises by 90", "at most 50 per update", "Set 60 now"])
}

test_lowering_is_not_denied if {
	count(deny_of(knative_update([predictor(35, 10, {})]))) == 0
	count(deny_of(knative_update([predictor(null, 10, revision_change)]))) == 0
}

test_model_change_is_not_a_step if {
	# 0 -> 10 with a new model: initial-percent governs, not max-step.
	d := deny_of(knative_update([predictor(0, 10, model_change)]))
	count(d) == 0
}

test_unchanged_percent_is_allowed if {
	count(deny_of(knative_update([predictor(35, 35, revision_change)]))) == 0
	count(deny_of(knative_update([predictor(null, null, revision_change)]))) == 0
}

# --- Knative: canary readiness ---------------------------------------------------

test_rise_while_canary_not_ready_is_denied if {
	d := deny_of(knative_update([predictor(10, 35, not_ready)]))
	rules(d) == {"canary-not-ready"}
	fires(d, "canary-not-ready", [
		"spec.predictor.canaryTrafficPercent 10 → 35 raises traffic while the canary is not ready",
		"revision my-model-predictor-00002 is not ready (latest ready: my-model-predictor-00001)",
		"Wait until it is ready",
		"set 0 to roll back",
		"Watch it with: kubectl get inferenceservice my-model -n models -w (LATESTREADYREVISION)",
	])
}

test_promotion_while_canary_not_ready_is_denied if {
	d := deny_of(knative_update([predictor(75, null, not_ready)]))
	fires(d, "canary-not-ready", ["75 → absent (100 %) raises traffic while the canary is not ready"])
}

test_rise_with_readiness_unknown_is_warned if {
	inp := knative_update([predictor(10, 35, ready_unknown)])
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"canary-ready-unknown"}
	fires(w, "canary-ready-unknown", [
		"spec.predictor.canaryTrafficPercent 10 → 35",
		"does not say whether the canary is ready (status has no revisions for predictor)",
		"so readiness was not checked",
		"Check the canary before the next step",
	])
}

test_rise_with_ready_canary_is_not_warned if {
	w := warn_of(knative_update([predictor(10, 35, {})]))
	count(w) == 0
}

test_readiness_is_not_checked_when_require_ready_canary_is_false if {
	cfg := {"requireReadyCanary": false}
	count(deny_of(knative_update_with([predictor(10, 35, not_ready)], cfg))) == 0
	count(warn_of(knative_update_with([predictor(10, 35, ready_unknown)], cfg))) == 0
}

test_lowering_while_canary_not_ready_is_allowed if {
	inp := knative_update([predictor(35, 10, not_ready)])
	count(deny_of(inp)) == 0
	count(warn_of(inp)) == 0
}

# From 0 (rolled back, or a model launched dark), setting 0 is no way
# back: the denials of a rise say to leave it there.
test_rise_from_zero_names_no_rollback_to_zero if {
	d := deny_of(knative_update([predictor(0, 10, not_ready)]))
	fires(d, "canary-not-ready", ["0 → 10 raises traffic", "Wait until it is ready, then raise it; or leave it at 0."])
	fires(d, "canary-not-ready", ["If it has failed (the InferenceService's status.conditions say why), change the model again with spec.predictor.canaryTrafficPercent: 10: the fix replaces this canary."])
	refused := deny_of(object.union(knative_update([predictor(0, 10, not_ready)]), {"config": {"midRolloutModelChange": "deny"}}))
	not fires(refused, "canary-not-ready", ["change the model again"])
	not fires(d, "canary-not-ready", ["set 0 to roll back"])
	d2 := deny_of(interval_update([predictor(0, 10, {})], 120, 600))
	fires(d2, "step-interval", ["Raise it at or after 2026-11-25T12:05:00Z, or leave it at 0."])
}

# --- Knative: step interval ---------------------------------------------------

step_at(seconds) := {"step": {"lastStepAt": "2026-11-25T11:55:00Z", "secondsSinceLastStep": seconds}}

interval_update(components, seconds, interval) := make_input(
	object.union(step_at(seconds), {"components": components}),
	{"minStepIntervalSeconds": interval},
)

test_rise_before_step_interval_is_denied if {
	d := deny_of(interval_update([predictor(10, 35, {})], 120, 600))
	rules(d) == {"step-interval"}
	fires(d, "step-interval", [
		"spec.predictor.canaryTrafficPercent 10 → 35 comes 120 s after the last step (2026-11-25T11:55:00Z)",
		"steps need 600 s between them",
		"Raise it at or after 2026-11-25T12:05:00Z",
		"set 0 to roll back",
	])
}

test_rise_after_step_interval_is_allowed if {
	count(deny_of(interval_update([predictor(10, 35, {})], 600, 600))) == 0
	count(deny_of(interval_update([predictor(10, 35, {})], 3600, 600))) == 0
}

test_step_interval_is_off_when_zero if {
	count(deny_of(interval_update([predictor(10, 35, {})], 5, 0))) == 0
}

test_step_interval_without_stamp_is_allowed if {
	inp := make_input({"components": [predictor(10, 35, {})]}, {"minStepIntervalSeconds": 600})
	count(deny_of(inp)) == 0
}

test_lowering_before_step_interval_is_allowed if {
	count(deny_of(interval_update([predictor(35, 10, {})], 5, 600))) == 0
}

# A jump before the interval is up: max-step's next step must not say
# "now" while step-interval refuses any rise until later.
test_max_step_next_step_waits_for_step_interval if {
	d := deny_of(interval_update([predictor(10, 60, {})], 120, 600))
	rules(d) == {"max-step", "step-interval"}
	fires(d, "max-step", ["At or after 2026-11-25T12:05:00Z, set 35, or 0 to roll back."])
	not fires(d, "max-step", ["now"])
	fires(d, "step-interval", ["Raise it at or after 2026-11-25T12:05:00Z"])
}

test_max_step_next_step_waits_for_ready_canary_and_step_interval if {
	d := deny_of(interval_update([predictor(10, 60, not_ready)], 120, 600))
	fires(d, "max-step", ["Once the canary is ready, and at or after 2026-11-25T12:05:00Z, set 35, or 0 to roll back."])
}

test_standard_max_step_next_step_waits_for_step_interval if {
	inp := make_input(
		{
			"deploymentMode": "Standard",
			"components": [standard_predictor({}), canary_entry("v2", 0, 10, 60, {})],
			"step": {"lastStepAt": "2026-11-25T12:00:00Z", "secondsSinceLastStep": 60},
		},
		{"minStepIntervalSeconds": 300},
	)
	d := deny_of(inp)
	rules(d) == {"max-step", "step-interval"}
	fires(d, "max-step", ["At or after 2026-11-25T12:05:00Z, set 35, or remove the entry to roll back."])
}

test_max_step_next_step_is_now_once_step_interval_is_up if {
	d := deny_of(interval_update([predictor(10, 60, {})], 600, 600))
	rules(d) == {"max-step"}
	fires(d, "max-step", ["Set 35 now"])
}

# --- Knative: a model change during a canary -------------------------------------

mid_rollout_change := object.union(model_change, {"newModel": "gs://models/v3"})

test_model_change_mid_rollout_is_denied_when_configured if {
	inp := knative_update_with([predictor(35, 10, mid_rollout_change)], {"midRolloutModelChange": "deny"})
	d := deny_of(inp)
	rules(d) == {"mid-rollout"}
	fires(d, "mid-rollout", [
		"spec.predictor: a canary is running at 35 % (revision my-model-predictor-00002)",
		"does not let a new model (gs://models/v3) replace it",
		"Roll it back first (set spec.predictor.canaryTrafficPercent: 0, keeping the model it runs), then change the model; or finish the rollout first (next: set ",
	])
	not "mid-rollout-restart" in rules(warn_of(inp))
}

test_model_change_mid_rollout_denied_names_only_the_way_out if {
	# Whatever percent comes with it, asking for another would not help.
	every new in [35, null, 100] {
		d := deny_of(knative_update_with([predictor(35, new, mid_rollout_change)], {"midRolloutModelChange": "deny"}))
		rules(d) == {"mid-rollout"}
	}
}

test_model_change_mid_rollout_relaxed_still_enters_as_a_canary if {
	# mid-rollout set to audit or warn admits the new model: the rules that
	# stood down for it ask for the initial percent again.
	every mode in ["audit", "warn"] {
		inp := knative_update_with(
			[predictor(35, 35, mid_rollout_change)],
			{"midRolloutModelChange": "deny", "ruleEnforcement": {"mid-rollout": mode}},
		)
		rules(deny_of(inp)) == {"mid-rollout", "initial-percent"}
	}

	# Set to enforce, or relaxed in a namespace already as lenient, it
	# still speaks alone.
	every cfg in [
		{"midRolloutModelChange": "deny", "ruleEnforcement": {"mid-rollout": "enforce"}},
		{"midRolloutModelChange": "deny", "enforcement": "audit", "ruleEnforcement": {"mid-rollout": "audit"}},
	] {
		rules(deny_of(knative_update_with([predictor(35, 35, mid_rollout_change)], cfg))) == {"mid-rollout"}
	}
}

test_standard_entry_model_change_mid_rollout_denied_names_only_the_way_out if {
	inp := standard_update_with(
		[standard_predictor({}), canary_entry("v2", 0, 35, 35, {"modelChanged": true, "revisionChanged": true})],
		{"midRolloutModelChange": "deny"},
	)
	rules(deny_of(inp)) == {"mid-rollout"}
}

test_model_change_mid_rollout_restarts_with_warning if {
	inp := knative_update([predictor(35, 10, mid_rollout_change)])
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"mid-rollout-restart"}
	fires(w, "mid-rollout-restart", [
		"spec.predictor: the new model gs://models/v3 replaces the in-flight canary revision my-model-predictor-00002 (was at 35 %)",
		"it re-enters at 10 %",
		"prev stays on my-model-predictor-00001",
	])
}

# Knative's latestRevision target follows the latest ready revision: a
# canary that never became ready took none of its percent.
test_model_change_replacing_a_canary_not_yet_ready_says_so if {
	never := object.union(mid_rollout_change, {"latestReadyRevision": "my-model-predictor-00001"})
	inp := knative_update([predictor(35, 10, never)])
	fires(warn_of(inp), "mid-rollout-restart", [
		"replaces revision my-model-predictor-00002, which has not become ready (its 35 % stayed on my-model-predictor-00001)",
	])
}

test_model_change_after_full_promotion_is_not_mid_rollout if {
	inp := knative_update_with([predictor(null, 10, model_change)], {"midRolloutModelChange": "deny"})
	count(deny_of(inp)) == 0
	count(warn_of(inp)) == 0
}

test_model_change_after_rollback_to_0_is_not_mid_rollout if {
	inp := knative_update_with([predictor(0, 10, model_change)], {"midRolloutModelChange": "deny"})
	count(deny_of(inp)) == 0
	count(warn_of(inp)) == 0
}

# --- Knative: traffic back to the previous model ---------------------------------

# The status after the controller has seen a promotion: the promoted
# revision is the rolled-out one, the one before it previous.
promoted_status := {"stableRevision": "my-model-predictor-00002", "previousRevision": "my-model-predictor-00001"}

test_percent_set_without_revision_after_promotion_is_warned if {
	inp := knative_update([predictor(null, 10, promoted_status)])
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"traffic-to-previous"}
	fires(w, "traffic-to-previous", [
		"spec.predictor.canaryTrafficPercent set to 10 with no model change after a full promotion",
		"90 % of traffic goes back to the previous model (revision my-model-predictor-00001)",
		"To keep all traffic on the current model, leave the field unset",
		"going back to 100 % is a rise in capped steps: set 35 next.",
	])
}

# A manifest from Git carries no status: the warning says what it cannot tell.
test_percent_set_without_status_says_the_status_is_unknown if {
	no_status := {"stableRevision": "", "previousRevision": "", "latestReadyRevision": "", "latestCreatedRevision": ""}
	fires(warn_of(knative_update([predictor(null, 35, no_status)])), "traffic-to-previous", [
		"set to 35 with no model change, and the stored object shows no status to tell what runs",
		"if its last model change is fully promoted, 65 % of traffic goes back to the previous model",
		"kubectl get inferenceservice my-model -n models -o yaml",
	])
}

# One revision, never rolled out over another: KServe splits it with itself.
test_traffic_to_previous_is_silent_without_a_previous_revision if {
	first := {"stableRevision": "my-model-predictor-00001", "latestReadyRevision": "my-model-predictor-00001", "latestCreatedRevision": "my-model-predictor-00001", "previousRevision": ""}
	not "traffic-to-previous" in rules(warn_of(knative_update([predictor(null, 50, first)])))
}

# A rollback right after a promotion the controller has not yet seen
# (status still shows the rollout at 85 %: rolled out 00001, latest ready
# 00002): KServe's prev target is still 00001, not the revision before it.
test_traffic_to_previous_names_the_stable_until_the_promotion_is_seen if {
	w := warn_of(knative_update([predictor(null, 0, {})]))
	fires(w, "traffic-to-previous", ["100 % of traffic goes back to the previous model (revision my-model-predictor-00001)"])
}

# After a component stopped on its own was resumed and rolled out, the
# previous rolled-out revision is the deleted service's: a split names it,
# Knative refuses the route, and no traffic moves.
test_traffic_to_previous_of_a_deleted_service_says_no_traffic_moves if {
	resumed := {"stableRevision": "my-model-predictor-00001", "latestReadyRevision": "my-model-predictor-00001", "latestCreatedRevision": "my-model-predictor-00001", "previousRevision": "my-model-predictor-00003"}
	w := warn_of(knative_update([predictor(null, 0, resumed)]))
	fires(w, "traffic-to-previous", [
		"KServe splits 100 % of traffic to the previous rolled-out revision, my-model-predictor-00003, but that one was deleted with the Knative Service a stop of spec.predictor removed",
		"no traffic moves, the InferenceService turns not ready",
		"until spec.predictor.canaryTrafficPercent is removed",
	])
	not fires(w, "traffic-to-previous", ["goes back to the previous model"])
}

# Removing the field again after this update is a rise max-step caps:
# the warning offers it only where max-step admits it.
test_traffic_to_previous_way_back_is_one_max_step_admits if {
	fires(warn_of(knative_update([predictor(null, 80, {})])), "traffic-to-previous", ["Remove the field to keep all traffic on the current model."])
	fires(warn_of(knative_update([predictor(null, 75, {})])), "traffic-to-previous", ["Remove the field"])
	not fires(warn_of(knative_update([predictor(null, 60, {})])), "traffic-to-previous", ["Remove the field"])
	fires(deny_of(knative_update([predictor(60, null, {})])), "max-step", ["Set 85 now"])
	count(deny_of(knative_update([predictor(75, null, {})]))) == 0
}

test_percent_set_to_100_without_revision_is_not_warned if {
	not "traffic-to-previous" in rules(warn_of(knative_update([predictor(null, 100, {})])))
}

test_percent_set_from_explicit_100_without_revision_is_warned if {
	w := warn_of(knative_update([predictor(100, 0, {})]))
	fires(w, "traffic-to-previous", ["set to 0", "100 % of traffic goes back"])
}

test_percent_set_with_revision_change_is_not_warned if {
	not "traffic-to-previous" in rules(warn_of(knative_update([predictor(null, 10, revision_change)])))
	not "traffic-to-previous" in rules(warn_of(knative_update([predictor(null, 10, model_change)])))
}

test_percent_lowered_mid_canary_is_not_warned if {
	not "traffic-to-previous" in rules(warn_of(knative_update([predictor(35, 10, {})])))
}

# --- Standard mode -------------------------------------------------------------

test_standard_percent_changed_alone_is_warned if {
	# It moves nothing, with a revision change beside it or not: no
	# reason to refuse the update, every reason to say so.
	some over in [{}, revision_change]
	inp := standard_update([standard_predictor(object.union(knative_percents(null, 10), over))])
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"standard-ignores-percent"}
	fires(w, "standard-ignores-percent", [
		"spec.predictor.canaryTrafficPercent is ignored by KServe in Standard mode: setting it to 10 moves no traffic. Remove it; canaries in Standard mode are spec.canary[] entries",
	])
}

test_standard_percent_kept_across_model_change_is_denied if {
	over := object.union(knative_percents(10, 10), model_change)
	d := deny_of(standard_update([standard_predictor(over)]))
	fires(d, "standard-ignores-percent", [
		"is ignored by KServe in Standard mode: the model would be replaced for 100 % of traffic by a rolling update",
		"Remove canaryTrafficPercent and add the new model as a spec.canary[] entry",
	])
}

# spec.canary[] entries hold predictors only: for a transformer, and for
# a custom predictor KServe accepts no entries beside, none is offered.
test_standard_percent_without_a_canary_to_offer_is_denied_without_one if {
	custom := object.union(standard_update([standard_predictor(object.union(knative_percents(10, 10), model_change))]), {"rollout": {"canaryEntriesAccepted": false}})
	trans := standard_update([standard_predictor({}), transformer(null, 10, model_change)])
	some inp in [custom, trans]
	d := deny_of(inp)
	not contains(concat(" ", [v.msg | some v in d]), "trafficPercent:")
	some v in d
	v.rule == "standard-ignores-percent"
	contains(v.msg, "Remove canaryTrafficPercent; Standard mode has no canary for spec.")
}

test_standard_untouched_transformer_percent_offers_no_canary_entry if {
	inp := standard_update([standard_predictor({}), transformer(10, 10, revision_change)])
	w := warn_of(inp)
	fires(w, "standard-ignores-percent", ["spec.transformer.canaryTrafficPercent is ignored by KServe in Standard mode. Remove it; Standard mode has no canary for spec.transformer (spec.canary[] entries hold a predictor only)."])
	not fires(w, "standard-ignores-percent", ["trafficPercent:"])
}

test_standard_untouched_percent_is_warned if {
	inp := standard_update([standard_predictor(object.union(knative_percents(10, 10), revision_change))])
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"standard-ignores-percent"}
	fires(w, "standard-ignores-percent", [
		"spec.predictor.canaryTrafficPercent is ignored by KServe in Standard mode. Remove it",
		"spec.canary[] entries",
	])
}

test_standard_percent_on_create_is_warned if {
	inp := create_input("Standard", [standard_predictor(knative_percents(10, 10))])
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "standard-ignores-percent", ["spec.predictor.canaryTrafficPercent is ignored"])
}

# A transformer calls the predictor through the Service named after
# spec.predictor.name: a rename promotion replaces it before the
# transformer moves, so promotion keeps the name there.
test_standard_rename_promotion_beside_a_transformer_is_warned if {
	promoted := {"promotedCanary": "v2", "promotedCanaryPercent": 100}
	tr := transformer(null, null, {})
	inp := object.union(
		standard_update([standard_predictor(object.union(model_change, promoted)), tr, canary_entry("v2", 0, 100, null, {})]),
		{"rollout": {"predictorRenamed": true, "predictorName": "v2"}},
	)
	fires(warn_of(inp), "standard-promotion-host", [
		"spec.transformer calls the predictor through its Service, and promoting v2 by renaming spec.predictor moves that to my-model-v2-predictor",
		"Promote without the rename instead: keep spec.predictor.name as it was, set spec.predictor to the predictor v2 ran, and remove the entry in the same update",
	])
	alone := object.union(
		standard_update([standard_predictor(object.union(model_change, promoted)), canary_entry("v2", 0, 100, null, {})]),
		{"rollout": {"predictorRenamed": true, "predictorName": "v2"}},
	)
	not "standard-promotion-host" in rules(warn_of(alone))

	# The way to a canary names the promotion that keeps the name.
	d := deny_of(standard_update([standard_predictor(model_change), tr]))
	fires(d, "standard-canary-required", ["promote it later by setting spec.predictor to the canary's predictor as it ran and removing the entry, keeping spec.predictor's name"])
}

test_standard_without_percent_is_not_warned if {
	count(warn_of(standard_update([standard_predictor(revision_change)]))) == 0
}

test_standard_stable_model_change_is_denied if {
	inp := standard_update([standard_predictor(model_change)])
	d := deny_of(inp)
	rules(d) == {"standard-canary-required"}
	fires(d, "standard-canary-required", [
		"spec.predictor: the model changes from gs://models/v1 to gs://models/v2 by a rolling update of all replicas",
		"add the new model as a spec.canary[] entry",
		"trafficPercent: 10",
		"setting spec.predictor.name to the canary's name and removing the entry",
		"without one, set spec.predictor to the canary's predictor as it ran",
	])

	# standard-no-canary is for the transformer and explainer only.
	count(warn_of(inp)) == 0
}

test_standard_custom_predictor_without_storage_uri_is_warned_not_denied if {
	# KServe refuses spec.canary[] entries beside it: no canary to ask for.
	inp := standard_update_with([standard_predictor(model_change)], {})
	no_entries := object.union(inp, {"rollout": {"canaryEntriesAccepted": false}})
	count(deny_of(no_entries)) == 0
	fires(warn_of(no_entries), "standard-no-canary", [
		"spec.predictor: the model changes from gs://models/v1 to gs://models/v2 by a rolling update of all replicas",
		"no spec.canary[] entry can bring it in (KServe accepts none beside a predictor without a model or a STORAGE_URI env",
	])
}

test_standard_multi_node_predictor_is_warned_not_denied if {
	# KServe runs no canary of a multi-node predictor: no entry to ask for.
	inp := standard_update_with([standard_predictor(model_change)], {})
	multi_node := object.union(inp, {"rollout": {"canaryEntriesAccepted": false, "multiNode": true}})
	count(deny_of(multi_node)) == 0
	fires(warn_of(multi_node), "standard-no-canary", [
		"spec.predictor: the model changes from gs://models/v1 to gs://models/v2 by a rolling update of all replicas",
		"KServe runs no canary of a multi-node predictor: it refuses an entry with a workerSpec",
	])
}

# An entry added beside a multi-node predictor runs on one node, without
# the workers its runtime waits for: no canary either.
test_standard_entry_beside_a_multi_node_predictor_is_warned if {
	inp := standard_update([standard_predictor({}), canary_entry("v2", 0, null, 10, new_entry)])
	multi_node := object.union(inp, {"rollout": {"canaryEntriesAccepted": false, "multiNode": true, "modelChanged": true}})
	count(deny_of(multi_node)) == 0
	fires(warn_of(multi_node), "standard-no-canary", [
		"spec.canary[0]: canary v2 cannot run as a canary of this multi-node predictor (KServe runs no canary of a multi-node predictor",
		"Remove the entry; try the model on a separate InferenceService",
	])
	not "standard-no-canary" in rules(warn_of(object.union(inp, {"rollout": {"modelChanged": true}})))

	# Created with the InferenceService: KServe builds it the same way.
	created := object.union(create_input("Standard", [standard_predictor({}), canary_entry("v2", 0, 10, 10, {})]), {"rollout": {"multiNode": true}})
	"standard-no-canary" in rules(warn_of(created))

	# Its percent alone, or its removal (the rollback): nothing brought in.
	raised := object.union(standard_update([standard_predictor({}), canary_entry("v2", 0, 10, 35, {})]), {"rollout": {"multiNode": true}})
	not "standard-no-canary" in rules(warn_of(raised))
	removed := object.union(standard_update([standard_predictor({}), canary_entry("v2", 0, 10, null, {})]), {"rollout": {"multiNode": true}})
	not "standard-no-canary" in rules(warn_of(removed))
}

test_standard_promotion_with_restart_is_a_promotion if {
	# The facts mark it (promotionRestarts): the floor applies, not
	# standard-canary-required, nor the replica warning of a rename.
	restart := {"promotedCanary": "v2", "promotedCanaryPercent": 75, "promotionRestarts": true}
	inp := standard_update([
		standard_predictor(object.union(model_change, object.union(restart, stable_replicas(1, 4, {})))),
		canary_entry("v2", 0, 75, null, entry_replicas(3, 0)),
	])
	count(deny_of(inp)) == 0
	not "standard-promotion-replicas" in rules(warn_of(inp))
	low := standard_update([
		standard_predictor(object.union(model_change, object.union(restart, {"promotedCanaryPercent": 50}))),
		canary_entry("v2", 0, 50, null, {}),
	])
	rules(deny_of(low)) == {"promotion-step"}
}

# With maxStepPercent 100 any promotion clears the floor, but one from 0 %
# is a rise from 0, capped at the initial percent as in Knative mode.
test_standard_promotion_from_zero_is_capped_whatever_the_step if {
	restart := {"promotedCanary": "v2", "promotedCanaryPercent": 0, "promotionRestarts": true}
	inp := object.union(
		standard_update([
			standard_predictor(object.union(model_change, restart)),
			canary_entry("v2", 0, 0, null, {}),
		]),
		{"config": {"maxStepPercent": 100}},
	)
	d := deny_of(inp)
	rules(d) == {"promotion-step"}
	fires(d, "promotion-step", ["promoting canary v2 (at 0 %) to all traffic rises by 100; at most 10 from 0 %", "Raise its trafficPercent to 10 first"])
	from_ten := object.union(
		standard_update([
			standard_predictor(object.union(model_change, object.union(restart, {"promotedCanaryPercent": 10}))),
			canary_entry("v2", 0, 10, null, {}),
		]),
		{"config": {"maxStepPercent": 100}},
	)
	count(deny_of(from_ten)) == 0
}

test_standard_promotion_without_the_name_says_how_to_promote if {
	inp := standard_update([
		standard_predictor(model_change),
		canary_entry("canary-v2", 0, 85, null, {"oldModel": "gs://models/v2"}),
	])
	d := deny_of(inp)
	rules(d) == {"standard-canary-required"}
	fires(d, "standard-canary-required", [
		"the model changes from gs://models/v1 to gs://models/v2 by a rolling update",
		"spec.predictor takes the model of canary canary-v2, which this update removes, but not as it ran: to promote it, set spec.predictor to the predictor it ran",
	])
}

test_standard_stable_model_change_gives_no_promotion_hint_without_a_removed_entry if {
	d := deny_of(standard_update([standard_predictor(model_change)]))
	not contains(concat(" ", [v.msg | some v in d]), "To promote")
}

promotion(percent) := [
	standard_predictor(object.union(model_change, {"promotedCanary": "canary-v2", "promotedCanaryPercent": percent})),
	canary_entry("canary-v2", 0, percent, null, {}),
]

test_standard_promotion_from_floor_is_allowed if {
	d := deny_of(standard_update(promotion(75)))
	count(d) == 0
}

# A percent left on spec.predictor beside a promotion moves nothing: the
# promotion is admitted, the percent warned of.
test_standard_promotion_with_a_leftover_percent_is_warned_not_refused if {
	promote := promotion(75)
	with_percent := array.concat([object.union(promote[0], {"oldPercent": 10, "newPercent": 10})], array.slice(promote, 1, count(promote)))
	inp := standard_update(with_percent)
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "standard-ignores-percent", ["is ignored by KServe in Standard mode"])
}

test_standard_promotion_below_floor_is_denied if {
	d := deny_of(standard_update(promotion(50)))
	rules(d) == {"promotion-step"}
	fires(d, "promotion-step", [
		"promoting canary canary-v2 (at 50 %) to all traffic rises by 50",
		"at most 25 per update",
		"Raise its trafficPercent to 75 first",
		"promotion is allowed from 75 %",
	])
}

test_standard_promotion_with_another_model_is_denied if {
	inp := standard_update([
		standard_predictor(object.union(model_change, {
			"newModel": "gs://models/v3",
			"promotedCanary": "canary-v2", "promotedCanaryPercent": 85,
			"promotedCanaryChangedFields": ["spec.predictor.model.storageUri"],
		})),
		canary_entry("canary-v2", 0, 85, null, {"oldModel": "gs://models/v2"}),
	])
	d := deny_of(inp)
	rules(d) == {"promotion-model"}
	fires(d, "promotion-model", [
		"promoting canary canary-v2 with a model it did not run",
		"differs from the entry as it ran in spec.predictor.model.storageUri",
		"As sent, gs://models/v3, not the model the canary ran, would take 100 % of traffic",
		"set spec.predictor to its predictor (model gs://models/v2, name canary-v2)",
		"new spec.canary[] entry",
	])

	# Beside a transformer, the way named keeps the Service it calls.
	with_transformer := standard_update(array.concat(inp.rollout.components, [transformer(null, null, {})]))
	fires(deny_of(with_transformer), "promotion-model", [
		"keep spec.predictor's name as it was, set spec.predictor to the entry's predictor as it ran (merged over the old spec.predictor, model gs://models/v2) and remove the entry; a rename would move the Service the transformer or explainer calls the predictor through",
	])
}

test_standard_promotion_with_another_model_keeps_the_name_where_the_storage_uri_is_the_same if {
	# The entry ran the stable's storage URI with another runtime version:
	# KServe refuses a rename to it, so the way named keeps the name.
	inp := standard_update([
		standard_predictor(object.union(model_change, {
			"oldModel": "gs://models/v1", "newModel": "gs://models/v1",
			"promotedCanary": "canary-v2", "promotedCanaryPercent": 85,
			"promotedCanaryChangedFields": ["spec.predictor.model.runtimeVersion"],
		})),
		canary_entry("canary-v2", 0, 85, null, {"oldModel": "gs://models/v1", "promotableByRename": false}),
	])
	d := deny_of(inp)
	fires(d, "promotion-model", [
		"keep spec.predictor's name as it was, set spec.predictor to the entry's predictor as it ran",
		"KServe refuses a rename to canary-v2, since the storage URI stays the same",
	])
	not fires(d, "promotion-model", ["name canary-v2)"])
}

test_standard_promotion_of_an_unready_canary_is_denied if {
	inp := standard_update([
		standard_predictor(object.union(model_change, {"promotedCanary": "canary-v2", "promotedCanaryPercent": 80})),
		canary_entry("canary-v2", 0, 80, null, not_ready),
	])
	d := deny_of(inp)
	rules(d) == {"canary-not-ready"}
	fires(d, "canary-not-ready", ["promoting canary canary-v2 (at 80 %) to all traffic raises traffic while the canary is not ready", "Wait until it is ready, then promote it; or to roll back instead, leave spec.predictor as it was and remove the entry."])
	fires(d, "canary-not-ready", ["Watch it with: kubectl rollout status deployment/my-model-canary-v2-predictor -n models"])
	t := deny_of(knative_update([transformer(10, 35, not_ready)]))
	fires(t, "canary-not-ready", ["Watch it with: kubectl get ksvc my-model-transformer -n models -w (LATESTREADY)"])
}

test_standard_promotion_before_step_interval_is_denied if {
	inp := make_input(
		{
			"deploymentMode": "Standard",
			"components": promotion(80),
			"step": {"lastStepAt": "2026-11-25T12:00:00Z", "secondsSinceLastStep": 60},
		},
		{"minStepIntervalSeconds": 300},
	)
	rules(deny_of(inp)) == {"step-interval"}
	fires(deny_of(inp), "step-interval", ["promoting canary", "(at 80 %) to all traffic comes 60 s after the last step", "Promote it at or after 2026-11-25T12:05:00Z"])
}

# A new model mid-rollout that does not enter as a canary is refused
# (canary-required, initial-percent): no warning says it "re-enters at
# 100 %" or 35 % with "prev stays on" the stable revision.
# Created with canaryTrafficPercent set, an InferenceService has one
# revision, which the percent splits with itself: a model change then
# replaces no canary revision.
test_mid_rollout_restart_is_not_warned_without_a_canary_revision if {
	one := {"stableRevision": "my-model-predictor-00001", "latestReadyRevision": "my-model-predictor-00001", "latestCreatedRevision": "my-model-predictor-00001"}
	c := predictor(10, 10, object.union(model_change, one))
	not "mid-rollout-restart" in rules(warn_of(knative_update([c])))
	count(deny_of(knative_update([c]))) == 0
}

test_mid_rollout_restart_is_not_warned_beside_a_refused_entry if {
	every new in [null, 100, 35] {
		inp := knative_update_with([predictor(35, new, model_change)], {"onModelChange": "deny"})
		count(deny_of(inp)) == 1
		not "mid-rollout-restart" in rules(warn_of(inp))
	}
}

test_mid_rollout_restart_is_warned_at_0 if {
	w := warn_of(knative_update([predictor(35, 0, model_change)]))
	fires(w, "mid-rollout-restart", ["it re-enters at 0 %", "prev stays on my-model-predictor-00001"])
}

test_added_component_with_percent_out_of_range_is_denied if {
	inp := knative_update([predictor(null, null, {}), transformer(null, 150, {"inOld": false})])
	fires(deny_of(inp), "percent-range", ["spec.transformer.canaryTrafficPercent 150 is outside 0..100"])
}

test_standard_promotion_floor_follows_config if {
	count(deny_of(standard_update_with(promotion(50), {"maxStepPercent": 50}))) == 0
}

test_standard_new_entry_at_initial_percent_is_allowed if {
	inp := standard_update([standard_predictor({}), canary_entry("canary-v2", 0, null, 10, new_entry)])
	count(deny_of(inp)) == 0
	count(warn_of(inp)) == 0
}

test_standard_new_entry_above_initial_percent_is_denied if {
	d := deny_of(standard_update([standard_predictor({}), canary_entry("canary-v2", 0, null, 30, new_entry)]))
	rules(d) == {"initial-percent"}
	fires(d, "initial-percent", [
		"spec.canary[0] (canary canary-v2, model gs://models/v2) would enter with trafficPercent 30",
		"at most 10",
		"Set spec.canary[0].trafficPercent: 10 (or less) now",
	])
}

test_standard_new_entry_with_the_stable_model_still_enters_at_initial_percent if {
	same_model := {"modelChanged": false, "revisionChanged": true, "newModel": "gs://models/v1"}
	d := deny_of(standard_update([standard_predictor({}), canary_entry("canary-v1b", 0, null, 30, same_model)]))
	rules(d) == {"initial-percent"}
	fires(d, "initial-percent", ["(canary canary-v1b, model gs://models/v1) would enter with trafficPercent 30"])

	# A new entry is no rise of a running canary: no readiness check.
	entry := canary_entry("canary-v1b", 0, null, 10, object.union(same_model, {"canaryReady": "unknown"}))
	inp := standard_update([standard_predictor({}), entry])
	count(deny_of(inp)) == 0
	count(warn_of(inp)) == 0
}

test_standard_new_entry_is_not_mid_rollout if {
	inp := standard_update_with(
		[standard_predictor({}), canary_entry("canary-v2", 0, null, 10, new_entry)],
		{"midRolloutModelChange": "deny"},
	)
	count(deny_of(inp)) == 0
}

test_standard_removed_entry_is_not_governed if {
	# Removing an entry is the Standard-mode rollback.
	inp := standard_update([standard_predictor({}), canary_entry("canary-v2", 0, 10, null, {"canaryReady": "false"})])
	count(deny_of(inp)) == 0
	count(warn_of(inp)) == 0
}

test_standard_entry_rise_within_step_is_allowed if {
	d := deny_of(standard_update([standard_predictor({}), canary_entry("canary-v2", 0, 10, 35, {})]))
	count(d) == 0
}

test_standard_entry_rise_above_step_is_denied if {
	d := deny_of(standard_update([standard_predictor({}), canary_entry("canary-v2", 0, 10, 50, {})]))
	rules(d) == {"max-step"}
	fires(d, "max-step", [
		"spec.canary[0].trafficPercent (canary canary-v2) 10 → 50 rises by 40",
		"at most 25 per update",
		"Set 35 now",
		"remove the entry to roll back",
	])
}

test_standard_entry_rise_from_0_is_capped_at_the_initial_percent if {
	d := deny_of(standard_update([standard_predictor({}), canary_entry("canary-v2", 0, 0, 25, {})]))
	fires(d, "max-step", ["0 → 25 rises by 25; at most 10 from 0 %, as for a new model.", "Set 10 now"])
	count(deny_of(standard_update([standard_predictor({}), canary_entry("canary-v2", 0, 0, 10, {})]))) == 0
}

test_standard_entry_rise_while_not_ready_is_denied if {
	entry := canary_entry("canary-v2", 0, 10, 35, {"canaryReady": "false", "canaryReadyReason": "canary canary-v2 is not ready"})
	d := deny_of(standard_update([standard_predictor({}), entry]))
	rules(d) == {"canary-not-ready"}
	fires(d, "canary-not-ready", ["spec.canary[0].trafficPercent 10 → 35", "canary canary-v2 is not ready", "remove the entry to roll back"])
}

test_jump_while_canary_not_ready_names_the_next_step_for_later if {
	d := deny_of(knative_update([predictor(10, null, not_ready)]))
	rules(d) == {"max-step", "canary-not-ready"}
	fires(d, "max-step", ["Once the canary is ready, set 35, or 0 to roll back."])
	not fires(d, "max-step", ["Set 35 now"])
}

test_standard_jump_while_canary_not_ready_names_the_next_step_for_later if {
	entry := canary_entry("canary-v2", 0, 10, 80, {"canaryReady": "false", "canaryReadyReason": "canary canary-v2 is not ready"})
	d := deny_of(standard_update([standard_predictor({}), entry]))
	fires(d, "max-step", ["Once the canary is ready, set 35, or remove the entry to roll back."])
}

test_standard_entry_rise_before_step_interval_is_denied if {
	inp := make_input(
		object.union(step_at(60), {"deploymentMode": "Standard", "components": [standard_predictor({}), canary_entry("canary-v2", 0, 10, 35, {})]}),
		{"minStepIntervalSeconds": 600},
	)
	fires(deny_of(inp), "step-interval", ["spec.canary[0].trafficPercent 10 → 35 comes 60 s after the last step", ", or remove the entry to roll back."])
}

entry_model_change := object.union(model_change, {"oldModel": "gs://models/v2", "newModel": "gs://models/v3"})

test_standard_entry_model_change_is_denied_mid_rollout_when_configured if {
	entry := canary_entry("canary-v2", 0, 35, 10, entry_model_change)
	d := deny_of(standard_update_with([standard_predictor({}), entry], {"midRolloutModelChange": "deny"}))
	rules(d) == {"mid-rollout"}
	fires(d, "mid-rollout", [
		"spec.canary[0]: canary canary-v2 is running at 35 %",
		"does not let a new model (gs://models/v3) replace it",
		"Remove the entry first (the rollback), then add the new model as a new entry; or finish the rollout first (next: set ",
	])
}

test_standard_entry_model_change_restarts_at_initial_percent if {
	entry := canary_entry("canary-v2", 0, 35, 10, entry_model_change)
	count(deny_of(standard_update([standard_predictor({}), entry]))) == 0
}

test_standard_entry_model_change_above_initial_percent_is_denied if {
	entry := canary_entry("canary-v2", 0, 35, 35, entry_model_change)
	d := deny_of(standard_update([standard_predictor({}), entry]))
	rules(d) == {"initial-percent"}
	fires(d, "initial-percent", ["(canary canary-v2, model gs://models/v3) would enter with trafficPercent 35"])
}

test_standard_transformer_model_change_is_warned if {
	inp := standard_update([standard_predictor({}), transformer(null, null, container_change("transformer"))])
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"standard-no-canary"}
	fires(w, "standard-no-canary", [
		"spec.transformer: the model changes from registry.example/transformer:v1 to registry.example/transformer:v2",
		"Standard mode has no canary for the transformer",
	])
}

test_standard_transformer_without_model_change_is_not_warned if {
	inp := standard_update([standard_predictor({}), transformer(null, null, revision_change)])
	count(warn_of(inp)) == 0
}

test_standard_mode_skips_knative_rules if {
	# A jump and a model change with no percent are Knative rules.
	inp := standard_update([
		standard_predictor({}),
		transformer(10, null, {}),
	])
	not "max-step" in rules(deny_of(inp))
	d := deny_of(standard_update([standard_predictor({}), transformer(null, null, container_change("transformer"))]))
	not "canary-required" in rules(d)
}

# entry_replicas(old, new): a spec.canary[] entry's replicas.
entry_replicas(old, new) := {"replicas": {
	"old": old, "new": new, "oldMinReplicas": null, "newMinReplicas": null,
	"maxReplicas": 0, "autoscalerClass": "", "minReplicasToKeep": 0,
}}

# stable_replicas(old, new, over): the stable predictor's replicas with
# spec.predictor.minReplicas 4, autoscaler class hpa, no maxReplicas.
stable_replicas(old, new, over) := {"replicas": object.union(
	{
		"old": old, "new": new, "oldMinReplicas": 4, "newMinReplicas": 4,
		"maxReplicas": 0, "autoscalerClass": "hpa", "minReplicasToKeep": 0,
	},
	over,
)}

test_standard_step_that_shrinks_the_stable_is_warned if {
	# The entry goes 10 -> 35 %, 1 -> 2 of minReplicas 4.
	inp := standard_update([
		standard_predictor(stable_replicas(3, 2, {"minReplicasToKeep": 5})),
		canary_entry("v2", 0, 10, 35, entry_replicas(1, 2)),
	])
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"standard-stable-replicas"}
	fires(w, "standard-stable-replicas", [
		"spec.predictor: the spec.canary[] entries would run 2 replicas (v2 1 → 2), taken from spec.predictor.minReplicas 4:",
		"the stable predictor's minimum drops from 3 to 2 replicas, yet it still serves every request to my-model",
		"it answers only in-cluster, at my-model-v2-predictor).",
		"To keep 3, set spec.predictor.minReplicas: 5 in the same update.",
	])
	not contains(w_msg(w), "autoscaler")
}

w_msg(w) := concat("\n", [v.msg | some v in w])

test_standard_entry_min_replicas_raise_is_warned if {
	# The entry's own minReplicas sizes it, whatever its trafficPercent.
	inp := standard_update([
		standard_predictor(stable_replicas(3, 1, {"minReplicasToKeep": 7})),
		canary_entry("v2", 0, 10, 10, entry_replicas(1, 4)),
	])
	fires(warn_of(inp), "standard-stable-replicas", ["would run 4 replicas (v2 1 → 4)", "from 3 to 1 replica,", "minReplicas: 7 in"])
}

test_standard_stable_replicas_names_every_entry_and_the_lowered_min if {
	inp := standard_update([
		standard_predictor(stable_replicas(9, 2, {"oldMinReplicas": 10, "newMinReplicas": 5, "minReplicasToKeep": 0})),
		canary_entry("v2", 0, 10, 40, entry_replicas(1, 2)),
		canary_entry("v3", 1, null, 10, object.union(new_entry, entry_replicas(0, 1))),
	])
	fires(warn_of(inp), "standard-stable-replicas", [
		"would run 3 replicas (v2 1 → 2; v3 0 → 1), taken from spec.predictor.minReplicas 5 (was 10)",
		"at my-model-v2-predictor, my-model-v3-predictor)",
		"No spec.predictor.minReplicas keeps 9 beside these entries; lower their trafficPercent, or give them a fixed minReplicas",
	])
}

test_standard_stable_replicas_under_an_autoscaler_with_room if {
	inp := standard_update([
		standard_predictor(stable_replicas(3, 2, {"maxReplicas": 8, "minReplicasToKeep": 5})),
		canary_entry("v2", 0, 10, 35, entry_replicas(1, 2)),
	])
	fires(warn_of(inp), "standard-stable-replicas", [
		"Its autoscaler (hpa) may still scale it up to maxReplicas 8. To keep 3, set spec.predictor.minReplicas: 5 in the same update.",
	])
}

test_standard_stable_replicas_names_max_replicas_when_the_hint_exceeds_it if {
	inp := standard_update([
		standard_predictor(stable_replicas(3, 2, {"maxReplicas": 4, "minReplicasToKeep": 5})),
		canary_entry("v2", 0, 10, 35, entry_replicas(1, 2)),
	])
	fires(warn_of(inp), "standard-stable-replicas", ["set spec.predictor.minReplicas: 5 and maxReplicas: 5 in the same update."])
}

test_standard_stable_replicas_not_warned if {
	cases := [
		# The stable's minimum stays (minReplicas 1: clamped).
		[
			standard_predictor(stable_replicas(1, 1, {"oldMinReplicas": 1, "newMinReplicas": 1})),
			canary_entry("v2", 0, null, 10, object.union(new_entry, entry_replicas(0, 1))),
		],
		# The user lowers spec.predictor.minReplicas; the entries take no more.
		[
			standard_predictor(object.union(revision_change, stable_replicas(9, 3, {"oldMinReplicas": 10, "newMinReplicas": 4}))),
			canary_entry("v2", 0, 10, 10, entry_replicas(1, 1)),
		],
		# A rollback gives the stable its replicas back.
		[standard_predictor(stable_replicas(2, 4, {})), canary_entry("v2", 0, 35, null, entry_replicas(2, 0))],
		# minReplicas removed: KServe leaves the stable at 1, unadjusted.
		[
			standard_predictor(stable_replicas(3, 1, {"newMinReplicas": null})),
			canary_entry("v2", 0, 10, 35, entry_replicas(1, 1)),
		],
		# An external autoscaler: KServe sets no replicas.
		[
			standard_predictor(stable_replicas(3, 2, {"autoscalerClass": "external"})),
			canary_entry("v2", 0, 10, 35, entry_replicas(1, 2)),
		],
		# An entry above the stable's minReplicas: KServe rejects the update.
		[
			standard_predictor(stable_replicas(3, 1, {})),
			canary_entry("v2", 0, 10, 10, entry_replicas(1, 6)),
		],
		# Entries over 100 % together: KServe rejects the update too.
		[
			standard_predictor(stable_replicas(3, 1, {})),
			canary_entry("v2", 0, 10, 10, entry_replicas(1, 1)),
			canary_entry("v3", 1, null, 95, object.union(new_entry, entry_replicas(0, 4))),
		],
	]
	every components in cases {
		not "standard-stable-replicas" in rules(warn_of(standard_update(components)))
	}
}

test_standard_create_with_entries_that_shrink_the_stable_is_warned if {
	inp := create_input("Standard", [
		standard_predictor(stable_replicas(2, 2, {"minReplicasToKeep": 8})),
		canary_entry("v2", 0, 50, 50, entry_replicas(2, 2)),
	])
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "standard-stable-replicas", [
		"spec.predictor: the spec.canary[] entries run v2: 2, taken from spec.predictor.minReplicas 4: the stable predictor starts with a minimum of 2 replicas",
		"at my-model-v2-predictor). For a stable of 4, set spec.predictor.minReplicas: 8.",
	])
}

test_standard_create_without_entries_is_not_warned if {
	inp := create_input("Standard", [standard_predictor(stable_replicas(4, 4, {}))])
	not "standard-stable-replicas" in rules(warn_of(inp))
}

test_standard_stable_replicas_counts_one_replica if {
	inp := standard_update([
		standard_predictor(stable_replicas(2, 1, {"oldMinReplicas": 2, "newMinReplicas": 2, "minReplicasToKeep": 3})),
		canary_entry("v2", 0, null, 10, object.union(new_entry, entry_replicas(0, 1))),
	])
	fires(warn_of(inp), "standard-stable-replicas", ["would run 1 replica (v2 0 → 1)", "drops from 2 to 1 replica,"])
}

# --- Every mode ------------------------------------------------------------------

test_internal_annotation_change_is_denied if {
	inp := make_input(
		{
			"components": [predictor(null, null, revision_change)],
			"internalAnnotationsChanged": ["internal.serving.kserve.io/storage-spec", "internal.serving.kserve.io/storage-spec-key"],
			"internalAnnotationsOld": {"internal.serving.kserve.io/storage-spec": "true", "internal.serving.kserve.io/storage-spec-key": null},
		},
		{},
	)
	d := deny_of(inp)
	rules(d) == {"internal-annotation"}
	fires(d, "internal-annotation", [
		"Put back internal.serving.kserve.io/storage-spec, internal.serving.kserve.io/storage-spec-key as they were: internal.serving.kserve.io/storage-spec: \"true\"; internal.serving.kserve.io/storage-spec-key: not set.",
		"can change the model outside the canary rules",
	])
}

test_internal_annotation_change_is_denied_in_standard_mode if {
	inp := make_input(
		{
			"deploymentMode": "Standard",
			"components": [standard_predictor({})],
			"internalAnnotationsChanged": ["internal.serving.kserve.io/storage-spec"],
		},
		{},
	)
	"internal-annotation" in rules(deny_of(inp))
}

test_no_internal_annotation_change_is_not_denied if {
	not "internal-annotation" in rules(deny_of(knative_update([predictor(null, null, revision_change)])))
}

# A component ModelMesh serves, as canary-guard marks it.
modelmesh(c) := object.union(c, {"modelMesh": true})

test_modelmesh_model_change_is_warned if {
	inp := make_input({"deploymentMode": "ModelMesh", "components": [modelmesh(predictor(null, null, model_change))]}, {})
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"modelmesh"}
	fires(w, "modelmesh", ["spec.predictor: ModelMesh serves it with no canary rollout", "does not apply to this change."])
}

test_modelmesh_percent_change_is_warned if {
	inp := make_input({"deploymentMode": "ModelMesh", "components": [modelmesh(predictor(10, null, {}))]}, {})
	count(deny_of(inp)) == 0
	"modelmesh" in rules(warn_of(inp))
}

test_modelmesh_unrelated_update_is_not_warned if {
	inp := make_input({"deploymentMode": "ModelMesh", "components": [modelmesh(predictor(null, null, revision_change))]}, {})
	count(warn_of(inp)) == 0
}

test_a_version_selecting_the_runtime_is_denied_with_the_runtime_to_name if {
	c := predictor(null, null, object.union(revision_change, {"versionSelectsRuntime": true, "runtimeInUse": "kserve-sklearnserver", "changedFields": ["spec.predictor.model.modelFormat.version"]}))
	d := deny_of(knative_update([c]))
	rules(d) == {"runtime-selection"}
	fires(d, "runtime-selection", [
		"spec.predictor.model.modelFormat.version changes while KServe selects the runtime",
		"or keep kserve-sklearnserver (no new revision",
		"Name the runtime in the same update: spec.predictor.model.runtime: kserve-sklearnserver keeps the one in use",
		"to move to another runtime, name it with spec.predictor.canaryTrafficPercent: 10",
	])
	std := deny_of(standard_update([standard_predictor(object.union(revision_change, {"versionSelectsRuntime": true, "runtimeInUse": "kserve-sklearnserver"}))]))
	fires(std, "runtime-selection", ["(the pods stay as they are)", "spec.predictor.model.runtime: kserve-sklearnserver keeps the one in use; to move to another runtime, leave spec.predictor as it was and bring the other runtime in as a spec.canary[] entry that names it"])

	# With no runtime in the status, a runtime named in spec.predictor is
	# a model change too, which Standard mode refuses: the entry is the way.
	unknown := deny_of(standard_update([standard_predictor(object.union(revision_change, {"versionSelectsRuntime": true}))]))
	fires(unknown, "runtime-selection", ["The status names no runtime in use, so naming one in spec.predictor would be a model change too: leave spec.predictor as it was and bring the change in as a spec.canary[] entry whose model names the runtime ({predictor: {name: <canary-name>, model: {..., runtime: <runtime>}}, trafficPercent: 10})."])
	not fires(unknown, "runtime-selection", ["keeps the one in use"])
	not "runtime-selection" in rules(deny_of(knative_update([predictor(null, null, revision_change)])))
}

test_a_protocol_selecting_the_runtime_is_denied_with_the_runtime_to_name if {
	c := predictor(null, null, object.union(revision_change, {"versionSelectsRuntime": true, "runtimeInUse": "kserve-sklearnserver", "changedFields": ["spec.predictor.model.protocolVersion"]}))
	fires(deny_of(knative_update([c])), "runtime-selection", [
		"spec.predictor.model.protocolVersion changes while KServe selects the runtime",
		"spec.predictor.model.runtime: kserve-sklearnserver keeps the one in use",
	])
	both := predictor(null, null, object.union(revision_change, {"versionSelectsRuntime": true, "changedFields": ["spec.predictor.model.modelFormat.version", "spec.predictor.model.protocolVersion"]}))
	fires(deny_of(knative_update([both])), "runtime-selection", [
		"spec.predictor.model.modelFormat.version and spec.predictor.model.protocolVersion change while KServe selects the runtime",
	])
}

test_a_format_name_selecting_the_runtime_is_denied_with_the_runtime_to_name if {
	c := predictor(null, null, object.union(revision_change, {"versionSelectsRuntime": true, "runtimeInUse": "kserve-tritonserver", "changedFields": ["spec.predictor.model.modelFormat.name"]}))
	fires(deny_of(knative_update([c])), "runtime-selection", [
		"spec.predictor.model.modelFormat.name changes while KServe selects the runtime",
		"or keep kserve-tritonserver (no new revision",
		"spec.predictor.model.runtime: kserve-tritonserver keeps the one in use",
	])
}

test_a_named_runtime_removed_is_denied_with_the_runtime_to_keep if {
	c := predictor(null, null, object.union(revision_change, {"runtimeUnpinned": true, "runtimeInUse": "kserve-sklearnserver", "changedFields": ["spec.predictor.model.runtime"]}))
	d := deny_of(knative_update([c]))
	rules(d) == {"runtime-selection"}
	fires(d, "runtime-selection", [
		"spec.predictor.model.runtime kserve-sklearnserver is removed, so KServe selects a runtime itself",
		"it may select kserve-sklearnserver again (no new revision, where a canary percent would send traffic back to the previous model)",
		"Keep spec.predictor.model.runtime: kserve-sklearnserver to stay on it",
		"to move to another runtime, name it with spec.predictor.canaryTrafficPercent: 10",
	])
	std := deny_of(standard_update([standard_predictor(object.union(revision_change, {"runtimeUnpinned": true, "runtimeInUse": "kserve-sklearnserver"}))]))
	fires(std, "runtime-selection", ["(the pods stay as they are)"])
}

test_a_version_selecting_an_unknown_runtime_says_where_to_read_it if {
	c := predictor(null, null, object.union(revision_change, {"versionSelectsRuntime": true}))
	fires(deny_of(knative_update([c])), "runtime-selection", ["or keep the one in use", "spec.predictor.model.runtime: <the runtime in status.clusterServingRuntimeName"])
}

test_modelmesh_transformer_removal_says_it_keeps_serving if {
	removed := object.union(transformer(null, null, {}), {"inNew": false})
	inp := make_input({"deploymentMode": "ModelMesh", "rolloutMode": "Knative", "components": [removed]}, {})
	fires(warn_of(inp), "component-removed", [
		"spec.transformer is removed",
		"KServe stops reconciling a ModelMesh InferenceService without a transformer, so the transformer's Knative Service and the route through it stay as they were",
	])
	fires(warn_of(knative_update([predictor(null, null, {}), removed])), "component-removed", ["every request skips it at once"])
}

# Beside a transformer, KServe rolls the transformer out as a Knative
# Service, and the rules guard it; ModelMesh keeps the predictor.
test_modelmesh_transformer_model_change_needs_a_canary if {
	inp := make_input({"deploymentMode": "ModelMesh", "rolloutMode": "Knative", "components": [transformer(null, null, model_change)]}, {})
	"canary-required" in rules(deny_of(inp))
}

test_modelmesh_transformer_jump_is_capped if {
	inp := make_input({"deploymentMode": "ModelMesh", "rolloutMode": "Knative", "components": [transformer(10, 100, {})]}, {})
	"max-step" in rules(deny_of(inp))
}

test_modelmesh_predictor_beside_a_transformer_is_warned if {
	inp := make_input(
		{"deploymentMode": "ModelMesh", "rolloutMode": "Knative", "components": [modelmesh(predictor(null, null, model_change)), transformer(null, null, {})]},
		{},
	)
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "modelmesh", ["spec.predictor: ModelMesh serves it", "The transformer and explainer are rolled out by KServe and guarded as in Knative mode."])
}

# The predictor ModelMesh serves beside that transformer is a component,
# marked: the rules about percents skip it.
test_modelmesh_predictor_beside_a_transformer_needs_no_canary if {
	mm := modelmesh(predictor(10, 100, model_change))
	inp := make_input(
		{"deploymentMode": "ModelMesh", "rolloutMode": "Knative", "components": [mm, transformer(null, null, {})]},
		{},
	)
	count(deny_of(inp)) == 0
	rules(warn_of(inp)) == {"modelmesh"}
	range := make_input({"deploymentMode": "ModelMesh", "rolloutMode": "Knative", "components": [modelmesh(predictor(10, 150, {}))]}, {})
	count(deny_of(range)) == 0
}

test_modelmesh_create_is_not_warned if {
	count(warn_of(create_input("ModelMesh", [predictor(null, null, {})]))) == 0
}

test_active_override_is_warned if {
	inp := make_input(
		{
			"components": [predictor(10, null, {})],
			"override": {"requested": true, "reason": "hotfix INC-42", "allowed": true, "active": true},
		},
		{"override": {"groups": ["ml-engineers"]}},
	)
	w := warn_of(inp)
	rules(w) == {"override"}
	fires(w, "override", [
		"rollout rules lifted for this update by alice",
		"(override: \"hotfix INC-42\")",
		"The next update is checked again",
	])

	# Go, not Rego, lifts the denials.
	"max-step" in rules(deny_of(inp))
}

test_override_by_user_outside_groups_is_warned_as_ignored if {
	inp := make_input(
		{
			"components": [predictor(null, null, revision_change)],
			"override": {"requested": true, "reason": "hotfix", "allowed": false, "active": false},
		},
		{"override": {"groups": ["ml-admins", "sre"]}},
	)
	w := warn_of(inp)
	rules(w) == {"override-ignored"}
	fires(w, "override-ignored", [
		"alice may not override (not in override.groups)",
		"canary-guard.dev/override was ignored and the rules apply",
		"Ask a member of ml-admins, sre",
	])
}

test_override_with_no_groups_configured_says_so if {
	inp := make_input(
		{
			"components": [predictor(null, null, revision_change)],
			"override": {"requested": true, "reason": "hotfix", "allowed": false, "active": false},
		},
		{},
	)
	fires(warn_of(inp), "override-ignored", ["No override groups are configured here: follow the rules' next steps, or ask the platform team"])
}

test_no_override_requested_is_not_warned if {
	w := warn_of(knative_update([predictor(null, null, revision_change)]))
	not "override" in rules(w)
	not "override-ignored" in rules(w)
}

long_name := "a-very-long-inference-service-name-for-testingx" # 47 characters

test_long_name_on_create_is_warned_for_tag_routing if {
	count(long_name) == 47
	inp := with_request(create_input("Knative", [predictor(null, null, {})]), {"name": long_name})
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"tag-routing-name"}
	fires(w, "tag-routing-name", [
		sprintf("name %s is 47 characters", [long_name]),
		sprintf("latest-%s-predictor", [long_name]),
		"63-character DNS label",
		"at most 46 characters",
	])
}

test_long_name_past_48_is_told_about_the_prev_host if {
	name := concat("", [long_name, "ab"])
	inp := with_request(create_input("Knative", [predictor(null, null, {})]), {"name": name})
	fires(warn_of(inp), "tag-routing-name", ["canaries need a name of at most 48"])
	short := with_request(create_input("Knative", [predictor(null, null, {})]), {"name": long_name})
	not fires(warn_of(short), "tag-routing-name", ["canaries need"])
}

test_long_name_with_a_transformer_is_warned_from_45_characters if {
	# latest-<name>-transformer is two characters longer.
	components := [predictor(null, null, {}), transformer(null, null, {})]
	name := substring(long_name, 0, 45)
	inp := with_request(create_input("Knative", components), {"name": name})
	fires(warn_of(inp), "tag-routing-name", [
		sprintf("latest-%s-transformer", [name]),
		"at most 44 characters",
	])
	short := with_request(create_input("Knative", components), {"name": substring(long_name, 0, 44)})
	not "tag-routing-name" in rules(warn_of(short))
}

test_canary_on_a_name_too_long_for_the_prev_host_is_warned if {
	name := concat("", [long_name, "ab"]) # 49 characters
	inp := with_request(knative_update([predictor(null, 10, model_change)]), {"name": name})
	fires(warn_of(inp), "tag-routing-name", [
		sprintf("spec.predictor: name %s is 49 characters", [name]),
		sprintf("prev-%s-predictor", [name]),
		"Knative cannot route this canary",
		"at most 48 characters",
	])
	fits := with_request(knative_update([predictor(null, 10, model_change)]), {"name": concat("", [long_name, "a"])})
	not "tag-routing-name" in rules(warn_of(fits))
}

test_prev_host_is_the_split_components_own if {
	# KServe tags prev only on the component whose traffic is split:
	# prev-<47>-predictor fits, prev-<47>-transformer does not.
	predictor_canary := with_request(knative_update([predictor(null, 10, model_change), transformer(null, null, {})]), {"name": long_name})
	not "tag-routing-name" in rules(warn_of(predictor_canary))
	transformer_canary := with_request(knative_update([predictor(null, null, {}), transformer(null, 10, model_change)]), {"name": long_name})
	fires(warn_of(transformer_canary), "tag-routing-name", [
		sprintf("spec.transformer: name %s is 47 characters", [long_name]),
		sprintf("prev-%s-transformer", [long_name]),
		"Canaries of the transformer need a name of at most 46 characters",
	])
}

test_a_named_predictor_lengthens_the_hosts if {
	# KServe names the Service <isvc>-<spec.predictor.name>-predictor.
	named := {"rollout": {"predictorName": "v1"}}
	name := substring(long_name, 0, 44)
	inp := object.union(with_request(create_input("Knative", [predictor(null, null, {})]), {"name": name}), named)
	fires(warn_of(inp), "tag-routing-name", [
		sprintf("latest-%s-v1-predictor", [name]),
		"at most 43 characters",
	])
	fits := object.union(with_request(create_input("Knative", [predictor(null, null, {})]), {"name": substring(long_name, 0, 43)}), named)
	not "tag-routing-name" in rules(warn_of(fits))
}

test_a_model_entering_at_0_on_a_name_too_long_for_prev_is_warned if {
	# KServe tags prev below 100 %, 0 included.
	name := concat("", [long_name, "ab"]) # 49 characters
	inp := with_request(knative_update([predictor(null, 0, model_change)]), {"name": name})
	fires(warn_of(inp), "tag-routing-name", ["Knative cannot route this canary"])
}

test_name_of_46_characters_is_not_warned if {
	name := substring(long_name, 0, 46)
	inp := with_request(create_input("Knative", [predictor(null, null, {})]), {"name": name})
	count(warn_of(inp)) == 0
}

test_long_name_on_update_with_tag_routing_on_before_is_not_warned if {
	inp := with_request(knative_update([predictor(null, null, revision_change)]), {"name": long_name})
	not "tag-routing-name" in rules(warn_of(inp))
}

test_long_name_on_update_turning_tag_routing_on_is_warned if {
	base := with_request(knative_update([predictor(null, null, revision_change)]), {"name": long_name})
	inp := object.union(base, {"rollout": {"tagRouting": {"old": false, "new": true}}})
	fires(warn_of(inp), "tag-routing-name", [
		sprintf("name %s is 47 characters", [long_name]),
		"turned on by this update",
		`serving.kserve.io/enable-tag-routing: "false"`,
	])
}

# A transformer's latest- host is two characters longer than the
# predictor's: a 45- or 46-character name fits the one, not the other.
test_a_transformer_added_under_tag_routing_to_a_name_too_long_for_it_is_warned if {
	name := substring(long_name, 0, 46)
	added := transformer(null, null, {"inOld": false, "revisionChanged": true, "oldModel": "", "newModel": "kserve/image-transformer:v1"})
	inp := object.union(
		with_request(knative_update([predictor(null, null, {}), added]), {"name": name}),
		{"rollout": {"componentAdded": true}},
	)
	fires(warn_of(inp), "tag-routing-name", [
		"spec.transformer is added while tag routing is on",
		sprintf("latest-%s-transformer... of name %s (46 characters)", [name, name]),
		"at most 44 characters",
	])
	short := object.union(inp, {"request": {"name": substring(long_name, 0, 44)}})
	not "tag-routing-name" in rules(warn_of(short))
	off := object.union(inp, {"rollout": {"tagRouting": {"old": false, "new": false}}})
	not "tag-routing-name" in rules(warn_of(off))

	# A named predictor's suffix is longer, but the transformer's host
	# has its own: 44 characters fit it.
	named := object.union(short, {"rollout": {"predictorName": "v2"}})
	not "tag-routing-name" in rules(warn_of(named))
}

test_long_name_in_standard_mode_is_not_warned if {
	inp := with_request(create_input("Standard", [standard_predictor({})]), {"name": long_name})
	not "tag-routing-name" in rules(warn_of(inp))
}

test_create_is_admitted_with_no_denials if {
	# On CREATE nothing changes, whatever the object holds: even a percent
	# Knative would reject or internal annotations are left to KServe.
	inp := make_input(
		{
			"operation": "CREATE",
			"components": [
				predictor(150, 150, {}),
				transformer(100, 100, {}),
				explainer(null, null, not_ready),
			],
			"internalAnnotationsChanged": ["internal.serving.kserve.io/storage-spec"],
		},
		{"midRolloutModelChange": "deny", "minStepIntervalSeconds": 600},
	)
	inp.request.operation == "CREATE"
	count(deny_of(inp)) == 0
	count(warn_of(inp)) == 0
}

test_standard_create_with_canary_entries_is_admitted if {
	inp := create_input("Standard", [standard_predictor({}), canary_entry("canary-v2", 0, 90, 90, {})])
	count(deny_of(inp)) == 0
}

# --- Transformer and explainer are governed like the predictor --------------------

test_transformer_jump_above_step_is_denied if {
	d := deny_of(knative_update([predictor(null, null, {}), transformer(10, null, {})]))
	rules(d) == {"max-step"}
	fires(d, "max-step", [
		"spec.transformer.canaryTrafficPercent 10 → absent (100 %) rises by 90",
		"Set 35 now",
	])
	not fires(d, "max-step", ["spec.predictor"])
}

test_transformer_rise_within_step_is_allowed if {
	count(deny_of(knative_update([predictor(null, null, {}), transformer(10, 35, {})]))) == 0
}

test_transformer_model_change_without_percent_is_denied if {
	d := deny_of(knative_update([predictor(null, null, {}), transformer(null, null, container_change("transformer"))]))
	fires(d, "canary-required", [
		"spec.transformer needs a canary.", "the model changes from registry.example/transformer:v1 to registry.example/transformer:v2",
		"Set spec.transformer.canaryTrafficPercent: 10",
	])
}

test_explainer_model_change_without_percent_is_denied if {
	d := deny_of(knative_update([predictor(null, null, {}), explainer(null, null, container_change("explainer"))]))
	rules(d) == {"canary-required"}
	fires(d, "canary-required", ["spec.explainer needs a canary.", "Set spec.explainer.canaryTrafficPercent: 10"])
}

test_explainer_model_change_above_initial_percent_is_denied if {
	d := deny_of(knative_update([predictor(null, null, {}), explainer(null, 50, container_change("explainer"))]))
	fires(d, "initial-percent", ["spec.explainer: the new model registry.example/explainer:v2 would enter with canaryTrafficPercent 50"])
}

test_explainer_jump_above_step_is_denied if {
	d := deny_of(knative_update([predictor(null, null, {}), explainer(25, 100, {})]))
	fires(d, "max-step", ["spec.explainer.canaryTrafficPercent 25 → 100 rises by 75", "Set 50 now"])
}

test_transformer_rise_while_not_ready_is_denied if {
	over := {"canaryReady": "false", "canaryReadyReason": "revision my-model-transformer-00002 is not ready"}
	d := deny_of(knative_update([predictor(null, null, {}), transformer(10, 35, over)]))
	fires(d, "canary-not-ready", ["spec.transformer.canaryTrafficPercent 10 → 35", "my-model-transformer-00002 is not ready"])
}

test_transformer_mid_rollout_model_change_is_warned if {
	w := warn_of(knative_update([predictor(null, null, {}), transformer(35, 10, container_change("transformer"))]))
	fires(w, "mid-rollout-restart", ["spec.transformer: the new model registry.example/transformer:v2", "my-model-transformer-00002 (was at 35 %)"])
}

test_added_transformer_is_not_governed if {
	# A component added to a running service has no revision to split
	# traffic with, so neither its percent nor its model are a step or a
	# canary entry; it is only warned that it takes every request at once.
	added := transformer(null, 10, {"inOld": false, "revisionChanged": false, "percentChanged": false})
	inp := knative_update([predictor(null, null, {}), added])
	count(deny_of(inp)) == 0
	rules(warn_of(inp)) == {"component-added"}
}

test_removed_transformer_is_not_governed if {
	# Removing a component in mid-canary is no jump to 100 %.
	removed := transformer(10, null, {"inNew": false, "percentChanged": false, "canaryInProgress": true})
	inp := knative_update([predictor(null, null, {}), removed])
	count(deny_of(inp)) == 0
	rules(warn_of(inp)) == {"component-removed"}
}

test_each_component_is_checked_on_its_own if {
	d := deny_of(knative_update([
		predictor(10, 35, {}),
		transformer(null, null, container_change("transformer")),
		explainer(50, null, {}),
	]))
	rules(d) == {"canary-required", "max-step"}
	fires(d, "canary-required", ["spec.transformer needs a canary."])
	fires(d, "max-step", ["spec.explainer.canaryTrafficPercent 50 → absent (100 %)"])
	not fires(d, "max-step", ["spec.predictor"])
	count(d) == 2
}

test_model_change_without_a_new_storage_uri_names_the_changed_fields if {
	inp := knative_update([predictor(null, null, {
		"modelChanged": true,
		"revisionChanged": true,
		"changedFields": ["spec.predictor.model.runtimeVersion"],
	})])
	fires(deny_of(inp), "canary-required", ["spec.predictor needs a canary.", "the model changes (spec.predictor.model.runtimeVersion) with no canaryTrafficPercent"])
}

# --- Added and removed components ---------------------------------------------

test_an_added_transformer_is_warned if {
	inp := knative_update([
		predictor(null, null, {}),
		transformer(null, null, {"inOld": false, "revisionChanged": true, "oldModel": "", "newModel": "kserve/image-transformer:v1"}),
	])
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"component-added"}
	fires(w, "component-added", [
		"spec.transformer is added (model kserve/image-transformer:v1): every request goes through it at once",
		"to undo, remove spec.transformer again",
	])
}

# A format's name changed beside a runtime that reads it nowhere makes no
# revision; KServe still checks the runtime lists it.
test_a_format_name_the_runtime_reads_nowhere_is_warned_not_refused if {
	c := predictor(null, null, {"unreadFormatName": "onnx", "runtimeInUse": "kserve-tritonserver"})
	inp := object.union(knative_update([c]), {"rollout": {"unreadFormatChange": true}})
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "format-name", [
		"spec.predictor.model.modelFormat.name changes to onnx beside the runtime in use, kserve-tritonserver, which reads it nowhere",
		"Where it does not list onnx, KServe stops reconciling this InferenceService",
	])
	not fires(warn_of(inp), "format-name", ["--framework"])
	ps := object.union(knative_update([object.union(c, {"runtimeInUse": "kserve-predictiveserver"})]), {"rollout": {"unreadFormatChange": true}})
	fires(warn_of(ps), "format-name", ["kserve-predictiveserver takes its --framework from the modelFormat annotation"])
}

test_a_removed_explainer_is_warned if {
	inp := knative_update([
		predictor(null, null, {}),
		explainer(null, null, {"inNew": false, "oldModel": "kserve/art-explainer:v1", "newModel": ""}),
	])
	w := warn_of(inp)
	rules(w) == {"component-removed"}
	fires(w, "component-removed", ["spec.explainer is removed (model kserve/art-explainer:v1): every :explain request fails at once, with no explainer to answer it (predictions are not affected)"])
	added := knative_update([
		predictor(null, null, {}),
		explainer(null, null, {"inOld": false, "revisionChanged": true, "oldModel": "", "newModel": "kserve/art-explainer:v1"}),
	])
	fires(warn_of(added), "component-added", ["spec.explainer is added (model kserve/art-explainer:v1): every :explain request goes to it (predictions are not affected) at once"])
}

test_a_transformer_on_create_is_not_warned if {
	inp := create_input("Knative", [
		predictor(null, null, {}),
		transformer(null, null, {}),
	])
	not "component-added" in rules(warn_of(inp))
}

# promoted(entry_old, stable): a promotion of v2, which ran entry_old replicas.
promoted(entry_old, stable) := [
	standard_predictor(object.union(model_change, object.union(
		{"promotedCanary": "v2", "promotedCanaryPercent": 75},
		stable,
	))),
	canary_entry("v2", 0, 75, null, entry_replicas(entry_old, 0)),
]

test_standard_promotion_onto_fewer_replicas_is_warned if {
	# minReplicas 4: the entry at 75 % ran 3, the stable 1.
	inp := standard_update(promoted(3, stable_replicas(1, 4, {"minReplicasToPromote": 4})))
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"standard-promotion-replicas"}
	fires(w, "standard-promotion-replicas", [
		"spec.predictor: promoting v2 makes its Deployment my-model-v2-predictor the stable one, which serves every request to my-model, while it runs 3 replicas of the 4 the stable needs;",
		"deletes the old stable's Deployment (a minimum of 1 replica) at once, so all traffic rests on 3 replicas until it has 4 ready.",
		"To promote at full capacity, first set spec.canary[0].predictor.minReplicas: 4, wait until my-model-v2-predictor has 4 ready replicas, then promote.",
	])
}

test_standard_promotion_replicas_hint_raises_the_stable if {
	inp := standard_update(promoted(1, stable_replicas(3, 4, {"minReplicasToPromote": 7, "maxReplicas": 5})))
	fires(warn_of(inp), "standard-promotion-replicas", [
		"runs 1 replica of the 4",
		"first set spec.canary[0].predictor.minReplicas: 4 and spec.predictor.minReplicas: 7 and maxReplicas: 7 (the stable keeps its 3), wait until",
	])
}

test_standard_promotion_replicas_hint_without_a_min_that_keeps_the_stable if {
	inp := standard_update(promoted(1, stable_replicas(3, 4, {})))
	fires(warn_of(inp), "standard-promotion-replicas", [
		"spec.canary[0].predictor.minReplicas: 4 (no spec.predictor.minReplicas keeps the stable's 3 beside it), wait",
	])
}

test_standard_promotion_replicas_not_warned if {
	cases := [
		# The entry already runs what the stable needs.
		promoted(4, stable_replicas(1, 4, {})),
		# An external autoscaler: KServe sets no replicas.
		promoted(1, stable_replicas(3, 4, {"autoscalerClass": "external"})),
	]
	every components in cases {
		not "standard-promotion-replicas" in rules(warn_of(standard_update(components)))
	}
}

test_knative_predictor_rename_is_denied if {
	rename := object.union(model_change, {"changedFields": ["spec.predictor.model.storageUri", "spec.predictor.name", "spec.predictor.canaryTrafficPercent"]})
	named := {"rollout": {"predictorName": "v2", "predictorRenamed": true}}
	d := deny_of(object.union(knative_update([predictor(null, 10, rename)]), named))
	rules(d) == {"predictor-rename"}
	fires(d, "predictor-rename", [
		"spec.predictor.name changes to v2. Keep spec.predictor.name as it was",
		"in Knative mode the name is part of the predictor's Knative Service (my-model-v2-predictor)",
		"so the model gs://models/v2 would start in a new service",
		"Keep spec.predictor.name as it was and change the model with spec.predictor.canaryTrafficPercent",
	])
	count(deny_of(knative_update([predictor(null, 10, model_change)]))) == 0
}

test_knative_predictor_rename_back_to_the_default_is_warned_not_denied if {
	undo := object.union(model_change, {"changedFields": ["spec.predictor.model.storageUri", "spec.predictor.name"]})
	renamed := {"rollout": {"predictorRenamed": true}}
	inp := object.union(knative_update([predictor(null, null, undo)]), renamed)
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "predictor-rename", [
		"spec.predictor.name is removed: the predictor moves back to the Knative Service my-model-predictor",
		"Leave canaryTrafficPercent unset",
	])
	with_percent := object.union(knative_update([predictor(null, 10, undo)]), renamed)
	count(deny_of(with_percent)) == 0
	fires(warn_of(with_percent), "predictor-rename", ["Remove spec.predictor.canaryTrafficPercent in the same update"])
}

# A renamed predictor moves to another Knative Service, where the new
# model takes all of that service's traffic: no "re-enters at 10 %"
# beside predictor-rename (denied when named, warned when removed).
test_mid_rollout_restart_is_not_warned_beside_a_rename if {
	rename := object.union(mid_rollout_change, {"changedFields": ["spec.predictor.model.storageUri", "spec.predictor.name"]})
	named := object.union(knative_update([predictor(10, 10, rename)]), {"rollout": {"predictorName": "v2", "predictorRenamed": true}})
	rules(deny_of(named)) == {"predictor-rename"}
	not "mid-rollout-restart" in rules(warn_of(named))
	unnamed := object.union(knative_update([predictor(10, 10, rename)]), {"rollout": {"predictorRenamed": true}})
	"predictor-rename" in rules(warn_of(unnamed))
	not "mid-rollout-restart" in rules(warn_of(unnamed))
}

# Beside predictor-rename, percent-range asks for what that rule asks
# for: keep the name and enter with the initial percent (name set), or
# no percent at all (name removed); not "the model as it was".
test_percent_range_beside_a_rename_agrees_with_predictor_rename if {
	rename := object.union(model_change, {"changedFields": ["spec.predictor.model.storageUri", "spec.predictor.name"]})
	named := object.union(knative_update([predictor(null, 150, rename)]), {"rollout": {"predictorName": "v2", "predictorRenamed": true}})
	fires(deny_of(named), "predictor-rename", ["change the model with spec.predictor.canaryTrafficPercent"])
	fires(deny_of(named), "percent-range", ["A new model may enter with at most 10 %: set spec.predictor.canaryTrafficPercent: 10 (or less)."])
	unnamed := object.union(knative_update([predictor(null, 150, rename)]), {"rollout": {"predictorRenamed": true}})
	fires(warn_of(unnamed), "predictor-rename", ["Remove spec.predictor.canaryTrafficPercent in the same update"])
	fires(deny_of(unnamed), "percent-range", ["Remove it in the same update"])
	not fires(deny_of(unnamed), "percent-range", ["the model as it was"])
}

# --- Knative: no revision rolled out yet --------------------------------------

# The status shows the first revision created, none rolled out: KServe
# splits nothing, and the facts say so (no canary, effective 100).
first_rollout_pending(c) := object.union(c, {
	"firstRolloutPending": true,
	"notRolledOut": true,
	"stableRevision": "",
	"previousRevision": "",
	"latestReadyRevision": "",
	"latestCreatedRevision": "my-model-predictor-00001",
	"oldEffectivePercent": 100,
	"canaryInProgress": false,
})

first_rollout_update(c) := object.union(knative_update([first_rollout_pending(c)]), {"rollout": {"firstRolloutPending": true, "notRolledOut": true}})

test_a_model_change_before_any_rollout_is_warned_it_may_take_all_traffic if {
	inp := object.union(first_rollout_update(object.union(predictor(null, 10, model_change), {"newEffectivePercent": 10})), {"rollout": {"modelChanged": true}})
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "first-rollout", [
		"its first revision, my-model-predictor-00001, has not been ready yet",
		"takes all traffic once ready, whatever canaryTrafficPercent says, unless my-model-predictor-00001 is rolled out first",
		"status.components.predictor.latestRolledoutRevision shows when a model is rolled out",
		"spec.predictor.canaryTrafficPercent 10 splits it with itself",
	])

	# A first revision ready already is rolled out first: the canary runs.
	ready := object.union(inp, {"rollout": {"components": [object.union(inp.rollout.components[0], {"latestReadyRevision": "my-model-predictor-00001"})]}})
	not "first-rollout" in rules(warn_of(ready))

	# Without a percent it is still refused: the revision there may be
	# rolled out first, and then the new model would be a cutover.
	bare := object.union(first_rollout_update(predictor(null, null, model_change)), {"rollout": {"modelChanged": true}})
	"canary-required" in rules(deny_of(bare))
	fires(warn_of(bare), "first-rollout", ["Watch this rollout as a full one"])
	not fires(warn_of(bare), "first-rollout", ["splits it with itself"])
}

# After a stop of the InferenceService, which clears the status, and the
# resume: the new service's first revision is not rolled out either, and
# the generation is past 1. Only the warning follows (the status may lag
# a spec change there).
test_a_model_change_before_the_rollout_after_a_resume_is_warned_it_may_take_all_traffic if {
	resumed := object.union(predictor(null, 10, model_change), {
		"notRolledOut": true,
		"stableRevision": "",
		"latestReadyRevision": "",
		"latestCreatedRevision": "my-model-predictor-00001",
	})
	inp := object.union(knative_update([resumed]), {"rollout": {"modelChanged": true, "notRolledOut": true}})
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "first-rollout", ["unless my-model-predictor-00001 is rolled out first"])
}

# A model change at 0 % (kept after a rollback) serves nothing until the
# percent rises: said, with the step that starts the canary.
test_a_model_change_at_0_is_warned_it_gets_no_traffic if {
	inp := object.union(knative_update([predictor(0, 0, model_change)]), {"rollout": {"modelChanged": true, "modelChangedAtZero": true}})
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "dark-launch", [
		"spec.predictor: the new model gs://models/v2 enters at spec.predictor.canaryTrafficPercent: 0, so it gets no traffic; all of it stays on the rolled-out revision my-model-predictor-00001.",
		"Its latest- URL (tag routing) reaches it meanwhile.",
		"Once the new revision is ready, set spec.predictor.canaryTrafficPercent: 10 to start its canary.",
	])

	# Beside a running canary mid-rollout-restart says it re-enters at 0 %.
	mid := object.union(knative_update([predictor(10, 0, model_change)]), {"rollout": {"modelChanged": true, "modelChangedAtZero": true}})
	"mid-rollout-restart" in rules(warn_of(mid))
	not "dark-launch" in rules(warn_of(mid))

	# Before any rollout 0 splits nothing: first-rollout speaks.
	first := object.union(first_rollout_update(predictor(0, 0, model_change)), {"rollout": {"modelChanged": true, "modelChangedAtZero": true}})
	"first-rollout" in rules(warn_of(first))
	not "dark-launch" in rules(warn_of(first))

	# Without a model change 0 is the rollback: nothing to say.
	not "dark-launch" in rules(warn_of(knative_update([predictor(10, 0, {})])))
}

test_a_percent_before_any_rollout_sends_no_traffic_back if {
	inp := object.union(first_rollout_update(predictor(10, 35, {})), {"rollout": {"percentChanged": true}})
	count(deny_of(inp)) == 0
	count(warn_of(inp)) == 0
	stop := object.union(first_rollout_update(object.union(predictor(10, 10, {}), {"stopped": {"old": false, "new": true}, "serviceStopped": true})), {"rollout": {
		"stopped": {"old": false, "new": true},
		"stopChanged": true,
		"anyStopped": true,
	}})
	not "stop-mid-rollout" in rules(warn_of(stop))
}

# --- Knative: stopping and resuming ------------------------------------------

# The stop annotation as KServe reads it for each component: the
# InferenceService's, or the component's own where it sets one.
stop_update(components, old, new) := object.union(
	knative_update([object.union(c, {"stopped": {"old": old, "new": new}, "serviceStopped": true in {old, new}}) | some c in components]),
	{"rollout": {
		"stopped": {"old": old, "new": new},
		"stopChanged": old != new,
		"anyStopped": true in {old, new},
		"metadataChanged": ["metadata.annotations.serving.kserve.io/stop"],
		"revisionChanged": true,
	}},
)

# Stopped before or after the update: no Knative Service to enter as a
# canary beside.
test_a_model_changed_while_stopped_is_warned_not_refused if {
	inp := object.union(stop_update([predictor(null, null, model_change)], true, true), {"rollout": {"modelChanged": true}})
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "stopped-model-change", ["while serving.kserve.io/stop stops it", "the new model takes all traffic at once"])
	high := object.union(stop_update([predictor(null, 50, model_change)], true, true), {"rollout": {"modelChanged": true}})
	count(deny_of(high)) == 0
	deny_mode := object.union(inp, {"config": {"onModelChange": "deny"}})
	count(deny_of(deny_mode)) == 0
	stopping := object.union(stop_update([predictor(null, null, model_change)], false, true), {"rollout": {"modelChanged": true}})
	not "canary-required" in rules(deny_of(stopping))
	fires(warn_of(stopping), "stopped-model-change", ["while serving.kserve.io/stop stops it"])
	resuming := object.union(stop_update([predictor(null, 10, model_change)], true, false), {"rollout": {"modelChanged": true}})
	count(deny_of(resuming)) == 0
	fires(warn_of(resuming), "stopped-model-change", ["as serving.kserve.io/stop is removed", "resume with the previous model first"])
	not "resume-without-canary" in rules(warn_of(resuming))
	running := object.union(stop_update([predictor(null, null, model_change)], false, false), {"rollout": {"modelChanged": true}})
	"canary-required" in rules(deny_of(running))
	not "stopped-model-change" in rules(warn_of(running))
}

# A stop of the predictor alone, which KServe acted on: the status keeps
# the rolled-out revision of the deleted service, and no latest created one.
component_resume(c, rolled_out) := object.union(
	knative_update([object.union(c, {
		"stopped": {"old": true, "new": false},
		"serviceStopped": true,
		"latestCreatedRevision": "",
		"latestReadyRevision": "",
		"stableRevision": rolled_out,
	})]),
	{"rollout": {"stopChanged": true, "anyStopped": true}},
)

test_a_resume_of_a_component_stopped_alone_with_a_percent_is_warned_it_serves_nothing if {
	inp := component_resume(predictor(10, 10, {}), "my-model-predictor-00003")
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "resume-split", [
		"splits its traffic with the last rolled-out revision, my-model-predictor-00003, which was deleted with the old service",
		"serves nothing until the percent is removed",
		"Remove spec.predictor.canaryTrafficPercent in the same update",
	])
	not fires(warn_of(inp), "resume-split", ["as a canary instead"])

	# With a new model: the way to a canary, and no claim that it takes
	# all traffic whatever the percent says.
	model := object.union(component_resume(predictor(10, 10, model_change), "my-model-predictor-00003"), {"rollout": {"modelChanged": true}})
	fires(warn_of(model), "resume-split", ["To roll the new model out as a canary instead, resume with the previous model first, without the percent"])
	not "stopped-model-change" in rules(warn_of(model))

	# The new service's first revision has the rolled-out one's name: the
	# split is of that revision with itself.
	not "resume-split" in rules(warn_of(component_resume(predictor(10, 10, {}), "my-model-predictor-00001")))
	not "resume-split" in rules(warn_of(component_resume(predictor(10, null, {}), "my-model-predictor-00003")))

	# A stop of the InferenceService clears the status.
	isvc := object.union(inp, {"rollout": {"stopped": {"old": true, "new": false}}})
	not "resume-split" in rules(warn_of(isvc))
}

# Resumed with the percent kept: the route names the deleted service's
# revision, and nothing serves until the percent is removed.
test_a_route_naming_a_deleted_revision_is_warned_and_asks_no_canary if {
	gone := {
		"routesMissingRevision": true,
		"stableRevision": "my-model-predictor-00003",
		"latestCreatedRevision": "my-model-predictor-00001",
		"latestReadyRevision": "my-model-predictor-00001",
		"oldEffectivePercent": 100,
		"canaryInProgress": false,
	}
	kept := object.union(knative_update([predictor(35, 60, gone)]), {"rollout": {"routesMissingRevision": true}})
	fires(warn_of(kept), "resume-split", [
		"spec.predictor splits its traffic with revision my-model-predictor-00003, which was deleted with the Knative Service a stop of spec.predictor removed (its latest revision now is my-model-predictor-00001)",
		"Remove spec.predictor.canaryTrafficPercent",
	])
	not "traffic-to-previous" in rules(warn_of(kept))

	# A model change keeping the percent, where the revision it creates
	# takes the deleted one's name: the split is of that revision with
	# itself.
	reused := object.union(knative_update([predictor(35, 35, object.union(model_change, object.union(gone, {"stableRevision": "my-model-predictor-00002"})))]), {"rollout": {"routesMissingRevision": true, "modelChanged": true}})
	fires(warn_of(reused), "resume-split", [
		"the revision this update creates takes that name",
		"the split is of the new revision with itself, so the model in the spec (gs://models/v2) takes all traffic once ready",
		"leave the model as it was and canaryTrafficPercent unset until",
	])
	not fires(warn_of(reused), "resume-split", ["no traffic moves"])

	# A model changed while the route was refused: it still serves the
	# older revision, and removing the percent moves all traffic at once.
	older := object.union(knative_update([predictor(10, null, object.union(gone, {"servedRevision": "my-model-predictor-00001", "latestCreatedRevision": "my-model-predictor-00002"}))]), {"rollout": {"routesMissingRevision": true}})
	count(deny_of(older)) == 0
	fires(warn_of(older), "resume-cutover", [
		"the route still serves revision my-model-predictor-00001",
		"takes all traffic from my-model-predictor-00001 at once, once ready, with no canary",
		"first put the model revision my-model-predictor-00001 serves back in the spec without canaryTrafficPercent",
	])

	# Only where this update removes the percent, and runs the service.
	not "resume-cutover" in rules(warn_of(object.union(older, {"rollout": {"components": [object.union(older.rollout.components[0], {"percentChanged": false})]}})))
	not "resume-cutover" in rules(warn_of(object.union(older, {"rollout": {"components": [object.union(older.rollout.components[0], {"serviceStopped": true})]}})))

	# A model change there: the same way to a canary.
	older_model := object.union(knative_update([predictor(10, null, object.union(model_change, object.union(gone, {"servedRevision": "my-model-predictor-00001", "latestCreatedRevision": "my-model-predictor-00002"})))]), {"rollout": {"routesMissingRevision": true, "modelChanged": true}})
	fires(warn_of(older_model), "resume-cutover", ["first put the model revision my-model-predictor-00001 serves back in the spec"])
	not fires(warn_of(older_model), "resume-cutover", ["leave the model as it was"])

	model := object.union(knative_update([predictor(35, null, object.union(model_change, gone))]), {"rollout": {"modelChanged": true}})
	count(deny_of(model)) == 0
	not "resume-split" in rules(warn_of(model))
}

# Resumed without the percent, before the new service's first rollout: a
# model change takes all traffic once ready, and says how to canary it.
test_a_model_change_before_the_resumed_service_is_rolled_out_is_warned_it_is_a_cutover if {
	gone := {
		"routesMissingRevision": true,
		"stableRevision": "my-model-predictor-00003",
		"latestCreatedRevision": "my-model-predictor-00001",
		"latestReadyRevision": "",
		"oldEffectivePercent": 100,
		"canaryInProgress": false,
	}
	rollout := {"rollout": {"modelChanged": true, "routesMissingRevision": true}}
	inp := object.union(knative_update([predictor(null, null, object.union(model_change, gone))]), rollout)
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "resume-cutover", [
		"spec.predictor: the model changes",
		"the new model takes all traffic once ready",
		"the revision KServe splits traffic with, my-model-predictor-00003, is one of the Knative Service a stop of spec.predictor deleted",
		"leave the model as it was and canaryTrafficPercent unset until status.components.predictor.latestRolledoutRevision names a revision of the new service (numbered my-model-predictor-00001 or later), then change the model with spec.predictor.canaryTrafficPercent: 10",
	])
	denying := object.union(inp, {"config": {"onModelChange": "deny"}})
	count(deny_of(denying)) == 0

	# A percent below 100 splits with the deleted revision: resume-split.
	split := object.union(knative_update([predictor(null, 10, object.union(model_change, gone))]), rollout)
	not "resume-cutover" in rules(warn_of(split))
	"resume-split" in rules(warn_of(split))
}

# The InferenceService stopped, the predictor kept running by its own
# "false": KServe clears the status, and the route sends all traffic to
# the latest revision.
under_stop(c, isvc_old) := object.union(
	knative_update([object.union(c, {"runsUnderStop": true})]),
	{"rollout": {"stopped": {"old": isvc_old, "new": true}, "stopChanged": false, "anyStopped": false, "runsUnderStop": true}},
)

test_a_component_kept_running_under_a_stopped_inference_service_is_warned_its_canary_ends if {
	stopping := under_stop(object.union(predictor(35, 35, {}), {"canaryInProgress": true, "oldEffectivePercent": 35}), false)
	count(deny_of(stopping)) == 0
	fires(warn_of(stopping), "stop-override", [
		"spec.predictor runs on its own serving.kserve.io/stop \"false\" while the InferenceService's is \"true\"",
		"sends all traffic to its latest revision",
		"the previous model (revision my-model-predictor-00001) loses its 65 %, and 0 no longer rolls back to it",
		"set serving.kserve.io/stop: \"true\" on their annotations instead",
	])

	# A model change under it: a cutover, no percent asked for.
	model := object.union(under_stop(object.union(predictor(null, null, model_change), {"oldEffectivePercent": 100}), true), {"rollout": {"modelChanged": true}})
	count(deny_of(model)) == 0
	count(deny_of(object.union(model, {"config": {"onModelChange": "deny"}}))) == 0
	fires(warn_of(model), "stop-override", ["the new model takes all traffic once ready", "remove the InferenceService's serving.kserve.io/stop first"])

	# Nothing new under a standing stop: no warning.
	quiet := under_stop(predictor(null, null, revision_change), true)
	not "stop-override" in rules(warn_of(quiet))
}

test_a_stop_of_a_component_alone_during_a_canary_says_to_resume_without_the_percent if {
	inp := object.union(
		knative_update([object.union(predictor(35, 35, {}), {
			"stopped": {"old": false, "new": true},
			"serviceStopped": true,
			"stableRevision": "my-model-predictor-00003",
			"latestCreatedRevision": "my-model-predictor-00004",
		})]),
		{"rollout": {"stopChanged": true, "anyStopped": true}},
	)
	fires(warn_of(inp), "stop-mid-rollout", [
		"splits the new service's traffic with revision my-model-predictor-00003, which went with the old service",
		"Remove it when resuming.",
	])
	isvc := object.union(inp, {"rollout": {"stopped": {"old": false, "new": true}}})
	fires(warn_of(isvc), "stop-mid-rollout", ["taking all traffic at once, whatever canaryTrafficPercent says"])
}

test_stop_during_a_canary_warns_of_the_cutover_on_resume if {
	inp := stop_update([predictor(35, 35, {})], false, true)
	count(deny_of(inp)) == 0
	w := warn_of(inp)
	rules(w) == {"stop-mid-rollout"}
	fires(w, "stop-mid-rollout", [
		"serving.kserve.io/stop set during a canary of spec.predictor (spec.predictor.canaryTrafficPercent 35)",
		"the previous model's (revision my-model-predictor-00001, 65 % of traffic) included",
		"starts over with the model in the spec (gs://models/v1) taking all traffic at once",
		"set spec.predictor.canaryTrafficPercent to 0 instead of stopping",
	])
}

test_stop_without_a_canary_is_silent if {
	count(warn_of(stop_update([predictor(null, null, {})], false, true))) == 0
	count(warn_of(stop_update([predictor(100, 100, {})], false, true))) == 0
}

# A percent set at creation splits the one revision with itself: there is
# no previous model to lose.
test_stop_with_a_single_revision_is_silent if {
	single := {"latestCreatedRevision": "my-model-predictor-00001", "latestReadyRevision": "my-model-predictor-00001"}
	count(warn_of(stop_update([predictor(10, 10, single)], false, true))) == 0
}

# A canary rolled back to 0 is still the latest revision and the model in
# the spec: on resume it takes all traffic.
test_stop_after_a_rollback_to_0_warns_of_the_cutover_on_resume if {
	w := warn_of(stop_update([predictor(0, 0, {})], false, true))
	fires(w, "stop-mid-rollout", [
		"the previous model's (revision my-model-predictor-00001, 100 % of traffic) included",
		"taking all traffic at once",
		"put it back in the spec before stopping",
	])
	not fires(w, "stop-mid-rollout", ["set spec.predictor.canaryTrafficPercent to 0 instead"])
}

test_stop_in_standard_mode_is_silent if {
	inp := object.union(stop_update([predictor(35, 35, {})], false, true), {"rollout": {"deploymentMode": "Standard", "rolloutMode": "Standard"}})
	not rules(warn_of(inp))["stop-mid-rollout"]
}

test_resume_with_a_percent_warns_that_it_splits_nothing if {
	inp := stop_update([predictor(35, 35, {})], true, false)
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "resume-without-canary", [
		"serving.kserve.io/stop removed: spec.predictor starts over with no rolled-out revision",
		"its model in the spec (gs://models/v1) takes all traffic at once",
		"spec.predictor.canaryTrafficPercent 35 splits nothing until its next model change",
		"Remove spec.predictor.canaryTrafficPercent in this update",
	])
	not rules(warn_of(stop_update([predictor(null, null, {})], true, false)))["resume-without-canary"]
	not rules(warn_of(stop_update([predictor(35, 35, {})], true, true)))["resume-without-canary"]

	# A component resumed on its own annotation, under an InferenceService
	# never stopped: its status was not cleared.
	own := object.union(stop_update([predictor(35, 35, {})], true, false), {"rollout": {"stopped": {"old": false, "new": false}}})
	not rules(warn_of(own))["resume-without-canary"]
}

# --- split-chain --------------------------------------------------------------

test_split_chain_warns_when_transformer_and_predictor_both_enter_as_canaries if {
	inp := knative_update([predictor(null, 10, model_change), transformer(null, 10, model_change)])
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "split-chain", [
		"spec.transformer and spec.predictor both split traffic after this update (10 % and 10 % to their new models)",
		"about 1 % of requests reach the new transformer with the new predictor model, and about 18 % a new one with an old one",
		"change one of them per update",
	])
}

test_split_chain_warns_when_one_was_split_already if {
	# A transformer canary at 30 % running, a new model entering at 10 %.
	inp := knative_update([predictor(null, 10, model_change), transformer(30, 30, {"canaryInProgress": true})])
	fires(warn_of(inp), "split-chain", ["(30 % and 10 % to their new models)", "about 3 % of requests", "about 34 % a new one with an old one"])
}

test_split_chain_not_for_one_component_or_a_promotion if {
	one := knative_update([predictor(null, 10, model_change), transformer(null, null, {})])
	not "split-chain" in rules(warn_of(one))

	# Both at 100 %: no split, nothing compounds.
	promoted := knative_update([predictor(null, null, model_change), transformer(null, null, model_change)])
	not "split-chain" in rules(warn_of(promoted))
}

# --- Standard mode: entries share at most 100 % ---------------------------------

test_standard_next_step_leaves_room_for_the_other_entries if {
	# v2 35 → 100 beside v3 at 50: the step cap says 60, the sum says 50.
	inp := standard_update([
		standard_predictor({}),
		canary_entry("v2", 0, 35, 100, {}),
		canary_entry("v3", 1, 50, 50, {}),
	])
	fires(deny_of(inp), "max-step", ["Set 50 now"])
}

test_standard_next_step_without_room_names_the_other_entries if {
	inp := standard_update([
		standard_predictor({}),
		canary_entry("v2", 0, 50, 100, {}),
		canary_entry("v3", 1, 50, 50, {}),
	])
	d := deny_of(inp)
	fires(d, "max-step", ["The other spec.canary[] entries hold 50 %, and KServe accepts at most 100 in all: lower or remove one of them before raising this one"])
	not fires(d, "max-step", ["Set 50 now"])
}

test_standard_promotion_step_without_room_names_the_other_entries if {
	inp := standard_update([
		standard_predictor(object.union(model_change, {"promotedCanary": "v2", "promotedCanaryPercent": 50})),
		canary_entry("v2", 0, 50, null, {}),
		canary_entry("v3", 1, 50, 50, {}),
	])
	fires(deny_of(inp), "promotion-step", [
		"The other spec.canary[] entries hold 50 %, and KServe accepts at most 100 in all: lower or remove them so that it can rise, then raise its trafficPercent to 75",
	])
}

test_standard_entry_model_changed_in_place_is_warned if {
	inp := standard_update([
		standard_predictor({}),
		canary_entry("v2", 0, 10, 10, object.union(model_change, {"newModel": "gs://models/v3"})),
	])
	count(deny_of(inp)) == 0
	fires(warn_of(inp), "mid-rollout-restart", [
		"spec.canary[0]: canary v2's model changes in place",
		"KServe rolls its Deployment my-model-v2-predictor",
		"kubectl rollout status deployment/my-model-v2-predictor -n models",
		"add the new model as a new entry under another name",
	])

	# With midRolloutModelChange: deny, mid-rollout refuses it instead.
	denied := standard_update_with(
		[standard_predictor({}), canary_entry("v2", 0, 10, 10, object.union(model_change, {"newModel": "gs://models/v3"}))],
		{"midRolloutModelChange": "deny"},
	)
	not "mid-rollout-restart" in rules(warn_of(denied))
}

test_standard_rename_to_a_kept_entry_says_to_remove_it if {
	# The promotion half done: spec.predictor.name set to the entry's
	# name, the entry left in place.
	inp := make_input(
		{
			"deploymentMode": "Standard",
			"predictorName": "v2", "predictorRenamed": true,
			"components": [
				standard_predictor(model_change),
				canary_entry("v2", 0, 85, 85, {}),
			],
		},
		{},
	)
	fires(deny_of(inp), "standard-canary-required", [
		"spec.predictor.name is set to v2, the name of a canary this update keeps (KServe refuses a predictor and an entry of one name): to promote canary v2, remove its entry in the same update",
	])

	# Below the promotion floor, removing the entry would be refused too.
	low := make_input(
		{
			"deploymentMode": "Standard",
			"predictorName": "v2", "predictorRenamed": true,
			"components": [standard_predictor(model_change), canary_entry("v2", 0, 35, 35, {})],
		},
		{},
	)
	fires(deny_of(low), "standard-canary-required", ["to promote canary v2, raise its trafficPercent to 60 first (promotion is allowed from 75 %)"])

	# Two entries of that name (KServe refuses them too): one hint, no
	# evaluation error.
	twice := make_input(
		{
			"deploymentMode": "Standard",
			"predictorName": "v2", "predictorRenamed": true,
			"components": [standard_predictor(model_change), canary_entry("v2", 0, 35, 35, {}), canary_entry("v2", 1, 85, 85, {})],
		},
		{},
	)
	"standard-canary-required" in rules(deny_of(twice))

	# An entry on the stable's storage URI (args, env or image only):
	# KServe refuses the rename whatever happens to the entry.
	same_uri := make_input(
		{
			"deploymentMode": "Standard",
			"predictorName": "v2", "predictorRenamed": true,
			"components": [standard_predictor(model_change), canary_entry("v2", 0, 85, 85, {"promotableByRename": false})],
		},
		{},
	)
	fires(deny_of(same_uri), "standard-canary-required", ["KServe refuses a rename to v2 either, since its storage URI is the stable's: to promote it, keep spec.predictor's name as it was, set spec.predictor to the entry's predictor as it ran (merged over the old spec.predictor) and remove the entry in one update."])
}

test_standard_rename_to_a_new_entry_says_to_bring_it_in_first if {
	# The rename and the entry in one update: the entry has no rollout yet.
	inp := make_input(
		{
			"deploymentMode": "Standard",
			"predictorName": "v2", "predictorRenamed": true,
			"components": [standard_predictor(model_change), canary_entry("v2", 0, null, 10, {"promotableByRename": true})],
		},
		{},
	)
	fires(deny_of(inp), "standard-canary-required", ["canary v2 is new in this update: bring it in first with spec.predictor as it was (the entry at 10 % or less), raise it step by step to 75 %, then set the name and remove the entry in one update."])
	not fires(deny_of(inp), "standard-canary-required", ["raise its trafficPercent to"])

	same_uri := make_input(
		{
			"deploymentMode": "Standard",
			"predictorName": "v2", "predictorRenamed": true,
			"components": [standard_predictor(model_change), canary_entry("v2", 0, null, 10, {"promotableByRename": false})],
		},
		{},
	)
	fires(deny_of(same_uri), "standard-canary-required", ["then set spec.predictor to the entry's predictor as it ran and remove the entry in one update, keeping spec.predictor's name"])
}

test_standard_promotion_as_ran_follows_the_storage_uri_not_the_model_summary if {
	# Hugging Face entries differ in --model_id only: their summaries
	# differ, their storage URIs (none) do not, so KServe refuses the rename.
	inp := standard_update([
		standard_predictor(object.union(model_change, {
			"oldModel": "Qwen/Qwen2.5-0.5B-Instruct", "newModel": "Qwen/Qwen2.5-0.5B-Instruct",
			"promotedCanary": "v2", "promotedCanaryPercent": 85,
			"promotedCanaryChangedFields": ["spec.predictor.model.args"],
		})),
		canary_entry("v2", 0, 85, null, {"oldModel": "Qwen/Qwen2.5-1.5B-Instruct", "promotableByRename": false}),
	])
	d := deny_of(inp)
	fires(d, "promotion-model", ["keep spec.predictor's name as it was", "KServe refuses a rename to v2"])
	not fires(d, "promotion-model", ["name v2)"])
}

test_standard_new_entry_starts_within_what_the_other_entries_leave if {
	inp := standard_update([
		standard_predictor({}),
		canary_entry("v2", 0, 95, 95, {}),
		canary_entry("v3", 1, null, 50, new_entry),
	])
	fires(deny_of(inp), "initial-percent", ["Set spec.canary[1].trafficPercent: 5 (or less) now"])

	full := standard_update([
		standard_predictor({}),
		canary_entry("v2", 0, 100, 100, {}),
		canary_entry("v3", 1, null, 50, new_entry),
	])
	fires(deny_of(full), "initial-percent", ["The other spec.canary[] entries hold 100 %, and KServe accepts at most 100 in all: lower or remove one of them first"])
}

paused(components, old, new) := make_input({"components": components, "autoUpdateDisabled": {"old": old, "new": new}}, {})

test_a_change_while_auto_update_is_disabled_is_warned_it_takes_no_effect if {
	w := warn_of(paused([predictor(10, 35, {})], true, true))
	fires(w, "auto-update-disabled", [
		"serving.kserve.io/disable-auto-update is \"true\" and the InferenceService is Ready, so KServe does not reconcile it",
		"this change of spec.predictor reaches neither its pods nor its traffic",
		"until the annotation is removed (or set to \"false\")",
	])

	# Set in the same update: KServe reads it before anything else.
	"auto-update-disabled" in rules(warn_of(paused([predictor(null, 10, model_change)], false, true)))

	# Removed, or a change that touches no component: nothing to warn of.
	not "auto-update-disabled" in rules(warn_of(paused([predictor(10, 35, {})], true, false)))
	not "auto-update-disabled" in rules(warn_of(paused([predictor(35, 35, {})], true, true)))

	# Not Ready: KServe reconciles it all the same.
	not_ready_isvc := object.union(paused([predictor(10, 35, {})], true, true), {"rollout": {"statusReady": false}})
	not "auto-update-disabled" in rules(warn_of(not_ready_isvc))
}

test_a_rise_the_status_lags_while_auto_update_is_disabled_says_to_remove_it if {
	lagging := object.union(not_ready, {"canaryReadyReason": "status has not caught up with the spec yet (its traffic gives the latest revision 100 %, the spec 10 %)"})
	d := deny_of(paused([predictor(10, 35, lagging)], true, true))
	fires(d, "canary-not-ready", ["Wait until it is ready, then raise it; or set 0 to roll back. KServe does not reconcile this InferenceService while it is Ready and serving.kserve.io/disable-auto-update is \"true\", so the status may never catch up: remove the annotation"])
	not fires(deny_of(knative_update([predictor(10, 35, lagging)])), "canary-not-ready", ["disable-auto-update"])
	not_ready_isvc := object.union(paused([predictor(10, 35, lagging)], true, true), {"rollout": {"statusReady": false}})
	not fires(deny_of(not_ready_isvc), "canary-not-ready", ["disable-auto-update"])
}
