package load

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/canary-guard/canary-guard/policy"
	"github.com/canary-guard/canary-guard/webhook"
)

// guardServer serves canary-guard's webhooks with the shipped bundle and
// default configuration over TLS on loopback.
func guardServer(t *testing.T) *httptest.Server {
	t.Helper()
	p, cfg, err := policy.Loader{}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := policy.NewGuard(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	obs := webhook.Observers{Log: log, Metrics: webhook.NewMetrics(prometheus.NewRegistry())}
	mux := http.NewServeMux()
	mux.Handle(webhook.MutatePath, webhook.NewMutator(g, obs))
	mux.Handle(webhook.ValidatePath, webhook.NewValidator(g, obs))
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestCorpusAnswers checks every corpus case against canary-guard's
// real answer, so the load runs' wrong-answer count means what it says.
func TestCorpusAnswers(t *testing.T) {
	cases, err := Corpus(CorpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if webhook.MutatePath != MutatePath || webhook.ValidatePath != ValidatePath {
		t.Fatalf("webhook paths differ from the server's")
	}
	srv := guardServer(t)
	client := NewClient(srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, 1, 0)
	kinds := map[string]int{}
	for i := range cases {
		c := &cases[i]
		t.Run(c.Name, func(t *testing.T) {
			if err := Send(context.Background(), client, srv.URL, c); err != nil {
				t.Error(err)
			}
		})
		switch {
		case c.Expect.Patched:
			kinds["mutated"]++
		case c.Expect.Allowed:
			kinds["admitted"]++
		default:
			kinds["denied"]++
		}
	}
	for _, k := range []string{"mutated", "admitted", "denied"} {
		if kinds[k] == 0 {
			t.Errorf("the corpus has no %s case", k)
		}
	}
}

func TestRun(t *testing.T) {
	cases, err := Corpus(CorpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := guardServer(t)
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tests := []struct {
		name string
		cfg  Config
		want int
	}{
		{"closed loop bounded by count", Config{Workers: 4, Duration: time.Minute, MaxRequests: 200}, 200},
		{"fixed rate bounded by time", Config{Workers: 4, Rate: 200, Duration: 500 * time.Millisecond}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.URL, tt.cfg.RootCAs, tt.cfg.Cases = srv.URL, roots, cases
			res, err := Run(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed() != 0 {
				t.Errorf("%d failed requests: %v", res.Failed(), res.ErrorSamples)
			}
			// A fixed-rate run sends about rate × duration.
			if res.Requests < tt.want*9/10 || res.Requests > tt.want+1 {
				t.Errorf("sent %d requests, want about %d", res.Requests, tt.want)
			}
			if len(res.Latencies) != res.Requests || res.Quantile(0.5) <= 0 || res.Quantile(1) < res.Quantile(0.99) {
				t.Errorf("latencies: %d samples for %d requests, p50 %v, max %v", len(res.Latencies), res.Requests, res.Quantile(0.5), res.Quantile(1))
			}
		})
	}
}

func TestRunCountsWrongAnswersAndErrors(t *testing.T) {
	cases, err := Corpus(CorpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A server that admits everything gets every denial case wrong.
	admitAll := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		uid := strings.SplitN(strings.SplitN(string(body), `"uid":"`, 2)[1], `"`, 2)[0]
		_, _ = io.WriteString(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"`+uid+`","allowed":true}}`)
	}))
	defer admitAll.Close()
	roots := admitAll.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	res, err := Run(context.Background(), Config{URL: admitAll.URL, RootCAs: roots, Cases: cases, Workers: 1, Duration: time.Minute, MaxRequests: len(cases)})
	if err != nil {
		t.Fatal(err)
	}
	wantWrong := 0
	for _, c := range cases {
		if !c.Expect.Allowed || c.Expect.Patched {
			wantWrong++
		}
	}
	if res.Wrong != wantWrong || res.Errors != 0 {
		t.Errorf("wrong %d errors %d, want wrong %d errors 0: %v", res.Wrong, res.Errors, wantWrong, res.ErrorSamples)
	}

	// An untrusted certificate is an error, not a wrong answer.
	res, err = Run(context.Background(), Config{URL: admitAll.URL, Cases: cases, Workers: 1, Duration: time.Minute, MaxRequests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 3 || len(res.ErrorSamples) == 0 {
		t.Errorf("errors %d (%v), want 3", res.Errors, res.ErrorSamples)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"https://10.0.0.1:9443", "https://example.com", "http://127.0.0.1:9443", "://"} {
		if _, err := Run(context.Background(), Config{URL: u, Cases: []Case{{}}, Workers: 1, Duration: time.Second}); err == nil {
			t.Errorf("Run(%s): no error", u)
		}
	}
}
