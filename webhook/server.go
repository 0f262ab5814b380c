package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/canary-guard/canary-guard/policy"
)

// Paths the webhooks are served on.
const (
	MutatePath   = "/mutate-inferenceservice"
	ValidatePath = "/validate-inferenceservice"
)

// Options configure a Server. Zero durations take the defaults below.
type Options struct {
	// Addr is the webhook's HTTPS listen address, e.g. ":9443".
	Addr string
	// CertDir holds tls.crt and tls.key; they are reloaded when they change.
	CertDir string
	// TLSMinVersion is the lowest TLS version served (tls.VersionTLS12 by default).
	TLSMinVersion uint16
	// HealthAddr serves /healthz and /readyz; MetricsAddr serves /metrics,
	// and Go's profiles under /debug/pprof/ when EnableProfiling is set.
	HealthAddr      string
	MetricsAddr     string
	EnableProfiling bool
	// ShutdownDelay is how long the webhook keeps serving after a shutdown
	// signal, unready, so the API server stops sending first.
	ShutdownDelay time.Duration
	// ReloadInterval is how often the config and policy files are checked.
	ReloadInterval time.Duration
	// EvalTimeout bounds one policy evaluation (policy.WithEvalTimeout);
	// 0 leaves only the request's deadline.
	EvalTimeout time.Duration
	// MaxConcurrentEvaluations bounds the validating evaluations that run
	// at once (policy.WithConcurrencyLimit); 0 is unbounded.
	MaxConcurrentEvaluations int
	// NoDecisionLogs turns the decision log off; DecisionLogNoopSample is
	// the fraction of uneventful admitted requests logged as well.
	NoDecisionLogs        bool
	DecisionLogNoopSample float64
	// Events records Kubernetes Events; nil records none.
	Events Events
	// MutationFailsClosed answers a fault of the mutating webhook with an
	// error, as its failurePolicy Fail would; by default it admits the
	// update unpatched, as Ignore would.
	MutationFailsClosed bool
}

// Server runs the webhook, health and metrics endpoints and reloads the
// policy and configuration when their files change.
type Server struct {
	opts     Options
	loader   policy.Loader
	guard    *policy.Guard
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *Metrics
	certs    *servingCert
	draining atomic.Bool
	// fingerprint of the files at the last load attempt.
	fingerprint policy.Fingerprint
	// fingerprintErr is the last error reading the files, "" after a read
	// that succeeded.
	fingerprintErr string
	// lastLoadOK says whether the last load of the files applied all of
	// them.
	lastLoadOK bool
}

