package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// maxSteps bounds one check: the longest path (a Secret to replace, its
// bundle to record as injected) takes three writes.
const maxSteps = 6

// reconcile is one check of the leader: inject the Secret's bundle into
// the webhooks, record it, then take decide's steps until none is left.
// Every write carries the resourceVersion just read; a conflict re-reads.
// It returns when a wait may end, where known.
func (m *Manager) reconcile(ctx context.Context) (time.Time, error) {
	var injectErr error
	// A bundle written back (a webhook reset by helm, or a stale write) is
	// recorded again, so the overlap starts over; kept across a conflict.
	rerecord := false
	for range maxSteps {
		secret, err := m.getSecret(ctx)
		if err != nil {
			return time.Time{}, err
		}
		st := parseSecret(secret)
		if st.bundleErr == nil {
			// Injection failing must not stop the Secret's upkeep: a
			// missing webhook configuration only holds back the switch to
			// a new CA, which waits for a recorded injection.
			var rewritten bool
			rewritten, injectErr = m.inject(ctx, st.bundlePEM)
			rerecord = rerecord || rewritten
			if hash := bundleHash(st.bundlePEM); injectErr == nil && (st.injectedHash != hash || rerecord) {
				err := m.recordInjected(ctx, secret, hash)
				if err != nil && !apierrors.IsConflict(err) {
					return time.Time{}, err
				}
				rerecord = rerecord && err != nil
				continue
			}
		}
		d := decide(m.opts.Now(), st, m.rules)
		switch d.action {
		case actionNone:
			return time.Time{}, injectErr
		case actionWait:
			m.log.Info("certificate rotation in progress", "reason", d.reason)
			return d.recheckAt, injectErr
		}
		if err := m.apply(ctx, secret, st, d); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
				continue
			}
			return time.Time{}, errors.Join(injectErr, err)
		}
	}
	return time.Time{}, errors.Join(injectErr, fmt.Errorf("the Secret %s/%s did not settle after %d steps", m.opts.Namespace, m.opts.SecretName, maxSteps))
}

// getSecret reads the Secret; nil when it does not exist.
func (m *Manager) getSecret(ctx context.Context) (*corev1.Secret, error) {
	s, err := m.client.CoreV1().Secrets(m.opts.Namespace).Get(ctx, m.opts.SecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	return s, nil
}

// apply takes step d on the Secret (nil when it does not exist yet).
func (m *Manager) apply(ctx context.Context, secret *corev1.Secret, st secretState, d decision) error {
	now := m.opts.Now()
	data := map[string][]byte{}
	if secret != nil {
		maps.Copy(data, secret.Data)
	}
	attrs := []any{"action", d.action.String(), "reason", d.reason}
	switch d.action {
	case actionCreate:
		ca, err := newCA(now, m.opts.CAValidity, m.caName(now))
		if err != nil {
			return err
		}
		// The CAs the webhooks trust now verify what the replicas serve
		// (a Secret deleted or garbled under running replicas): they stay
		// in the bundle, and the serving pair is left empty, so the
		// replicas keep their files until the new CA has been injected
		// for the overlap (decide, rule 3).
		trusted, err := m.webhookCAs(ctx, now)
		if err != nil {
			return err
		}
		if len(trusted) > 0 {
			data[KeyCABundle], data[KeyCAKey] = encodeBundle(append(trusted, ca.cert)), ca.keyPEM
			data[KeyServingCert], data[KeyServingKey] = []byte{}, []byte{}
			attrs = append(attrs, "caNotAfter", ca.cert.NotAfter, "keptCAs", len(trusted))
			break
		}
		serving, err := newServingCert(now, m.opts.CertValidity, ca, m.rules.dnsNames)
		if err != nil {
			return err
		}
		data[KeyCABundle], data[KeyCAKey] = ca.certPEM, ca.keyPEM
		data[KeyServingCert], data[KeyServingKey] = serving.certPEM, serving.keyPEM
		attrs = append(attrs, "caNotAfter", ca.cert.NotAfter, "certNotAfter", serving.cert.NotAfter)
	case actionRotateCA:
		ca, err := newCA(now, m.opts.CAValidity, m.caName(now))
		if err != nil {
			return err
		}
		bundle := append(unexpired(st.bundle, now), ca.cert)
		data[KeyCABundle], data[KeyCAKey] = encodeBundle(bundle), ca.keyPEM
		attrs = append(attrs, "caNotAfter", ca.cert.NotAfter, "bundleCAs", len(bundle))
	case actionIssue:
		serving, err := newServingCert(now, m.opts.CertValidity, st.signer, m.rules.dnsNames)
		if err != nil {
			return err
		}
		data[KeyServingCert], data[KeyServingKey] = serving.certPEM, serving.keyPEM
		attrs = append(attrs, "certNotAfter", serving.cert.NotAfter, "issuer", st.signer.cert.Subject.CommonName)
	case actionDropCAs:
		data[KeyCABundle] = encodeBundle(d.keep)
		attrs = append(attrs, "bundleCAs", len(d.keep))
	default:
		return fmt.Errorf("no step to apply for action %s", d.action)
	}

	secrets := m.client.CoreV1().Secrets(m.opts.Namespace)
	if secret == nil {
		_, err := secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:      m.opts.SecretName,
				Namespace: m.opts.Namespace,
				Labels:    map[string]string{"app.kubernetes.io/managed-by": "canary-guard"},
			},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
		}
	} else {
		updated := secret.DeepCopy()
		updated.Data = data
		if _, err := secrets.Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
		}
	}
	level := slog.LevelInfo
	if replacesGarbage(st, d) {
		level = slog.LevelWarn
	}
	m.log.Log(ctx, level, "certificate Secret updated", attrs...)
	return nil
}

