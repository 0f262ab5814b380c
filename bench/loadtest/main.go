// Command loadtest is the load benchmark of make bench. It starts the
// no-op baseline (bench/noop) and canary-guard serve as separate
// processes on loopback, drives both with the same generator and corpus
// (bench/load), and checks canary-guard against targets relative to the
// baseline measured in the same run, since the servers and the generator
// share the machine's cores:
//
//   - throughput: canary-guard's maximum is at least 80 % of the no-op's,
//     over --rounds alternated runs of each (so that CPU the host takes
//     from the machine for a while does not fall on one server only);
//   - latency: at a fixed 1,000 reviews/s, p99 under 5 ms with no failed
//     request, over --fixed-rounds runs alternated with the no-op's at the
//     same rate (its p99 is the machine's own tail in the same stretch of
//     time; a pause of the virtual machine raises the tail of whichever
//     server is running, so a long run of one against a short run of the
//     other compares the host's pauses, not the servers);
//   - memory: flat over a continuous fixed-rate run of canary-guard (--soak,
//     5 minutes by default): the medians of the live heap (as the last
//     collection left it) and of the goroutines beyond one per open socket
//     over the last minute are within 10 % (plus a small constant) of their
//     medians over the second minute. Its p99 and failures are reported too.
//
// It prints a Markdown report (and writes it to --out) and exits 1 when a
// target is missed.
//
//	go run ./bench/loadtest --guard bin/canary-guard --noop bin/bench-noop
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/canary-guard/canary-guard/bench/load"
	"github.com/canary-guard/canary-guard/bench/procs"
)

// options are the flags.
type options struct {
	guard, noop string
	workers     int
	rounds      int
	maxDuration time.Duration
	warmup      time.Duration
	rate        float64
	fixedRounds int
	fixedLength time.Duration
	soak        time.Duration
	sample      time.Duration
	out         string
}

// Targets.
const (
	minThroughputRatio = 0.80
	maxP99             = 5 * time.Millisecond
	// Memory is flat when the level over the last minute is at most 10 %
	// above the level over the second, plus a constant that absorbs GC
	// noise.
	maxGrowthRatio   = 1.10
	heapSlack        = 4 << 20
	goroutineSlack   = 8
	settleBeforeBase = time.Minute
)

