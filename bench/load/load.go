// Package load drives canary-guard's webhooks (or any server answering
// AdmissionReview v1) with a corpus of realistic reviews over HTTPS with
// keep-alive, at a fixed rate or as fast as N workers can, and measures
// throughput, latency and wrong answers. It only talks to loopback
// addresses and every run is bounded in time and in count.
package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxRequests bounds a run that sets no MaxRequests.
const DefaultMaxRequests = 20_000_000

// maxErrorSamples is how many distinct error messages a Result keeps.
const maxErrorSamples = 8

// Config describes one run.
type Config struct {
	// URL is the server's base URL, e.g. https://127.0.0.1:9443; the
	// host must be a loopback address.
	URL string
	// RootCAs verify the server's certificate.
	RootCAs *x509.CertPool
	// Cases are sent round robin.
	Cases []Case
	// Workers is the number of concurrent requests (at most that many
	// are in flight; each has its own keep-alive connection).
	Workers int
	// Rate is the reviews per second to send; 0 sends as fast as the
	// workers can (closed loop).
	Rate float64
	// Duration bounds the run; MaxRequests bounds its count.
	Duration    time.Duration
	MaxRequests int
	// Timeout bounds one request (10 s when zero).
	Timeout time.Duration
	// NewConnections sends each request on a new connection, a TLS
	// handshake each, as clients that reconnect do: what a rotated
	// certificate reaches first.
	NewConnections bool
	// VerifyConnection, if set, is called for each TLS handshake after
	// the certificate is verified (tls.Config.VerifyConnection).
	VerifyConnection func(tls.ConnectionState) error
}

// Result is the outcome of a run.
type Result struct {
	// Requests were sent; Errors failed (transport error, status other
	// than 200, an answer that is not an AdmissionReview or names another
	// request); Wrong were answered, but not as their case expects.
	Requests, Errors, Wrong int
	// Missed counts sends of a fixed-rate run that could not start on
	// time because every worker was busy for longer than a second.
	Missed int
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Latencies are sorted. At a fixed rate a request's latency counts
	// from when it was due, so queueing behind slow requests shows.
	Latencies []time.Duration
	// ErrorSamples are the first distinct error and wrong-answer messages.
	ErrorSamples []string
	// Codes counts the errors that were HTTP answers other than 200, or
	// errored admission answers (allowed false with a status code of 429
	// or 5xx, as webhooks answer when they cannot decide), by code.
	Codes map[int]int
}

// Throughput is the answered requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
}

// Quantile returns the latency at q (0..1); 1 is the maximum.
func (r *Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Latencies)))
	if i >= len(r.Latencies) {
		i = len(r.Latencies) - 1
	}
	return r.Latencies[i]
}

// Failed is the number of requests that errored or got a wrong answer.
func (r *Result) Failed() int { return r.Errors + r.Wrong }

// NewClient returns an HTTP/1.1 client with keep-alive connections for
// up to workers concurrent requests to a server whose certificate roots
// verify.
func NewClient(roots *x509.CertPool, workers int, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     90 * time.Second,
			// An empty map turns HTTP/2 off: one keep-alive connection per worker.
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		},
	}
}

// CheckLoopback fails unless rawURL is https on a loopback address.
func CheckLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("server URL %s: want https", rawURL)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("server URL %s: only loopback addresses (127.0.0.1, ::1, localhost) are load-tested", rawURL)
	}
	return nil
}

