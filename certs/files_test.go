package certs

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func testOptions(dir string) Options {
	return Options{
		Namespace:             "guard-system",
		SecretName:            "canary-guard-tls",
		ServiceName:           "canary-guard",
		WebhookConfigurations: "canary-guard",
		CertDir:               dir,
		Identity:              "replica-a",
	}
}

// fileManager is a Manager whose Secret cache the test fills.
func fileManager(t *testing.T, dir string) (*Manager, cache.Store) {
	t.Helper()
	m, err := NewManager(nil, testOptions(dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m.store = cache.NewStore(cache.MetaNamespaceKeyFunc)
	return m, m.store
}

func servingSecret(version string, certPEM, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "guard-system", Name: "canary-guard-tls", ResourceVersion: version},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{KeyServingCert: certPEM, KeyServingKey: keyPEM},
	}
}

func isReady(m *Manager) bool {
	select {
	case <-m.Ready():
		return true
	default:
		return false
	}
}

func readPair(t *testing.T, dir string) (string, string) {
	t.Helper()
	crt, err := os.ReadFile(filepath.Join(dir, KeyServingCert))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dir, KeyServingKey))
	if err != nil {
		t.Fatal(err)
	}
	return string(crt), string(key)
}

func TestSyncFilesIgnoresGarbageUntilTheSecretIsRepaired(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	m, store := fileManager(t, dir)
	ca := mustCA(t, time.Now(), 365*day)
	first := mustServing(t, time.Now(), 90*day, ca, testRules.dnsNames)
	second := mustServing(t, time.Now(), 90*day, ca, testRules.dnsNames)

	// No Secret yet: nothing written, not ready.
	if err := m.syncFiles(); err != nil {
		t.Fatal(err)
	}
	if isReady(m) {
		t.Fatal("ready without a Secret")
	}

	// Garbage: nothing written, not ready.
	if err := store.Add(servingSecret("1", []byte("garbage"), []byte("garbage"))); err != nil {
		t.Fatal(err)
	}
	if err := m.syncFiles(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyServingCert)); !os.IsNotExist(err) {
		t.Fatalf("tls.crt written from garbage (stat: %v)", err)
	}
	if isReady(m) {
		t.Fatal("ready from garbage")
	}

	// Repaired: written and ready.
	if err := store.Update(servingSecret("2", first.certPEM, first.keyPEM)); err != nil {
		t.Fatal(err)
	}
	if err := m.syncFiles(); err != nil {
		t.Fatal(err)
	}
	if crt, key := readPair(t, dir); crt != string(first.certPEM) || key != string(first.keyPEM) {
		t.Fatal("files differ from the Secret")
	}
	if !isReady(m) {
		t.Fatal("not ready with the certificate on disk")
	}

	// A certificate with another certificate's key: the files stay.
	if err := store.Update(servingSecret("3", second.certPEM, first.keyPEM)); err != nil {
		t.Fatal(err)
	}
	if err := m.syncFiles(); err != nil {
		t.Fatal(err)
	}
	if crt, _ := readPair(t, dir); crt != string(first.certPEM) {
		t.Fatal("a mismatched pair replaced the files")
	}

	// Renewed: replaced.
	if err := store.Update(servingSecret("4", second.certPEM, second.keyPEM)); err != nil {
		t.Fatal(err)
	}
	if err := m.syncFiles(); err != nil {
		t.Fatal(err)
	}
	if crt, key := readPair(t, dir); crt != string(second.certPEM) || key != string(second.keyPEM) {
		t.Fatal("files not renewed")
	}
}

func TestSyncFilesRestoresAFileChangedOnDisk(t *testing.T) {
	dir := t.TempDir()
	m, store := fileManager(t, dir)
	ca := mustCA(t, time.Now(), 365*day)
	kp := mustServing(t, time.Now(), 90*day, ca, testRules.dnsNames)
	if err := store.Add(servingSecret("1", kp.certPEM, kp.keyPEM)); err != nil {
		t.Fatal(err)
	}
	if err := m.syncFiles(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyServingCert), []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.syncFiles(); err != nil {
		t.Fatal(err)
	}
	if crt, _ := readPair(t, dir); crt != string(kp.certPEM) {
		t.Fatal("tampered tls.crt not restored")
	}
}

