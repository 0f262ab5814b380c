package certs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Defaults of the Options, also the defaults of serve's flags.
const (
	DefaultCertValidity  = 2160 * time.Hour
	DefaultCAValidity    = 87600 * time.Hour
	DefaultRenewBefore   = 360 * time.Hour
	DefaultCheckInterval = time.Minute
)

// Options configure a Manager. Zero durations take the defaults.
type Options struct {
	// Namespace holds the Secret, the Lease and the webhook Service.
	Namespace string
	// SecretName is the kubernetes.io/tls Secret the leader keeps.
	SecretName string
	// ServiceName is the webhook Service; it names the certificate's SANs.
	ServiceName string
	// WebhookConfigurations names both the MutatingWebhookConfiguration
	// and the ValidatingWebhookConfiguration whose caBundle the leader keeps.
	WebhookConfigurations string
	// CertDir receives tls.crt and tls.key.
	CertDir string
	// Identity of this replica in the leader election (the pod name).
	Identity string

	// CertValidity and CAValidity are the lifetimes of new certificates;
	// RenewBefore is how long before expiry either is replaced.
	CertValidity time.Duration
	CAValidity   time.Duration
	RenewBefore  time.Duration

	// CheckInterval is how often the leader checks the Secret and the
	// webhook configurations (it also checks on every Secret change).
	CheckInterval time.Duration
	// Overlap is how long a CA bundle must have been injected before the
	// serving certificate moves to a CA that bundle added, so every API
	// server has the new CA first. Defaults to CheckInterval.
	Overlap time.Duration

	// Leader election timings; client-go's usual 15s, 10s and 2s by default.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// Now is the clock certificates are issued and judged by (time.Now
	// by default); tests move it to make certificates fall due.
	Now func() time.Time
}

// LeaseName is the Lease the replicas elect their leader with: the
// chart's Role grants <fullname>-cert-rotation for the Secret <fullname>-tls.
func LeaseName(secretName string) string {
	return strings.TrimSuffix(secretName, "-tls") + "-cert-rotation"
}

func (o *Options) setDefaults() {
	defaults := []struct {
		field *time.Duration
		value time.Duration
	}{
		{&o.CertValidity, DefaultCertValidity},
		{&o.CAValidity, DefaultCAValidity},
		{&o.RenewBefore, DefaultRenewBefore},
		{&o.CheckInterval, DefaultCheckInterval},
		{&o.LeaseDuration, 15 * time.Second},
		{&o.RenewDeadline, 10 * time.Second},
		{&o.RetryPeriod, 2 * time.Second},
	}
	for _, d := range defaults {
		if *d.field == 0 {
			*d.field = d.value
		}
	}
	// The overlap spans one check at least: the switch happens at the
	// first check after the injected bundle has had time to spread.
	if o.Overlap == 0 {
		o.Overlap = o.CheckInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"namespace", o.Namespace},
		{"Secret name", o.SecretName},
		{"Service name", o.ServiceName},
		{"webhook configuration name", o.WebhookConfigurations},
		{"certificate directory", o.CertDir},
		{"identity", o.Identity},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s is empty", f.name))
		}
	}
	if o.RenewBefore <= 0 {
		errs = append(errs, fmt.Errorf("renew-before %s must be positive", o.RenewBefore))
	}
	// A certificate due for renewal the moment it is issued would be
	// renewed on every check.
	if o.CertValidity <= o.RenewBefore {
		errs = append(errs, fmt.Errorf("certificate validity %s must exceed renew-before %s", o.CertValidity, o.RenewBefore))
	}
	// A CA is rotated RenewBefore before it expires and stays in the
	// bundle until then; its successor must not fall due before that, or
	// CAs would pile up in the bundle.
	if o.CAValidity < 2*o.RenewBefore {
		errs = append(errs, fmt.Errorf("CA validity %s must be at least twice renew-before %s", o.CAValidity, o.RenewBefore))
	}
	// The serving certificate waits out the overlap on the old CA; it has
	// at least RenewBefore left when the rotation starts.
	if o.Overlap >= o.RenewBefore {
		errs = append(errs, fmt.Errorf("overlap %s must be shorter than renew-before %s", o.Overlap, o.RenewBefore))
	}
	if o.CheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("check interval %s must be positive", o.CheckInterval))
	}
	// client-go's own constraint, checked here so it fails at start.
	if o.LeaseDuration <= o.RenewDeadline || float64(o.RenewDeadline) <= leaderelection.JitterFactor*float64(o.RetryPeriod) {
		errs = append(errs, fmt.Errorf("leader election needs lease duration %s > renew deadline %s > %.1f × retry period %s",
			o.LeaseDuration, o.RenewDeadline, leaderelection.JitterFactor, o.RetryPeriod))
	}
	return errors.Join(errs...)
}

