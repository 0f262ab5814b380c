package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Keys and annotations of the Secret.
const (
	KeyServingCert = corev1.TLSCertKey       // tls.crt
	KeyServingKey  = corev1.TLSPrivateKeyKey // tls.key
	KeyCABundle    = "ca.crt"
	KeyCAKey       = "ca.key"

	// AnnotationInjected is the SHA-256 (hex) of the ca.crt last confirmed
	// in every webhook; AnnotationInjectedAt is when (RFC 3339).
	AnnotationInjected   = "canary-guard.dev/ca-bundle-injected"
	AnnotationInjectedAt = "canary-guard.dev/ca-bundle-injected-at"
)

// secretState is the Secret parsed. Every part that does not parse has its
// error set instead; parsing never fails as a whole, so garbage is a state
// like any other.
type secretState struct {
	exists bool

	bundle    []*x509.Certificate
	bundlePEM []byte
	bundleErr error

	// signer is the CA of the bundle that ca.key belongs to.
	signer    *keyPair
	signerErr error

	serving    *x509.Certificate
	servingErr error

	// injectedHash and injectedAt come from the annotations; empty and
	// zero when absent or unreadable.
	injectedHash string
	injectedAt   time.Time
}

func parseSecret(s *corev1.Secret) secretState {
	if s == nil {
		missing := errors.New("no Secret")
		return secretState{bundleErr: missing, signerErr: missing, servingErr: missing}
	}
	st := secretState{exists: true, bundlePEM: s.Data[KeyCABundle]}

	if st.bundle, st.bundleErr = parseBundle(st.bundlePEM); st.bundleErr != nil {
		st.bundleErr = fmt.Errorf("%s: %w", KeyCABundle, st.bundleErr)
	}
	st.signer, st.signerErr = parseSigner(st.bundle, s.Data[KeyCAKey])

	pair, err := tls.X509KeyPair(s.Data[KeyServingCert], s.Data[KeyServingKey])
	if err == nil {
		st.serving, err = x509.ParseCertificate(pair.Certificate[0])
	}
	if err != nil {
		st.servingErr = fmt.Errorf("%s/%s: %w", KeyServingCert, KeyServingKey, err)
	}

	st.injectedHash = s.Annotations[AnnotationInjected]
	if at, err := time.Parse(time.RFC3339, s.Annotations[AnnotationInjectedAt]); err == nil {
		st.injectedAt = at
	} else {
		st.injectedHash = ""
	}
	return st
}

// parseSigner finds the CA of bundle that the key in keyPEM belongs to.
func parseSigner(bundle []*x509.Certificate, keyPEM []byte) (*keyPair, error) {
	if len(keyPEM) == 0 {
		return nil, fmt.Errorf("%s missing", KeyCAKey)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCAKey, err)
	}
	for _, ca := range bundle {
		if publicKeyMatches(ca, key) {
			return &keyPair{cert: ca, key: key, keyPEM: keyPEM}, nil
		}
	}
	return nil, fmt.Errorf("%s belongs to no CA of %s", KeyCAKey, KeyCABundle)
}

// bundleHash identifies a bundle in AnnotationInjected.
func bundleHash(bundlePEM []byte) string {
	sum := sha256.Sum256(bundlePEM)
	return hex.EncodeToString(sum[:])
}

type action int

const (
	// actionNone: the Secret is as it should be.
	actionNone action = iota
	// actionWait: the serving certificate must not move to the signing
	// CA yet (the webhooks may not trust it); decision.recheckAt says when
	// it may, where known.
	actionWait
	// actionCreate: a new CA; the CAs the webhooks trust are kept beside
	// it, else a serving certificate from it at once.
	actionCreate
	// actionRotateCA: a new signing CA joins the bundle.
	actionRotateCA
	// actionIssue: a new serving certificate from the signing CA.
	actionIssue
	// actionDropCAs: the bundle shrinks to decision.keep.
	actionDropCAs
)