// Run sends the corpus until ctx is done, Duration passes or MaxRequests
// were sent, and waits for the answers in flight.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := CheckLoopback(cfg.URL); err != nil {
		return nil, err
	}
	if len(cfg.Cases) == 0 {
		return nil, errors.New("no cases to send")
	}
	if cfg.Workers <= 0 {
		return nil, fmt.Errorf("workers %d: want at least 1", cfg.Workers)
	}
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("duration %v: want a positive duration", cfg.Duration)
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("rate %v: want 0 (as fast as possible) or more", cfg.Rate)
	}
	maxRequests := cfg.MaxRequests
	if maxRequests <= 0 {
		maxRequests = DefaultMaxRequests
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	client := NewClient(cfg.RootCAs, cfg.Workers, cfg.Timeout)
	defer client.CloseIdleConnections()
	if transport, ok := client.Transport.(*http.Transport); ok {
		transport.DisableKeepAlives = cfg.NewConnections
		transport.TLSClientConfig.VerifyConnection = cfg.VerifyConnection
	}

	// due carries the time each request is due: paced by the scheduler
	// at a fixed rate, or right away in a closed loop.
	due := make(chan time.Time, max(cfg.Workers, int(cfg.Rate)))
	var missed int
	start := time.Now()
	go func() {
		defer close(due)
		if cfg.Rate == 0 {
			for range maxRequests {
				select {
				case due <- time.Now():
				case <-ctx.Done():
					return
				}
			}
			return
		}
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for i := 0; i < maxRequests; i++ {
			at := start.Add(time.Duration(i) * interval)
			if wait := time.Until(at); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			} else if ctx.Err() != nil {
				return
			}
			select {
			case due <- at:
			default:
				missed++
			}
		}
	}()

	var wg sync.WaitGroup
	workers := make([]workerResult, cfg.Workers)
	var next atomic.Uint64
	for w := range workers {
		wg.Go(func() {
			res := &workers[w]
			for at := range due {
				c := &cfg.Cases[(next.Add(1)-1)%uint64(len(cfg.Cases))]
				// Requests in flight when the run ends still get their answer.
				err := Send(context.WithoutCancel(ctx), client, cfg.URL, c)
				res.requests++
				res.latencies = append(res.latencies, time.Since(at))
				if err != nil {
					var wrong wrongAnswer
					var status *StatusError
					switch {
					case errors.As(err, &wrong):
						res.wrong++
					case errors.As(err, &status):
						res.errors++
						if res.codes == nil {
							res.codes = map[int]int{}
						}
						res.codes[status.Code]++
					default:
						res.errors++
					}
					res.note(err.Error())
				}
			}
		})
	}
	wg.Wait()
	result := &Result{Elapsed: time.Since(start), Missed: missed}
	for _, w := range workers {
		result.Requests += w.requests
		result.Errors += w.errors
		result.Wrong += w.wrong
		result.Latencies = append(result.Latencies, w.latencies...)
		for code, n := range w.codes {
			if result.Codes == nil {
				result.Codes = map[int]int{}
			}
			result.Codes[code] += n
		}
		for _, s := range w.samples {
			if len(result.ErrorSamples) < maxErrorSamples && !slices.Contains(result.ErrorSamples, s) {
				result.ErrorSamples = append(result.ErrorSamples, s)
			}
		}
	}
	slices.Sort(result.Latencies)
	return result, nil
}

type workerResult struct {
	requests, errors, wrong int
	latencies               []time.Duration
	samples                 []string
	codes                   map[int]int
}

func (w *workerResult) note(msg string) {
	if len(w.samples) < maxErrorSamples && !slices.Contains(w.samples, msg) {
		w.samples = append(w.samples, msg)
	}
}

// StatusError is an HTTP answer other than 200, or an errored
// admission answer (Errored: the webhook could not decide).
type StatusError struct {
	Case    string
	Code    int
	Errored bool
	Body    string
}

func (e *StatusError) Error() string {
	if e.Errored {
		return fmt.Sprintf("%s: errored answer, code %d: %.200s", e.Case, e.Code, e.Body)
	}
	return fmt.Sprintf("%s: HTTP %d: %.200s", e.Case, e.Code, e.Body)
}

// wrongAnswer is an answer that differs from the case's expectation.
type wrongAnswer struct{ msg string }

func (w wrongAnswer) Error() string { return w.msg }

// answer is the part of an AdmissionReview response the generator checks.
type answer struct {
	Response *struct {
		UID      string   `json:"uid"`
		Allowed  bool     `json:"allowed"`
		Patch    []byte   `json:"patch"`
		Warnings []string `json:"warnings"`
		Status   *struct {
			Code    int32  `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

// Send posts one case's review to the server at base and checks the
// answer against the case's expectation; a wrong answer is reported as
// an error naming the case.
func Send(ctx context.Context, client *http.Client, base string, c *Case) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+c.Path, bytes.NewReader(c.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", c.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Case: c.Name, Code: resp.StatusCode, Body: string(body)}
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.Response == nil {
		return fmt.Errorf("%s: not an AdmissionReview answer: %.200s", c.Name, body)
	}
	if a.Response.UID != c.UID {
		return fmt.Errorf("%s: answer for request %q, want %q", c.Name, a.Response.UID, c.UID)
	}
	msg := ""
	if st := a.Response.Status; st != nil {
		msg = st.Message
		if !a.Response.Allowed && (st.Code == http.StatusTooManyRequests || st.Code >= 500) {
			return &StatusError{Case: c.Name, Code: int(st.Code), Errored: true, Body: msg}
		}
	}
	warned := func(rule string) bool {
		return slices.ContainsFunc(a.Response.Warnings, func(w string) bool { return strings.Contains(w, "["+rule+"]") })
	}
	if c.Expect.Warning != "" && !warned(c.Expect.Warning) || c.Expect.NoWarnings && len(a.Response.Warnings) > 0 {
		return wrongAnswer{fmt.Sprintf("%s: warnings %q, want a [%s] warning (or none: %v)",
			c.Name, a.Response.Warnings, c.Expect.Warning, c.Expect.NoWarnings)}
	}
	if a.Response.Allowed != c.Expect.Allowed || (len(a.Response.Patch) > 0) != c.Expect.Patched ||
		(c.Expect.Rule != "" && !strings.Contains(msg, "["+c.Expect.Rule+"]")) {
		return wrongAnswer{fmt.Sprintf("%s: allowed=%v patched=%v, want allowed=%v patched=%v rule=%q (%.200s)",
			c.Name, a.Response.Allowed, len(a.Response.Patch) > 0, c.Expect.Allowed, c.Expect.Patched, c.Expect.Rule, msg)}
	}
	return nil
}