// Manager keeps the serving certificate: as the leader it maintains the
// Secret and the webhooks' CA bundle, and on every replica it writes the
// Secret's serving pair into the certificate directory.
type Manager struct {
	client kubernetes.Interface
	opts   Options
	rules  rules
	log    *slog.Logger

	// store is the informer's cache of the Secret.
	store cache.Store
	// secretChanged wakes the leader, filesChanged the file writer; both
	// hold at most one pending wake-up.
	secretChanged chan struct{}
	filesChanged  chan struct{}
	// webhooksChanged wakes the leader when a webhook configuration
	// changes (watched only while leading).
	webhooksChanged chan struct{}

	ready     chan struct{}
	readyOnce sync.Once

	mu      sync.Mutex
	lastErr error
	// badServingVersion is the resourceVersion whose unusable serving
	// pair was last logged, so it is logged once.
	badServingVersion string
}

// NewManager checks the options; Run starts the work.
func NewManager(client kubernetes.Interface, opts Options, log *slog.Logger) (*Manager, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("self-managed certificates: %w", err)
	}
	return &Manager{
		client: client,
		opts:   opts,
		rules: rules{
			renewBefore: opts.RenewBefore,
			overlap:     opts.Overlap,
			retention:   opts.RenewBefore,
			dnsNames:    DNSNames(opts.ServiceName, opts.Namespace),
			// The API server calls a Service reference by this name.
			apiServerName: opts.ServiceName + "." + opts.Namespace + ".svc",
		},
		log:             log.With("secret", opts.Namespace+"/"+opts.SecretName, "identity", opts.Identity),
		secretChanged:   make(chan struct{}, 1),
		filesChanged:    make(chan struct{}, 1),
		webhooksChanged: make(chan struct{}, 1),
		ready:           make(chan struct{}),
	}, nil
}

// Run watches the Secret, writes its serving pair into the certificate
// directory and takes part in the leader election until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	secrets := m.client.CoreV1().Secrets(m.opts.Namespace)
	// The chart's Role grants list and watch on this one Secret by name.
	lw := namedListWatch(m.opts.SecretName,
		func(ctx context.Context, o metav1.ListOptions) (*corev1.SecretList, error) {
			list, err := secrets.List(ctx, o)
			if err != nil {
				m.noteError(fmt.Errorf("listing Secret %s: %w", m.opts.SecretName, err))
			}
			return list, err
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := secrets.Watch(ctx, o)
			if err != nil {
				m.noteError(fmt.Errorf("watching Secret %s: %w", m.opts.SecretName, err))
			}
			return w, err
		})
	changed := func() {
		notify(m.secretChanged)
		notify(m.filesChanged)
	}
	store, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Secret{},
		// The resync re-checks the files, so a replaced or deleted file
		// in the certificate directory is put back.
		ResyncPeriod: m.opts.CheckInterval,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { changed() },
			UpdateFunc: func(oldObj, newObj any) {
				// A resync (same version) only re-checks the files; the
				// leader has its own ticker.
				if sameResourceVersion(oldObj, newObj) {
					notify(m.filesChanged)
					return
				}
				changed()
			},
			DeleteFunc: func(any) { changed() },
		},
	})
	m.store = store

	// Each won term's context goes from the election to the leader loop,
	// which Run owns: Run returns only after the leader's work has
	// stopped, and terms never overlap within a replica.
	terms := make(chan context.Context, 1)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { informer.RunWithContext(ctx); return nil })
	g.Go(func() error { m.followSecret(ctx); return nil })
	g.Go(func() error { return m.elect(ctx, terms) })
	g.Go(func() error { m.leadTerms(ctx, terms); return nil })
	return g.Wait()
}

// Ready is closed once the certificate directory holds the Secret's
// serving pair.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// WaitForCertificate waits until the certificate directory holds the
// Secret's serving pair, at most timeout.
func (m *Manager) WaitForCertificate(ctx context.Context, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-m.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the first serving certificate: %w", context.Cause(ctx))
	case <-timer.C:
		msg := fmt.Sprintf("no serving certificate in %s after %s: Secret %s/%s not written or not readable (is a leader elected on Lease %s, and may it write the Secret?)",
			m.opts.CertDir, timeout, m.opts.Namespace, m.opts.SecretName, LeaseName(m.opts.SecretName))
		if err := m.lastError(); err != nil {
			return fmt.Errorf("%s; last error: %w", msg, err)
		}
		return errors.New(msg)
	}
}