func TestWriteFileAtomicReplacesTheWholeFileAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tls.crt")
	if err := writeFileAtomic(path, []byte(strings.Repeat("a", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("b"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "b" {
		t.Fatalf("content %q, want %q", got, "b")
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only tls.crt", len(entries))
	}
}

func TestWriteFileAtomicIntoAMissingDirectoryFails(t *testing.T) {
	if err := writeFileAtomic(filepath.Join(t.TempDir(), "missing", "tls.crt"), []byte("x"), 0o600); err == nil {
		t.Fatal("no error")
	}
}

func TestLeaseNameMatchesTheChartsRole(t *testing.T) {
	cases := map[string]string{
		"canary-guard-tls":  "canary-guard-cert-rotation",
		"release-guard-tls": "release-guard-cert-rotation",
		"custom":            "custom-cert-rotation",
	}
	for secret, want := range cases {
		if got := LeaseName(secret); got != want {
			t.Errorf("LeaseName(%q) = %q, want %q", secret, got, want)
		}
	}
}

func TestNewManagerRejectsTimingsThatWouldLoop(t *testing.T) {
	cases := []struct {
		name    string
		modify  func(*Options)
		wantErr string
	}{
		{"defaults are valid", func(*Options) {}, ""},
		{"missing Secret name", func(o *Options) { o.SecretName = "" }, "Secret name is empty"},
		{"missing identity", func(o *Options) { o.Identity = "" }, "identity is empty"},
		{"certificate validity not above renew-before", func(o *Options) { o.CertValidity = o.RenewBefore }, "must exceed renew-before"},
		{"CA validity under twice renew-before", func(o *Options) { o.CAValidity = 700 * time.Hour }, "at least twice renew-before"},
		{"overlap as long as renew-before", func(o *Options) { o.RenewBefore = time.Minute; o.CertValidity = time.Hour; o.CAValidity = time.Hour }, "overlap"},
		{"negative renew-before", func(o *Options) { o.RenewBefore = -time.Hour }, "must be positive"},
		{"lease shorter than its renew deadline", func(o *Options) { o.LeaseDuration = 5 * time.Second }, "leader election"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t.TempDir())
			o.CertValidity, o.CAValidity, o.RenewBefore = DefaultCertValidity, DefaultCAValidity, DefaultRenewBefore
			tc.modify(&o)
			_, err := NewManager(nil, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestWaitForCertificateTimesOutNamingTheLastError(t *testing.T) {
	m, _ := fileManager(t, t.TempDir())
	m.noteError(errors.New(`secrets "canary-guard-tls" is forbidden`))
	err := m.WaitForCertificate(t.Context(), 10*time.Millisecond)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"no serving certificate", "guard-system/canary-guard-tls", "canary-guard-cert-rotation", "is forbidden"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestWaitForCertificateReturnsOnceReady(t *testing.T) {
	m, _ := fileManager(t, t.TempDir())
	m.markReady()
	if err := m.WaitForCertificate(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestSyncFilesStartsOnAValidPairLeftOnDiskWhileTheSecretHasNone(t *testing.T) {
	ca := mustCA(t, time.Now(), 365*day)
	foreignCA := mustCA(t, time.Now(), 365*day)
	valid := mustServing(t, time.Now(), 90*day, ca, testRules.dnsNames)
	expired := mustServing(t, time.Now().Add(-100*day), 90*day, ca, testRules.dnsNames)
	foreign := mustServing(t, time.Now(), 90*day, foreignCA, testRules.dnsNames)
	otherService := mustServing(t, time.Now(), 90*day, ca, DNSNames("unrelated", "elsewhere"))
	for _, tc := range []struct {
		name      string
		onDisk    *keyPair
		wantReady bool
	}{
		{"a valid pair from before the restart", valid, true},
		{"an expired pair", expired, false},
		{"a pair from a CA outside the bundle", foreign, false},
		{"a pair for another Service", otherService, false},
		{"nothing", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.onDisk != nil {
				if err := writeFileAtomic(filepath.Join(dir, KeyServingKey), tc.onDisk.keyPEM, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := writeFileAtomic(filepath.Join(dir, KeyServingCert), tc.onDisk.certPEM, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			m, store := fileManager(t, dir)
			// The leader waits out a new CA's overlap: no pair in the Secret.
			waiting := servingSecret("1", []byte{}, []byte{})
			waiting.Data[KeyCABundle] = ca.certPEM
			if err := store.Add(waiting); err != nil {
				t.Fatal(err)
			}
			if err := m.syncFiles(); err != nil {
				t.Fatal(err)
			}
			if got := isReady(m); got != tc.wantReady {
				t.Errorf("ready = %v, want %v", got, tc.wantReady)
			}
		})
	}
}