func main() {
	var o options
	flag.StringVar(&o.guard, "guard", "bin/canary-guard", "canary-guard binary")
	flag.StringVar(&o.noop, "noop", "bin/bench-noop", "no-op baseline server binary (go build ./bench/noop)")
	flag.IntVar(&o.workers, "workers", 16, "concurrent requests of the maximum-throughput runs")
	flag.IntVar(&o.rounds, "rounds", 2, "alternated maximum-throughput runs per server")
	flag.DurationVar(&o.maxDuration, "max-duration", 20*time.Second, "length of each maximum-throughput run")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "unmeasured load before each measured run")
	flag.Float64Var(&o.rate, "rate", 1000, "reviews per second of the fixed-rate runs")
	flag.IntVar(&o.fixedRounds, "fixed-rounds", 5, "alternated fixed-rate runs per server, for the p99 comparison")
	flag.DurationVar(&o.fixedLength, "fixed-duration", 30*time.Second, "length of each alternated fixed-rate run")
	flag.DurationVar(&o.soak, "soak", 5*time.Minute, "length of canary-guard's continuous fixed-rate run, over which memory must stay flat")
	flag.DurationVar(&o.sample, "sample-every", 10*time.Second, "memory sampling interval of the fixed-rate run")
	flag.StringVar(&o.out, "out", "", "also write the Markdown report here")
	flag.Parse()
	if o.rounds < 1 || o.workers < 1 || o.fixedRounds < 1 {
		fmt.Fprintln(os.Stderr, "loadtest: --rounds, --fixed-rounds and --workers must be at least 1")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// run measures and reports; ok is false when a target is missed.
func run(ctx context.Context, o options, stdout io.Writer) (bool, error) {
	dir, err := os.MkdirTemp("", "canary-guard-loadtest-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	cases, err := load.Corpus(load.CorpusOptions{})
	if err != nil {
		return false, err
	}
	rep := &report{}
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...) }

	noop, err := procs.StartNoop(ctx, o.noop, dir)
	if err != nil {
		return false, err
	}
	defer func() { _ = noop.Stop(10 * time.Second) }()
	guard, err := procs.StartGuard(ctx, procs.GuardOptions{Binary: o.guard, Dir: dir})
	if err != nil {
		return false, err
	}
	defer func() { _ = guard.Stop(30 * time.Second) }()

	// The maximum-throughput runs alternate between the two servers, so
	// that a stretch of time in which the host takes CPU from the machine
	// does not fall on one of them only.
	var noopMax, guardMax []measurement
	for round := 1; round <= o.rounds; round++ {
		progress("round %d of %d: the no-op baseline, then canary-guard, %d workers for %v each", round, o.rounds, o.workers, o.maxDuration)
		m, err := measure(ctx, noop, load.AdmitAll(cases), load.Config{Workers: o.workers, Duration: o.maxDuration}, o.warmup)
		if err != nil {
			return false, err
		}
		if m.res.Failed() > 0 {
			return false, fmt.Errorf("the no-op baseline failed %d requests: %v", m.res.Failed(), m.res.ErrorSamples)
		}
		noopMax = append(noopMax, m)
		rep.add(fmt.Sprintf("no-op baseline, as fast as possible (round %d)", round), m)
		if m, err = measure(ctx, guard, cases, load.Config{Workers: o.workers, Duration: o.maxDuration}, o.warmup); err != nil {
			return false, err
		}
		guardMax = append(guardMax, m)
		rep.add(fmt.Sprintf("canary-guard, as fast as possible (round %d)", round), m)
	}

	// The tail at the fixed rate, alternated like the maximum-throughput
	// runs: the no-op's is the transport's own in the same stretch of time.
	var noopFixed, guardFixed []measurement
	fixedCfg := load.Config{Workers: 64, Rate: o.rate, Duration: o.fixedLength}
	for round := 1; round <= o.fixedRounds; round++ {
		progress("fixed rate, round %d of %d: the no-op baseline, then canary-guard, %.0f reviews/s for %v each", round, o.fixedRounds, o.rate, o.fixedLength)
		m, err := measure(ctx, noop, load.AdmitAll(cases), fixedCfg, o.warmup)
		if err != nil {
			return false, err
		}
		if failed := m.res.Failed(); failed > 0 {
			return false, fmt.Errorf("the no-op baseline failed %d requests: %v", failed, m.res.ErrorSamples)
		}
		noopFixed = append(noopFixed, m)
		if m, err = measure(ctx, guard, cases, fixedCfg, o.warmup); err != nil {
			return false, err
		}
		guardFixed = append(guardFixed, m)
	}
	_ = noop.Stop(10 * time.Second)
	noopPooled, guardPooled := pool(noopFixed), pool(guardFixed)
	rep.add(fmt.Sprintf("no-op baseline, %.0f reviews/s (%d alternated runs of %v)", o.rate, o.fixedRounds, o.fixedLength), noopPooled)
	rep.add(fmt.Sprintf("canary-guard, %.0f reviews/s (%d alternated runs of %v)", o.rate, o.fixedRounds, o.fixedLength), guardPooled)

	progress("canary-guard: %.0f reviews/s for %v, memory sampled every %v", o.rate, o.soak, o.sample)
	samples := make(chan []memorySample, 1)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	go func() { samples <- sampleMemory(sampleCtx, guard, o.sample) }()
	soak, err := measure(ctx, guard, cases, load.Config{Workers: 64, Rate: o.rate, Duration: o.soak}, o.warmup)
	stopSampling()
	mem := <-samples
	if err != nil {
		return false, err
	}
	rep.add(fmt.Sprintf("canary-guard, %.0f reviews/s for %v without a break (memory)", o.rate, o.soak), soak)
	// Every request canary-guard was sent, for the failure count.
	all := pool(append(append(slices.Clone(guardMax), guardFixed...), soak))
	rep.errors = all.res.ErrorSamples

	guardAll, noopAll := pool(guardMax), pool(noopMax)
	guardRate, noopRate := guardAll.res.Throughput(), noopAll.res.Throughput()
	ratio := guardRate / noopRate
	rep.check(fmt.Sprintf("maximum throughput ≥ %.0f %% of the no-op's", minThroughputRatio*100),
		ratio >= minThroughputRatio, fmt.Sprintf("%.0f %% (%.0f/s of %.0f/s over %d alternated rounds; CPU per review, server and generator: %.0f µs against the no-op's %.0f µs)",
			ratio*100, guardRate, noopRate, o.rounds,
			guardAll.perReview(guardAll.cpuCores+guardAll.generatorCores), noopAll.perReview(noopAll.cpuCores+noopAll.generatorCores)))
	rep.check(fmt.Sprintf("p99 < %v at %.0f reviews/s", maxP99, o.rate),
		guardPooled.res.Quantile(0.99) < maxP99, fmt.Sprintf("%v over %d runs of %v alternated with the no-op's (the no-op's: %v); %v over the %v run without a break",
			load.Round(guardPooled.res.Quantile(0.99)), o.fixedRounds, o.fixedLength, load.Round(noopPooled.res.Quantile(0.99)),
			load.Round(soak.res.Quantile(0.99)), o.soak))
	rep.check("no failed request; none late at the fixed rate",
		all.res.Failed() == 0 && all.res.Missed == 0,
		fmt.Sprintf("%d errors, %d wrong answers, %d missed of %d requests", all.res.Errors, all.res.Wrong, all.res.Missed, all.res.Requests))
	flat, detail := memoryFlat(mem)
	rep.check(fmt.Sprintf("memory flat over %v", o.soak), flat, detail)
	rep.memory = mem

	text := rep.markdown()
	fmt.Fprint(stdout, text)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return false, err
		}
	}
	return rep.ok(), nil
}

