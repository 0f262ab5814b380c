package procs

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/canary-guard/canary-guard/bench/load"
)

// TestNoopBaseline starts the no-op server, sends it the corpus and reads
// its stats: every review is answered for its own request.
func TestNoopBaseline(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "noop")
	if out, err := exec.Command("go", "build", "-o", bin, "../noop").CombinedOutput(); err != nil {
		t.Fatalf("building the no-op server: %v\n%s", err, out)
	}
	ctx := context.Background()
	s, err := StartNoop(ctx, bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Stop(10 * time.Second); err != nil {
			t.Errorf("stopping: %v", err)
		}
	}()
	cases, err := load.Corpus(load.CorpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The no-op admits everything: check transport and UIDs only.
	cases = load.AdmitAll(cases)
	res, err := load.Run(ctx, load.Config{URL: s.URL, RootCAs: s.CA.Pool(), Cases: cases, Workers: 4, Duration: time.Minute, MaxRequests: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 500 || res.Failed() != 0 {
		t.Errorf("%d requests, %d failed: %v", res.Requests, res.Failed(), res.ErrorSamples)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU <= 0 || st.RSS <= 0 || st.PeakRSS < st.RSS {
		t.Errorf("stats %+v: want CPU time and memory", st)
	}
	if _, err := ProcessStats(os.Getpid() + 1<<22); err == nil {
		t.Error("stats of a process that does not exist: no error")
	}
}

func TestOpenSockets(t *testing.T) {
	before, err := OpenSockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, err := OpenSockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The listener and both ends of the connection.
	if after-before != 3 {
		t.Errorf("open sockets %d → %d, want 3 more", before, after)
	}
	if _, err := OpenSockets(os.Getpid() + 1<<22); err == nil {
		t.Error("sockets of a process that does not exist: no error")
	}
}
