package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/canary-guard/canary-guard/certs"
	"github.com/canary-guard/canary-guard/policy"
	"github.com/canary-guard/canary-guard/webhook"
)

// Certificate modes of --cert-mode.
const (
	certModeFile        = "file"
	certModeSelfManaged = "self-managed"
)

// certWaitTimeout bounds the wait for the first self-managed certificate
// at start: a new leader may first wait out a crashed one's Lease (15 s).
const certWaitTimeout = 2 * time.Minute

// defaultGCPercent is serve's garbage collection target. The webhook's
// live heap is small (about 10 MiB under load) and every review allocates
// tens of kilobytes, so at Go's default of 100 the collector runs every
// few hundred reviews: at 400, CPU per review under load dropped about 12 %
// (make bench-load) for about 35 MiB more resident memory, well inside
// the chart's limit, 90 % of which (--memory-limit) the collector respects.
const defaultGCPercent = 400

// memoryLimitShare is the share of --memory-limit the Go runtime's soft
// memory limit is set to: it bounds only the memory Go manages, so the
// rest of the container's limit is left for what it does not (Go's
// guide to the garbage collector suggests 5 to 10 %).
const memoryLimitShare = 0.9

// goMemoryLimit decides the Go runtime's soft memory limit from
// --memory-limit: 90 % of it, unless GOMEMLIMIT set one (apply is false).
func goMemoryLimit(containerLimit int64, gomemlimitEnvSet bool) (limit int64, apply bool) {
	if gomemlimitEnvSet || containerLimit <= 0 {
		return 0, false
	}
	return int64(float64(containerLimit) * memoryLimitShare), true
}

// Log buffering: lines reach stderr at most logFlushInterval after they
// are logged, or sooner when logBufferSize bytes are waiting.
const (
	logFlushInterval = 100 * time.Millisecond
	logBufferSize    = 256 << 10
)

// gcPercent decides the garbage collection target: --gc-percent when it
// was given, else the GOGC environment variable, which the Go runtime has
// applied already (apply is false), else the flag's default.
func gcPercent(flagValue int, flagGiven, gogcEnvSet bool) (percent int, apply bool) {
	if !flagGiven && gogcEnvSet {
		return 0, false
	}
	return flagValue, true
}

// selfManagedFlags are the flags of --cert-mode=self-managed.
type selfManagedFlags struct {
	secret         string
	service        string
	configurations string
	certValidity   time.Duration
	caValidity     time.Duration
	renewBefore    time.Duration
}

