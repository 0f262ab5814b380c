// Package procs starts the servers the load benchmarks and fault tests
// drive (canary-guard serve, the no-op baseline) as child processes with
// throwaway certificates on free loopback ports, waits until they serve,
// and reads their CPU time and memory from /proc.
package procs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/canary-guard/canary-guard/internal/testpki"
)

// startTimeout bounds the wait for a server to serve.
const startTimeout = 60 * time.Second

// Server is a running server under test.
type Server struct {
	Name string
	// URL is the webhook's base URL (https://127.0.0.1:PORT).
	URL string
	// CA signed the serving certificate; CertDir holds it.
	CA      *testpki.CA
	CertDir string
	// HealthURL and MetricsURL are empty for servers without them.
	HealthURL, MetricsURL string
	LogPath               string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// GuardOptions start canary-guard serve.
type GuardOptions struct {
	// Binary is bin/canary-guard.
	Binary string
	// Dir receives the certificates and the log.
	Dir string
	// Args are extra flags of serve (--config, --policy-dir, ...).
	Args []string
}

// StartGuard starts canary-guard serve on free loopback ports and waits
// until /readyz answers.
func StartGuard(ctx context.Context, opts GuardOptions) (*Server, error) {
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	s, err := prepare("canary-guard", opts.Dir)
	if err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	s.HealthURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	s.MetricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2])
	args := append([]string{"serve",
		"--port", strconv.Itoa(ports[0]),
		"--health-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--cert-dir", s.CertDir,
		"--events=false",
	}, opts.Args...)
	if err := s.start(opts.Binary, args); err != nil {
		return nil, err
	}
	if err := s.waitServing(ctx, s.HealthURL+"/readyz"); err != nil {
		_ = s.Kill()
		return nil, err
	}
	return s, nil
}

// StartNoop starts the no-op baseline server (bench/noop) and waits
// until it accepts TLS connections.
func StartNoop(ctx context.Context, binary, dir string) (*Server, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	s, err := prepare("noop", dir)
	if err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	if err := s.start(binary, []string{"--port", strconv.Itoa(ports[0]), "--cert-dir", s.CertDir}); err != nil {
		return nil, err
	}
	if err := s.waitServing(ctx, ""); err != nil {
		_ = s.Kill()
		return nil, err
	}
	return s, nil
}

func prepare(name, dir string) (*Server, error) {
	ca, err := testpki.NewCA(name)
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, name+"-certs")
	if err := ca.WriteServingCert(certDir, name); err != nil {
		return nil, err
	}
	return &Server{Name: name, CA: ca, CertDir: certDir, LogPath: filepath.Join(dir, name+".log")}, nil
}

func (s *Server) start(binary string, args []string) error {
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Killed with the benchmark if that dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s: %w", s.Name, err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() {
		s.err = cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	return nil
}

// waitServing waits for a TLS handshake on the webhook port and, when
// readyURL is set, for it to answer 200.
func (s *Server) waitServing(ctx context.Context, readyURL string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	addr := strings.TrimPrefix(s.URL, "https://")
	client := &http.Client{Timeout: time.Second}
	var last error
	for {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited while starting: %w\n%s", s.Name, s.err, s.Tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s did not serve within %v: %w\n%s", s.Name, startTimeout, last, s.Tail(20))
		case <-time.After(50 * time.Millisecond):
		}
		d := &tls.Dialer{Config: &tls.Config{RootCAs: s.CA.Pool(), MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			last = err
			continue
		}
		_ = conn.Close()
		if readyURL == "" {
			return nil
		}
		resp, err := client.Get(readyURL)
		if err != nil {
			last = err
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("%s: %s", readyURL, resp.Status)
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Signal sends sig to the server.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Done is closed when the server has exited; Err is its exit error then.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the exit error, valid once Done is closed.
func (s *Server) Err() error { return s.err }

// Stop sends SIGTERM and waits up to timeout for the server to exit,
// then kills it.
func (s *Server) Stop(timeout time.Duration) error {
	if err := s.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-s.done:
		return s.err
	case <-time.After(timeout):
		_ = s.Kill()
		return fmt.Errorf("%s did not exit within %v of SIGTERM", s.Name, timeout)
	}
}

// Kill kills the server and waits for it.
func (s *Server) Kill() error {
	_ = s.cmd.Process.Kill()
	<-s.done
	return nil
}

// Tail returns the last n lines of the server's log.
func (s *Server) Tail(n int) string {
	data, err := os.ReadFile(s.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Stats are a process's resource use from /proc.
type Stats struct {
	// CPU is the user and system time used so far.
	CPU time.Duration
	// RSS is the resident memory now; PeakRSS the most it ever was.
	RSS, PeakRSS int64
	// AnonRSS is the part of RSS the process allocated (the heap, stacks),
	// without the pages of its binary and other files, which the kernel
	// can drop when a container nears its memory limit.
	AnonRSS int64
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; Linux reports
// 100 on every architecture.
const clockTicks = 100

// ProcessStats reads pid's CPU time and memory from /proc.
func ProcessStats(pid int) (Stats, error) {
	var st Stats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("reading process stats: %w", err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	rest := stat[bytes.LastIndexByte(stat, ')')+2:]
	fields := strings.Fields(string(rest))
	if len(fields) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return st, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	st.CPU = time.Duration(utime+stime) * time.Second / clockTicks

	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("reading process memory: %w", err)
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM" && key != "RssAnon") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return st, fmt.Errorf("/proc/%d/status %s: %w", pid, key, err)
		}
		switch key {
		case "VmRSS":
			st.RSS = kb << 10
		case "VmHWM":
			st.PeakRSS = kb << 10
		default:
			st.AnonRSS = kb << 10
		}
	}
	return st, sc.Err()
}

// OpenSockets counts pid's open sockets (listeners and connections) from
// /proc/PID/fd. A Go HTTP server holds one goroutine per open
// connection, so goroutines beyond its sockets are the ones to watch for
// a leak.
func OpenSockets(pid int) (int, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("reading open files: %w", err)
	}
	n := 0
	for _, e := range entries {
		// A descriptor closed since ReadDir is simply not counted.
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n, nil
}

// Stats reads the server's CPU time and memory.
func (s *Server) Stats() (Stats, error) { return ProcessStats(s.Pid()) }

// FreePorts returns n loopback TCP ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// StealTime is the CPU time the hypervisor has taken from this machine's
// virtual CPUs since boot (the steal column of /proc/stat), summed over
// CPUs. Over a run it tells whether the host, not the processes measured,
// held the cores back.
func StealTime() (time.Duration, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("reading machine stats: %w", err)
	}
	line, _, _ := bytes.Cut(stat, []byte{'\n'})
	// cpu user nice system idle iowait irq softirq steal ...
	fields := strings.Fields(string(line))
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	ticks, err := strconv.ParseInt(fields[8], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/stat steal %q: %w", fields[8], err)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
