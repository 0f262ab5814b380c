// Package certs lets canary-guard create and rotate its own CA and serving
// certificate (the chart's certs.mode: self-managed), without cert-manager.
//
// # Who does what
//
// Every replica runs a Manager. The replicas elect one leader through a
// coordination.k8s.io Lease (<secret minus "-tls">-cert-rotation); only the
// leader writes. Replicas that each generate their own certificate, and
// race to write it and the webhooks' caBundle, are the classic failure of
// self-managed webhook certificates: the API server then trusts one
// replica's CA while the others serve certificates it cannot verify.
//
// The leader keeps one Secret of type kubernetes.io/tls:
//
//	tls.crt, tls.key  the serving certificate (ECDSA P-256) and its key
//	ca.crt            the CA bundle: every CA the API server must trust now
//	ca.key            the key of the signing CA, the one CA of the bundle
//	                  it matches; new serving certificates come from it
//
// and two annotations on it recording the last bundle confirmed written into
// every webhook of both webhook configurations, and when:
// canary-guard.dev/ca-bundle-injected (SHA-256 of ca.crt) and
// canary-guard.dev/ca-bundle-injected-at (RFC 3339).
//
// On every check (each CheckInterval, every change of the Secret or of the
// two webhook configurations, and when a wait for an overlap ends) the
// leader writes ca.crt into clientConfig.caBundle of every webhook of the
// MutatingWebhookConfiguration and the ValidatingWebhookConfiguration
// named WebhookConfigurations (get, compare, update; retried on conflict)
// and touches no other configuration. A bundle reset by `helm upgrade` is
// thereby restored within one check, and recorded as injected anew, so a
// CA switch waits the overlap again. A configuration that does not exist
// needs no bundle; one that refuses the update, or that carries
// cert-manager's cert-manager.io/inject-ca-from, is an error of the check
// and keeps the injection unrecorded, so no switch to a new CA follows.
//
// Every replica, the leader included, follows the Secret through a watch
// and writes tls.crt and tls.key into its certificate directory (each file
// replaced atomically, temporary file and rename); the webhook server's
// certwatcher reloads them in place. A Secret whose serving pair does not
// parse is ignored by the replicas (logged) until the leader replaces it.
//
// # The state machine
//
// Each check, after the bundle is injected, the leader evaluates decide
// on the Secret and applies its one step, then evaluates again, until the
// answer is to write nothing. The first rule that matches wins:
//
//  1. No Secret, or ca.crt is not a bundle of CA certificates:
//     CREATE a new CA. Garbage is logged and replaced. The webhooks'
//     bundles are read first; an error other than not-found retries the
//     check. When the webhooks
//     already trust CAs (the Secret was deleted or garbled under running
//     replicas), the bundle keeps their unexpired CAs beside the new one
//     and the serving pair is left empty: the replicas keep serving their
//     files, which those CAs verify, and rule 3 moves them to the new CA
//     after the overlap. Otherwise (a first install) the bundle is the new
//     CA alone, with a serving certificate from it at once.
//  2. ca.key is missing, unusable or matches no CA of the bundle, the
//     signing CA expires within RenewBefore, or it is not valid yet on this
//     clock (made by a leader whose clock ran ahead):
//     ROTATE-CA: generate a new CA, which becomes the signing CA (ca.key);
//     the bundle becomes the old bundle's unexpired CAs plus the new one.
//     The serving certificate is left alone: it still chains to an old CA
//     that the bundle keeps.
//  3. The serving pair does not verify against the bundle now, or lacks
//     <service>.<namespace>.svc, the name the API server calls: every call
//     fails already, so ISSUE from the signing CA at once. The pair is
//     missing or unusable, or lacks another of the Service's DNS names:
//     ISSUE once a certificate from the signing CA may be served (the
//     Secret's certificate comes from it already, it is the bundle's only
//     CA, or the bundle has been recorded as injected for Overlap);
//     WAIT until then, and check again when the overlap ends. (A replica
//     that restarts meanwhile starts on the valid pair its directory still
//     holds.) A certificate that is not valid yet on this clock, made by a
//     leader whose clock ran ahead, is not urgent: the API servers may
//     accept it.
//  4. The serving certificate was issued by a CA other than the signing CA
//     (a CA rotation is under way):
//     WAIT while the current bundle is not yet recorded as injected, or
//     was recorded less than Overlap ago, so every API server has seen the
//     new CA before any replica presents a certificate from it;
//     then ISSUE from the signing CA (the switch).
//  5. The serving certificate expires within RenewBefore:
//     ISSUE a new one from the signing CA (same CA: the bundle already
//     trusts it).
//  6. A CA of the bundle other than the signing CA has expired, or the
//     serving certificate has come from the signing CA for RenewBefore
//     already (every replica has long loaded it):
//     DROP those CAs from the bundle.
//  7. Otherwise: nothing to do.
//
// So a CA rotation, which starts RenewBefore before the CA expires, runs
//
//	bundle [old]      serving from old   (stable)
//	bundle [old new]  serving from old   ROTATE-CA; injected; WAIT Overlap
//	bundle [old new]  serving from new   ISSUE (switch); replicas reload
//	bundle [new]      serving from new   DROP, once old has expired
//
// and at every step the bundle the API server holds verifies the
// certificate every replica serves. Serving certificates never outlive the
// CA that signs them, and a CA is rotated before the serving certificate's
// own renewal can fall due on an expiring CA, so no step loops.
//
// Leadership changes hand over cleanly because all of the state lives in
// the Secret, and every write carries the resourceVersion it read: a
// deposed leader's late write fails with a conflict.
package certs
