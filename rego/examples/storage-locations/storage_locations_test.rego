# Tests of the storage-locations example. Run with:
#
#   bin/opa-v1.22.3 test rego/canary_guard.rego rego/examples/storage-locations/
package storage_locations_test

import data.canary_guard

# --- The prefix lookup -------------------------------------------------------------

test_prefixes_of_a_matching_namespace if {
	canary_guard.storage_prefixes_for("prod-eu") == ["gs://acme-models-prod/", "s3://acme-models-prod/"]
}

test_prefixes_of_several_matching_globs_are_merged if {
	canary_guard.storage_prefixes_for("team-a-sandbox") == ["gs://acme-models-sandbox/", "gs://acme-models-team-a/"]
}

test_no_prefixes_for_an_unmatched_namespace if {
	not canary_guard.storage_prefixes_for("models")
}

test_prefix_needs_the_slash if {
	canary_guard.storage_allowed("gs://acme-models-prod/iris/v2", ["gs://acme-models-prod/"])
	not canary_guard.storage_allowed("gs://acme-models-prod-copy/iris/v2", ["gs://acme-models-prod/"])
}

# --- Inputs ----------------------------------------------------------------------------

component(over) := object.union(
	{
		"id": "predictor", "kind": "predictor", "name": "predictor", "path": "spec.predictor",
		"percentField": "canaryTrafficPercent", "inOld": true, "inNew": true, "modelMesh": false,
		"changedFields": [], "modelChanged": false, "revisionChanged": false,
		"oldModel": "gs://acme-models-prod/iris/v1", "newModel": "gs://acme-models-prod/iris/v1",
		"oldStorageUris": ["gs://acme-models-prod/iris/v1"], "newStorageUris": ["gs://acme-models-prod/iris/v1"],
		"oldPercent": null, "newPercent": null, "oldEffectivePercent": 100, "newEffectivePercent": 100,
		"percentChanged": false, "canaryInProgress": false,
		"stableRevision": "", "previousRevision": "", "latestReadyRevision": "", "latestCreatedRevision": "",
		"canaryReady": "unknown", "canaryReadyReason": "status has no revisions for predictor",
		"promotedCanary": "", "promotedCanaryPercent": 0,
	},
	over,
)

# The predictor's storage URI changes to uri (entering at 10 %).
model_change_to(uri) := component({
	"modelChanged": true, "revisionChanged": true, "newModel": uri, "newStorageUris": [uri],
	"changedFields": ["spec.predictor.model.storageUri"],
	"newPercent": 10, "newEffectivePercent": 10, "percentChanged": true,
})

request(operation, namespace, components) := {
	"version": "v1",
	"request": {
		"operation": operation, "namespace": namespace, "name": "my-model", "dryRun": false,
		"user": {"username": "alice", "groups": ["ml-engineers"]},
	},
	"config": {"enforcement": "enforce", "initialCanaryPercent": 10, "maxStepPercent": 25},
	"rollout": {
		"operation": operation, "deploymentMode": "Knative", "rolloutMode": "Knative", "deploymentModeSource": "annotation",
		"components": components,
		"modelChanged": model_changed(components),
		"revisionChanged": model_changed(components),
		"raised": false,
		"metadataChanged": [], "internalAnnotationsChanged": [],
		"override": {"requested": false, "reason": "", "allowed": false, "active": false},
		"step": {"lastStepAt": "", "secondsSinceLastStep": -1},
		"alwaysAdmit": false, "alwaysAdmitReason": "",
	},
}

model_changed(components) if {
	some c in components
	c.modelChanged
} else := false

storage_denials(inp) := {d.msg |
	some d in all_denials(inp)
	d.rule == "storage-location"
}

all_denials(inp) := denials if {
	denials := canary_guard.deny with input as inp
}

# --- The rules ----------------------------------------------------------------------

test_model_change_outside_the_prefixes_denied if {
	storage_denials(request("UPDATE", "prod-eu", [model_change_to("gs://scratch/alice/iris-v2")])) == {
		"spec.predictor: the model location gs://scratch/alice/iris-v2 is outside the storage locations allowed in namespace prod-eu: gs://acme-models-prod/, s3://acme-models-prod/. Copy the model under one of these prefixes and point spec.predictor at the copy.",
	}
}

test_model_change_inside_the_prefixes_admitted if {
	storage_denials(request("UPDATE", "prod-eu", [model_change_to("s3://acme-models-prod/iris/v2")])) == set()
}

test_unrestricted_namespace_admitted if {
	storage_denials(request("UPDATE", "models", [model_change_to("gs://scratch/alice/iris-v2")])) == set()
}

