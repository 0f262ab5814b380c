# Example: allowed storage locations per namespace.
#
# A model change (or a new InferenceService) whose new storage URI is not
# under one of its namespace's allowed prefixes is denied, with the allowed
# prefixes in the message; so is a rise of traffic to such a model (one
# that came in before this rule, or through an override).
#
# The URI comes from input.rollout.components[].newModel, the model summary
# canary-guard computes anyway: the storage URI of the component (the legacy
# framework blocks such as tensorflow: normalised to model{}), of a
# spec.canary[] entry merged over the stable predictor, or a custom
# container's STORAGE_URI. Reading input.object instead would make
# canary-guard convert the whole old and new objects into the input of
# every request, in every namespace, for as long as this file is loaded:
# the input document holds them only when some loaded rule reads
# input.object or input.oldObject (docs/policy-input.md).
#
# What newModel does not give, and how to cover it if you need to:
#   - storageUris lists: newModel is the first URI only;
#   - a custom container without STORAGE_URI: newModel is the image (no
#     "://"), which this rule leaves alone (an image registry rule would
#     read the same field);
#   - storage: {key, path} specs: newModel is empty.
# For these read input.object.spec, at the conversion cost above.
package canary_guard

# Namespace glob -> allowed storage URI prefixes. End each prefix with "/"
# so gs://acme-models-prod does not also allow gs://acme-models-prod-copy.
# A namespace several globs match may use the prefixes of any of them; a
# namespace no glob matches is not restricted.
storage_allowed_prefixes := {
	"prod-*": ["gs://acme-models-prod/", "s3://acme-models-prod/"],
	"staging-*": ["gs://acme-models-staging/", "gs://acme-models-prod/"],
	"team-a-*": ["gs://acme-models-team-a/"],
	"*-sandbox": ["gs://acme-models-sandbox/"],
}

# The prefixes a namespace may use; undefined when no glob matches it.
storage_prefixes_for(namespace) := prefixes if {
	prefixes := sort({p |
		some pattern, allowed in storage_allowed_prefixes
		glob.match(pattern, [], namespace)
		some p in allowed
	})
	count(prefixes) > 0
}

storage_allowed(uri, prefixes) if {
	some p in prefixes
	startswith(uri, p)
}

# A storage URI has a scheme; an image reference does not.
storage_uri(m) if contains(m, "://")

# Updates: the storage URI of a component changes.
deny contains {"rule": "storage-location", "msg": msg} if {
	input.rollout.modelChanged == true
	some c in input.rollout.components
	c.modelChanged
	c.newModel != c.oldModel
	msg := storage_denial(c)
}

# Rises: traffic moves to a model outside the allowed locations. A model
# change at 0 % in Knative mode (a dark launch: all traffic stays on the
# rolled-out revision) is always admitted, since it carries no traffic;
# this rule stops it when the percent is raised.
deny contains {"rule": "storage-location", "msg": msg} if {
	input.rollout.raised == true
	some c in input.rollout.components
	c.newEffectivePercent > c.oldEffectivePercent
	msg := storage_denial(c)
}

# CREATE: every component's storage URI.
deny contains {"rule": "storage-location", "msg": msg} if {
	input.rollout.operation == "CREATE"
	some c in input.rollout.components
	c.inNew
	msg := storage_denial(c)
}

storage_denial(c) := msg if {
	storage_uri(c.newModel)
	prefixes := storage_prefixes_for(input.request.namespace)
	not storage_allowed(c.newModel, prefixes)
	msg := sprintf(
		"%s: the new model %s is outside the storage locations allowed in namespace %s: %s. Copy the model under one of these prefixes and set the storageUri of %s to the copy.",
		[c.path, c.newModel, input.request.namespace, concat(", ", prefixes), c.path],
	)
}
