# canary-guard's shipped rollout rules.
#
# Input: docs/policy-input.md. Each rule adds {"rule": id, "msg": text} to
# deny or warn. Every message says what was asked, what is allowed now and
# the next step. canary-guard itself (not these rules) always admits
# rollbacks, lowered percents and updates that change nothing
# revision-relevant, and applies enforcement (enforce, warn, audit) and
# overrides, so rules here and in custom files need not handle those.
package canary_guard

# Rule bodies open with comparisons of input fields to constants
# (rolloutMode, operation, raised, modelChanged, ...): OPA's rule index
# uses them to skip rules that cannot apply, which keeps evaluation on the
# webhook's request path cheap. They read input.config and input.rollout
# directly rather than through cfg and rollout: each read through a rule is
# a rule evaluation of its own. A boolean fact, always present, is tested
# as `c.field == false` rather than `not c.field`: a negation is a
# sub-query of its own.

# Aliases of the input documents, for queries and tests (opa eval
# 'data.canary_guard.rollout'); rules read input.config and input.rollout
# directly, which OPA's index can use.
cfg := input.config

rollout := input.rollout

# Indices into input.rollout.components of the components that exist
# before and after an update and carry canaryTrafficPercent (predictor,
# transformer, explainer), but for one ModelMesh serves (no canary). Sets
# of indices, not of the component objects: hashing whole objects into
# sets would cost more than the rules.
updated_components contains i if {
	input.rollout.operation == "UPDATE"
	some i, c in input.rollout.components
	c.kind != "canary"
	c.inOld
	c.inNew
	c.modelMesh == false
}

# Indices of the Standard-mode spec.canary[] entries present after the update.
canary_entries contains i if {
	input.rollout.operation == "UPDATE"
	some i, c in input.rollout.components
	c.kind == "canary"
	c.inNew
}

field(c) := sprintf("%s.%s", [c.path, c.percentField])

pct(p) := "absent (100 %)" if p == null

pct(p) := sprintf("%d", [p]) if p != null

pct_share(p) := "100 % (no canaryTrafficPercent)" if p == null

pct_share(p) := sprintf("%d %%", [p]) if p != null

# change_desc describes a model change: the two models, or the changed
# fields when the summary (storage URI or image) is the same.
change_desc(c) := sprintf("changes from %s to %s", [model_desc(c.oldModel), model_desc(c.newModel)]) if c.oldModel != c.newModel

change_desc(c) := sprintf("changes (%s)", [concat(", ", c.changedFields)]) if c.oldModel == c.newModel

# new_model describes the new model of c for messages: its summary (storage
# URI, image, model_id), else the fields that set it.
new_model(c) := c.newModel if {
	c.newModel != ""
} else := sprintf("(set by %s)", [concat(", ", fields)]) if {
	fields := [f | some f in c.changedFields; model_field(f)]
	count(fields) > 0
} else := "(not set)"

# model_field holds for a changed field through which a model can change
# (README, "What counts as a model change"), by its last name:
# spec.predictor.model.args, spec.predictor.containers[0].env.
model_field(f) if {
	parts := split(f, ".")
	name := split(parts[count(parts) - 1], "[")[0]
	name in {
		"storageUri", "storage", "storageUris", "storageContainerName", "modelFormat", "version",
		"runtime", "runtimeVersion", "protocolVersion", "image", "command", "args", "env", "envFrom",
		"volumeMounts", "volumes", "containers", "initContainers", "serviceAccountName", "serviceAccount",
		"workerSpec", "confidential", "art", "resources",
	}
}

model_desc(m) := m if m != ""

model_desc(m) := "(not set)" if m == ""

# The highest percent a rise from old may reach in one update. From 0 (a
# canary rolled back, or a new model deployed at 0 %), no more than a new
# model may enter with, as Argo Rollouts restarts an aborted rollout at
# its first step.
next_step(old) := min([old + input.config.maxStepPercent, 100]) if {
	old > 0
} else := input.config.initialCanaryPercent

promotion_floor := 100 - input.config.maxStepPercent

entry_ok(c) if {
	c.newPercent != null
	c.newPercent >= 0
	c.newPercent <= input.config.initialCanaryPercent
}

# --- Knative mode -----------------------------------------------------------

deny contains {"rule": "percent-range", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.percentOutOfRange == true
	input.rollout.operation == "UPDATE"
	some c in input.rollout.components
	c.kind != "canary"
	c.inNew
	c.modelMesh == false
	c.newPercent != null
	outside_percent(c.newPercent)
	msg := sprintf(
		"%s %d is outside 0..100; Knative would reject it and leave traffic where it is. %s",
		[field(c), c.newPercent, range_next_step(c)],
	)
}

# What the other rules admit in place of an out-of-range percent: the
# initial percent for a new model, the next step of a running canary. A
# predictor whose name is removed moves back to its default Knative
# Service, where predictor-rename asks for no percent; one given a name
# is refused, and predictor-rename asks to keep the name and enter with
# a percent.
range_next_step(c) := "Remove it in the same update: a split would name a revision of the old Knative Service, which Knative refuses." if {
	renames_service(c)
	input.rollout.predictorName == ""
} else := sprintf(
	"A new model may enter with at most %d %%: set %s: %d (or less).",
	[input.config.initialCanaryPercent, field(c), input.config.initialCanaryPercent],
) if {
	c.inOld
	c.modelChanged
	not mid_rollout_refuses(c)
} else := sprintf("%s, %s.", [next_step_desc(c), roll_back_desc(c.oldEffectivePercent)]) if {
	c.inOld
	c.modelChanged == false
	c.oldEffectivePercent < 100
} else := "Remove it to keep all traffic on the current model, or set 0 to roll back." if {
	c.inOld
	c.modelChanged == false
} else := sprintf("Leave it %s and the model as it was.", [keep_percent_desc(c.oldPercent)]) if {
	c.inOld
} else := "Set a value from 0 to 100."

keep_percent_desc(p) := "unset" if p == null

else := sprintf("at %d", [p])

valid_percent(p) if {
	p >= 0
	p <= 100
}

outside_percent(p) if p < 0

outside_percent(p) if p > 100

deny contains {"rule": "canary-required", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.modelChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	c.newPercent == null
	not mid_rollout_refuses(c)
	not renames_service(c)
	c.serviceStopped == false
	c.routesMissingRevision == false
	c.runsUnderStop == false
	msg := sprintf(
		"%s needs a canary. Set %s: %d in the same update: the model %s with no canaryTrafficPercent, which sends 100 %% of traffic to the new model at once, and a new model may enter with at most %d %%. Raise it step by step after.%s",
		[c.path, field(c), input.config.initialCanaryPercent, change_desc(c), input.config.initialCanaryPercent, revert_hint(c)],
	)
}

# Under auto-selection modelFormat.version and protocolVersion only select
# a runtime: KServe may pick another one (a new model server, which must
# enter as a canary) or the same one (no revision: a percent there splits
# the running revision with itself, and KServe then sends the rest to the
# previous model). The request cannot tell which; naming the runtime
# settles it.
deny contains {"rule": "runtime-selection", "msg": msg} if {
	input.rollout.versionSelectsRuntime == true
	some i in updated_components
	c := input.rollout.components[i]
	c.versionSelectsRuntime == true
	input.rollout.rolloutMode != "ModelMesh"
	selecting := [f |
		some f in c.changedFields
		selects_runtime(f)
	]
	msg := sprintf(
		"%s %s while KServe selects the runtime: it may select another runtime (a new model server, which must enter as a canary) or keep %s (%s), and the update does not say which. %s",
		[concat(" and ", selecting), changes_verb(selecting), runtime_in_use(c), same_runtime_effect, name_runtime_step(c)],
	)
}

# In Standard mode, with no runtime in the status (a GitOps check without
# one, or a status not written yet), a runtime named in spec.predictor
# may be another one, a model change standard-canary-required refuses:
# the entry that names it is the way that is admitted.
name_runtime_step(c) := sprintf(
	"The status names no runtime in use, so naming one in spec.predictor would be a model change too: leave spec.predictor as it was and bring the change in as a spec.canary[] entry whose model names the runtime ({predictor: {name: <canary-name>, model: {..., runtime: <runtime>}}, trafficPercent: %d}).",
	[input.config.initialCanaryPercent],
) if {
	c.runtimeInUse == ""
	input.rollout.rolloutMode == "Standard"
	c.kind == "predictor"
	input.rollout.canaryEntriesAccepted == true
} else := sprintf(
	"Name the runtime in the same update: %s.model.runtime: %s keeps the one in use; %s.",
	[c.path, runtime_name(c), other_runtime_step(c)],
)

selects_runtime(f) if endswith(f, ".model.modelFormat.name")

selects_runtime(f) if endswith(f, ".model.modelFormat.version")

selects_runtime(f) if endswith(f, ".model.protocolVersion")

changes_verb(fields) := "changes" if count(fields) == 1

else := "change"

# Removing a named runtime leaves it to the same auto-selection: KServe may
# select the runtime that was named (no revision) or another one.
deny contains {"rule": "runtime-selection", "msg": msg} if {
	input.rollout.runtimeUnpinned == true
	some i in updated_components
	c := input.rollout.components[i]
	c.runtimeUnpinned == true
	input.rollout.rolloutMode != "ModelMesh"
	msg := sprintf(
		"%s.model.runtime %s is removed, so KServe selects a runtime itself: it may select %s again (%s) or another runtime (a new model server, which must enter as a canary), and the update does not say which. Keep %s.model.runtime: %s to stay on it; %s.",
		[c.path, c.runtimeInUse, c.runtimeInUse, same_runtime_effect, c.path, c.runtimeInUse, other_runtime_step(c)],
	)
}

same_runtime_effect := "no new revision, where a canary percent would send traffic back to the previous model" if {
	input.rollout.rolloutMode == "Knative"
} else := "the pods stay as they are"

# Another runtime is a model change: in Knative mode a canary percent, in
# Standard mode a spec.canary[] entry, brings it in.
other_runtime_step(c) := sprintf("to move to another runtime, name it with %s: %d", [field(c), input.config.initialCanaryPercent]) if {
	input.rollout.rolloutMode == "Knative"
} else := "to move to another runtime, leave spec.predictor as it was and bring the other runtime in as a spec.canary[] entry that names it" if {
	c.kind == "predictor"
	input.rollout.canaryEntriesAccepted == true
} else := "another runtime replaces this one for all traffic at once"

runtime_in_use(c) := c.runtimeInUse if c.runtimeInUse != ""

runtime_in_use(c) := "the one in use" if c.runtimeInUse == ""

runtime_name(c) := c.runtimeInUse if c.runtimeInUse != ""

runtime_name(c) := "<the runtime in status.clusterServingRuntimeName or status.servingRuntimeName>" if c.runtimeInUse == ""

