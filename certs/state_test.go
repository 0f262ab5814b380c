package certs

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const day = 24 * time.Hour

var testRules = rules{
	renewBefore: 15 * day,
	overlap:     time.Minute,
	retention:   15 * day,
	dnsNames:    DNSNames("canary-guard", "guard-system"),
	// The name the API server calls the Service by.
	apiServerName: "canary-guard.guard-system.svc",
}

// secretOf builds the Secret a leader would have written.
type secretOf struct {
	bundle     []*keyPair
	signer     *keyPair
	serving    *keyPair
	injected   []*keyPair // the bundle recorded as injected; nil: none
	injectedAt time.Time
	// raw overrides Data keys, for garbage.
	raw map[string]string
}

func (s secretOf) build() *corev1.Secret {
	data := map[string][]byte{}
	if s.bundle != nil {
		data[KeyCABundle] = encodeBundle(certsOf(s.bundle))
	}
	if s.signer != nil {
		data[KeyCAKey] = s.signer.keyPEM
	}
	if s.serving != nil {
		data[KeyServingCert], data[KeyServingKey] = s.serving.certPEM, s.serving.keyPEM
	}
	for k, v := range s.raw {
		data[k] = []byte(v)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "canary-guard-tls", Annotations: map[string]string{}}, Type: corev1.SecretTypeTLS, Data: data}
	if s.injected != nil {
		secret.Annotations[AnnotationInjected] = bundleHash(encodeBundle(certsOf(s.injected)))
		secret.Annotations[AnnotationInjectedAt] = s.injectedAt.UTC().Format(time.RFC3339)
	}
	return secret
}

func certsOf(kps []*keyPair) []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(kps))
	for _, kp := range kps {
		out = append(out, kp.cert)
	}
	return out
}