// measurement is a run and the server's resource use during it.
type measurement struct {
	res      *load.Result
	cpuCores float64
	peakRSS  int64
	// generatorCores is this process's CPU over the run: the generator's
	// share of the cores the server competes with.
	generatorCores float64
	// stealCores is CPU the hypervisor took from the machine during the run.
	stealCores float64
}

// measure warms the server up, then runs the generator against it and
// reads the server's CPU time and peak memory.
func measure(ctx context.Context, s *procs.Server, cases []load.Case, cfg load.Config, warmup time.Duration) (measurement, error) {
	cfg.URL, cfg.RootCAs, cfg.Cases = s.URL, s.CA.Pool(), cases
	if warmup > 0 {
		w := cfg
		w.Duration = warmup
		wres, err := load.Run(ctx, w)
		if err != nil {
			return measurement{}, err
		}
		// The warm-up is not measured, but its answers count: a request
		// that fails while the server warms up fails all the same.
		if wres.Failed() > 0 {
			return measurement{}, fmt.Errorf("warm-up: %d of %d requests failed: %v", wres.Failed(), wres.Requests, wres.ErrorSamples)
		}
	}
	before, err := takeCPUSnapshot(s)
	if err != nil {
		return measurement{}, err
	}
	res, err := load.Run(ctx, cfg)
	if err != nil {
		return measurement{}, err
	}
	if ctx.Err() != nil {
		return measurement{}, ctx.Err()
	}
	after, err := takeCPUSnapshot(s)
	if err != nil {
		return measurement{}, err
	}
	cores := func(from, to time.Duration) float64 { return (to - from).Seconds() / res.Elapsed.Seconds() }
	return measurement{
		res:            res,
		cpuCores:       cores(before.server.CPU, after.server.CPU),
		peakRSS:        after.server.PeakRSS,
		generatorCores: cores(before.generator, after.generator),
		stealCores:     cores(before.steal, after.steal),
	}, nil
}

// cpuSnapshot is the CPU time used so far by the server, by this process
// (the generator) and by the host (stolen from the machine).
type cpuSnapshot struct {
	server           procs.Stats
	generator, steal time.Duration
}

