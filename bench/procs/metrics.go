package procs

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics scrapes the server's Prometheus metrics.
func (s *Server) Metrics(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	if s.MetricsURL == "" {
		return nil, fmt.Errorf("%s serves no metrics", s.Name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.MetricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", s.MetricsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", s.MetricsURL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", s.MetricsURL, err)
	}
	return families, nil
}

// Metric returns the sum of the samples of a counter or gauge whose
// labels include the given name/value pairs (0 when none match).
func (s *Server) Metric(ctx context.Context, name string, labels ...string) (float64, error) {
	if len(labels)%2 != 0 {
		return 0, errors.New("labels come in name/value pairs")
	}
	families, err := s.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	family, ok := families[name]
	if !ok {
		return 0, nil
	}
	var sum float64
	for _, m := range family.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, nil
}

func hasLabels(m *dto.Metric, want []string) bool {
	for i := 0; i < len(want); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