func (a action) String() string {
	switch a {
	case actionNone:
		return "none"
	case actionWait:
		return "wait"
	case actionCreate:
		return "create"
	case actionRotateCA:
		return "rotate-ca"
	case actionIssue:
		return "issue"
	case actionDropCAs:
		return "drop-cas"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

type decision struct {
	action action
	reason string
	// recheckAt is when a wait may end; zero when unknown.
	recheckAt time.Time
	// keep is the bundle after actionDropCAs.
	keep []*x509.Certificate
}

// rules are the timings and names decide works with.
type rules struct {
	renewBefore time.Duration
	// overlap is how long a bundle must have been injected before the
	// serving certificate moves to a CA it newly added.
	overlap time.Duration
	// retention is how long old CAs stay after the serving certificate
	// moved to the signing CA, even when they have not expired.
	retention time.Duration
	dnsNames  []string
	// apiServerName is the DNS name the API server calls the Service by
	// (<service>.<namespace>.svc): a certificate without it fails every call.
	apiServerName string
}

// decide is the state machine of the package comment: the one step to
// take on the Secret at now.
func decide(now time.Time, st secretState, r rules) decision {
	switch {
	case !st.exists:
		return decision{action: actionCreate, reason: "the Secret does not exist"}
	case st.bundleErr != nil:
		return decision{action: actionCreate, reason: fmt.Sprintf("the Secret holds no usable CA bundle (%v); replacing it", st.bundleErr)}
	case st.signerErr != nil:
		return decision{action: actionRotateCA, reason: fmt.Sprintf("no usable signing CA (%v)", st.signerErr)}
	case !now.Before(st.signer.cert.NotAfter.Add(-r.renewBefore)):
		return decision{action: actionRotateCA, reason: fmt.Sprintf("the signing CA expires at %s", st.signer.cert.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(st.signer.cert.NotBefore):
		// Made by a leader whose clock ran ahead of this one's by more
		// than the skew allowance: nothing it signs verifies here.
		return decision{action: actionRotateCA, reason: fmt.Sprintf("the signing CA is not valid before %s (made on a clock ahead of this node's)", st.signer.cert.NotBefore.UTC().Format(time.RFC3339))}
	}
	if problem, urgent := servingProblem(now, st, r); problem != "" {
		// A webhook configuration that refuses the bundle (or that
		// cert-manager injects) keeps the injection unrecorded: the wait
		// goes on, since a certificate from the new CA would fail every
		// call to it. A configuration that does not exist needs nothing.
		trusted, recheckAt := signerTrusted(now, st, r)
		if urgent || trusted {
			return decision{action: actionIssue, reason: problem}
		}
		return decision{action: actionWait, recheckAt: recheckAt, reason: problem + "; the replicas keep what they serve until the bundle with the signing CA has been injected for the overlap"}
	}
	if !issuedBy(st.serving, st.signer.cert) {
		switch trusted, switchAt := signerTrusted(now, st, r); {
		case trusted:
			return decision{action: actionIssue, reason: fmt.Sprintf("CA rotation: the bundle with the new CA was injected at %s; moving the serving certificate to it", st.injectedAt.UTC().Format(time.RFC3339))}
		case switchAt.IsZero():
			return decision{action: actionWait, reason: "CA rotation: waiting until the bundle with the new CA is injected"}
		default:
			return decision{action: actionWait, recheckAt: switchAt, reason: fmt.Sprintf("CA rotation: the serving certificate moves to the new CA at %s", switchAt.UTC().Format(time.RFC3339))}
		}
	}
	if !now.Before(st.serving.NotAfter.Add(-r.renewBefore)) {
		return decision{action: actionIssue, reason: fmt.Sprintf("the serving certificate expires at %s", st.serving.NotAfter.UTC().Format(time.RFC3339))}
	}
	// The serving certificate comes from the signing CA: every other CA
	// only verifies certificates no replica should serve any more.
	servedSince := st.serving.NotBefore.Add(clockSkew)
	retired := !now.Before(servedSince.Add(r.retention))
	var keep []*x509.Certificate
	for _, ca := range st.bundle {
		if ca.Equal(st.signer.cert) || (now.Before(ca.NotAfter) && !retired) {
			keep = append(keep, ca)
		}
	}
	if len(keep) < len(st.bundle) {
		return decision{action: actionDropCAs, reason: fmt.Sprintf("dropping %d expired or retired CAs from the bundle", len(st.bundle)-len(keep)), keep: keep}
	}
	return decision{action: actionNone}
}

// servingProblem says why the serving certificate cannot be kept, or "",
// and whether it is urgent: a certificate the API server cannot verify, or
// one without the name it calls the Service by, fails every call already.
// A pair missing from the Secret is not urgent (the replicas keep serving
// their files), nor is a missing short name.
func servingProblem(now time.Time, st secretState, r rules) (string, bool) {
	if st.servingErr != nil {
		return fmt.Sprintf("no usable serving certificate (%v)", st.servingErr), false
	}
	roots := x509.NewCertPool()
	for _, ca := range st.bundle {
		roots.AddCert(ca)
	}
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := st.serving.Verify(opts); err != nil {
		// Not valid yet here, it was valid where it was made: a leader
		// with a clock ahead. The API servers may well accept it, so it
		// is replaced through the overlap like any other.
		return fmt.Sprintf("the serving certificate does not verify against the CA bundle (%v)", err), !now.Before(st.serving.NotBefore)
	}
	if r.apiServerName != "" && st.serving.VerifyHostname(r.apiServerName) != nil {
		return fmt.Sprintf("the serving certificate lacks the DNS name %s", r.apiServerName), true
	}
	for _, name := range r.dnsNames {
		if err := st.serving.VerifyHostname(name); err != nil {
			return fmt.Sprintf("the serving certificate lacks the DNS name %s", name), false
		}
	}
	return "", false
}

// signerTrusted reports whether a certificate from the signing CA may be
// served now: the replicas serve one already, the bundle holds no other
// CA (nothing served could be kept), or the bundle has been injected with
// it for the overlap, so every API server trusts it. Otherwise it says
// when the overlap ends, if the injection is recorded.
func signerTrusted(now time.Time, st secretState, r rules) (bool, time.Time) {
	switch {
	case st.serving != nil && issuedBy(st.serving, st.signer.cert):
		return true, time.Time{}
	case len(st.bundle) == 1:
		return true, time.Time{}
	case st.injectedHash != bundleHash(st.bundlePEM):
		return false, time.Time{}
	}
	switchAt := st.injectedAt.Add(r.overlap)
	return !now.Before(switchAt), switchAt
}

// unexpired returns the CAs still valid at now.
func unexpired(cas []*x509.Certificate, now time.Time) []*x509.Certificate {
	var out []*x509.Certificate
	for _, ca := range cas {
		if now.Before(ca.NotAfter) {
			out = append(out, ca)
		}
	}
	return out
}
