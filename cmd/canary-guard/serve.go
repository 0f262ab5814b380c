package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/canary-guard/canary-guard/policy"
	"github.com/canary-guard/canary-guard/webhook"
)

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
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the mutating and validating admission webhooks",
		Long: `Serve POST /mutate-inferenceservice and POST /validate-inferenceservice
(AdmissionReview v1) over HTTPS, /healthz and /readyz, and Prometheus /metrics.

The certificate, the configuration and the policy directory are reloaded when
they change; a reload that fails keeps the last good one in use. A policy or
configuration that fails to load at start is an error.`,
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
			handler := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
			log := slog.New(handler)
			ctrllog.SetLogger(logr.FromSlogHandler(handler))

			srv, err := webhook.NewServer(cmd.Context(), webhook.Options{
				Addr:           ":" + strconv.Itoa(port),
				CertDir:        certDir,
				TLSMinVersion:  minTLS,
				HealthAddr:     healthAddr,
				MetricsAddr:    metricsAddr,
				ShutdownDelay:  shutdownDelay,
				ReloadInterval: reloadInterval,
				EvalTimeout:    evalTimeout,
			}, policy.Loader{ConfigFile: configFile, PolicyDir: policyDir}, log)
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 9443, "HTTPS port of the webhooks")
	f.StringVar(&certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory holding tls.crt and tls.key (reloaded when they change)")
	f.StringVar(&configFile, "config", "", "configuration YAML (reloaded when it changes); empty uses the defaults")
	f.StringVar(&policyDir, "policy-dir", "", "directory of extra .rego files in package canary_guard (reloaded when they change)")
	f.StringVar(&healthAddr, "health-addr", ":8081", "address of /healthz and /readyz")
	f.StringVar(&metricsAddr, "metrics-addr", ":8080", "address of Prometheus /metrics")
	f.StringVar(&tlsMinVersion, "tls-min-version", "1.2", "lowest TLS version served: 1.2 or 1.3")
	f.DurationVar(&shutdownDelay, "shutdown-delay", 5*time.Second, "how long to keep serving, unready, after SIGTERM so the API server stops sending first")
	f.DurationVar(&reloadInterval, "reload-interval", 2*time.Second, "how often the config and policy files are checked for changes")
	f.DurationVar(&evalTimeout, "eval-timeout", 2*time.Second, "the most one policy evaluation may take (the request's own deadline also applies)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
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