// NewServer loads the policy and configuration and the serving
// certificate. It fails, naming the file at fault, when any cannot be loaded.
func NewServer(ctx context.Context, opts Options, loader policy.Loader, log *slog.Logger) (*Server, error) {
	if opts.TLSMinVersion == 0 {
		opts.TLSMinVersion = tls.VersionTLS12
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = 2 * time.Second
	}
	s := &Server{opts: opts, loader: loader, log: log, registry: prometheus.NewRegistry()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = NewMetrics(s.registry)

	fp, err := loader.Fingerprint()
	if err != nil {
		return nil, err
	}
	p, cfg, loadErr := loader.Load(ctx)
	if loadErr != nil {
		// Run unready rather than exit: a rollout of the broken file
		// stalls as it would on a crash loop, and once the file is fixed
		// the next reload makes the replica ready, without a restart or a
		// crash-loop back-off. A request that reaches it all the same is
		// refused where the rules would decide it, naming the file.
		if p, cfg, err = loader.Fallback(ctx); err != nil {
			return nil, errors.Join(loadErr, err)
		}
	}
	if s.guard, err = policy.NewGuard(p, cfg, policy.WithEvalTimeout(opts.EvalTimeout), policy.WithConcurrencyLimit(opts.MaxConcurrentEvaluations),
		policy.WithLoadError(loadErr)); err != nil {
		return nil, err
	}
	s.fingerprint = fp
	s.lastLoadOK = loadErr == nil
	if loadErr != nil {
		s.metrics.ReloadFailed()
		log.Error("policy or configuration failed to load at start; not ready until it is fixed", "error", loadErr)
	} else {
		s.metrics.ReloadSucceeded(p.Revision, cfg.Revision)
		log.Info("policy loaded", "revision", p.Revision, "config", cfg.Revision, "files", p.Files)
	}
	logPolicyWarnings(log, p)
	logConfigWarnings(log, cfg)
	if loadErr == nil {
		// The start's fallback runs the shipped rules alone: every
		// custom id would read as a typo.
		logRuleEnforcementWarnings(log, p, cfg)
	}

	certFile, keyFile := filepath.Join(opts.CertDir, "tls.crt"), filepath.Join(opts.CertDir, "tls.key")
	loaded := func(cert tls.Certificate) {
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
			s.metrics.CertificateLoaded(leaf.NotAfter)
			log.Info("serving certificate loaded", "notAfter", leaf.NotAfter, "serial", leaf.SerialNumber.String())
		}
	}
	if s.certs, err = newServingCert(certFile, keyFile, watchCertFiles, loaded, log); err != nil {
		return nil, fmt.Errorf("loading serving certificate from %s: %w", opts.CertDir, err)
	}
	return s, nil
}

// Guard returns the guard the server decides with.
func (s *Server) Guard() *policy.Guard { return s.guard }

// Handler returns the webhook endpoints, for tests and benchmarks that
// serve them without TLS.
func (s *Server) Handler() http.Handler {
	obs := Observers{
		Log:       s.log,
		Metrics:   s.metrics,
		Decisions: NewDecisionLog(s.log, !s.opts.NoDecisionLogs, s.opts.DecisionLogNoopSample),
		Events:    s.opts.Events,
	}
	mux := http.NewServeMux()
	m := NewMutator(s.guard, obs)
	m.setFailsClosed(s.opts.MutationFailsClosed)
	mux.Handle(MutatePath, m)
	mux.Handle(ValidatePath, NewValidator(s.guard, obs))
	return mux
}

// Run serves until ctx is done, then keeps serving, unready, for the
// shutdown delay and stops gracefully: in-flight requests complete.
func (s *Server) Run(ctx context.Context) error {
	webhookLn, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("webhook listener: %w", err)
	}
	healthLn, err := net.Listen("tcp", s.opts.HealthAddr)
	if err != nil {
		_ = webhookLn.Close()
		return fmt.Errorf("health listener: %w", err)
	}
	metricsLn, err := net.Listen("tcp", s.opts.MetricsAddr)
	if err != nil {
		_ = webhookLn.Close()
		_ = healthLn.Close()
		return fmt.Errorf("metrics listener: %w", err)
	}
	return s.Serve(ctx, webhookLn, healthLn, metricsLn)
}