# A model change without a percent during a canary is often meant as the
# rollback (a Git revert of the model change). It is none: KServe routes
# all traffic to the latest ready revision, the canary itself once it is
# ready, until the new revision is ready (ksvc_reconciler: no percent,
# latestRevision 100, which Knative resolves to the latest ready one).
revert_hint(c) := sprintf(
	" To roll the canary back instead, leave the model as it is and set %s: 0; without a percent, all traffic would go to the latest ready revision, %s, until the new one is ready.",
	[field(c), latest_ready_desc(c)],
) if {
	c.canaryInProgress
} else := ""

# The latest ready revision: the canary, unless it never became ready
# (then an older one, the stable revision as a rule).
latest_ready_desc(c) := sprintf("the canary %s", [c.latestReadyRevision]) if {
	c.latestReadyRevision != ""
	c.latestReadyRevision == c.latestCreatedRevision
} else := sprintf("%s (the canary %s is not ready)", [c.latestReadyRevision, revision_desc(c.latestCreatedRevision)]) if {
	c.latestReadyRevision != ""
} else := revision_desc("")

deny contains {"rule": "initial-percent", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.modelChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	c.newPercent != null
	valid_percent(c.newPercent)
	not entry_ok(c)
	not mid_rollout_refuses(c)
	not renames_service(c)
	c.serviceStopped == false
	c.routesMissingRevision == false
	c.runsUnderStop == false
	msg := sprintf(
		"%s: the new model %s would enter with %s %d; a new model may enter with at most %d. Set %s: %d (or less) now and raise it step by step.",
		[c.path, new_model(c), c.percentField, c.newPercent, input.config.initialCanaryPercent, field(c), input.config.initialCanaryPercent],
	)
}

deny contains {"rule": "max-step", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.raised == true
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged == false
	c.newEffectivePercent > c.oldEffectivePercent
	c.newEffectivePercent <= 100
	c.oldEffectivePercent > 0
	rise := c.newEffectivePercent - c.oldEffectivePercent
	rise > input.config.maxStepPercent
	msg := sprintf(
		"%s %s → %s rises by %d; at most %d per update. %s, %s.",
		[
			field(c), pct(c.oldPercent), pct(c.newPercent), rise, input.config.maxStepPercent,
			next_step_desc(c), rise_roll_back_desc(c),
		],
	)
}

# The rollback of a rise from above 0 (roll_back_desc). A percent kept
# after the first rollout of an InferenceService created with it, or
# after the fix of a first model that never became ready, splits that one
# revision with itself: the cap holds (the status may predate a model
# change, which the step would then cut over to), and the user is told
# why the steps look idle.
rise_roll_back_desc(c) := sprintf(
	"or 0 to roll back. The status shows one revision, %s, on both sides of %s, so these steps move no traffic unless the model changed after that status was written, which canary-guard cannot rule out (0 would keep %s too)",
	[c.latestCreatedRevision, field(c), c.latestCreatedRevision],
) if {
	c.splitsWithItself == true
} else := "or 0 to roll back"

# From 0 the cap is the initial percent (next_step). A rule of its own,
# which the rule index skips unless something rises from 0, rather than a
# cap computed in the rule above for every step.
deny contains {"rule": "max-step", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.raisedFromZero == true
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged == false
	c.oldEffectivePercent == 0
	c.newEffectivePercent <= 100
	c.newEffectivePercent > input.config.initialCanaryPercent
	msg := sprintf(
		"%s %s → %s rises by %d; %s. %s, %s.",
		[
			field(c), pct(c.oldPercent), pct(c.newPercent), c.newEffectivePercent, from_zero_cap,
			next_step_desc(c), roll_back_desc(0),
		],
	)
}

from_zero_cap := sprintf("at most %d from 0 %%, as for a new model", [input.config.initialCanaryPercent])

# The next step, now, unless the canary-not-ready or step-interval rule
# refuses it too: then when it will be admitted. The first branch is the
# common case, settled in two comparisons; the step-interval test is
# spelled out (as in that rule) rather than a rule of its own, each read
# of which would be a rule evaluation.
next_step_desc(c) := sprintf("%s: lower or remove one of them before raising this one", [no_room(c.name)]) if {
	c.kind == "canary"
	step_to(c) <= c.oldEffectivePercent
} else := sprintf("Set %d now", [step_to(c)]) if {
	input.config.minStepIntervalSeconds == 0
	c.canaryReady != "false"
} else := sprintf("Once the canary is ready, and at or after %s, set %d", [next_step_at, step_to(c)]) if {
	input.config.requireReadyCanary == true
	c.canaryReady == "false"
	input.config.minStepIntervalSeconds > 0
	input.rollout.step.secondsSinceLastStep >= 0
	input.rollout.step.secondsSinceLastStep < input.config.minStepIntervalSeconds
} else := sprintf("Once the canary is ready, set %d", [step_to(c)]) if {
	input.config.requireReadyCanary == true
	c.canaryReady == "false"
} else := sprintf("At or after %s, set %d", [next_step_at, step_to(c)]) if {
	input.config.minStepIntervalSeconds > 0
	input.rollout.step.secondsSinceLastStep >= 0
	input.rollout.step.secondsSinceLastStep < input.config.minStepIntervalSeconds
} else := sprintf("Set %d now", [step_to(c)])

# The next percent of a rise: the step cap, and for a Standard-mode entry
# what the other entries leave (KServe refuses entries whose
# trafficPercent sum over 100).
step_to(c) := min([next_step(c.oldEffectivePercent), 100 - others_percent(c.name)]) if {
	c.kind == "canary"
} else := next_step(c.oldEffectivePercent)

# Why the entry name cannot rise: the others hold the rest.
no_room(name) := sprintf("The other spec.canary[] entries hold %d %%, and KServe accepts at most 100 in all", [others_percent(name)])

# The traffic of the spec.canary[] entries other than name, after the update.
others_percent(name) := sum([e.newEffectivePercent |
	some e in input.rollout.components
	e.kind == "canary"
	e.inNew
	e.name != name
])

# The earliest time the next rise is admitted (RFC 3339, UTC).
next_step_at := time.format([
	time.parse_rfc3339_ns(input.rollout.step.lastStepAt) + (input.config.minStepIntervalSeconds * 1000000000),
	"UTC", "2006-01-02T15:04:05Z07:00",
])

# How to roll a component back: a Standard-mode entry is removed; a
# Knative percent already at 0 is rolled back, so the way back is to stay.
roll_back_hint(c) := "to roll back instead, leave spec.predictor as it was and remove the entry" if {
	promoted_entry(c)
} else := "remove the entry to roll back" if {
	c.kind == "canary"
} else := "leave it at 0" if {
	c.oldEffectivePercent == 0
} else := "set 0 to roll back"

# The way back from a refused rise: 0, unless the canary is there already.
roll_back_desc(old) := "or leave it at 0" if {
	old == 0
} else := "or 0 to roll back"

deny contains {"rule": "canary-not-ready", "msg": msg} if {
	input.rollout.raised == true
	input.config.requireReadyCanary == true
	some i in rising_components
	c := input.rollout.components[i]
	c.canaryReady == "false"
	msg := sprintf(
		"%s raises traffic while the canary is not ready: %s. Wait until it is ready, then %s; or %s.%s%s%s",
		[rise_desc(c), c.canaryReadyReason, rise_verb(c), roll_back_hint(c), paused_note, failed_canary_hint(c), watch_hint(c)],
	)
}

# Where to see the canary become ready: a Standard-mode entry's
# Deployment; a transformer's or explainer's Knative Service (the
# InferenceService's LATESTREADYREVISION column is the predictor's);
# else the InferenceService.
watch_hint(c) := sprintf(
	" Watch it with: kubectl rollout status deployment/%s-%s-predictor -n %s",
	[input.request.name, c.name, input.request.namespace],
) if {
	c.kind == "canary"
} else := sprintf(
	" Watch it with: kubectl get ksvc %s-%s -n %s -w (LATESTREADY)",
	[input.request.name, c.kind, input.request.namespace],
) if {
	c.kind != "predictor"
} else := sprintf(
	" Watch it with: kubectl get inferenceservice %s -n %s -w (LATESTREADYREVISION)",
	[input.request.name, input.request.namespace],
)

# A canary that failed (an image that cannot be pulled, a model that does
# not load) does not become ready by waiting: where a new model may
# replace a running canary, that is the other way on.
failed_canary_hint(c) := sprintf(
	" If it has failed (the InferenceService's status.conditions say why), change the model again with %s: %d: the fix replaces this canary.",
	[field(c), input.config.initialCanaryPercent],
) if {
	input.config.midRolloutModelChange == "restart"
} else := ""

# KServe's controller skips a Ready InferenceService whose
# serving.kserve.io/disable-auto-update is "true" (inferenceservice/
# controller.go): the stored spec waits, and the status with it.
paused_note := " KServe does not reconcile this InferenceService while it is Ready and serving.kserve.io/disable-auto-update is \"true\", so the status may never catch up: remove the annotation (or set it to \"false\") for KServe to apply the spec." if {
	input.rollout.autoUpdateDisabled.old == true
	input.rollout.statusReady == true
} else := ""

warn contains {"rule": "canary-ready-unknown", "msg": msg} if {
	input.rollout.raised == true
	input.config.requireReadyCanary == true
	some i in rising_components
	c := input.rollout.components[i]
	c.canaryReady == "unknown"
	msg := sprintf(
		"%s: the status does not say whether the canary is ready (%s), so readiness was not checked. Check the canary before the next step.",
		[rise_desc(c), c.canaryReadyReason],
	)
}

# A rise as the user made it: a percent from old to new, or a Standard-mode
# promotion, which removes the entry rather than raising its percent.
rise_desc(c) := sprintf("promoting canary %s (at %d %%) to all traffic", [c.name, c.oldEffectivePercent]) if {
	promoted_entry(c)
} else := sprintf("%s %s → %s", [field(c), pct(c.oldPercent), pct(c.newPercent)])

rise_verb(c) := "promote it" if promoted_entry(c)

else := "raise it"

upper_first(s) := concat("", [upper(substring(s, 0, 1)), substring(s, 1, -1)])

lower_first(s) := concat("", [lower(substring(s, 0, 1)), substring(s, 1, -1)])

promoted_entry(c) if {
	c.kind == "canary"
	c.inNew == false
}

# Indices of the components whose existing canary rises, in either mode.
rising_components contains i if {
	input.rollout.rolloutMode == "Knative"
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged == false
	c.newEffectivePercent > c.oldEffectivePercent
}

rising_components contains i if {
	input.rollout.rolloutMode == "Standard"
	some i in canary_entries
	c := input.rollout.components[i]
	c.inOld
	c.modelChanged == false
	c.newEffectivePercent > c.oldEffectivePercent
}

# A Standard-mode promotion raises the promoted canary to all traffic.
rising_components contains i if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.operation == "UPDATE"
	some p in input.rollout.components
	p.kind == "predictor"
	p.promotedCanary != ""
	some i, c in input.rollout.components
	c.kind == "canary"
	c.name == p.promotedCanary
	c.inOld
	c.inNew == false
}