test_staging_may_use_prod_models if {
	storage_denials(request("UPDATE", "staging-eu", [model_change_to("gs://acme-models-prod/iris/v2")])) == set()
}

test_create_outside_the_prefixes_denied if {
	created := component({"oldModel": "gs://scratch/iris", "newModel": "gs://scratch/iris", "oldStorageUris": [], "newStorageUris": ["gs://scratch/iris"]})
	some msg in storage_denials(request("CREATE", "prod-eu", [created]))
	startswith(msg, "spec.predictor: the model location gs://scratch/iris is outside")
}

# A model change that keeps the storage URI (a new runtime version, say)
# does not move the model, so a URI that predates the rule stays.
test_model_change_keeping_the_uri_admitted if {
	runtime := component({
		"oldModel": "gs://legacy/iris", "newModel": "gs://legacy/iris",
		"oldStorageUris": ["gs://legacy/iris"], "newStorageUris": ["gs://legacy/iris"],
		"modelChanged": true, "revisionChanged": true,
		"changedFields": ["spec.predictor.model.runtimeVersion"],
	})
	storage_denials(request("UPDATE", "prod-eu", [runtime])) == set()
}

test_container_image_is_not_a_storage_uri if {
	image := component({
		"id": "transformer", "kind": "transformer", "name": "transformer", "path": "spec.transformer",
		"modelChanged": true, "revisionChanged": true,
		"oldModel": "registry.example/feast-transformer:v1", "newModel": "registry.example/feast-transformer:v2",
		"oldStorageUris": [], "newStorageUris": [],
	})
	storage_denials(request("UPDATE", "prod-eu", [image])) == set()
}

test_standard_canary_entry_outside_the_prefixes_denied if {
	entry := component({
		"id": "canary:v2", "kind": "canary", "name": "v2", "path": "spec.canary[0]", "percentField": "trafficPercent",
		"inOld": false, "modelChanged": true, "revisionChanged": true,
		"newModel": "gs://scratch/iris-v2", "newStorageUris": ["gs://scratch/iris-v2"], "newPercent": 10, "newEffectivePercent": 10,
	})
	some msg in storage_denials(request("UPDATE", "prod-eu", [component({}), entry]))
	startswith(msg, "spec.canary[0]: the model location gs://scratch/iris-v2 is outside")
}

# A model launched dark at 0 % is always admitted (it carries no traffic);
# raising its percent is where the rule stops it.
test_rise_to_a_model_outside_the_prefixes_denied if {
	dark := component({
		"newModel": "gs://scratch/alice/iris-v2", "oldModel": "gs://scratch/alice/iris-v2",
		"oldStorageUris": ["gs://scratch/alice/iris-v2"], "newStorageUris": ["gs://scratch/alice/iris-v2"],
		"oldPercent": 0, "newPercent": 10, "oldEffectivePercent": 0, "newEffectivePercent": 10, "percentChanged": true,
	})
	inp := object.union(request("UPDATE", "prod-eu", [dark]), {"rollout": {"raised": true}})
	some msg in storage_denials(inp)
	startswith(msg, "spec.predictor: the model location gs://scratch/alice/iris-v2 is outside")
}

test_rise_to_a_model_inside_the_prefixes_admitted if {
	step := component({
		"newModel": "gs://acme-models-prod/iris/v2", "oldModel": "gs://acme-models-prod/iris/v2",
		"oldStorageUris": ["gs://acme-models-prod/iris/v2"], "newStorageUris": ["gs://acme-models-prod/iris/v2"],
		"oldPercent": 10, "newPercent": 35, "oldEffectivePercent": 10, "newEffectivePercent": 35, "percentChanged": true,
	})
	inp := object.union(request("UPDATE", "prod-eu", [step]), {"rollout": {"raised": true}})
	storage_denials(inp) == set()
}

# Every location counts: a second storageUris entry, and a storage spec,
# whose key is allowed by a "storage:<key>/" prefix only.
test_every_location_of_a_component_is_checked if {
	two := component({
		"modelChanged": true, "revisionChanged": true,
		"newStorageUris": ["gs://acme-models-prod/iris/v2", "gs://scratch/backdoor"],
	})
	storage_denials(request("UPDATE", "prod-eu", [two])) == {"spec.predictor: the model location gs://scratch/backdoor is outside the storage locations allowed in namespace prod-eu: gs://acme-models-prod/, s3://acme-models-prod/. Copy the model under one of these prefixes and point spec.predictor at the copy."}
	keyed := component({"modelChanged": true, "revisionChanged": true, "newStorageUris": ["storage:minio/iris"]})
	some msg in storage_denials(request("UPDATE", "prod-eu", [keyed]))
	startswith(msg, "spec.predictor: the model location storage:minio/iris is outside")
}