func TestDecide(t *testing.T) {
	names := testRules.dnsNames
	// The stable state: one CA (a year), a serving certificate (90 days).
	oldCA := mustCA(t, t0, 365*day)
	serving := mustServing(t, t0, 90*day, oldCA, names)
	// A CA rotation: the new CA arrives 15 days before the old one expires.
	rotatedAt := oldCA.cert.NotAfter.Add(-15 * day)
	newCA := mustCA(t, rotatedAt, 365*day)
	servingNearCAExpiry := mustServing(t, rotatedAt.Add(-day), 90*day, oldCA, names) // clamped to the old CA
	servingFromNew := mustServing(t, rotatedAt.Add(time.Hour), 90*day, newCA, names)
	otherCA := mustCA(t, t0, 365*day)
	servingFromOther := mustServing(t, t0, 90*day, otherCA, names)
	servingOtherService := mustServing(t, t0, 90*day, oldCA, DNSNames("renamed", "guard-system"))
	// Only the names with .svc, as cert-manager's Certificate of the chart has them.
	servingLongNamesOnly := mustServing(t, t0, 90*day, oldCA, names[2:])
	noPair := map[string]string{KeyServingCert: "", KeyServingKey: ""}
	// A CA made to replace a lost Secret, half an hour in.
	freshCA := mustCA(t, t0.Add(30*time.Minute), 365*day)
	// Made by a leader whose clock ran an hour ahead.
	futureCA := mustCA(t, t0.Add(time.Hour), 365*day)
	servingFromFuture := mustServing(t, t0.Add(time.Hour), 90*day, futureCA, names)

	cases := []struct {
		name       string
		now        time.Time
		secret     *corev1.Secret
		want       action
		wantReason string
		wantKeep   []*keyPair
		// wantRecheck is when a wait says to look again; zero: not checked.
		wantRecheck time.Time
	}{
		{
			name: "no Secret creates a CA and a certificate",
			now:  t0, secret: nil, want: actionCreate,
		},
		{
			name:   "fresh certificate needs nothing",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: serving}.build(),
			want:   actionNone,
		},
		{
			name:   "certificate just outside the renewal window is kept",
			now:    serving.cert.NotAfter.Add(-15*day - time.Second),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: serving}.build(),
			want:   actionNone,
		},
		{
			name:   "certificate within renew-before of expiry is renewed",
			now:    serving.cert.NotAfter.Add(-15 * day),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: serving}.build(),
			want:   actionIssue, wantReason: "serving certificate expires",
		},
		{
			name:   "expired certificate is reissued",
			now:    serving.cert.NotAfter.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: serving}.build(),
			want:   actionIssue, wantReason: "does not verify",
		},
		{
			name:   "certificate for another Service name is reissued",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: servingOtherService}.build(),
			want:   actionIssue, wantReason: "lacks the DNS name",
		},
		{
			name:   "certificate from a CA outside the bundle is reissued",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: servingFromOther}.build(),
			want:   actionIssue, wantReason: "does not verify",
		},
		{
			name:   "garbage serving pair is reissued from the same CA",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, raw: map[string]string{KeyServingCert: "garbage", KeyServingKey: "garbage"}}.build(),
			want:   actionIssue, wantReason: "no usable serving certificate",
		},
		{
			name:   "serving key of another certificate is reissued",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: serving, raw: map[string]string{KeyServingKey: string(servingFromOther.keyPEM)}}.build(),
			want:   actionIssue, wantReason: "no usable serving certificate",
		},
		{
			name:   "garbage bundle replaces everything",
			now:    t0.Add(time.Hour),
			secret: secretOf{signer: oldCA, serving: serving, raw: map[string]string{KeyCABundle: "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"}}.build(),
			want:   actionCreate, wantReason: "no usable CA bundle",
		},
		{
			name:   "empty Secret replaces everything",
			now:    t0.Add(time.Hour),
			secret: secretOf{}.build(),
			want:   actionCreate,
		},
		{
			name:   "garbage CA key rotates the CA and keeps the certificate",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, serving: serving, raw: map[string]string{KeyCAKey: "garbage"}}.build(),
			want:   actionRotateCA, wantReason: "no usable signing CA",
		},
		{
			name:   "CA key of a CA outside the bundle rotates the CA",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: otherCA, serving: serving}.build(),
			want:   actionRotateCA, wantReason: "belongs to no CA",
		},
		{
			name:   "CA within renew-before of expiry is rotated before the certificate is renewed",
			now:    rotatedAt,
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: servingNearCAExpiry}.build(),
			want:   actionRotateCA, wantReason: "signing CA expires",
		},
		{
			name:   "expired CA is rotated",
			now:    oldCA.cert.NotAfter.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: servingNearCAExpiry}.build(),
			want:   actionRotateCA,
		},
		{
			name:   "rotation waits until the bundle with the new CA is injected",
			now:    rotatedAt.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, newCA}, signer: newCA, serving: servingNearCAExpiry}.build(),
			want:   actionWait, wantReason: "waiting until the bundle",
		},
		{
			name: "rotation ignores the injection of an older bundle",
			now:  rotatedAt.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, newCA}, signer: newCA, serving: servingNearCAExpiry,
				injected: []*keyPair{oldCA}, injectedAt: t0}.build(),
			want: actionWait, wantReason: "waiting until the bundle",
		},
		{
			name: "rotation keeps the old CA's certificate through the overlap",
			now:  rotatedAt.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, newCA}, signer: newCA, serving: servingNearCAExpiry,
				injected: []*keyPair{oldCA, newCA}, injectedAt: rotatedAt.Add(time.Hour - 30*time.Second)}.build(),
			want: actionWait, wantReason: "moves to the new CA at",
		},
		{
			name: "rotation moves the certificate to the new CA after the overlap",
			now:  rotatedAt.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, newCA}, signer: newCA, serving: servingNearCAExpiry,
				injected: []*keyPair{oldCA, newCA}, injectedAt: rotatedAt.Add(time.Hour - time.Minute)}.build(),
			want: actionIssue, wantReason: "moving the serving certificate",
		},
		{
			name:   "a Secret replaced under running replicas waits until the new CA is injected",
			now:    freshCA.cert.NotBefore.Add(clockSkew + time.Minute),
			secret: secretOf{bundle: []*keyPair{oldCA, freshCA}, signer: freshCA, raw: noPair}.build(),
			want:   actionWait, wantReason: "the replicas keep what they serve",
		},
		{
			name: "a Secret replaced under running replicas waits through the overlap",
			now:  t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, freshCA}, signer: freshCA, raw: noPair,
				injected: []*keyPair{oldCA, freshCA}, injectedAt: t0.Add(time.Hour - 30*time.Second)}.build(),
			want: actionWait, wantReason: "no usable serving certificate", wantRecheck: t0.Add(time.Hour + 30*time.Second),
		},
		{
			name: "a Secret replaced under running replicas gets a certificate after the overlap",
			now:  t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, freshCA}, signer: freshCA, raw: noPair,
				injected: []*keyPair{oldCA, freshCA}, injectedAt: t0.Add(time.Hour - time.Minute)}.build(),
			want: actionIssue, wantReason: "no usable serving certificate",
		},
		{
			name: "a certificate without the short names waits for a new signing CA's overlap",
			now:  t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, freshCA}, signer: freshCA, serving: servingLongNamesOnly,
				injected: []*keyPair{oldCA, freshCA}, injectedAt: t0.Add(time.Hour)}.build(),
			want: actionWait, wantReason: "lacks the DNS name canary-guard",
		},
		{
			name:   "a Secret replaced under running replicas keeps waiting while a webhook refuses the new CA",
			now:    freshCA.cert.NotBefore.Add(30 * day),
			secret: secretOf{bundle: []*keyPair{oldCA, freshCA}, signer: freshCA, raw: noPair}.build(),
			want:   actionWait, wantReason: "the replicas keep what they serve",
		},
		{
			name:   "a certificate without the short names is reissued at once from its own CA",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA}, signer: oldCA, serving: servingLongNamesOnly}.build(),
			want:   actionIssue, wantReason: "lacks the DNS name canary-guard",
		},
		{
			name:   "a certificate without the API server's name is reissued at once, even mid-rotation",
			now:    t0.Add(time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, freshCA}, signer: freshCA, serving: servingOtherService}.build(),
			want:   actionIssue, wantReason: "lacks the DNS name canary-guard.guard-system.svc",
		},
		{
			name: "a certificate not valid yet on this clock moves to the new CA through the overlap",
			now:  t0,
			secret: secretOf{bundle: []*keyPair{futureCA, otherCA}, signer: otherCA, serving: servingFromFuture,
				injected: []*keyPair{futureCA, otherCA}, injectedAt: t0}.build(),
			want: actionWait, wantReason: "does not verify", wantRecheck: t0.Add(time.Minute),
		},
		{
			name:   "a signing CA not valid yet is replaced by one valid on this clock",
			now:    t0,
			secret: secretOf{bundle: []*keyPair{futureCA}, signer: futureCA, serving: servingFromFuture}.build(),
			want:   actionRotateCA, wantReason: "made on a clock ahead of this node's",
		},
		{
			name: "old CA stays in the bundle while valid and recently replaced",
			now:  rotatedAt.Add(2 * time.Hour),
			secret: secretOf{bundle: []*keyPair{oldCA, newCA}, signer: newCA, serving: servingFromNew,
				injected: []*keyPair{oldCA, newCA}, injectedAt: rotatedAt}.build(),
			want: actionNone,
		},
		{
			name: "expired old CA is dropped",
			now:  oldCA.cert.NotAfter,
			secret: secretOf{bundle: []*keyPair{oldCA, newCA}, signer: newCA, serving: servingFromNew,
				injected: []*keyPair{oldCA, newCA}, injectedAt: rotatedAt}.build(),
			want: actionDropCAs, wantKeep: []*keyPair{newCA},
		},
		{
			name: "valid old CA is dropped once the new CA's certificate has been served for renew-before",
			now:  servingFromNew.cert.NotBefore.Add(clockSkew + 15*day),
			secret: secretOf{bundle: []*keyPair{otherCA, newCA}, signer: newCA, serving: servingFromNew,
				injected: []*keyPair{otherCA, newCA}, injectedAt: rotatedAt}.build(),
			want: actionDropCAs, wantKeep: []*keyPair{newCA},
		},
		{
			name: "the signing CA is never dropped, even listed twice",
			now:  rotatedAt.Add(30 * day),
			secret: secretOf{bundle: []*keyPair{newCA, newCA}, signer: newCA, serving: servingFromNew,
				injected: []*keyPair{newCA, newCA}, injectedAt: rotatedAt}.build(),
			want: actionNone,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.now, parseSecret(tc.secret), testRules)
			if d.action != tc.want {
				t.Fatalf("action %s (%s), want %s", d.action, d.reason, tc.want)
			}
			if !tc.wantRecheck.IsZero() && !d.recheckAt.Equal(tc.wantRecheck) {
				t.Errorf("recheck at %s, want %s", d.recheckAt, tc.wantRecheck)
			}
			if !strings.Contains(d.reason, tc.wantReason) {
				t.Errorf("reason %q, want it to contain %q", d.reason, tc.wantReason)
			}
			if tc.wantKeep != nil {
				got, want := encodeBundle(d.keep), encodeBundle(certsOf(tc.wantKeep))
				if string(got) != string(want) {
					t.Errorf("keeps %d CAs, want %d", len(d.keep), len(tc.wantKeep))
				}
			}
		})
	}
}