deny contains {"rule": "step-interval", "msg": msg} if {
	input.rollout.raised == true
	input.config.minStepIntervalSeconds > 0
	input.rollout.step.secondsSinceLastStep >= 0
	input.rollout.step.secondsSinceLastStep < input.config.minStepIntervalSeconds
	some i in rising_components
	c := input.rollout.components[i]
	msg := sprintf(
		"%s comes %d s after the last step (%s); steps need %d s between them. %s at or after %s, or %s.",
		[
			rise_desc(c), input.rollout.step.secondsSinceLastStep,
			input.rollout.step.lastStepAt, input.config.minStepIntervalSeconds, upper_first(rise_verb(c)), next_step_at,
			roll_back_hint(c),
		],
	)
}

# With midRolloutModelChange deny, a new model over a running canary is
# refused whatever its percent: the rules that would ask for another
# percent stand down (mid_rollout_refuses), so the denial names the one
# step that helps.
mid_rollout_denied(c) if {
	input.config.midRolloutModelChange == "deny"
	c.kind != "canary"
	c.canaryInProgress
}

mid_rollout_denied(c) if {
	input.config.midRolloutModelChange == "deny"
	c.kind == "canary"
	c.inOld
}

# The others stand down only where mid-rollout refuses at the namespace's
# mode: relaxed by ruleEnforcement it admits, and the new model must still
# enter as a canary (the mutating webhook injects its percent again).
mid_rollout_refuses(c) if {
	mid_rollout_denied(c)
	not rule_relaxed("mid-rollout")
}

# rule_relaxed(id): ruleEnforcement sets rule id below the namespace's
# enforcement, so its denials do not refuse.
rule_relaxed(id) if {
	enforcement_leniency[input.config.ruleEnforcement[id]] > enforcement_leniency[input.config.enforcement]
}

enforcement_leniency := {"enforce": 0, "warn": 1, "audit": 2}

deny contains {"rule": "mid-rollout", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.modelChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	mid_rollout_denied(c)
	msg := sprintf(
		"%s: a canary is running at %d %% (revision %s); this configuration does not let a new model (%s) replace it. Roll it back first (set %s: 0, keeping the model it runs), then change the model; or finish the rollout first (next: %s; the canary is promoted, the field removed, from %d %%).",
		[c.path, c.oldPercent, revision_desc(c.latestCreatedRevision), new_model(c), field(c), lower_first(next_step_desc(c)), promotion_floor],
	)
}

warn contains {"rule": "mid-rollout-restart", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.modelChanged == true
	input.config.midRolloutModelChange == "restart"
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	c.canaryInProgress

	# Only when the new model re-enters as a canary: above the initial
	# percent canary-required or initial-percent refuses it, and at 100 %
	# prev would keep nothing. A renamed predictor starts in another
	# Knative Service, without a canary: predictor-rename speaks for it.
	entry_ok(c)
	not renames_service(c)

	# A percent set on the one revision there is (an InferenceService
	# created with canaryTrafficPercent) splits it with itself: there is
	# no canary revision to replace.
	not single_revision(c)
	msg := sprintf(
		"%s: the new model %s replaces %s; it re-enters at %s. prev stays on %s.",
		[c.path, new_model(c), replaced_canary_desc(c), pct_share(c.newPercent), revision_desc(c.stableRevision)],
	)
}

# The canary revision a new model replaces. One that never became ready
# took none of its percent: Knative's latestRevision target follows the
# latest ready revision, so its share stayed on the one before it.
replaced_canary_desc(c) := sprintf(
	"revision %s, which has not become ready (its %d %% stayed on %s)",
	[c.latestCreatedRevision, c.oldPercent, c.latestReadyRevision],
) if {
	c.latestCreatedRevision != ""
	c.latestReadyRevision != ""
	c.latestCreatedRevision != c.latestReadyRevision
} else := sprintf("the in-flight canary revision %s (was at %d %%)", [revision_desc(c.latestCreatedRevision), c.oldPercent])

# KServe points the transformer (and the explainer) at the predictor's
# own route, <isvc>-predictor, untagged (CustomTransformer.GetContainer),
# so a canary of each compounds: the new pair meets on p x q of the
# traffic, and a new half meets an old one on much more. Also where one
# of them was split already and this update splits the other.
warn contains {"rule": "split-chain", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.modelChanged == true
	input.rollout.operation == "UPDATE"
	some i in updated_components
	c := input.rollout.components[i]
	c.kind != "predictor"
	some j in updated_components
	p := input.rollout.components[j]
	p.kind == "predictor"
	c.newEffectivePercent < 100
	p.newEffectivePercent < 100
	split_by_model(c)
	split_by_model(p)
	changed_either(c, p)
	both := round((c.newEffectivePercent * p.newEffectivePercent) / 100)
	mixed := round(((c.newEffectivePercent * (100 - p.newEffectivePercent)) + ((100 - c.newEffectivePercent) * p.newEffectivePercent)) / 100)
	msg := sprintf(
		"%s and spec.predictor both split traffic after this update (%d %% and %d %% to their new models), and the %s calls the predictor through its route, which splits too: about %d %% of requests reach the new %s with the new predictor model, and about %d %% a new one with an old one. If they only work together, try the pair on a separate InferenceService first; otherwise change one of them per update, and promote or roll back one canary before starting the other.",
		[c.path, c.newEffectivePercent, p.newEffectivePercent, c.kind, both, c.kind, mixed],
	)
}

# A component whose latest revision is a new model: changed now, or a
# canary running already.
split_by_model(c) if c.modelChanged

split_by_model(c) if c.canaryInProgress

changed_either(c, _) if c.modelChanged

changed_either(_, p) if p.modelChanged

# The status shows one revision, created, ready and rolled out.
single_revision(c) if {
	c.stableRevision != ""
	c.latestCreatedRevision == c.stableRevision
}

revision_desc(r) := r if r != ""

revision_desc(r) := "(unknown: status has none)" if r == ""

# In Knative mode spec.predictor.name is part of the predictor's Knative
# Service (<isvc>-<name>-predictor): a new name starts a new service,
# whose first revision is no canary beside the running one, and whose
# split would name a revision of the old service. KServe allows a rename
# only with a new storage URI, so it always brings a new model.
deny contains {"rule": "predictor-rename", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.predictorRenamed == true
	input.rollout.operation == "UPDATE"
	input.rollout.predictorName != ""
	some i in updated_components
	c := input.rollout.components[i]
	c.kind == "predictor"
	msg := sprintf(
		"%s.name changes to %s. Keep spec.predictor.name as it was and change the model with %s: %d: in Knative mode the name is part of the predictor's Knative Service (%s-%s-predictor), so the model %s would start in a new service, not as a canary beside the running one; the name promotes spec.canary[] entries in Standard mode only.",
		[c.path, input.rollout.predictorName, field(c), input.config.initialCanaryPercent, input.request.name, input.rollout.predictorName, new_model(c)],
	)
}

# A predictor whose name changes moves to another Knative Service, where
# no percent makes a canary: predictor-rename speaks for it.
renames_service(c) if {
	c.kind == "predictor"
	input.rollout.predictorRenamed == true
}

# Removing the name goes back to the default service: admitted, so that
# a rename made before (in warn mode, under an override) can be undone.
warn contains {"rule": "predictor-rename", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.predictorRenamed == true
	input.rollout.operation == "UPDATE"
	input.rollout.predictorName == ""
	some i in updated_components
	c := input.rollout.components[i]
	c.kind == "predictor"
	msg := sprintf(
		"%s.name is removed: the predictor moves back to the Knative Service %s-predictor, whose latest revision (model %s) takes all of its traffic once ready, without a canary. %s",
		[c.path, input.request.name, new_model(c), rename_percent_note(c)],
	)
}

# KServe would split the new service's traffic with the last rolled-out
# revision, which belongs to the old service: Knative refuses that route.
rename_percent_note(c) := sprintf(
	"Remove %s in the same update: a split would name a revision of the old service, which Knative refuses.",
	[field(c)],
) if {
	c.newPercent != null
	c.newPercent != 100
} else := "Leave canaryTrafficPercent unset until the next model change."

warn contains {"rule": "traffic-to-previous", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.percentChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.revisionChanged == false
	c.oldEffectivePercent == 100
	c.newPercent != null
	c.newPercent < 100
	c.newPercent >= 0

	# With no revision rolled out, KServe splits nothing; with one of a
	# deleted service, Knative routes nothing (resume-split).
	c.firstRolloutPending == false
	c.routesMissingRevision == false

	# With no previous rolled-out revision, PropagateStatus leaves the
	# prev target on the latest revision: it splits with itself.
	not no_previous_revision(c)
	msg := traffic_back_msg(c)
}

traffic_back_msg(c) := sprintf(
	"%s set to %d with no model change after a full promotion: KServe splits %d %% of traffic to the previous rolled-out revision, %s, but that one was deleted with the Knative Service a stop of %s removed, so Knative refuses the route: no traffic moves, the InferenceService turns not ready, and every split fails the same way until %s is removed. No previous model is left to go back to; to serve another one, change the model with %s: %d.",
	[field(c), c.newPercent, 100 - c.newPercent, back, c.path, field(c), field(c), input.config.initialCanaryPercent],
) if {
	c.stableRevision != ""
	back := traffic_back_revision(c)
	revision_of_deleted_service(back, c.latestCreatedRevision)
} else := sprintf(
	"%s set to %d with no model change after a full promotion: %d %% of traffic goes back to the previous model (revision %s). %s",
	[field(c), c.newPercent, 100 - c.newPercent, revision_desc(traffic_back_revision(c)), back_to_current(c)],
) if {
	c.stableRevision != ""
} else := sprintf(
	# A manifest from Git (eval --old) carries no status, and where the
	# webhook injected the percent, Git says absent while the cluster runs
	# a canary.
	"%s set to %d with no model change, and the stored object shows no status to tell what runs: if its last model change is fully promoted, %d %% of traffic goes back to the previous model; %s Compare with status.components.%s of the InferenceService in the cluster (kubectl get inferenceservice %s -n %s -o yaml). %s",
	[field(c), c.newPercent, 100 - c.newPercent, canary_case_desc(c), c.kind, input.request.name, input.request.namespace, back_to_current(c)],
)

# What the same percent does where a canary runs at a percent the webhook
# set: 0 is a rollback, always admitted; anything else a rise or a lower
# percent, which the cluster checks against the step rules.
canary_case_desc(c) := "if a canary runs, this is a rollback of it, which is always admitted." if {
	c.newPercent == 0
} else := "if a canary runs at a percent canary-guard set, this may be a rise, which the cluster checks against the step rules."

