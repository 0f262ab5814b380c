package load

import (
	"fmt"
	"time"
)

// Summary is one line of a report: what a run sent and how it went.
func (r *Result) Summary() string {
	return fmt.Sprintf("%d requests in %v: %.0f/s, p50 %v, p90 %v, p99 %v, max %v, %d errors, %d wrong answers, %d missed",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.Throughput(),
		Round(r.Quantile(0.50)), Round(r.Quantile(0.90)), Round(r.Quantile(0.99)), Round(r.Quantile(1)),
		r.Errors, r.Wrong, r.Missed)
}

// Round rounds a latency for reports: microseconds below 10 ms.
func Round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}
