package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func mustCA(t *testing.T, now time.Time, validity time.Duration) *keyPair {
	t.Helper()
	ca, err := newCA(now, validity, "test CA "+now.Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustServing(t *testing.T, now time.Time, validity time.Duration, ca *keyPair, names []string) *keyPair {
	t.Helper()
	kp, err := newServingCert(now, validity, ca, names)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestDNSNamesCoverEveryFormOfTheServiceName(t *testing.T) {
	got := DNSNames("canary-guard", "guard-system")
	want := []string{"canary-guard", "canary-guard.guard-system", "canary-guard.guard-system.svc", "canary-guard.guard-system.svc.cluster.local"}
	if !slices.Equal(got, want) {
		t.Fatalf("DNSNames = %v, want %v", got, want)
	}
}

func TestNewCAIsASigningOnlyP256CA(t *testing.T) {
	ca := mustCA(t, t0, 87600*time.Hour)
	c := ca.cert
	if !c.IsCA || !c.BasicConstraintsValid || !c.MaxPathLenZero {
		t.Errorf("IsCA=%v BasicConstraintsValid=%v MaxPathLenZero=%v, want all true", c.IsCA, c.BasicConstraintsValid, c.MaxPathLenZero)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("KeyUsage %v lacks CertSign", c.KeyUsage)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if !c.NotBefore.Equal(t0.Add(-clockSkew)) || !c.NotAfter.Equal(t0.Add(87600*time.Hour)) {
		t.Errorf("validity %s..%s, want %s..%s", c.NotBefore, c.NotAfter, t0.Add(-clockSkew), t0.Add(87600*time.Hour))
	}
	if len(c.SubjectKeyId) == 0 {
		t.Error("no SubjectKeyId")
	}
	key, err := parsePrivateKey(ca.keyPEM)
	if err != nil || !publicKeyMatches(c, key) {
		t.Errorf("key PEM does not round-trip to the CA's key (err %v)", err)
	}
}

func TestNewServingCertIsAServerAuthP256CertForTheService(t *testing.T) {
	ca := mustCA(t, t0, 87600*time.Hour)
	names := DNSNames("canary-guard", "guard-system")
	kp := mustServing(t, t0, 2160*time.Hour, ca, names)
	c := kp.cert

	if !slices.Equal(c.DNSNames, names) {
		t.Errorf("DNSNames = %v, want %v", c.DNSNames, names)
	}
	if c.Subject.CommonName != "canary-guard.guard-system.svc" {
		t.Errorf("CommonName = %q", c.Subject.CommonName)
	}
	if c.IsCA {
		t.Error("serving certificate is a CA")
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v, want DigitalSignature only", c.KeyUsage)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ExtKeyUsage = %v, want ServerAuth only", c.ExtKeyUsage)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if !c.NotBefore.Equal(t0.Add(-clockSkew)) || !c.NotAfter.Equal(t0.Add(2160*time.Hour)) {
		t.Errorf("validity %s..%s", c.NotBefore, c.NotAfter)
	}
	if !slices.Equal(c.AuthorityKeyId, ca.cert.SubjectKeyId) {
		t.Error("AuthorityKeyId is not the CA's SubjectKeyId")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	for _, name := range names {
		if _, err := c.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("does not verify for %s: %v", name, err)
		}
	}
	key, err := parsePrivateKey(kp.keyPEM)
	if err != nil || !publicKeyMatches(c, key) {
		t.Errorf("key PEM does not round-trip to the certificate's key (err %v)", err)
	}
}

func TestServingCertNeverOutlivesItsCA(t *testing.T) {
	ca := mustCA(t, t0, 24*time.Hour)
	kp := mustServing(t, t0.Add(time.Hour), 2160*time.Hour, ca, DNSNames("s", "ns"))
	if !kp.cert.NotAfter.Equal(ca.cert.NotAfter) {
		t.Fatalf("NotAfter %s, want the CA's %s", kp.cert.NotAfter, ca.cert.NotAfter)
	}
}

func TestNewServingCertWithoutNamesFails(t *testing.T) {
	if _, err := newServingCert(t0, time.Hour, mustCA(t, t0, 48*time.Hour), nil); err == nil {
		t.Fatal("no error")
	}
}

func TestBundleRoundTripsInOrder(t *testing.T) {
	a, b := mustCA(t, t0, 48*time.Hour), mustCA(t, t0.Add(time.Hour), 48*time.Hour)
	pemBundle := encodeBundle([]*x509.Certificate{a.cert, b.cert})
	if got := strings.Count(string(pemBundle), "BEGIN CERTIFICATE"); got != 2 {
		t.Fatalf("%d PEM blocks, want 2", got)
	}
	parsed, err := parseBundle(pemBundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed) != 2 || !parsed[0].Equal(a.cert) || !parsed[1].Equal(b.cert) {
		t.Fatalf("parsed %d certificates, not a then b", len(parsed))
	}
	// The first CA alone is the same PEM the CA was created with.
	if string(encodeBundle([]*x509.Certificate{a.cert})) != string(a.certPEM) {
		t.Fatal("a one-CA bundle differs from the CA's own PEM")
	}
}

func TestParseBundleRejectsAnythingButCACertificates(t *testing.T) {
	ca := mustCA(t, t0, 48*time.Hour)
	serving := mustServing(t, t0, time.Hour, ca, []string{"s"})
	cases := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"not PEM", "garbage"},
		{"certificate block that is not base64", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"},
		{"certificate block that is not DER", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}))},
		{"a serving certificate", string(serving.certPEM)},
		{"a private key", string(ca.keyPEM)},
		{"a CA followed by garbage", string(ca.certPEM) + "garbage"},
		{"a CA followed by a key", string(ca.certPEM) + string(ca.keyPEM)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := parseBundle([]byte(tc.data)); err == nil {
				t.Fatalf("parsed %d certificates, want an error", len(got))
			}
		})
	}
}

func TestParsePrivateKeyAcceptsPKCS8SEC1AndPKCS1(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		block   *pem.Block
		wantErr bool
	}{
		{"PKCS #8", &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}, false},
		{"SEC 1", &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}, false},
		{"PKCS #1", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}, false},
		{"a certificate", &pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}, true},
		{"corrupt PKCS #8", &pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePrivateKey(pem.EncodeToMemory(tc.block))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
	if _, err := parsePrivateKey([]byte("garbage")); err == nil {
		t.Error("garbage parsed")
	}
}