# The status shows the one revision rolled out, with none before it
# (inference_service_status.go rolls LatestRolledoutRevision back only to
# a PreviousRolledoutRevision that is set).
no_previous_revision(c) if {
	c.stableRevision != ""
	c.latestReadyRevision == c.stableRevision
	c.previousRevision == ""
}

# Where KServe sends the 100-N %: its prev target is latestRolledoutRevision
# (ksvc_reconciler.go), which PropagateStatus moves back to
# previousRolledoutRevision once the latest ready revision, rolled out at
# 100 %, gets less. Until the controller has seen the promotion (the latest
# ready revision is not yet the rolled-out one), that is the stable revision
# itself, not the one before it.
traffic_back_revision(c) := c.previousRevision if {
	c.latestReadyRevision == c.stableRevision
} else := c.stableRevision

# Once the lower percent is in place, removing the field again is a rise
# to 100 like any other: max-step caps it.
back_to_current(c) := "Remove the field to keep all traffic on the current model." if {
	c.newPercent >= promotion_floor
} else := sprintf(
	"To keep all traffic on the current model, leave the field unset; once this is applied, going back to 100 %% is a rise in capped steps: set %d next.",
	[next_step(c.newPercent)],
)

# --- Standard mode -----------------------------------------------------------

# Refused only with a model change, which the percent would not hold
# back: a percent alone moves nothing and is warned below.
deny contains {"rule": "standard-ignores-percent", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.modelChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	c.newPercent != null

	# A promotion moves the canary's model to all traffic as it should:
	# the percent left beside it is only warned of (below).
	c.promotedCanary == ""
	msg := sprintf(
		"%s is ignored by KServe in Standard mode: the model would be replaced for 100 %% of traffic by a rolling update. Remove %s%s.",
		[field(c), c.percentField, standard_percent_next(c)],
	)
}

# spec.canary[] entries hold a predictor, one KServe accepts beside the
# stable (canaryEntriesAccepted): elsewhere there is no canary to offer.
standard_percent_next(c) := sprintf(
	" and add the new model as a spec.canary[] entry ({predictor: {name: <canary-name>, ...}, trafficPercent: %d})",
	[input.config.initialCanaryPercent],
) if {
	c.kind == "predictor"
	input.rollout.canaryEntriesAccepted == true
} else := sprintf("; Standard mode has no canary for %s (%s)", [c.path, entry_reason(c)])

entry_reason(c) := no_entry_reason if {
	c.kind == "predictor"
} else := "spec.canary[] entries hold a predictor only"

warn contains {"rule": "standard-ignores-percent", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	some c in input.rollout.components
	c.kind != "canary"
	c.inNew
	c.newPercent != null
	not model_change_on_update(c)
	msg := sprintf(
		"%s is ignored by KServe in Standard mode%s. Remove it; %s.",
		[field(c), ignored_setting(c), standard_canaries(c)],
	)
}

ignored_setting(c) := sprintf(": setting it to %d moves no traffic", [c.newPercent]) if {
	input.rollout.operation == "UPDATE"
	c.percentChanged
} else := ""

standard_canaries(c) := "canaries in Standard mode are spec.canary[] entries" if {
	c.kind == "predictor"
	input.rollout.canaryEntriesAccepted == true
} else := sprintf("Standard mode has no canary for %s (%s)", [c.path, entry_reason(c)])

model_change_on_update(c) if {
	input.rollout.operation == "UPDATE"
	c.modelChanged
	c.promotedCanary == ""
}

deny contains {"rule": "standard-canary-required", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.modelChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.kind == "predictor"
	c.modelChanged
	c.promotedCanary == ""
	input.rollout.canaryEntriesAccepted == true
	msg := sprintf(
		"%s: the model %s by a rolling update of all replicas. In Standard mode add the new model as a spec.canary[] entry ({predictor: {name: <canary-name>, ...}, trafficPercent: %d}) and leave spec.predictor as it is; %s.%s",
		[c.path, change_desc(c), input.config.initialCanaryPercent, standard_promotion_way, promotion_hint(c)],
	)
}

# How an entry is promoted later. A transformer or explainer calls the
# predictor through the Service a rename replaces (standard-promotion-host).
standard_promotion_way := "promote it later by setting spec.predictor to the canary's predictor as it ran and removing the entry, keeping spec.predictor's name (a rename would move the Service the transformer or explainer calls the predictor through)" if {
	predictor_service_called
} else := "promote later by setting spec.predictor.name to the canary's name and removing the entry (KServe needs a new storageUri for that; without one, set spec.predictor to the canary's predictor as it ran and remove the entry)"

# KServe refuses spec.canary[] entries beside a predictor without a model
# or STORAGE_URI (a custom container): there is no canary to ask for.
warn contains {"rule": "standard-no-canary", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.modelChanged == true
	input.rollout.canaryEntriesAccepted == false
	some i in updated_components
	c := input.rollout.components[i]
	c.kind == "predictor"
	c.modelChanged
	c.promotedCanary == ""
	msg := sprintf(
		"%s: the model %s by a rolling update of all replicas; no spec.canary[] entry can bring it in (%s), so Standard mode has no canary for it.",
		[c.path, change_desc(c), no_entry_reason],
	)
}

# An entry brought in beside a multi-node predictor (created with it,
# added, or given another model):
# KServe accepts it without a workerSpec, merges the stable's over it, and
# builds it as a single-node predictor (components/predictor.go), so its
# runtime waits for workers that never come.
warn contains {"rule": "standard-no-canary", "msg": msg} if {
	input.rollout.multiNode == true
	input.rollout.rolloutMode == "Standard"
	some c in input.rollout.components
	c.kind == "canary"
	c.inNew
	entry_brought_in(c)
	msg := sprintf(
		"%s: canary %s cannot run as a canary of this multi-node predictor (%s). Remove the entry; try the model on a separate InferenceService, or change spec.predictor itself in a rolling update of all replicas (no canary).",
		[c.path, c.name, no_entry_reason],
	)
}

# An entry this request brings in: created with the InferenceService, or
# added or given another model by the update.
entry_brought_in(_) if input.rollout.operation == "CREATE"

entry_brought_in(c) if c.modelChanged

no_entry_reason := "KServe runs no canary of a multi-node predictor: it refuses an entry with a workerSpec, and runs one without it on a single node, without the workers its runtime waits for" if {
	input.rollout.multiNode == true
} else := "KServe accepts none beside a predictor without a model or a STORAGE_URI env, and merges each entry over the stable predictor, so an entry cannot turn a model into a custom container or back"

# promotion_hint: when the stable predictor takes the model of an entry
# this update removes, the update was meant as a promotion without the
# name that makes it one.
promotion_hint(c) := sprintf(
	" spec.predictor takes the model of canary %s, which this update removes, but not as it ran: to promote it, set spec.predictor to the predictor it ran (the entry merged over the old spec.predictor).",
	[name],
) if {
	names := {e.name |
		some e in input.rollout.components
		e.kind == "canary"
		e.inOld
		e.inNew == false
		e.oldModel == c.newModel
	}
	count(names) > 0
	name := min(names)
} else := sprintf(
	" spec.predictor.name is set to %s, the name of a canary this update keeps (KServe refuses a predictor and an entry of one name): %s",
	[input.rollout.predictorName, kept_entry_promotion(kept[0])],
) if {
	input.rollout.predictorRenamed == true

	# A list, not "some e": two entries of one name (KServe refuses them
	# too) would give the function two values, an evaluation error.
	kept := [e |
		some e in input.rollout.components
		e.kind == "canary"
		e.inNew
		e.name == input.rollout.predictorName
	]
	count(kept) > 0
} else := ""

kept_entry_promotion(e) := sprintf(
	"canary %s is new in this update: bring it in first with spec.predictor as it was (the entry at %d %% or less), raise it step by step to %d %%, then %s.",
	[e.name, min([input.config.initialCanaryPercent, 100 - others_percent(e.name)]), promotion_floor, promote_step(e)],
) if {
	e.inOld == false
} else := sprintf("to promote canary %s, remove its entry in the same update.", [e.name]) if {
	e.promotableByRename == true
	e.oldEffectivePercent >= promotion_floor
} else := sprintf(
	"to promote canary %s, raise its trafficPercent to %d first (promotion is allowed from %d %%), then set the name and remove the entry in one update.",
	[e.name, step_to(e), promotion_floor],
) if {
	e.promotableByRename == true
} else := sprintf(
	"KServe refuses a rename to %s either, since its storage URI is the stable's: to promote it, %skeep spec.predictor's name as it was, set spec.predictor to the entry's predictor as it ran (merged over the old spec.predictor) and remove the entry in one update.",
	[e.name, raise_first(e)],
)

promote_step(e) := "set the name and remove the entry in one update" if {
	e.promotableByRename == true
} else := "set spec.predictor to the entry's predictor as it ran and remove the entry in one update, keeping spec.predictor's name (KServe refuses a rename to it, since its storage URI is the stable's)"

raise_first(e) := "" if {
	e.oldEffectivePercent >= promotion_floor
} else := sprintf("raise its trafficPercent to %d first (promotion is allowed from %d %%), then ", [step_to(e), promotion_floor])

deny contains {"rule": "initial-percent", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	some i in canary_entries
	c := input.rollout.components[i]
	entering(c)
	not entry_ok(c)
	not mid_rollout_refuses(c)
	msg := sprintf(
		"%s (canary %s, model %s) would enter with trafficPercent %d; a new model may enter with at most %d. %s",
		[c.path, c.name, new_model(c), c.newPercent, input.config.initialCanaryPercent, entry_start(c)],
	)
}

# Where an entry may start: the initial percent, within what the other
# entries leave (KServe refuses entries whose trafficPercent sum over 100).
entry_start(c) := sprintf("Set %s: %d (or less) now and raise it step by step.", [field(c), start]) if {
	start := min([input.config.initialCanaryPercent, 100 - others_percent(c.name)])
	start > 0
} else := sprintf(
	"%s: lower or remove one of them first, then set %s: %d (or less).",
	[no_room(c.name), field(c), input.config.initialCanaryPercent],
)

entering(c) if c.inOld == false

entering(c) if c.modelChanged

deny contains {"rule": "max-step", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.raised == true
	some i in canary_entries
	c := input.rollout.components[i]
	c.inOld
	c.modelChanged == false
	c.oldEffectivePercent > 0
	rise := c.newEffectivePercent - c.oldEffectivePercent
	rise > input.config.maxStepPercent
	msg := sprintf(
		"%s (canary %s) %d → %d rises by %d; at most %d per update. %s, or remove the entry to roll back.",
		[
			field(c), c.name, c.oldEffectivePercent, c.newEffectivePercent, rise, input.config.maxStepPercent,
			next_step_desc(c),
		],
	)
}