// Serve is Run on listeners the caller opened.
func (s *Server) Serve(ctx context.Context, webhookLn, healthLn, metricsLn net.Listener) error {
	// The servers outlive ctx by the shutdown delay.
	serveCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()

	// HTTP/1.1 only, as kubebuilder scaffolds webhooks: HTTP/2 brought the
	// rapid-reset and CONTINUATION-flood attacks (CVE-2023-44487,
	// CVE-2023-45288) and buys nothing here, where the API server keeps
	// its connections alive either way.
	tlsConfig := &tls.Config{MinVersion: s.opts.TLSMinVersion, GetCertificate: s.certs.GetCertificate, NextProtos: []string{"http/1.1"}}
	var http1 http.Protocols
	http1.SetHTTP1(true)
	errorLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	servers := []*http.Server{
		{Handler: s.closeWhileDraining(s.Handler()), TLSConfig: tlsConfig, Protocols: &http1, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errorLog},
		{Handler: s.healthHandler(webhookLn.Addr().String()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errorLog},
		{Handler: s.metricsHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errorLog},
	}
	g, gctx := errgroup.WithContext(serveCtx)
	g.Go(func() error { return s.certs.Start(gctx) })
	g.Go(func() error { s.reloadLoop(gctx); return nil })
	listeners := []net.Listener{tls.NewListener(webhookLn, tlsConfig), healthLn, metricsLn}
	for i, srv := range servers {
		g.Go(func() error {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		select {
		case <-gctx.Done():
		case <-ctx.Done():
			// From here on each answer closes its connection
			// (closeWhileDraining).
			s.draining.Store(true)
			s.log.Info("shutting down: serving unready for the shutdown delay", "delay", s.opts.ShutdownDelay)
			select {
			case <-time.After(s.opts.ShutdownDelay):
			case <-gctx.Done():
			}
		}
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range servers {
			errs = append(errs, srv.Shutdown(shutdownCtx))
		}
		stop()
		return errors.Join(errs...)
	})
	s.log.Info("serving", "webhook", webhookLn.Addr().String(), "health", healthLn.Addr().String(), "metrics", metricsLn.Addr().String())
	return g.Wait()
}

// closeWhileDraining answers with Connection: close during the shutdown
// delay. Leaving the endpoints moves no established connection: closing
// each kept-alive one after its next answer makes the API server dial
// again through the Service, to a replica that stays. Not with
// http.Server.SetKeepAlivesEnabled(false): that also closes every idle
// connection at once, at SIGTERM, while the API server still sends here
// and may be writing a request to one of them, which then fails (a POST
// is not retried) and, with failurePolicy Fail, so does the user's write.
func (s *Server) closeWhileDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// metricsHandler serves /metrics and, when profiling is on, the profiles.
func (s *Server) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	if s.opts.EnableProfiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (s *Server) healthHandler(webhookAddr string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ready(r.Context(), webhookAddr); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// ready checks that the server is not shutting down, that a policy is
// compiled, and that TLS is served with a certificate valid now. The files
// on disk do not count: a broken pair there is not loaded (certwatcher
// keeps the last good one), and making every replica unready over it
// would take a fail-closed webhook's endpoints away while it still serves.
func (s *Server) ready(ctx context.Context, webhookAddr string) error {
	if s.draining.Load() {
		return errors.New("shutting down")
	}
	if s.guard.Policy() == nil {
		return errors.New("no policy compiled")
	}
	if err := s.guard.LoadError(); err != nil {
		// Unready, so a rollout of a broken policy or configuration stalls
		// with the replicas that serve the last good one still in place.
		return fmt.Errorf("the policy or configuration did not load (%w); serving the shipped bundle until it is fixed", err)
	}
	host, port, err := net.SplitHostPort(webhookAddr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	dialer := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only reads the served certificate's validity
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("webhook TLS not served: %w", err)
	}
	defer conn.Close()
	served := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(served) == 0 {
		return errors.New("webhook serves no certificate")
	}
	now := time.Now()
	switch leaf := served[0]; {
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("the served certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(leaf.NotAfter):
		return fmt.Errorf("the served certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// reloadLoop reloads the policy and configuration when their files
// change. A failed reload keeps the last good pair in use.
func (s *Server) reloadLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Reload(ctx)
		}
	}
}

// Reload loads the files again if they changed since the last attempt.
func (s *Server) Reload(ctx context.Context) {
	fp, err := s.loader.Fingerprint()
	if err != nil {
		// Counted once per error, and kept apart from the fingerprint of
		// the last files read, which the next reload compares halves with.
		if msg := err.Error(); msg != s.fingerprintErr {
			s.fingerprintErr = msg
			s.reloadFailed(err)
		}
		return
	}
	recovered := s.fingerprintErr != ""
	s.fingerprintErr = ""
	if fp == s.fingerprint {
		if recovered {
			// The files read as before the failed read: what their last
			// load left stands again (loading them anew would split a
			// release that load refused as a whole).
			s.metrics.LastReload(s.lastLoadOK)
		}
		return
	}
	prev := s.fingerprint
	s.fingerprint = fp
	// The policy and the configuration are loaded on their own, so that a
	// Rego file broken before does not hold back a good configuration
	// change (namespaces put in warn mode during an incident, say), nor the
	// other way round. Two that changed together, as a release ships a
	// rule and the setting it goes with, are applied together or not at all.
	cfg, cfgErr := s.loader.LoadConfig()
	p, policyErr := s.loader.LoadPolicy(ctx)
	bothChanged := fp.Config != prev.Config && fp.Policy != prev.Policy
	s.lastLoadOK = cfgErr == nil && policyErr == nil
	if err := errors.Join(cfgErr, policyErr); err != nil && (bothChanged || cfg == nil && p == nil || s.guard.LoadError() != nil) {
		// Still on the start's fallback, only a policy and a configuration
		// that both load replace it.
		s.reloadFailed(err)
		return
	}
	if err := s.guard.Update(p, cfg); err != nil {
		s.lastLoadOK = false
		s.reloadFailed(err)
		return
	}
	cur, curCfg := s.guard.Policy(), s.guard.Config()
	switch {
	case cfgErr != nil:
		s.metrics.ReloadFailed()
		s.metrics.InUse(cur.Revision, curCfg.Revision)
		s.log.Error("configuration failed to load; serving the last good configuration", "error", cfgErr, "config", curCfg.Revision)
		if fp.Policy != prev.Policy {
			s.log.Info("policy reloaded", "revision", cur.Revision, "files", cur.Files)
		}
	case policyErr != nil:
		s.metrics.ReloadFailed()
		s.metrics.InUse(cur.Revision, curCfg.Revision)
		s.log.Error("policy failed to load; serving the last good policy", "error", policyErr, "revision", cur.Revision)
		if fp.Config != prev.Config {
			s.log.Info("configuration reloaded", "config", curCfg.Revision)
		}
	default:
		s.metrics.ReloadSucceeded(cur.Revision, curCfg.Revision)
		s.log.Info("policy and configuration reloaded", "revision", cur.Revision, "config", curCfg.Revision, "files", cur.Files)
	}
	if p != nil {
		logPolicyWarnings(s.log, p)
	}
	if cfg != nil {
		logConfigWarnings(s.log, cfg)
	}
	if p != nil || cfg != nil {
		// Either half can make the other's names go stale.
		logRuleEnforcementWarnings(s.log, cur, curCfg)
	}
}

// reloadFailed counts and logs a failed reload. On the start's fallback
// the new error is the one to name, on /readyz and in denials.
func (s *Server) reloadFailed(err error) {
	s.metrics.ReloadFailed()
	if s.guard.LoadError() != nil {
		s.guard.SetLoadError(err)
		s.log.Error("reload failed; still not ready, on the shipped bundle", "error", err)
		return
	}
	s.log.Error("reload failed; serving the last good policy and configuration", "error", err)
}

// logConfigWarnings logs what loaded but is likely a mistake.
func logConfigWarnings(log *slog.Logger, cfg *policy.Config) {
	for _, w := range cfg.Warnings {
		log.Warn("configuration warning", "warning", w)
	}
}

// logRuleEnforcementWarnings logs ruleEnforcement entries that name no
// rule of the policy served.
func logRuleEnforcementWarnings(log *slog.Logger, p *policy.Policy, cfg *policy.Config) {
	for _, w := range policy.RuleEnforcementWarnings(p, cfg) {
		log.Warn("configuration warning", "warning", w)
	}
}

// logPolicyWarnings logs what compiled but is likely a mistake.
func logPolicyWarnings(log *slog.Logger, p *policy.Policy) {
	for _, w := range p.Warnings {
		log.Warn("policy warning", "warning", w)
	}
}