// webhookCAs returns the unexpired CA certificates in the caBundle of any
// webhook of the two configurations; a configuration that does not exist
// holds none. Any other error is returned: the check is retried rather
// than taken for a first install.
func (m *Manager) webhookCAs(ctx context.Context, now time.Time) ([]*x509.Certificate, error) {
	bundlesM, errM := m.mutatingConfig().caBundles(ctx)
	bundlesV, errV := m.validatingConfig().caBundles(ctx)
	if err := errors.Join(errM, errV); err != nil {
		return nil, err
	}
	bundles := append(bundlesM, bundlesV...)
	var out []*x509.Certificate
	for _, b := range bundles {
		cas, err := parseBundle(b)
		if err != nil {
			continue
		}
		for _, ca := range unexpired(cas, now) {
			if !slices.ContainsFunc(out, ca.Equal) {
				out = append(out, ca)
			}
		}
	}
	return out, nil
}

// replacesGarbage reports whether step d replaces content of an existing
// Secret that did not parse, which someone should hear about.
func replacesGarbage(st secretState, d decision) bool {
	if !st.exists {
		return false
	}
	switch d.action {
	case actionCreate:
		return true
	case actionRotateCA:
		return st.signerErr != nil
	case actionIssue:
		return st.servingErr != nil
	}
	return false
}

func (m *Manager) caName(now time.Time) string {
	return fmt.Sprintf("%s.%s.svc CA %s", m.opts.ServiceName, m.opts.Namespace, now.UTC().Format(time.RFC3339))
}