deny contains {"rule": "max-step", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.raisedFromZero == true
	some i in canary_entries
	c := input.rollout.components[i]
	c.inOld
	c.modelChanged == false
	c.oldEffectivePercent == 0
	c.newEffectivePercent > input.config.initialCanaryPercent
	msg := sprintf(
		"%s (canary %s) 0 → %d rises by %d; %s. %s, or remove the entry to roll back.",
		[field(c), c.name, c.newEffectivePercent, c.newEffectivePercent, from_zero_cap, next_step_desc(c)],
	)
}

deny contains {"rule": "promotion-step", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.raised == true
	some i in updated_components
	c := input.rollout.components[i]
	c.promotedCanary != ""
	c.promotedCanaryPercent < promotion_floor
	msg := sprintf(
		"promoting canary %s (at %d %%) to all traffic rises by %d; at most %d per update. %s; promotion is allowed from %d %%.",
		[c.promotedCanary, c.promotedCanaryPercent, 100 - c.promotedCanaryPercent, input.config.maxStepPercent, promotion_prep(c), promotion_floor],
	)
}

# Where maxStepPercent lets any promotion through (100), one from 0 % is
# still a rise from 0, capped at the initial percent as in Knative mode.
deny contains {"rule": "promotion-step", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.raised == true
	promotion_floor <= 0
	input.config.initialCanaryPercent < 100
	some i in updated_components
	c := input.rollout.components[i]
	c.promotedCanary != ""
	c.promotedCanaryPercent == 0
	msg := sprintf(
		"promoting canary %s (at 0 %%) to all traffic rises by 100; %s. %s; promotion is allowed from there.",
		[c.promotedCanary, from_zero_cap, promotion_prep(c)],
	)
}

# What brings a canary to the promotion floor: its next step, once the
# other entries leave room for it (their trafficPercent and its own sum to
# at most 100).
promotion_prep(c) := sprintf("Raise its trafficPercent to %d first", [next_step(c.promotedCanaryPercent)]) if {
	next_step(c.promotedCanaryPercent) <= 100 - others_percent(c.promotedCanary)
} else := sprintf(
	"%s: lower or remove them so that it can rise, then raise its trafficPercent to %d",
	[no_room(c.promotedCanary), next_step(c.promotedCanaryPercent)],
)

# A promotion serves the new spec.predictor under the canary's name: it
# must be the model the canary ran, or that model takes all traffic
# without ever having been a canary.
deny contains {"rule": "promotion-model", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.raised == true
	some i in updated_components
	c := input.rollout.components[i]
	c.promotedCanary != ""
	count(c.promotedCanaryChangedFields) > 0
	some e in input.rollout.components
	e.kind == "canary"
	e.name == c.promotedCanary
	msg := sprintf(
		"promoting canary %s with a model it did not run (spec.predictor differs from the entry as it ran in %s). Promote it as it ran: %s. As sent, %s, not the model the canary ran, would take 100 %% of traffic; bring other changes in as a new spec.canary[] entry.",
		[c.promotedCanary, concat(", ", c.promotedCanaryChangedFields), promote_as_ran(c, e), new_model(c)],
	)
}

# KServe refuses a rename of the predictor without a new storage URI
# (validatePredictorNameChange): an entry that runs the stable's storage
# URI with other args, env or image is promoted under the stable's name.
promote_as_ran(c, e) := sprintf("set spec.predictor to its predictor (model %s, name %s)", [model_desc(e.oldModel), c.promotedCanary]) if {
	e.promotableByRename == true
	not predictor_service_called
} else := sprintf(
	"keep spec.predictor's name as it was, set spec.predictor to the entry's predictor as it ran (merged over the old spec.predictor, model %s) and remove the entry; a rename would move the Service the transformer or explainer calls the predictor through",
	[model_desc(e.oldModel)],
) if {
	e.promotableByRename == true
} else := sprintf(
	"keep spec.predictor's name as it was, set spec.predictor to the entry's predictor as it ran (merged over the old spec.predictor, model %s) and remove the entry; KServe refuses a rename to %s, since the storage URI stays the same",
	[model_desc(e.oldModel), c.promotedCanary],
)

# A transformer or explainer calls the predictor through the Service named
# after spec.predictor.name (standard-promotion-host).
predictor_service_called if {
	some x in input.rollout.components
	x.kind in {"transformer", "explainer"}
	x.inNew
}

deny contains {"rule": "mid-rollout", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.modelChanged == true
	some i in canary_entries
	c := input.rollout.components[i]
	c.modelChanged
	mid_rollout_denied(c)
	msg := sprintf(
		"%s: canary %s is running at %d %%; this configuration does not let a new model (%s) replace it. Remove the entry first (the rollback), then add the new model as a new entry; or finish the rollout first (next: %s; the canary is promoted from %d %%).",
		[c.path, c.name, c.oldEffectivePercent, new_model(c), lower_first(next_step_desc(c)), promotion_floor],
	)
}

# A running entry's new model rolls the entry's own Deployment, and KServe
# reports the entry ready while any replica is available
# (reconcileCanaryDeployments), the old model's included: until that
# rollout ends, readiness says nothing of the new model.
warn contains {"rule": "mid-rollout-restart", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.modelChanged == true
	input.config.midRolloutModelChange == "restart"
	some i in canary_entries
	c := input.rollout.components[i]
	c.inOld
	c.modelChanged
	entry_ok(c)
	msg := sprintf(
		"%s: canary %s's model changes in place (%s) at %d %%: KServe rolls its Deployment %s-%s-predictor and reports the canary ready while any of its replicas is available, the old model's included. Before raising it, wait until that rollout has finished (kubectl rollout status deployment/%s-%s-predictor -n %s); or add the new model as a new entry under another name and remove this one.",
		[c.path, c.name, change_desc(c), c.newEffectivePercent, input.request.name, c.name, input.request.name, c.name, input.request.namespace],
	)
}

warn contains {"rule": "standard-no-canary", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.modelChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.kind != "predictor"
	c.modelChanged
	msg := sprintf(
		"%s: the model %s by a rolling update of all replicas; Standard mode has no canary for the %s.",
		[c.path, change_desc(c), c.kind],
	)
}

# KServe v0.20 runs spec.canary[] entries on replicas taken from the
# stable predictor's minReplicas, yet routes the InferenceService's own
# host to the stable alone: an update whose entries take more of them
# shrinks the predictor that still serves every request. Not when the
# autoscaler is external (KServe then sets no replicas), when
# minReplicas is unset (KServe adjusts nothing), or when an entry asks
# for more than the stable's minReplicas (KServe rejects the update).
warn contains {"rule": "standard-stable-replicas", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.operation == "UPDATE"
	some c in input.rollout.components
	c.kind == "predictor"
	r := c.replicas
	r.new < r.old
	replicas_apply(r)
	entries_new := sum([e.replicas.new | some e in input.rollout.components; e.kind == "canary"])
	entries_old := sum([e.replicas.old | some e in input.rollout.components; e.kind == "canary"])
	entries_new > entries_old
	msg := sprintf(
		"%s: the spec.canary[] entries would run %s (%s), taken from spec.predictor.minReplicas %s: the stable predictor's minimum drops from %d to %s, yet it still serves every request to %s (KServe v0.20 routes none to an entry; it answers only in-cluster, at %s).%s %s",
		[
			c.path, replica_count(entries_new), entry_replicas_desc, min_replicas_desc(r),
			r.old, replica_count(r.new), input.request.name, entry_services, autoscaler_note(r),
			keep_replicas_hint(r),
		],
	)
}

# A new InferenceService with entries starts its stable predictor short.
warn contains {"rule": "standard-stable-replicas", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.operation == "CREATE"
	some c in input.rollout.components
	c.kind == "predictor"
	r := c.replicas
	replicas_apply(r)
	r.new < r.newMinReplicas
	entries := [sprintf("%s: %d", [e.name, e.replicas.new]) |
		some e in input.rollout.components
		e.kind == "canary"
		e.replicas.new > 0
	]
	msg := sprintf(
		"%s: the spec.canary[] entries run %s, taken from spec.predictor.minReplicas %d: the stable predictor starts with a minimum of %s, yet serves every request to %s (KServe v0.20 routes none to an entry; it answers only in-cluster, at %s).%s %s",
		[
			c.path, concat("; ", entries), r.newMinReplicas, replica_count(r.new),
			input.request.name, entry_services, autoscaler_note(r), create_replicas_hint(r),
		],
	)
}

# A promotion makes the entry's Deployment the stable one and KServe
# deletes the old stable's in the same reconcile: until the autoscaler (or,
# with class none, KServe) has started the rest of the stable's replicas,
# the entry's replicas serve every request.
# A transformer or explainer calls the predictor through the Service named
# after spec.predictor.name (PredictorServiceName, its --predictor_host).
# A rename promotes by making the entry's Service the stable one: KServe
# deletes the old stable's Service with its Deployment while reconciling
# the predictor, before it rolls the transformer or explainer to the new
# host, so their requests fail until those pods are replaced (and for good
# where an argument pins the host). Promoting without the rename keeps the
# Service and rolls the stable Deployment to the entry's model.
warn contains {"rule": "standard-promotion-host", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.predictorRenamed == true
	some c in input.rollout.components
	c.kind == "predictor"
	c.promotedCanary != ""
	c.promotionRestarts == false
	callers := [x.path | some x in input.rollout.components; x.kind in {"transformer", "explainer"}; x.inOld; x.inNew]
	count(callers) > 0
	msg := sprintf(
		"%s calls the predictor through its Service, and promoting %s by renaming %s moves that to %s-%s-predictor: KServe deletes the old stable predictor's Service while reconciling the predictor, before it rolls %s to the new host, so requests through it fail until its pods are replaced (for good where its arguments pin --predictor_host). Promote without the rename instead: keep %s.name as it was, set %s to the predictor %s ran, and remove the entry in the same update (KServe rolls the stable Deployment to that model).",
		[concat(" and ", callers), c.promotedCanary, c.path, input.request.name, c.promotedCanary, concat(" and ", callers), c.path, c.path, c.promotedCanary],
	)
}

warn contains {"rule": "standard-promotion-replicas", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.operation == "UPDATE"
	some c in input.rollout.components
	c.kind == "predictor"
	c.promotedCanary != ""
	c.promotionRestarts == false
	r := c.replicas
	r.autoscalerClass != "external"
	some e in input.rollout.components
	e.kind == "canary"
	e.name == c.promotedCanary
	e.replicas.old < r.new
	msg := sprintf(
		"%s: promoting %s makes its Deployment %s-%s-predictor the stable one, which serves every request to %s, while it runs %s of the %d the stable needs; KServe deletes the old stable's Deployment (a minimum of %s) at once, so all traffic rests on %s until it has %d ready. %s",
		[
			c.path, e.name, input.request.name, e.name, input.request.name,
			replica_count(e.replicas.old), r.new, replica_count(r.old),
			replica_count(e.replicas.old), r.new, promote_replicas_hint(e, r),
		],
	)
}