func newServeCommand() *cobra.Command {
	var (
		port           int
		certDir        string
		configFile     string
		policyDir      string
		healthAddr     string
		metricsAddr    string
		tlsMinVersion  string
		shutdownDelay  time.Duration
		reloadInterval time.Duration
		evalTimeout    time.Duration
		logLevel       string
		certMode       string
		selfManaged    selfManagedFlags
		decisionLogs   bool
		noopSample     float64
		events         bool
		kubeconfig     string
		maxConcurrent  int
		profiling      bool
		gcTarget       int
		memoryLimit    int64
		mutationClosed bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the mutating and validating admission webhooks",
		Long: `Serve POST /mutate-inferenceservice and POST /validate-inferenceservice
(AdmissionReview v1) over HTTPS, /healthz and /readyz, and Prometheus /metrics.

The certificate, the configuration and the policy directory are reloaded when
they change; a reload that fails keeps the last good one in use. A policy or
configuration that fails to load at start is logged, and the server runs
unready (/readyz names the file) until the file is fixed, when the next reload
makes it ready without a restart: a rollout of a broken file stalls as on a
crash loop, with the replicas serving the last good one in place. A request
that reaches it all the same is refused as [policy-error] in enforce
namespaces where the rules would decide it.

With --cert-mode=self-managed canary-guard keeps its own CA and serving
certificate in the Secret --cert-secret (namespace $POD_NAMESPACE): one replica,
elected through a Lease, creates and rotates them and writes the CA bundle into
the webhook configurations --webhook-configurations; every replica writes the
serving certificate into --cert-dir. Serving starts once it is there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			minTLS, err := parseTLSVersion(tlsMinVersion)
			if err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			// Log lines are buffered and written every logFlushInterval: a
			// write(2) per line, from the goroutine answering the request,
			// cost the server about 3 % of its CPU time per review at full
			// load, where a quarter of the load corpus's reviews log a
			// decision (twelve alternated runs, buffered against not).
			// Stop flushes what is left on the way out.
			logs := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(os.Stderr), Size: logBufferSize, FlushInterval: logFlushInterval}
			defer func() { _ = logs.Stop() }()
			handler := slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})
			log := slog.New(handler)
			ctrllog.SetLogger(logr.FromSlogHandler(handler))
			// client-go's leader election logs through klog.
			klog.SetSlogLogger(log)

			_, gogcSet := os.LookupEnv("GOGC")
			if percent, apply := gcPercent(gcTarget, cmd.Flags().Changed("gc-percent"), gogcSet); apply {
				if percent < 0 {
					return fmt.Errorf("--gc-percent %d: want 0 or more", percent)
				}
				debug.SetGCPercent(percent)
				log.Debug("garbage collection target set", "gcPercent", percent)
			}

			_, gomemlimitSet := os.LookupEnv("GOMEMLIMIT")
			if limit, apply := goMemoryLimit(memoryLimit, gomemlimitSet); apply {
				debug.SetMemoryLimit(limit)
				log.Debug("Go memory limit set", "bytes", limit, "containerLimit", memoryLimit)
			}

			if noopSample < 0 || noopSample > 1 {
				return fmt.Errorf("--decision-log-noop-sample %v: want 0..1", noopSample)
			}
			var recorder webhook.Events
			if events {
				rec, stop, err := clusterEvents(kubeconfig)
				if err != nil {
					// Events are a convenience: serving admission answers matters more.
					log.Warn("Kubernetes Events are off: no API server access", "error", err)
				} else {
					recorder = rec
					defer stop()
				}
			}
			newServer := func(ctx context.Context) (*webhook.Server, error) {
				return webhook.NewServer(ctx, webhook.Options{
					MaxConcurrentEvaluations: maxConcurrent,
					NoDecisionLogs:           !decisionLogs,
					DecisionLogNoopSample:    noopSample,
					MutationFailsClosed:      mutationClosed,
					Events:                   recorder,
					Addr:                     ":" + strconv.Itoa(port),
					CertDir:                  certDir,
					TLSMinVersion:            minTLS,
					HealthAddr:               healthAddr,
					MetricsAddr:              metricsAddr,
					EnableProfiling:          profiling,
					ShutdownDelay:            shutdownDelay,
					ReloadInterval:           reloadInterval,
					EvalTimeout:              evalTimeout,
				}, policy.Loader{ConfigFile: configFile, PolicyDir: policyDir}, log)
			}
			switch certMode {
			case certModeFile:
				srv, err := newServer(cmd.Context())
				if err != nil {
					return err
				}
				return srv.Run(cmd.Context())
			case certModeSelfManaged:
				return serveSelfManaged(cmd.Context(), selfManaged, certDir, log, newServer)
			}
			return fmt.Errorf("--cert-mode %q: want %s or %s", certMode, certModeFile, certModeSelfManaged)
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 9443, "HTTPS port of the webhooks")
	f.StringVar(&certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory holding tls.crt and tls.key (reloaded when they change)")
	f.StringVar(&configFile, "config", "", "configuration YAML (reloaded when it changes); empty uses the defaults")
	f.StringVar(&policyDir, "policy-dir", "", "directory of extra .rego files in package canary_guard (reloaded when they change)")
	f.StringVar(&healthAddr, "health-addr", ":8081", "address of /healthz and /readyz")
	f.StringVar(&metricsAddr, "metrics-addr", ":8080", "address of Prometheus /metrics")
	f.IntVar(&gcTarget, "gc-percent", defaultGCPercent, "Go's garbage collection target (GOGC): heap growth, in percent of the live heap, that starts a collection; the GOGC environment variable wins unless this flag is given, and the memory limit (--memory-limit, GOMEMLIMIT) still bounds the heap")
	f.Int64Var(&memoryLimit, "memory-limit", 0, "the container's memory limit in bytes; the Go runtime's soft memory limit is set to 90 % of it, leaving the rest for memory Go does not manage (GOMEMLIMIT wins); 0 sets none")
	f.BoolVar(&profiling, "enable-profiling", false, "serve Go's CPU, heap and goroutine profiles under /debug/pprof/ on --metrics-addr")
	f.StringVar(&tlsMinVersion, "tls-min-version", "1.2", "lowest TLS version served: 1.2 or 1.3")
	f.DurationVar(&shutdownDelay, "shutdown-delay", 5*time.Second, "how long to keep serving, unready, after SIGTERM so the API server stops sending first")
	f.DurationVar(&reloadInterval, "reload-interval", 2*time.Second, "how often the config and policy files are checked for changes")
	addEvalTimeoutFlag(f, &evalTimeout, " (the request's own deadline also applies)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.IntVar(&maxConcurrent, "max-concurrent-evaluations", 64, "validating evaluations that run at once; more wait for a slot within --eval-timeout and the request's deadline, and one that gets none is answered as an evaluation out of time ([policy-error]: refused in enforce namespaces with HTTP 429, admitted in warn and audit namespaces and for rollbacks) (0: unbounded)")
	f.BoolVar(&decisionLogs, "decision-logs", true, "log one JSON line per denial, warning, injection and override")
	f.Float64Var(&noopSample, "decision-log-noop-sample", 0, "fraction (0..1) of admitted requests with nothing to report that are logged too")
	f.BoolVar(&mutationClosed, "mutation-fails-closed", false, "answer a fault of the mutating webhook (a recovered panic, a mutation it cannot work out) with an error, which refuses the update, as the webhook's failurePolicy Fail would; by default it admits the update unpatched, with a warning, as failurePolicy Ignore would (the chart sets it from webhook.mutating.failurePolicy)")
	f.BoolVar(&events, "events", true, "record Kubernetes Events on InferenceServices for injections, warn/audit violations and overrides (needs API server access)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig for Kubernetes Events (default: $KUBECONFIG, ~/.kube/config, then in-cluster)")
	f.StringVar(&certMode, "cert-mode", certModeFile, "file: tls.crt and tls.key in --cert-dir come from elsewhere (cert-manager); self-managed: canary-guard creates and rotates them")
	f.StringVar(&selfManaged.secret, "cert-secret", "", "self-managed: the kubernetes.io/tls Secret holding the CA and the serving certificate")
	f.StringVar(&selfManaged.service, "webhook-service", "", "self-managed: the webhook's Service, whose DNS names the serving certificate carries")
	f.StringVar(&selfManaged.configurations, "webhook-configurations", "", "self-managed: name of the MutatingWebhookConfiguration and the ValidatingWebhookConfiguration that get the CA bundle")
	f.DurationVar(&selfManaged.certValidity, "cert-validity", certs.DefaultCertValidity, "self-managed: validity of the serving certificate")
	f.DurationVar(&selfManaged.caValidity, "ca-validity", certs.DefaultCAValidity, "self-managed: validity of the CA")
	f.DurationVar(&selfManaged.renewBefore, "cert-renew-before", certs.DefaultRenewBefore, "self-managed: renew the serving certificate, and rotate the CA, this long before they expire")
	return cmd
}

// addEvalTimeoutFlag adds --eval-timeout, which serve, eval and verify
// share so that an offline decision is bounded as serve's is
// (policy.WithEvalTimeout). note adds to its help.
func addEvalTimeoutFlag(f *pflag.FlagSet, d *time.Duration, note string) {
	f.DurationVar(d, "eval-timeout", policy.DefaultEvalTimeout,
		"the most one policy evaluation may take"+note+"; one that runs out is answered [policy-error], refused in enforce namespaces (0: no limit)")
}

// serveSelfManaged runs the certificate manager and, once the first
// serving certificate is in certDir (webhook.NewServer needs it), the
// server. Either failing stops both.
func serveSelfManaged(ctx context.Context, flags selfManagedFlags, certDir string, log *slog.Logger,
	newServer func(context.Context) (*webhook.Server, error),
) error {
	for _, f := range []struct{ name, value string }{
		{"--cert-secret", flags.secret},
		{"--webhook-service", flags.service},
		{"--webhook-configurations", flags.configurations},
	} {
		if f.value == "" {
			return fmt.Errorf("--cert-mode=self-managed needs %s", f.name)
		}
	}
	namespace := os.Getenv("POD_NAMESPACE")
	if namespace == "" {
		return errors.New("--cert-mode=self-managed: POD_NAMESPACE is not set")
	}
	identity := os.Getenv("POD_NAME")
	if identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--cert-mode=self-managed: POD_NAME is not set and the hostname is unknown: %w", err)
		}
		identity = host
	}
	restConfig, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("--cert-mode=self-managed: Kubernetes client configuration: %w", err)
	}
	restConfig.UserAgent = "canary-guard/" + version
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("--cert-mode=self-managed: Kubernetes client: %w", err)
	}
	manager, err := certs.NewManager(client, certs.Options{
		Namespace:             namespace,
		SecretName:            flags.secret,
		ServiceName:           flags.service,
		WebhookConfigurations: flags.configurations,
		CertDir:               certDir,
		Identity:              identity,
		CertValidity:          flags.certValidity,
		CAValidity:            flags.caValidity,
		RenewBefore:           flags.renewBefore,
	}, log.With("component", "certs"))
	if err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return manager.Run(gctx) })
	if err := manager.WaitForCertificate(gctx, certWaitTimeout); err != nil {
		cancel()
		if runErr := g.Wait(); runErr != nil {
			return runErr
		}
		if ctx.Err() != nil {
			// Stopped (SIGTERM) before the first certificate: not a failure.
			return nil
		}
		return err
	}
	srv, err := newServer(gctx)
	if err != nil {
		cancel()
		return errors.Join(err, g.Wait())
	}
	g.Go(func() error { return srv.Run(gctx) })
	return g.Wait()
}

func parseTLSVersion(v string) (uint16, error) {
	switch v {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version %q: want 1.2 or 1.3", v)
}

// clusterEvents returns an Events recorder for the cluster the kubeconfig
// (or the in-cluster configuration) points at.
func clusterEvents(kubeconfig string) (webhook.Events, func(), error) {
	cfg, _, err := (&kubeFlags{kubeconfig: kubeconfig}).restConfig()
	if err != nil {
		return nil, nil, err
	}
	return webhook.NewClusterEvents(cfg)
}