// elect campaigns for the Lease until ctx is done and sends the context of
// every term won to terms; it is cancelled when the term ends.
func (m *Manager) elect(ctx context.Context, terms chan<- context.Context) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: m.opts.Namespace, Name: LeaseName(m.opts.SecretName)},
		Client:     m.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: m.opts.Identity},
	}
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          lock,
			Name:          lock.LeaseMeta.Name,
			LeaseDuration: m.opts.LeaseDuration,
			RenewDeadline: m.opts.RenewDeadline,
			RetryPeriod:   m.opts.RetryPeriod,
			// On shutdown another replica takes over at once instead of
			// after the lease expires.
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(term context.Context) {
					select {
					case terms <- term:
					case <-term.Done():
					}
				},
				OnStoppedLeading: func() {},
				OnNewLeader: func(identity string) {
					m.log.Info("certificate rotation leader", "leader", identity)
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		// Run returns when the lease is lost; campaign again.
		elector.Run(ctx)
	}
	return nil
}

// leadTerms leads through every term elect wins, until ctx is done.
func (m *Manager) leadTerms(ctx context.Context, terms <-chan context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case term := <-terms:
			// A term can end before its turn here.
			if term.Err() == nil {
				m.lead(term)
			}
		}
	}
}

// lead keeps the Secret and the webhooks' bundle while this replica leads
// (ctx is cancelled when it stops leading).
func (m *Manager) lead(ctx context.Context) {
	m.log.Info("leading certificate rotation")
	ticker := time.NewTicker(m.opts.CheckInterval)
	defer ticker.Stop()
	var watchers sync.WaitGroup
	defer watchers.Wait()
	watchers.Go(func() { m.watchWebhooks(ctx) })
	for {
		recheckAt, err := m.reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			m.noteError(err)
			m.log.Error("certificate check failed; retrying at the next check", "error", err)
		}
		// A wait that ends before the next check (the overlap of a new
		// CA) is checked again when it ends, not up to a check later.
		var recheck <-chan time.Time
		var timer *time.Timer
		if d := recheckAt.Sub(m.opts.Now()); !recheckAt.IsZero() && d < m.opts.CheckInterval {
			timer = time.NewTimer(max(d, 0) + time.Second)
			recheck = timer.C
		}
		select {
		case <-ctx.Done():
			m.log.Info("stopped leading certificate rotation")
			return
		case <-ticker.C:
		case <-recheck:
		case <-m.secretChanged:
		case <-m.webhooksChanged:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// watchWebhooks wakes the leader whenever one of the two webhook
// configurations changes, until ctx is done: a caBundle that another
// writer wiped (helm upgrade --force, a GitOps sync) is written back at
// once rather than at the next check, while every call to the webhooks
// fails TLS. The chart's ClusterRole grants list and watch on these two
// names only, which the API server authorizes through a metadata.name
// field selector.
func (m *Manager) watchWebhooks(ctx context.Context) {
	name := m.opts.WebhookConfigurations
	admission := m.client.AdmissionregistrationV1()
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { notify(m.webhooksChanged) },
		UpdateFunc: func(oldObj, newObj any) {
			if !sameResourceVersion(oldObj, newObj) {
				notify(m.webhooksChanged)
			}
		},
	}
	mutating := admission.MutatingWebhookConfigurations()
	validating := admission.ValidatingWebhookConfigurations()
	var running sync.WaitGroup
	for _, w := range []cache.InformerOptions{
		{ListerWatcher: namedListWatch(name, mutating.List, mutating.Watch), ObjectType: &admissionregistrationv1.MutatingWebhookConfiguration{}, Handler: handler},
		{ListerWatcher: namedListWatch(name, validating.List, validating.Watch), ObjectType: &admissionregistrationv1.ValidatingWebhookConfiguration{}, Handler: handler},
	} {
		_, informer := cache.NewInformerWithOptions(w)
		running.Go(func() { informer.RunWithContext(ctx) })
	}
	running.Wait()
}

// followSecret writes the Secret's serving pair into the certificate
// directory whenever either changes, until ctx is done.
func (m *Manager) followSecret(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.filesChanged:
		}
		if err := m.syncFiles(); err != nil {
			m.noteError(err)
			m.log.Error("writing the serving certificate failed", "dir", m.opts.CertDir, "error", err)
		}
	}
}

func (m *Manager) markReady() {
	m.readyOnce.Do(func() { close(m.ready) })
}

func (m *Manager) noteError(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastErr = err
}

func (m *Manager) lastError() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastErr
}

// namedListWatch lists and watches the one object called name, through a
// metadata.name field selector, which the API server authorizes against
// RBAC's resourceNames.
func namedListWatch[L runtime.Object](name string,
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFunc func(context.Context, metav1.ListOptions) (watch.Interface, error),
) *cache.ListWatch {
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return watchFunc(ctx, o)
		},
	}
}

// sameResourceVersion reports whether two objects of an informer are the
// same version (a resync).
func sameResourceVersion(oldObj, newObj any) bool {
	o, ok1 := oldObj.(metav1.Object)
	n, ok2 := newObj.(metav1.Object)
	return ok1 && ok2 && o.GetResourceVersion() == n.GetResourceVersion()
}

// notify sends a wake-up unless one is pending already.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