func takeCPUSnapshot(s *procs.Server) (cpuSnapshot, error) {
	server, err := s.Stats()
	if err != nil {
		return cpuSnapshot{}, err
	}
	generator, err := selfCPU()
	if err != nil {
		return cpuSnapshot{}, err
	}
	steal, err := procs.StealTime()
	if err != nil {
		return cpuSnapshot{}, err
	}
	return cpuSnapshot{server: server, generator: generator, steal: steal}, nil
}

// pool merges runs into one: requests, failures and latencies added up,
// resource use averaged over the time of each run, peak memory the
// highest.
func pool(ms []measurement) measurement {
	res := &load.Result{}
	var p measurement
	var seconds float64
	for _, m := range ms {
		r := m.res
		res.Requests += r.Requests
		res.Errors += r.Errors
		res.Wrong += r.Wrong
		res.Missed += r.Missed
		res.Elapsed += r.Elapsed
		res.Latencies = append(res.Latencies, r.Latencies...)
		for _, e := range r.ErrorSamples {
			if !slices.Contains(res.ErrorSamples, e) {
				res.ErrorSamples = append(res.ErrorSamples, e)
			}
		}
		for code, n := range r.Codes {
			if res.Codes == nil {
				res.Codes = map[int]int{}
			}
			res.Codes[code] += n
		}
		t := r.Elapsed.Seconds()
		seconds += t
		p.cpuCores += m.cpuCores * t
		p.generatorCores += m.generatorCores * t
		p.stealCores += m.stealCores * t
		p.peakRSS = max(p.peakRSS, m.peakRSS)
	}
	if seconds > 0 {
		p.cpuCores /= seconds
		p.generatorCores /= seconds
		p.stealCores /= seconds
	}
	slices.Sort(res.Latencies)
	p.res = res
	return p
}

// perReview is CPU in cores over the run as microseconds per answered review.
func (m measurement) perReview(cores float64) float64 {
	return cores / m.res.Throughput() * 1e6
}

// selfCPU is the user and system CPU time this process has used.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("reading the generator's CPU time: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// memorySample is the server's memory at one moment of the fixed-rate run.
type memorySample struct {
	at        time.Duration
	rss       int64
	heapInuse float64
	// liveHeap is the heap the last collection left live, derived from
	// the heap goal it set (goal = live × (1 + GOGC/100)). Heap in use
	// saws between that and the goal, so it shows a leak only through
	// noise; the live heap shows it directly.
	liveHeap   float64
	goroutines float64
	// sockets are the server's open sockets: its listeners and the
	// connections the generator keeps alive. Each holds a goroutine, and
	// the generator opens connections up to its worker count whenever
	// requests pile up (a pause of the machine), so goroutines grow with
	// them without a leak.
	sockets float64
}

// unexplainedGoroutines are the goroutines beyond one per open socket.
func (s memorySample) unexplainedGoroutines() float64 { return s.goroutines - s.sockets }

func sampleMemory(ctx context.Context, s *procs.Server, every time.Duration) []memorySample {
	var out []memorySample
	start := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		st, err := s.Stats()
		if err != nil {
			continue
		}
		heap, err1 := s.Metric(ctx, "go_memstats_heap_inuse_bytes")
		goroutines, err2 := s.Metric(ctx, "go_goroutines")
		goal, err3 := s.Metric(ctx, "go_memstats_next_gc_bytes")
		gogc, err4 := s.Metric(ctx, "go_gc_gogc_percent")
		sockets, err5 := procs.OpenSockets(s.Pid())
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil || gogc < 0 {
			continue
		}
		out = append(out, memorySample{
			at: time.Since(start), rss: st.RSS, heapInuse: heap, liveHeap: goal / (1 + gogc/100),
			goroutines: goroutines, sockets: float64(sockets),
		})
	}
}