promote_replicas_hint(e, r) := sprintf(
	"To promote at full capacity, first set %s.predictor.minReplicas: %d%s, wait until %s-%s-predictor has %d ready replicas, then promote.",
	[e.path, r.new, promote_min_replicas_hint(r), input.request.name, e.name, r.new],
)

promote_min_replicas_hint(r) := sprintf(" and spec.predictor.minReplicas: %d%s (the stable keeps its %d)", [
	r.minReplicasToPromote,
	promote_max_replicas_hint(r), r.old,
]) if {
	r.minReplicasToPromote > 0
	r.minReplicasToPromote != r.oldMinReplicas
} else := "" if {
	r.minReplicasToPromote > 0
} else := sprintf(" (no spec.predictor.minReplicas keeps the stable's %d beside it)", [r.old])

# KServe refuses a minReplicas above a maxReplicas that is set.
promote_max_replicas_hint(r) := sprintf(" and maxReplicas: %d", [r.minReplicasToPromote]) if {
	r.maxReplicas > 0
	r.maxReplicas < r.minReplicasToPromote
} else := ""

# KServe adjusts the stable's replicas only when its minReplicas is set,
# sets none under an external autoscaler, and refuses entries whose
# minReplicas exceeds the stable's or whose trafficPercent sum over 100.
replicas_apply(r) if {
	r.newMinReplicas != null
	r.autoscalerClass != "external"
	count([e |
		some e in input.rollout.components
		e.kind == "canary"
		e.replicas.new > r.newMinReplicas
	]) == 0
	sum([e.newEffectivePercent | some e in input.rollout.components; e.kind == "canary"]) <= 100
}

create_replicas_hint(r) := sprintf(
	"For a stable of %d, set spec.predictor.minReplicas: %d%s.",
	[r.newMinReplicas, r.minReplicasToKeep, max_replicas_hint(r)],
) if {
	r.minReplicasToKeep > 0
} else := "Lower the entries' trafficPercent or minReplicas to leave the stable more."

entry_replicas_desc := concat("; ", [sprintf("%s %d → %d", [e.name, e.replicas.old, e.replicas.new]) |
	some e in input.rollout.components
	e.kind == "canary"
	e.replicas.new != e.replicas.old
])

entry_services := concat(", ", [sprintf("%s-%s-predictor", [input.request.name, e.name]) |
	some e in input.rollout.components
	e.kind == "canary"
	e.inNew
])

min_replicas_desc(r) := sprintf("%d", [r.newMinReplicas]) if {
	r.oldMinReplicas == r.newMinReplicas
} else := sprintf("%d (was %d)", [r.newMinReplicas, r.oldMinReplicas]) if {
	r.oldMinReplicas != null
} else := sprintf("%d (was unset)", [r.newMinReplicas])

replica_count(n) := "1 replica" if n == 1

else := sprintf("%d replicas", [n])

# Under an autoscaler the minimum is a floor it may scale above.
autoscaler_note(r) := sprintf(" Its autoscaler (%s) may still scale it up to maxReplicas %d.", [r.autoscalerClass, r.maxReplicas]) if {
	r.autoscalerClass != "none"
	r.maxReplicas > r.new
} else := ""

keep_replicas_hint(r) := sprintf(
	"To keep %d, set spec.predictor.minReplicas: %d%s in the same update.",
	[r.old, r.minReplicasToKeep, max_replicas_hint(r)],
) if {
	r.minReplicasToKeep > 0
} else := sprintf(
	"No spec.predictor.minReplicas keeps %d beside these entries; lower their trafficPercent, or give them a fixed minReplicas, to leave the stable its replicas.",
	[r.old],
)

# KServe refuses a minReplicas above a maxReplicas that is set.
max_replicas_hint(r) := sprintf(" and maxReplicas: %d", [r.minReplicasToKeep]) if {
	r.maxReplicas > 0
	r.maxReplicas < r.minReplicasToKeep
} else := ""

# --- Knative: stopping and resuming (serving.kserve.io/stop) -----------------

# Stopping deletes each component's Knative Service with all its revisions
# and clears the status (components/predictor.go, ksvc_reconciler.go). On
# resume a component starts over with no rolled-out revision to split
# against, so the model in its spec takes all traffic, whatever its
# canaryTrafficPercent says: stopping mid-canary ends the canary in a full
# cutover to the canary's model, with no way back to the previous one.
warn contains {"rule": "stop-mid-rollout", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.stopChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.stopped.new == true
	c.stopped.old == false
	splits_two_revisions(c)
	msg := sprintf(
		"serving.kserve.io/stop set during a canary of %s (%s %d): KServe deletes its Knative Service with every revision, the previous model's (revision %s, %d %% of traffic) included, and 0 no longer rolls back to it. %s %s",
		[c.path, field(c), c.oldEffectivePercent, revision_desc(c.stableRevision), 100 - c.oldEffectivePercent, resume_desc(c), stop_instead(c)],
	)
}

# The old route splits the latest revision with the rolled-out one: a
# percent below 100, 0 included (a canary rolled back to 0 is still the
# latest revision, and the model in the spec), and status showing two
# revisions (a percent set at creation splits the one revision with itself).
splits_two_revisions(c) if {
	c.oldPercent != null
	c.oldPercent >= 0
	c.oldPercent < 100
	c.firstRolloutPending == false
	not single_revision(c)
}

# What a resume brings: a stop of the InferenceService clears the status,
# so the new service splits with nothing and the model in the spec takes
# all traffic; a stop of the component alone keeps its rolled-out
# revision in the status, which the new service's split then names.
resume_desc(c) := sprintf(
	"When the annotation is removed, %s starts over with the model in the spec (%s) taking all traffic at once, whatever %s says.",
	[c.path, new_model(c), c.percentField],
) if {
	input.rollout.stopped.new == true
} else := sprintf(
	"When the annotation is removed, %s starts over with the model in the spec (%s); with %s below 100 then, KServe splits the new service's traffic with revision %s, which went with the old service: Knative refuses that route, and %s serves nothing until the percent is removed. Remove it when resuming.",
	[c.path, new_model(c), field(c), c.stableRevision, c.path],
) if {
	c.stableRevision != ""
	not first_revision_name(c.stableRevision)
} else := sprintf(
	"When the annotation is removed, %s starts over with the model in the spec (%s); remove %s when resuming, so that it takes all traffic once ready.",
	[c.path, new_model(c), field(c)],
)

# A first revision's name is the new service's first one's too: a split
# naming it splits the new revision with itself.
first_revision_name(r) if endswith(r, "-00001")

# A revision numbered above the latest one created belongs to a Knative
# Service deleted since (a stop of the component alone): a new service
# numbers its revisions from 1 again.
revision_of_deleted_service(r, latest) if {
	revision_number(r) > revision_number(latest)
}

revision_number(r) := to_number(n) if {
	n := regex.find_n(`[0-9]+$`, r, 1)[0]
}

stop_instead(c) := sprintf("To keep the previous model, set %s to 0 instead of stopping.", [field(c)]) if {
	c.oldEffectivePercent > 0
} else := "To keep the previous model after the resume, put it back in the spec before stopping."

# The status is cleared only by a stop on the InferenceService
# (components/predictor.go): a component stopped on its own annotation
# keeps its rolled-out revision in status, a revision of the service
# deleted since, so what its resume splits against is not known here.
# A component stopped after the update has no Knative Service (KServe
# deletes it with every revision): a model changed with it has nothing to
# enter as a canary beside, and takes all traffic at once on resume,
# whatever the percent says.
warn contains {"rule": "stopped-model-change", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.modelChanged == true
	input.rollout.anyStopped == true
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	c.serviceStopped == true
	c.runsUnderStop == false
	not resumes_into_missing_revision(c)
	msg := sprintf(
		"%s: the model changes to %s %s, so the new model takes all traffic at once, with no canary whatever %s says. To roll it out as a canary, %s, then change the model with %s: %d.",
		[c.path, new_model(c), stop_state_desc(c), c.percentField, stop_way_to_canary(c), field(c), input.config.initialCanaryPercent],
	)
}

stop_state_desc(c) := "while serving.kserve.io/stop stops it: KServe deletes its Knative Service with every revision, and when the annotation is removed the service starts over" if {
	c.stopped.new == true
} else := "as serving.kserve.io/stop is removed: KServe deleted its Knative Service with every revision at the stop, and the service starts over"

stop_way_to_canary(c) := sprintf("put the previous model back, resume without %s", [c.percentField]) if {
	c.stopped.new == true
} else := sprintf("resume with the previous model first, without %s", [c.percentField])

# A component kept running by its own serving.kserve.io/stop "false" while
# the InferenceService's is "true": KServe clears the whole status at the
# stop and propagates none until the resume (predictor.go), so the route
# of each such component names no rolled-out revision and sends all its
# traffic to the latest revision, whatever the percent (ksvc_reconciler.go).
warn contains {"rule": "stop-override", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.runsUnderStop == true
	some i in updated_components
	c := input.rollout.components[i]
	c.runsUnderStop == true
	stop_override_matters(c)
	msg := sprintf(
		"%s runs on its own serving.kserve.io/stop \"false\" while the InferenceService's is \"true\": KServe clears the InferenceService's status at the stop and keeps it empty until the InferenceService resumes, so %s's route sends all traffic to its latest revision, the model in the spec (%s), whatever %s says, and no canary runs%s. To stop other components and keep this one's rollout, set serving.kserve.io/stop: \"true\" on their annotations instead of on the InferenceService; to canary a model here, remove the InferenceService's serving.kserve.io/stop first and change the model with %s: %d once status.components.%s.latestRolledoutRevision is set.",
		[c.path, c.path, new_model(c), c.percentField, stop_override_loss(c), field(c), input.config.initialCanaryPercent, c.kind],
	)
}

# Worth saying when the stop or the override comes now, or when the update
# changes the model or the percent under it.
stop_override_matters(_) if input.rollout.stopped.old == false

stop_override_matters(c) if c.stopped.old == true

stop_override_matters(c) if c.modelChanged

stop_override_matters(c) if c.percentChanged

stop_override_loss(c) := sprintf(": the new model takes all traffic once ready, and the model before it (%s) none", [model_desc(c.oldModel)]) if {
	c.modelChanged
} else := sprintf(
	": the previous model (revision %s) loses its %d %%, and 0 no longer rolls back to it",
	[c.stableRevision, 100 - c.oldEffectivePercent],
) if {
	c.canaryInProgress
	c.stableRevision != ""
} else := ""

# A model change before the first rollout, where the first revision is
# not ready (the first model is still starting, or failed): KServe splits
# traffic only with a rolled-out revision, so the canary percent the
# change carries splits only if the first revision is rolled out first.
# A first revision ready already is rolled out first: the canary runs.
warn contains {"rule": "first-rollout", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.modelChanged == true
	input.rollout.notRolledOut == true
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	c.notRolledOut == true
	c.latestReadyRevision == ""
	msg := sprintf(
		"%s: its first revision, %s, has not been ready yet, and KServe splits traffic only with a rolled-out revision: the new model %s takes all traffic once ready, whatever %s says, unless %s is rolled out first, in which case the canary splits traffic with it. Watch this rollout as a full one (status.components.%s.latestRolledoutRevision shows when a model is rolled out; a model change after that enters as a canary).%s",
		[c.path, c.latestCreatedRevision, new_model(c), c.percentField, c.latestCreatedRevision, c.kind, self_split_note(c)],
	)
}

