# Example: a smaller step cap for production namespaces.
#
# In namespaces matching prod-* a canary may rise by at most 10 points per
# update (the shipped max-step rule allows config.maxStepPercent, 25 by
# default); a promotion is a rise to 100, so it is allowed from 90 %.
#
# The configuration can do the same without Rego:
#
#   namespaces:
#   - match: "prod-*"
#     maxStepPercent: 10
#
# and that is the better choice when the platform team owns the
# configuration: the shipped max-step rule then gives the one message. Use a
# rule like this one when the cap must hold whatever the configuration says,
# or depends on something the configuration cannot express (labels, users,
# the model). When the configuration already caps at 10 or less this rule
# stays silent, so users never get two different "Set N now" for one step.
# Above 25 both rules fire: both messages are shown, the smaller step is the
# one that passes.
package canary_guard

prod_step_namespaces := ["prod-*"]

prod_step_max := 10

prod_step_namespace if {
	some pattern in prod_step_namespaces
	glob.match(pattern, [], input.request.namespace)
}

# Knative: predictor, transformer, explainer.
deny contains {"rule": "prod-max-step", "msg": msg} if {
	input.rollout.rolloutMode == "Knative"
	input.rollout.raised == true
	input.config.maxStepPercent > prod_step_max
	prod_step_namespace
	some c in input.rollout.components
	c.kind != "canary"
	not c.modelMesh
	msg := prod_step_denial(c, "0")
}

# Standard: spec.canary[] entries.
deny contains {"rule": "prod-max-step", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.raised == true
	input.config.maxStepPercent > prod_step_max
	prod_step_namespace
	some c in input.rollout.components
	c.kind == "canary"
	msg := prod_step_denial(c, "remove the entry")
}

prod_step_denial(c, rollback) := msg if {
	c.inOld
	c.inNew
	not c.modelChanged
	c.newEffectivePercent <= 100
	rise := c.newEffectivePercent - c.oldEffectivePercent
	rise > prod_step_max
	msg := sprintf(
		"%s.%s %s → %s rises by %d; in production namespaces (%s) a canary rises by at most %d per update. Set %d now, or %s to roll back.",
		[
			c.path, c.percentField, prod_step_pct(c.oldPercent), prod_step_pct(c.newPercent), rise,
			concat(", ", prod_step_namespaces), prod_step_max, c.oldEffectivePercent + prod_step_max, rollback,
		],
	)
}

# Standard: promoting an entry (spec.predictor.name set to its name, the
# entry removed) gives it all traffic.
deny contains {"rule": "prod-max-step", "msg": msg} if {
	input.rollout.rolloutMode == "Standard"
	input.rollout.raised == true
	input.config.maxStepPercent > prod_step_max
	prod_step_namespace
	some c in input.rollout.components
	c.promotedCanary != ""
	c.promotedCanaryPercent < 100 - prod_step_max
	msg := sprintf(
		"promoting canary %s (at %d %%) to all traffic rises by %d; in production namespaces (%s) a canary rises by at most %d per update. Raise its trafficPercent to %d first; promotion is allowed from %d %%.",
		[
			c.promotedCanary, c.promotedCanaryPercent, 100 - c.promotedCanaryPercent,
			concat(", ", prod_step_namespaces), prod_step_max, c.promotedCanaryPercent + prod_step_max, 100 - prod_step_max,
		],
	)
}

prod_step_pct(p) := "absent (100 %)" if p == null

prod_step_pct(p) := sprintf("%d", [p]) if p != null