// recordInjected notes on the Secret that the bundle with hash is in every
// webhook, and since when.
func (m *Manager) recordInjected(ctx context.Context, secret *corev1.Secret, hash string) error {
	updated := secret.DeepCopy()
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	updated.Annotations[AnnotationInjected] = hash
	updated.Annotations[AnnotationInjectedAt] = m.opts.Now().UTC().Format(time.RFC3339)
	if _, err := m.client.CoreV1().Secrets(m.opts.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("recording the injected CA bundle on Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	m.log.Info("CA bundle confirmed in every webhook", "webhookConfigurations", m.opts.WebhookConfigurations)
	return nil
}

// inject writes bundle into clientConfig.caBundle of every webhook of the
// two named webhook configurations, and of nothing else. It reports
// whether any webhook held another bundle.
func (m *Manager) inject(ctx context.Context, bundle []byte) (bool, error) {
	changedM, errM := m.mutatingConfig().inject(ctx, m.log, bundle)
	changedV, errV := m.validatingConfig().inject(ctx, m.log, bundle)
	return changedM || changedV, errors.Join(errM, errV)
}

// webhookConfig reaches one of the two webhook configurations the leader
// keeps, whatever its kind.
type webhookConfig[T any] struct {
	kind, name    string
	get           func(context.Context) (T, error)
	meta          func(T) *metav1.ObjectMeta
	clientConfigs func(T) []*admissionregistrationv1.WebhookClientConfig
	update        func(context.Context, T) error
}

func (m *Manager) mutatingConfig() webhookConfig[*admissionregistrationv1.MutatingWebhookConfiguration] {
	api := m.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	name := m.opts.WebhookConfigurations
	return webhookConfig[*admissionregistrationv1.MutatingWebhookConfiguration]{
		kind: "MutatingWebhookConfiguration", name: name,
		get: func(ctx context.Context) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
			return api.Get(ctx, name, metav1.GetOptions{})
		},
		meta: func(c *admissionregistrationv1.MutatingWebhookConfiguration) *metav1.ObjectMeta { return &c.ObjectMeta },
		clientConfigs: func(c *admissionregistrationv1.MutatingWebhookConfiguration) []*admissionregistrationv1.WebhookClientConfig {
			out := make([]*admissionregistrationv1.WebhookClientConfig, 0, len(c.Webhooks))
			for i := range c.Webhooks {
				out = append(out, &c.Webhooks[i].ClientConfig)
			}
			return out
		},
		update: func(ctx context.Context, c *admissionregistrationv1.MutatingWebhookConfiguration) error {
			_, err := api.Update(ctx, c, metav1.UpdateOptions{})
			return err
		},
	}
}

func (m *Manager) validatingConfig() webhookConfig[*admissionregistrationv1.ValidatingWebhookConfiguration] {
	api := m.client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	name := m.opts.WebhookConfigurations
	return webhookConfig[*admissionregistrationv1.ValidatingWebhookConfiguration]{
		kind: "ValidatingWebhookConfiguration", name: name,
		get: func(ctx context.Context) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
			return api.Get(ctx, name, metav1.GetOptions{})
		},
		meta: func(c *admissionregistrationv1.ValidatingWebhookConfiguration) *metav1.ObjectMeta {
			return &c.ObjectMeta
		},
		clientConfigs: func(c *admissionregistrationv1.ValidatingWebhookConfiguration) []*admissionregistrationv1.WebhookClientConfig {
			out := make([]*admissionregistrationv1.WebhookClientConfig, 0, len(c.Webhooks))
			for i := range c.Webhooks {
				out = append(out, &c.Webhooks[i].ClientConfig)
			}
			return out
		},
		update: func(ctx context.Context, c *admissionregistrationv1.ValidatingWebhookConfiguration) error {
			_, err := api.Update(ctx, c, metav1.UpdateOptions{})
			return err
		},
	}
}

// caBundles returns the caBundle of every webhook of the configuration;
// none when it does not exist.
func (c webhookConfig[T]) caBundles(ctx context.Context) ([][]byte, error) {
	config, err := c.get(ctx)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle of %s %s: %w", c.kind, c.name, err)
	}
	var out [][]byte
	for _, cc := range c.clientConfigs(config) {
		out = append(out, cc.CABundle)
	}
	return out, nil
}

// annotationCertManagerInject marks a configuration whose caBundle
// cert-manager's CA injector writes: the two would overwrite each other.
const annotationCertManagerInject = "cert-manager.io/inject-ca-from"

// inject is Manager.inject for one configuration: get, set every
// differing caBundle, update; again from the get on a conflict (someone,
// such as helm, wrote in between). A configuration cert-manager injects
// (the chart switched to certs.mode=cert-manager under running pods) is
// left to it.
func (c webhookConfig[T]) inject(ctx context.Context, log *slog.Logger, bundle []byte) (bool, error) {
	wrote := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		config, err := c.get(ctx)
		if apierrors.IsNotFound(err) {
			// The API server calls no webhook of a configuration that
			// does not exist: there is nothing to make trust a CA.
			log.Warn("webhook configuration not found; no CA bundle to write", "kind", c.kind, "name", c.name)
			return nil
		}
		if err != nil {
			return err
		}
		if from, ok := c.meta(config).Annotations[annotationCertManagerInject]; ok {
			// An error, so the bundle is never recorded as injected.
			return fmt.Errorf("cert-manager injects it (%s: %s; certs.mode switched in place?)", annotationCertManagerInject, from)
		}
		changed := 0
		for _, cc := range c.clientConfigs(config) {
			if !bytes.Equal(cc.CABundle, bundle) {
				cc.CABundle = bundle
				changed++
			}
		}
		if changed == 0 {
			return nil
		}
		if err := c.update(ctx, config); err != nil {
			return err
		}
		wrote = true
		log.Info("CA bundle written", "kind", c.kind, "name", c.name, "webhooks", changed)
		return nil
	})
	if err != nil {
		return wrote, fmt.Errorf("writing the CA bundle into %s %s: %w", c.kind, c.name, err)
	}
	return wrote, nil
}