self_split_note(c) := sprintf(
	" Once the new revision is rolled out, %s %d splits it with itself: raising it to 100 step by step moves no traffic.",
	[field(c), c.newPercent],
) if {
	c.newPercent != null
	c.newPercent < 100
} else := ""

# A model change at 0 % (kept from a rollback, or set with it) is a dark
# launch: KServe routes all traffic to the rolled-out revision
# (ksvc_reconciler.go), so the new model serves none until the percent
# rises. Admitted as asked; said, since every other model change is.
# Beside a running canary, mid-rollout-restart says it re-enters at 0 %.
warn contains {"rule": "dark-launch", "msg": msg} if {
	input.rollout.modelChangedAtZero == true
	input.rollout.rolloutMode == "Knative"
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	c.newPercent == 0
	c.canaryInProgress == false
	c.notRolledOut == false
	c.serviceStopped == false
	c.runsUnderStop == false
	c.routesMissingRevision == false
	c.stopped.new == false
	not renames_service(c)
	msg := sprintf(
		"%s: the new model %s enters at %s: 0, so it gets no traffic; all of it stays on %s.%s Once the new revision is ready, set %s: %d to start its canary.",
		[c.path, new_model(c), field(c), rolled_out_desc(c), dark_url_note, field(c), input.config.initialCanaryPercent],
	)
}

rolled_out_desc(c) := sprintf("the rolled-out revision %s", [c.stableRevision]) if {
	c.stableRevision != ""
} else := "the rolled-out revision"

dark_url_note := " Its latest- URL (tag routing) reaches it meanwhile." if {
	input.rollout.tagRouting.new == true
} else := ""

warn contains {"rule": "resume-without-canary", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.stopChanged == true
	input.rollout.stopped.old == true
	some i in updated_components
	c := input.rollout.components[i]
	c.stopped.old == true
	c.stopped.new == false
	c.runsUnderStop == false
	c.newPercent != null
	c.newPercent < 100

	# A new model with the resume: stopped-model-change speaks for it.
	c.modelChanged == false
	msg := sprintf(
		"serving.kserve.io/stop removed: %s starts over with no rolled-out revision to split against, so its model in the spec (%s) takes all traffic at once; %s %d splits nothing until its next model change. Watch it as a full rollout; the next model change enters as a canary again. Remove %s in this update: once the model is rolled out the percent splits its revision with itself, and it can then only be raised to 100 step by step.",
		[c.path, new_model(c), field(c), c.newPercent, field(c)],
	)
}

# A component stopped on its own annotation keeps its rolled-out revision
# in the status (only a stop of the InferenceService clears it). Resumed
# with a percent below 100, its new Knative Service splits traffic with
# that revision, which was deleted with the old service: Knative refuses
# a route naming a missing revision (route.go: traffic targets not ready),
# so the component serves nothing until the percent is removed.
warn contains {"rule": "resume-split", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.stopChanged == true
	input.rollout.stopped.old == false
	some i in updated_components
	c := input.rollout.components[i]
	resumes_into_missing_revision(c)
	msg := sprintf(
		"serving.kserve.io/stop removed from %s with %s %d: KServe creates its Knative Service anew and splits its traffic with the last rolled-out revision, %s, which was deleted with the old service, so Knative refuses the route and %s serves nothing until the percent is removed. Remove %s in the same update: the model in the spec (%s) then takes all traffic once ready, and the next model change enters as a canary again.%s",
		[c.path, field(c), c.newPercent, c.stableRevision, c.path, field(c), new_model(c), resume_canary_way(c)],
	)
}

# After such a resume with the percent kept (or a percent set later, when
# KServe moves the deleted previous revision back into the rolled-out
# one), the status shows the rolled-out revision of the deleted service
# numbered above the new one's latest: the route names it, and Knative
# refuses it until the percent goes.
warn contains {"rule": "resume-split", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.routesMissingRevision == true
	some i in updated_components
	c := input.rollout.components[i]
	c.routesMissingRevision == true
	c.newPercent != null
	c.newPercent >= 0
	c.newPercent < 100
	msg := missing_revision_split_msg(c)
}

# The revision this update creates takes the next number, and with it the
# deleted revision's name where that is the next one: the split is then of
# the new revision with itself, which Knative accepts.
missing_revision_split_msg(c) := sprintf(
	"%s splits its traffic with revision %s, the name of a revision of the Knative Service a stop of %s deleted, and the revision this update creates takes that name (the new service numbers its revisions from 1 again; its latest now is %s): the split is of the new revision with itself, so the model in the spec (%s) takes all traffic once ready, whatever %s says, with no canary. %s",
	[c.path, c.stableRevision, c.path, c.latestCreatedRevision, new_model(c), c.percentField, missing_revision_way(c)],
) if {
	c.revisionChanged
	revision_number(c.stableRevision) == revision_number(c.latestCreatedRevision) + 1
} else := sprintf(
	"%s splits its traffic with revision %s, which was deleted with the Knative Service a stop of %s removed (its latest revision now is %s), so Knative refuses the route while %s stays below 100: no traffic moves (a route never configured serves nothing; one configured before keeps its last configuration). %s",
	[c.path, c.stableRevision, c.path, c.latestCreatedRevision, field(c), missing_revision_removal(c)],
)

# What removing the percent does there: where the route still serves an
# older revision, it moves all traffic from it to a model that never
# served; else the model in the spec takes what the route will serve.
missing_revision_removal(c) := sprintf(
	"Removing %s moves all traffic from revision %s, which the route still serves, to the model in the spec (%s) at once. %s",
	[field(c), c.servedRevision, new_model(c), missing_revision_way(c)],
) if {
	c.servedRevision != ""
} else := sprintf(
	"Remove %s: the model in the spec (%s) then takes all traffic once ready, and the next model change enters as a canary again.",
	[field(c), new_model(c)],
)

# The way to a canary while the rolled-out revision is a deleted one: put
# back the model the route serves, where it serves one (that moves no
# traffic, and KServe rolls it out), else wait for the new service's
# first rollout without the percent.
missing_revision_way(c) := sprintf(
	"To canary a new model, first put the model revision %s serves back in the spec without %s (that moves no traffic, and KServe then rolls it out), then change the model with %s: %d.",
	[c.servedRevision, c.percentField, field(c), input.config.initialCanaryPercent],
) if {
	c.servedRevision != ""
} else := sprintf(
	"To canary it instead, leave the model as it was and %s unset until status.components.%s.latestRolledoutRevision names a revision of the new service (numbered %s or later), then change the model with %s: %d.",
	[c.percentField, c.kind, c.latestCreatedRevision, field(c), input.config.initialCanaryPercent],
)

# While the rolled-out revision is the deleted service's (before the first
# rollout of a service KServe created anew at such a resume, or after a
# percent moved it back), any split names it and Knative refuses the
# route, so a model change can only take all traffic once ready (no
# percent is injected): no canary protects the new model.
warn contains {"rule": "resume-cutover", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.routesMissingRevision == true
	input.rollout.modelChanged == true
	some i in updated_components
	c := input.rollout.components[i]
	c.routesMissingRevision == true
	c.modelChanged
	routes_latest_alone(c.newPercent)
	msg := sprintf(
		"%s: the model %s while the revision KServe splits traffic with, %s, is one of the Knative Service a stop of %s deleted (a percent below 100 names it, and Knative refuses the route), so the new model takes all traffic once ready, with no canary. %s",
		[c.path, change_desc(c), c.stableRevision, c.path, missing_revision_way(c)],
	)
}

# The percent removed (or set to 100) where the route still serves an
# older revision: every split since named the deleted revision and was
# refused, so all traffic moves at once, with no canary before it.
warn contains {"rule": "resume-cutover", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.routesMissingRevision == true
	some i in updated_components
	c := input.rollout.components[i]
	c.routesMissingRevision == true
	c.servedRevision != ""
	not c.modelChanged
	c.percentChanged
	c.serviceStopped == false
	c.runsUnderStop == false
	routes_latest_alone(c.newPercent)
	msg := sprintf(
		"%s: the route still serves revision %s: every split since named %s, a revision of the Knative Service a stop of %s deleted, and Knative refused it. With %s removed the model in the spec (%s) takes all traffic from %s at once, once ready, with no canary; no percent below 100 takes effect while %s stays the rolled-out revision. %s",
		[c.path, c.servedRevision, c.stableRevision, c.path, c.percentField, new_model(c), c.servedRevision, c.stableRevision, missing_revision_way(c)],
	)
}

routes_latest_alone(p) if p == null

routes_latest_alone(p) if p == 100

# A component resumed from a stop of its own, which KServe acted on (no
# latest created revision, the rolled-out one kept), with a percent that
# splits.
resumes_into_missing_revision(c) if {
	input.rollout.stopped.old == false
	c.stopped.old == true
	c.stopped.new == false
	c.newPercent != null
	c.newPercent >= 0
	c.newPercent < 100
	c.latestCreatedRevision == ""
	c.stableRevision != ""
	not first_revision_name(c.stableRevision)
}

resume_canary_way(c) := sprintf(
	" To roll the new model out as a canary instead, resume with the previous model first, without the percent, then change the model with %s: %d.",
	[field(c), input.config.initialCanaryPercent],
) if {
	c.modelChanged
} else := ""

# --- Every mode --------------------------------------------------------------

# A format's name changed beside a runtime that reads it nowhere is no
# model change (no revision, no canary), but KServe checks the runtime
# lists the format (RuntimeSupportsModel) before it reconciles anything.
warn contains {"rule": "format-name", "msg": msg} if {
	input.rollout.unreadFormatChange == true
	some c in input.rollout.components
	c.unreadFormatName != ""
	runtime := runtime_desc(c)
	msg := sprintf(
		"%s.model.modelFormat.name changes to %s beside %s, which reads it nowhere: the name alone makes no new revision, and KServe reads it only to check that the runtime lists the format. Where it does not list %s, KServe stops reconciling this InferenceService, so no later change, a rollback included, takes effect until the name is one it lists: check the runtime's spec.supportedModelFormats (kubectl get clusterservingruntime, or servingruntime in the namespace).%s",
		[c.path, c.unreadFormatName, runtime, c.unreadFormatName, framework_note(c)],
	)
}

runtime_desc(c) := sprintf("the runtime in use, %s", [c.runtimeInUse]) if {
	c.runtimeInUse != ""
} else := "the runtime in use"

