# Example: a change freeze.
#
# During a freeze window no canary may gain traffic and no model may change
# in the namespaces the window names. Everything else goes on:
#
#   - rollbacks (canaryTrafficPercent: 0, or removing a spec.canary[]
#     entry) and lowered percents: this rule does not fire on them, and
#     canary-guard admits them whatever any rule says (input.rollout.alwaysAdmit);
#   - updates that change neither traffic nor the model (replicas,
#     resources, labels);
#   - creating an InferenceService (no model is replaced);
#   - an override by a member of override.groups (canary-guard.dev/override),
#     which turns this denial into a warning for that one update.
#
# The windows are plain Rego data in this file, so a freeze is a reviewed
# change to the policy directory (a ConfigMap in the Helm chart) and needs
# no configuration key.
#
# Time: time.now_ns() is the webhook's wall clock. The window check is a
# function of a timestamp, freeze_open_windows(namespace, ns), that the Rego
# tests call with fixed timestamps; the verify suite (suite.yaml) sets the
# time instead (its `now`, which canary-guard eval takes as --now).
package canary_guard

# Freeze windows: [start, end) in RFC 3339, and the namespace globs they
# cover ("*" for every namespace).
freeze_windows := [
	{
		"name": "year-end 2026",
		"start": "2026-12-18T17:00:00Z",
		"end": "2027-01-04T08:00:00Z",
		"namespaces": ["prod-*"],
	},
]

# The windows open at time now (nanoseconds since the epoch) for a namespace.
freeze_open_windows(namespace, now) := {w |
	some w in freeze_windows
	freeze_covers(w, namespace)
	time.parse_rfc3339_ns(w.start) <= now
	now < time.parse_rfc3339_ns(w.end)
}

freeze_covers(w, namespace) if {
	some pattern in w.namespaces
	glob.match(pattern, [], namespace)
}

# Model changes, including a new Standard-mode spec.canary[] entry with a
# model of its own.
deny contains {"rule": "change-freeze", "msg": msg} if {
	input.rollout.modelChanged == true
	some c in input.rollout.components
	c.modelChanged
	some w in freeze_open_windows(input.request.namespace, time.now_ns())
	msg := sprintf(
		"%s: a model change (%s → %s) during the change freeze %q (%s to %s, namespaces %s); no model change or traffic rise is allowed until it ends. Apply this change after %s, or ask an override group member to set canary-guard.dev/override with the reason.",
		[c.path, freeze_model(c.oldModel), freeze_model(c.newModel), w.name, w.start, w.end, concat(", ", w.namespaces), w.end],
	)
}

# Rises of a canary, promotions included (Knative: removing the field or
# setting 100; Standard: naming a canary entry on the predictor).
deny contains {"rule": "change-freeze", "msg": msg} if {
	input.rollout.raised == true
	some c in input.rollout.components
	not c.modelChanged
	freeze_rise(c)
	some w in freeze_open_windows(input.request.namespace, time.now_ns())
	msg := sprintf(
		"%s %s raises traffic during the change freeze %q (%s to %s, namespaces %s); no traffic rise or model change is allowed until it ends. Keep the current split until %s, or %s to roll back.",
		[freeze_field(c), freeze_change(c), w.name, w.start, w.end, concat(", ", w.namespaces), w.end, freeze_rollback(c)],
	)
}

freeze_rise(c) if c.newEffectivePercent > c.oldEffectivePercent

freeze_rise(c) if c.promotedCanary != ""

freeze_field(c) := sprintf("%s.%s", [c.path, c.percentField]) if c.promotedCanary == ""

freeze_field(c) := sprintf("%s.name", [c.path]) if c.promotedCanary != ""

freeze_change(c) := sprintf("%s → %s", [freeze_pct(c.oldPercent), freeze_pct(c.newPercent)]) if c.promotedCanary == ""

freeze_change(c) := sprintf("→ %s (promoting canary %s from %d %%)", [c.promotedCanary, c.promotedCanary, c.promotedCanaryPercent]) if {
	c.promotedCanary != ""
}

freeze_pct(p) := "absent (100 %)" if p == null

freeze_pct(p) := sprintf("%d", [p]) if p != null

freeze_model(m) := m if m != ""

freeze_model(m) := "(not set)" if m == ""

freeze_rollback(c) := "remove the entry" if c.kind == "canary"

freeze_rollback(c) := "remove the spec.canary[] entry" if c.promotedCanary != ""

freeze_rollback(c) := sprintf("set %s.%s: 0", [c.path, c.percentField]) if {
	c.kind != "canary"
	c.promotedCanary == ""
}
