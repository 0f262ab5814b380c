package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// syncFiles writes the Secret's serving pair into the certificate
// directory unless it is there already. A pair that does not parse is
// left out (and logged once per version of the Secret): the replica keeps
// serving what it has until the leader repairs the Secret.
func (m *Manager) syncFiles() error {
	obj, exists, err := m.store.GetByKey(m.opts.Namespace + "/" + m.opts.SecretName)
	if err != nil {
		return fmt.Errorf("reading the cached Secret: %w", err)
	}
	if !exists {
		return nil
	}
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return fmt.Errorf("cached Secret is a %T", obj)
	}
	certPEM, keyPEM := secret.Data[KeyServingCert], secret.Data[KeyServingKey]
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		m.mu.Lock()
		first := m.badServingVersion != secret.ResourceVersion
		m.badServingVersion = secret.ResourceVersion
		m.mu.Unlock()
		if first {
			m.log.Warn("the Secret holds no usable serving certificate; keeping the files as they are until it is repaired",
				"resourceVersion", secret.ResourceVersion, "error", err)
		}
		// A container restarted while the leader waits for a new CA's
		// overlap starts on the valid pair its directory still holds.
		if m.filesValid(secret.Data[KeyCABundle]) {
			m.markReady()
		}
		return nil
	}

	certFile, keyFile := filepath.Join(m.opts.CertDir, KeyServingCert), filepath.Join(m.opts.CertDir, KeyServingKey)
	same, err := filesHold(certFile, certPEM, keyFile, keyPEM)
	if err != nil {
		return err
	}
	if !same {
		if err := os.MkdirAll(m.opts.CertDir, 0o700); err != nil {
			return fmt.Errorf("creating certificate directory: %w", err)
		}
		// The key goes first: between the two renames the pair on disk
		// does not match, which the certwatcher rejects (keeping the
		// old pair) until the certificate follows a moment later.
		if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
			return err
		}
		if err := writeFileAtomic(certFile, certPEM, 0o600); err != nil {
			return err
		}
		m.log.Info("serving certificate written", "dir", m.opts.CertDir, "resourceVersion", secret.ResourceVersion)
	}
	m.markReady()
	return nil
}

// filesValid reports whether the certificate directory holds a pair that
// loads, is valid now for the name the API server calls, and chains to
// the Secret's CA bundle.
func (m *Manager) filesValid(bundlePEM []byte) bool {
	pair, err := tls.LoadX509KeyPair(filepath.Join(m.opts.CertDir, KeyServingCert), filepath.Join(m.opts.CertDir, KeyServingKey))
	if err != nil {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundlePEM) {
		return false
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots: roots, DNSName: m.rules.apiServerName, CurrentTime: m.opts.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err == nil
}

// filesHold reports whether the two files hold exactly the given contents.
func filesHold(certFile string, certPEM []byte, keyFile string, keyPEM []byte) (bool, error) {
	for _, f := range []struct {
		path string
		want []byte
	}{{certFile, certPEM}, {keyFile, keyPEM}} {
		got, err := os.ReadFile(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", f.path, err)
		}
		if !bytes.Equal(got, f.want) {
			return false, nil
		}
	}
	return true, nil
}

// writeFileAtomic replaces path with data: a reader sees the old file or
// the new one, never a partial write.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	done = true
	return nil
}
