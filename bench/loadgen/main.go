// Command loadgen sends the load corpus (bench/load: KServe's rollout as
// AdmissionReview v1 requests) to a running canary-guard serve, or any
// server answering AdmissionReviews on its paths, over HTTPS with
// keep-alive, and reports throughput, latency percentiles, errors and
// wrong answers, and, given the server's pid, its CPU and memory.
//
//	loadgen --url https://127.0.0.1:9443 --ca ca.crt --workers 16 --duration 30s
//	loadgen --url https://127.0.0.1:9443 --ca ca.crt --rate 1000 --duration 5m --pid 4242
//
// Only loopback addresses are accepted; every run is bounded by
// --duration and --max-requests. make bench runs the full comparison with
// the no-op baseline (bench/loadtest).
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/canary-guard/canary-guard/bench/load"
	"github.com/canary-guard/canary-guard/bench/procs"
)

func main() {
	var (
		cfg       load.Config
		caFile    string
		namespace string
		pid       int
	)
	flag.StringVar(&cfg.URL, "url", "", "server base URL (https, loopback only), e.g. https://127.0.0.1:9443")
	flag.StringVar(&caFile, "ca", "", "PEM file of the CA that signed the server's certificate")
	flag.IntVar(&cfg.Workers, "workers", 16, "concurrent requests, each on its own keep-alive connection")
	flag.Float64Var(&cfg.Rate, "rate", 0, "reviews per second; 0 sends as fast as the workers can")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send")
	flag.IntVar(&cfg.MaxRequests, "max-requests", load.DefaultMaxRequests, "the most requests to send")
	flag.StringVar(&namespace, "namespace", "bench", "namespace of the corpus requests")
	flag.IntVar(&pid, "pid", 0, "server process id, to report its CPU time and memory (Linux)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, caFile, namespace, pid); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg load.Config, caFile, namespace string, pid int) error {
	if cfg.URL == "" || caFile == "" {
		return errors.New("--url and --ca are required")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("--ca: %w", err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--ca %s: no PEM certificate", caFile)
	}
	if cfg.Cases, err = load.Corpus(load.CorpusOptions{Namespace: namespace}); err != nil {
		return err
	}
	var before procs.Stats
	if pid > 0 {
		if before, err = procs.ProcessStats(pid); err != nil {
			return err
		}
	}
	res, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Println(res.Summary())
	if pid > 0 {
		after, err := procs.ProcessStats(pid)
		if err != nil {
			return err
		}
		fmt.Printf("server: %.2f CPU cores, RSS %d MiB, peak RSS %d MiB\n",
			(after.CPU-before.CPU).Seconds()/res.Elapsed.Seconds(), after.RSS>>20, after.PeakRSS>>20)
	}
	for _, s := range res.ErrorSamples {
		fmt.Println("  ", s)
	}
	if res.Failed() > 0 {
		return fmt.Errorf("%d of %d requests failed", res.Failed(), res.Requests)
	}
	return nil
}