// TestRotationNeverLeavesTheServedCertificateUntrusted walks a CA
// rotation through decide as the leader would, and checks at every step
// that the bundle verifies the certificate being served.
func TestRotationNeverLeavesTheServedCertificateUntrusted(t *testing.T) {
	const (
		certValidity = 90 * day
		caValidity   = 120 * day
	)
	names := testRules.dnsNames
	now := t0
	ca := mustCA(t, now, caValidity)
	s := secretOf{bundle: []*keyPair{ca}, signer: ca, serving: mustServing(t, now, certValidity, ca, names)}
	var seen []action
	// Step through 200 days in 6-hour checks; the injection is
	// recorded at each check, as the leader does.
	for ; now.Before(t0.Add(200 * day)); now = now.Add(6 * time.Hour) {
		if s.injected == nil || string(encodeBundle(certsOf(s.injected))) != string(encodeBundle(certsOf(s.bundle))) {
			s.injected, s.injectedAt = s.bundle, now
		}
		for range maxSteps {
			st := parseSecret(s.build())
			roots := x509.NewCertPool()
			for _, c := range st.bundle {
				roots.AddCert(c)
			}
			if _, err := st.serving.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, DNSName: names[2]}); err != nil {
				t.Fatalf("%s: the served certificate does not verify against the bundle: %v", now, err)
			}
			d := decide(now, st, testRules)
			if d.action == actionNone || d.action == actionWait {
				break
			}
			seen = append(seen, d.action)
			switch d.action {
			case actionRotateCA:
				next := mustCA(t, now, caValidity)
				s.bundle, s.signer = append(s.bundle, next), next
			case actionIssue:
				s.serving = mustServing(t, now, certValidity, s.signer, names)
			case actionDropCAs:
				var keep []*keyPair
				for _, kp := range s.bundle {
					for _, c := range d.keep {
						if c.Equal(kp.cert) {
							keep = append(keep, kp)
						}
					}
				}
				s.bundle = keep
			default:
				t.Fatalf("%s: unexpected %s (%s)", now, d.action, d.reason)
			}
		}
	}
	// Renewal at day 75 (clamped to the CA's day 120), rotation at day
	// 105, the switch one check later, the old CA dropped at day 120, the
	// next renewal at day 180 from the new CA.
	want := []action{actionIssue, actionRotateCA, actionIssue, actionDropCAs, actionIssue}
	if len(seen) != len(want) {
		t.Fatalf("steps %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("steps %v, want %v", seen, want)
		}
	}
}

// FuzzParseSecretAndDecide: no content of the Secret makes the leader panic.
func FuzzParseSecretAndDecide(f *testing.F) {
	ca, err := newCA(t0, 365*day, "fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	serving, err := newServingCert(t0, 90*day, ca, testRules.dnsNames)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ca.certPEM, ca.keyPEM, serving.certPEM, serving.keyPEM, "")
	f.Add([]byte("garbage"), []byte{}, []byte("-----BEGIN CERTIFICATE-----\n"), serving.keyPEM, "not-a-time")
	f.Add(serving.certPEM, serving.keyPEM, ca.certPEM, ca.keyPEM, t0.Format(time.RFC3339))
	f.Fuzz(func(t *testing.T, bundle, caKey, cert, key []byte, injectedAt string) {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationInjected: bundleHash(bundle), AnnotationInjectedAt: injectedAt}},
			Data:       map[string][]byte{KeyCABundle: bundle, KeyCAKey: caKey, KeyServingCert: cert, KeyServingKey: key},
		}
		_ = decide(t0.Add(day), parseSecret(s), testRules)
	})
}