framework_note(c) := " kserve-predictiveserver takes its --framework from the modelFormat annotation, which KServe's defaulter writes only where it is absent: a change of that annotation is the model change." if {
	c.runtimeInUse == "kserve-predictiveserver"
} else := ""

# Adding or removing a transformer or explainer changes the path of every
# request at once: neither mode has a canary for a whole component.
warn contains {"rule": "component-added", "msg": msg} if {
	input.rollout.componentAdded == true
	some c in input.rollout.components
	c.kind != "canary"
	c.inNew
	c.inOld == false
	msg := sprintf(
		"%s is added (model %s): %s at once, since a new component has no canary. Try it on a separate InferenceService first; to undo, remove %s again.",
		[c.path, new_model(c), added_effect(c), c.path],
	)
}

warn contains {"rule": "component-removed", "msg": msg} if {
	input.rollout.componentRemoved == true
	some c in input.rollout.components
	c.kind != "canary"
	c.inOld
	c.inNew == false
	msg := sprintf(
		"%s is removed (model %s): %s. To undo, add it back as it was.",
		[c.path, model_desc(c.oldModel), removal_effect(c)],
	)
}

# KServe reconciles a ModelMesh InferenceService only while it has a
# transformer (inferenceservice/controller.go): without one, nothing it
# made is changed or deleted.
removal_effect(c) := sprintf(
	"KServe stops reconciling a ModelMesh InferenceService without a transformer, so the %s's Knative Service and the route through it stay as they were, serving until deleted by hand",
	[c.kind],
) if {
	input.rollout.deploymentMode == "ModelMesh"
	some t in input.rollout.components
	t.kind == "transformer"
	t.inOld
	t.inNew == false
} else := "every :explain request fails at once, with no explainer to answer it (predictions are not affected)" if {
	c.kind == "explainer"
} else := "every request skips it at once"

# KServe routes only :explain requests to an explainer
# (ingress_reconciler.go); a transformer takes every request.
added_effect(c) := "every :explain request goes to it (predictions are not affected)" if {
	c.kind == "explainer"
} else := "every request goes through it"

warn contains {"rule": "auto-update-disabled", "msg": msg} if {
	input.rollout.autoUpdateDisabled.new == true
	input.rollout.statusReady == true
	input.rollout.operation == "UPDATE"
	changed := [c.path |
		some c in input.rollout.components
		paused_change(c)
	]
	count(changed) > 0
	msg := sprintf(
		"serving.kserve.io/disable-auto-update is \"true\" and the InferenceService is Ready, so KServe does not reconcile it: this change of %s reaches neither its pods nor its traffic, and its status stays as it is, until the annotation is removed (or set to \"false\"); KServe then applies the spec as it is at that time.",
		[concat(", ", changed)],
	)
}

paused_change(c) if c.revisionChanged

paused_change(c) if c.percentChanged

paused_change(c) if c.inOld != c.inNew

deny contains {"rule": "internal-annotation", "msg": msg} if {
	input.rollout.operation == "UPDATE"
	count(input.rollout.internalAnnotationsChanged) > 0
	msg := sprintf(
		"Put back %s as they were: %s. KServe's internal annotations and labels are passed to the pods and can change the model outside the canary rules; change the model in the spec.",
		[concat(", ", input.rollout.internalAnnotationsChanged), concat("; ", [restore_desc(k) | some k in input.rollout.internalAnnotationsChanged])],
	)
}

# What to put back for a changed internal annotation: its stored value, or
# its absence.
restore_desc(k) := sprintf("%s: %q", [k, old]) if {
	old := input.rollout.internalAnnotationsOld[k]
	old != null
} else := sprintf("%s: not set", [k])

# ModelMesh serves the predictor (and, without a transformer, every
# component) with no canary. A transformer beside it is KServe's, rolled
# out as in Knative mode (rolloutMode), and the rules above apply to it.
warn contains {"rule": "modelmesh", "msg": msg} if {
	input.rollout.deploymentMode == "ModelMesh"
	input.rollout.operation == "UPDATE"
	some c in input.rollout.components
	c.modelMesh == true
	policy_relevant(c)
	msg := sprintf(
		"%s: ModelMesh serves it with no canary rollout; canary-guard's rollout policy does not apply to this change.%s",
		[c.path, modelmesh_beside(c.path)],
	)
}

policy_relevant(c) if c.modelChanged

policy_relevant(c) if c.percentChanged

modelmesh_beside(path) := " The transformer and explainer are rolled out by KServe and guarded as in Knative mode." if {
	input.rollout.rolloutMode == "Knative"
	path == "spec.predictor"
} else := ""

warn contains {"rule": "override", "msg": msg} if {
	input.rollout.override.active == true
	msg := sprintf(
		"rollout rules lifted for this update by %s (override: %q). The next update is checked again.",
		[input.request.user.username, input.rollout.override.reason],
	)
}

warn contains {"rule": "override-ignored", "msg": msg} if {
	input.rollout.override.requested == true
	input.rollout.override.allowed == false
	msg := sprintf(
		"%s may not override (not in override.groups); the annotation canary-guard.dev/override was ignored and the rules apply. %s",
		[input.request.user.username, override_next_step(input.config.override.groups)],
	)
}

override_next_step(g) := "No override groups are configured here: follow the rules' next steps, or ask the platform team to name the groups that may override (override.groups)." if {
	count(g) == 0
} else := sprintf("Ask a member of %s.", [concat(", ", g)])

# After the comparisons OPA's index uses, a bound below every host limit
# comes first, so that almost every name stops there: a name over a limit
# is, with the length of spec.predictor.name added, over 43 (latest-) and
# over 45 (prev-).
warn contains {"rule": "tag-routing-name", "msg": msg} if {
	input.request.operation == "CREATE"
	input.rollout.rolloutMode == "Knative"
	count(input.request.name) + count(input.rollout.predictorName) > 43
	count(input.request.name) > latest_host_limit
	msg := sprintf(
		"name %s is %d characters: the tag-routing host latest-%s%s... exceeds the 63-character DNS label, so canary-guard does not turn tag routing on. Use a name of at most %d characters to use tag routing.%s",
		[input.request.name, count(input.request.name), input.request.name, latest_suffix, latest_host_limit, prev_host_note],
	)
}

warn contains {"rule": "tag-routing-name", "msg": msg} if {
	input.request.operation == "UPDATE"
	input.rollout.rolloutMode == "Knative"
	input.rollout.tagRouting.new == true
	count(input.request.name) + count(input.rollout.predictorName) > 43
	count(input.request.name) > latest_host_limit
	input.rollout.tagRouting.old == false
	msg := sprintf(
		"name %s is %d characters: tag routing, turned on by this update, needs a host latest-%s%s... longer than the 63-character DNS label. Set the annotation serving.kserve.io/enable-tag-routing: \"false\" to keep it off.%s",
		[input.request.name, count(input.request.name), input.request.name, latest_suffix, prev_host_note],
	)
}

# A transformer added where tag routing is on already: KServe tags its
# Knative Service latest too, and -transformer is longer than -predictor.
# Knative cannot make the host, so the transformer never becomes ready
# (the ingress keeps routing to the predictor as before).
warn contains {"rule": "tag-routing-name", "msg": msg} if {
	input.request.operation == "UPDATE"
	input.rollout.componentAdded == true
	input.rollout.rolloutMode == "Knative"
	input.rollout.tagRouting.old == true
	input.rollout.tagRouting.new == true
	some c in input.rollout.components
	c.kind == "transformer"
	c.inOld == false
	c.inNew
	limit := (63 - count("latest-")) - count(host_suffix("transformer"))
	count(input.request.name) > limit
	msg := sprintf(
		"%s is added while tag routing is on: KServe tags its Knative Service latest, and the host latest-%s%s... of name %s (%d characters) exceeds the 63-character DNS label, so Knative cannot route the transformer and it never becomes ready. Set the annotation serving.kserve.io/enable-tag-routing: \"false\" in the same update, or recreate the InferenceService under a name of at most %d characters.",
		[c.path, input.request.name, host_suffix("transformer"), input.request.name, count(input.request.name), limit],
	)
}

# A model that enters as a canary (below 100 %, 0 included) on a name too
# long for the prev- host of the component split cannot be routed:
# Knative refuses the route and the rollout stalls where it was. The
# split starts with the model change (later steps wait for a ready
# canary), so steps skip the rule.
warn contains {"rule": "tag-routing-name", "msg": msg} if {
	input.request.operation == "UPDATE"
	input.rollout.rolloutMode == "Knative"
	input.rollout.modelChanged == true
	count(input.request.name) + count(input.rollout.predictorName) > 45
	some i in updated_components
	c := input.rollout.components[i]
	c.modelChanged
	c.newEffectivePercent < 100
	count(input.request.name) > prev_host_limit(c.kind)
	msg := sprintf(
		"%s: name %s is %d characters, and KServe tags the previous revision of the %s with the host prev-%s%s... whenever its traffic is split, which exceeds the 63-character DNS label: Knative cannot route this canary, and traffic stays where it was (kserve #2428). Canaries of the %s need a name of at most %d characters: recreate the InferenceService under a shorter name, or have a member of the override groups roll this model out without a canary.",
		[c.path, input.request.name, count(input.request.name), c.kind, input.request.name, host_suffix(c.kind), c.kind, prev_host_limit(c.kind)],
	)
}

# host_suffix is what KServe appends to the InferenceService's name for a
# component's Service: -<spec.predictor.name>-predictor when the predictor
# is named.
host_suffix(kind) := concat("", ["-", input.rollout.predictorName, "-predictor"]) if {
	kind == "predictor"
	input.rollout.predictorName != ""
} else := concat("", ["-", kind])

# KServe tags every component's Knative Service latest, so the longest
# suffix counts.
latest_suffix := host_suffix("transformer") if {
	some c in input.rollout.components
	c.kind == "transformer"
	c.inNew
	count(host_suffix("transformer")) > count(host_suffix("predictor"))
} else := host_suffix("predictor")

latest_host_limit := (63 - count("latest-")) - count(latest_suffix)

# The prev tag goes only on the component whose traffic is split.
prev_host_limit(kind) := (63 - count("prev-")) - count(host_suffix(kind))

# KServe tags the previous revision prev whenever traffic is split, tag
# routing or not (kserve #2428).
prev_host_note := sprintf(" A canary of the predictor also gets the host prev-<name>%s..., which exceeds it past %d characters: canaries need a name of at most %d.", [host_suffix("predictor"), prev_host_limit("predictor"), prev_host_limit("predictor")]) if {
	count(input.request.name) > prev_host_limit("predictor")
} else := sprintf(" A canary of the transformer also gets the host prev-<name>-transformer..., which exceeds it past %d characters: canaries of the transformer need a name of at most %d.", [prev_host_limit("transformer"), prev_host_limit("transformer")]) if {
	latest_suffix == "-transformer"
	count(input.request.name) > prev_host_limit("transformer")
} else := ""