// memoryFlat compares the median live heap and goroutines (beyond one
// per open socket) over the run's last minute with their medians over the
// minute after the first (thirds of a run shorter than three minutes): a
// leak raises the level from one window to the next, while a single
// sample can land on a passing burst of requests in flight (each holds a
// goroutine).
func memoryFlat(samples []memorySample) (bool, string) {
	if len(samples) < 3 {
		return false, "too few memory samples (run --soak longer than three --sample-every)"
	}
	total := samples[len(samples)-1].at
	window := min(settleBeforeBase, total/3)
	var base, end []memorySample
	for _, s := range samples {
		if s.at > window && s.at <= 2*window {
			base = append(base, s)
		}
		if s.at > total-window {
			end = append(end, s)
		}
	}
	if len(base) == 0 {
		base = samples[:1]
	}
	if len(end) == 0 {
		end = samples[len(samples)-1:]
	}
	heap := func(s memorySample) float64 { return s.liveHeap }
	extra := memorySample.unexplainedGoroutines
	goroutines := func(s memorySample) float64 { return s.goroutines }
	sockets := func(s memorySample) float64 { return s.sockets }
	rss := func(s memorySample) float64 { return float64(s.rss) }
	heapOK := median(end, heap) <= median(base, heap)*maxGrowthRatio+heapSlack
	goroutinesOK := median(end, extra) <= median(base, extra)*maxGrowthRatio+goroutineSlack
	return heapOK && goroutinesOK, fmt.Sprintf("medians: live heap %.1f → %.1f MiB, goroutines beyond one per open socket %.0f → %.0f "+
		"(goroutines %.0f → %.0f, sockets %.0f → %.0f), RSS %.0f → %.0f MiB (%v–%v → %v–%v)",
		median(base, heap)/(1<<20), median(end, heap)/(1<<20), median(base, extra), median(end, extra),
		median(base, goroutines), median(end, goroutines), median(base, sockets), median(end, sockets),
		median(base, rss)/(1<<20), median(end, rss)/(1<<20),
		base[0].at.Round(time.Second), base[len(base)-1].at.Round(time.Second), end[0].at.Round(time.Second), total.Round(time.Second))
}

// median is the median of one measure over samples.
func median(samples []memorySample, measure func(memorySample) float64) float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = measure(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// report collects the runs and the target checks.
type report struct {
	runs   []string
	checks []string
	failed int
	memory []memorySample
	errors []string
}

func (r *report) add(name string, m measurement) {
	res := m.res
	r.runs = append(r.runs, fmt.Sprintf("| %s | %d | %.0f | %v | %v | %v | %v | %d | %.2f | %d | %.2f | %.0f / %.0f | %.2f |",
		name, res.Requests, res.Throughput(), load.Round(res.Quantile(0.5)), load.Round(res.Quantile(0.9)),
		load.Round(res.Quantile(0.99)), load.Round(res.Quantile(1)), res.Failed(), m.cpuCores, m.peakRSS>>20,
		m.generatorCores, m.perReview(m.cpuCores), m.perReview(m.generatorCores), m.stealCores))
}

func (r *report) check(target string, ok bool, measured string) {
	verdict := "met"
	if !ok {
		verdict = "**missed**"
		r.failed++
	}
	r.checks = append(r.checks, fmt.Sprintf("| %s | %s | %s |", target, measured, verdict))
}

func (r *report) ok() bool { return r.failed == 0 }

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("| run | requests | reviews/s | p50 | p90 | p99 | max | failed | server CPU (cores) | server peak RSS (MiB) | generator CPU (cores) | CPU per review, server / generator (µs) | stolen by the host (cores) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range r.runs {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n| target | measured | |\n|---|---|---|\n")
	for _, l := range r.checks {
		b.WriteString(l + "\n")
	}
	if len(r.errors) > 0 {
		b.WriteString("\nFailed requests, first of each kind:\n\n")
		for _, e := range r.errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	b.WriteString("\n| time | RSS (MiB) | Go heap in use (MiB) | live heap at the last collection (MiB) | goroutines | open sockets |\n|---|---|---|---|---|---|\n")
	for _, s := range r.memory {
		fmt.Fprintf(&b, "| %v | %d | %.1f | %.1f | %.0f | %.0f |\n", s.at.Round(time.Second), s.rss>>20, s.heapInuse/(1<<20), s.liveHeap/(1<<20), s.goroutines, s.sockets)
	}
	return b.String()
}
