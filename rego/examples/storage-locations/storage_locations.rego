# Example: allowed storage locations per namespace.
#
# A model change (or a new InferenceService) that loads a model from a
# location outside its namespace's allowed prefixes is denied, with the
# allowed prefixes in the message; so is a rise of traffic to such a model
# (one that came in before this rule, or through an override).
#
# The locations come from input.rollout.components[].newStorageUris, which
# canary-guard computes anyway: every storage URI of the component (the
# legacy framework blocks such as tensorflow: normalised to model{}, each
# storageUris[] entry, a custom container's STORAGE_URI, an explainer's),
# of a spec.canary[] entry merged over the stable predictor, and a
# storage: {key, path} spec as "storage:<key>/<path>" (allow such a key with
# a prefix like "storage:acme-prod/"; with parameters, which may name
# another bucket, it reads "storage:<key>{bucket=...}/<path>" and that
# prefix no longer matches). Reading input.object instead would
# make canary-guard convert the whole old and new objects into the input of
# every request, in every namespace, for as long as this file is loaded:
# the input document holds them only when some loaded rule reads
# input.object or input.oldObject (docs/policy-input.md).
#
# A model an argument names (a Hugging Face --model_id, from the Hub) has no
# storage location; a rule about registries or model ids reads newModel.
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

# Updates: a component loads a model from a location it did not use before.
deny contains {"rule": "storage-location", "msg": msg} if {
	input.rollout.modelChanged == true
	some c in input.rollout.components
	c.modelChanged
	some uri in c.newStorageUris
	not uri in c.oldStorageUris
	msg := storage_denial(c, uri)
}

# Rises: traffic moves to a model outside the allowed locations. A model
# change at 0 % in Knative mode (a dark launch: all traffic stays on the
# rolled-out revision) is always admitted, since it carries no traffic;
# this rule stops it when the percent is raised.
deny contains {"rule": "storage-location", "msg": msg} if {
	input.rollout.raised == true
	some c in input.rollout.components
	c.newEffectivePercent > c.oldEffectivePercent
	some uri in c.newStorageUris
	msg := storage_denial(c, uri)
}

# CREATE: every location of every component.
deny contains {"rule": "storage-location", "msg": msg} if {
	input.rollout.operation == "CREATE"
	some c in input.rollout.components
	c.inNew
	some uri in c.newStorageUris
	msg := storage_denial(c, uri)
}

storage_denial(c, uri) := msg if {
	prefixes := storage_prefixes_for(input.request.namespace)
	not storage_allowed(uri, prefixes)
	msg := sprintf(
		"%s: the model location %s is outside the storage locations allowed in namespace %s: %s. Copy the model under one of these prefixes and point %s at the copy.",
		[c.path, uri, input.request.namespace, concat(", ", prefixes), c.path],
	)
}
