# Example: an approval for rises above 50 %.
#
# In production namespaces (prod-*), a rise that gives a canary more than
# 50 % of the traffic (promotions included) needs the annotation canary-guard.dev/approved-by, set or
# changed in the same update: an approval given for an earlier step does
# not carry over to the next one. The value names the approver (and, say, a
# ticket); it is recorded on the object and, with the rest of the update, in
# canary-guard's decision log.
#
# The annotation is not authentication: anyone who may update the
# InferenceService may write it. It makes the approval a deliberate,
# reviewable act (in Git, in the audit log). To restrict who may lift rules,
# use override.groups.
#
# Cost: the rollout facts carry no annotations, so this rule reads
# input.object and input.oldObject. Once any loaded rule does, canary-guard
# converts both objects into the input of every request, in every namespace,
# not only the rises above 50 % (docs/policy-input.md). On a small
# InferenceService that is about 370 more allocations and 22 kB per
# validate decision, some 1.5 times the time (docs/writing-policies.md);
# it grows with the objects. Keep the rest of your rules on input.rollout.
#
# Add the annotation to KServe's serviceAnnotationDisallowedList (ConfigMap
# inferenceservice-config) and to canary-guard's serviceAnnotationDisallowedList:
# otherwise KServe copies it into the revision template, and setting it
# creates a new revision of the canary in the same update.
package canary_guard

approval_annotation := "canary-guard.dev/approved-by"

approval_threshold := 50

approval_namespaces := ["prod-*"]

approval_namespace if {
	some pattern in approval_namespaces
	glob.match(pattern, [], input.request.namespace)
}

deny contains {"rule": "approval-required", "msg": msg} if {
	input.rollout.raised == true
	approval_namespace
	some c in input.rollout.components
	approval_rise(c)
	not approval_given
	msg := sprintf(
		"%s %s gives the canary %d %% of the traffic; in %s a rise above %d %% needs an approval given with it. Set the annotation %s: \"<approver>\" (a new value) in the same update%s.",
		[approval_field(c), approval_change(c), approval_new_share(c), input.request.namespace, approval_threshold, approval_annotation, approval_without(c)],
	)
}

# Knative components and Standard-mode canary entries that rise above the
# threshold.
approval_rise(c) if {
	approval_routes_traffic(c)
	not c.modelChanged
	c.inOld
	c.inNew
	c.newEffectivePercent > c.oldEffectivePercent
	c.newEffectivePercent > approval_threshold
}

# A Standard-mode promotion gives the canary all traffic.
approval_rise(c) if c.promotedCanary != ""

# The percent routes traffic: a Standard-mode spec.canary[] entry, or any
# component in Knative mode (Standard mode ignores canaryTrafficPercent).
approval_routes_traffic(c) if c.kind == "canary"

approval_routes_traffic(c) if {
	c.kind != "canary"
	input.rollout.rolloutMode == "Knative"
	not c.modelMesh
}

# What the user may do without an approval.
approval_without(c) := sprintf(", or raise it to %d at most", [approval_threshold]) if {
	c.promotedCanary == ""
	c.oldEffectivePercent < approval_threshold
}

approval_without(c) := "" if c.promotedCanary != ""

approval_without(c) := "" if c.oldEffectivePercent >= approval_threshold

approval_new_share(c) := 100 if c.promotedCanary != ""

approval_new_share(c) := c.newEffectivePercent if c.promotedCanary == ""

approval_field(c) := sprintf("%s.name", [c.path]) if c.promotedCanary != ""

approval_field(c) := sprintf("%s.%s", [c.path, c.percentField]) if c.promotedCanary == ""

approval_change(c) := sprintf("→ %s (promoting canary %s)", [c.promotedCanary, c.promotedCanary]) if c.promotedCanary != ""

approval_change(c) := sprintf("%s → %s", [approval_pct(c.oldPercent), approval_pct(c.newPercent)]) if c.promotedCanary == ""

approval_pct(p) := "absent" if p == null

approval_pct(p) := sprintf("%d", [p]) if p != null

# The annotation is on the new object and differs from the stored one.
approval_given if {
	value := input.object.metadata.annotations[approval_annotation]
	trim_space(value) != ""
	value != object.get(input.oldObject, ["metadata", "annotations", approval_annotation], "")
}
