package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// refusedWatch fails as fsnotify does when inotify refuses an instance.
func refusedWatch(string, string) (certWatcher, error) {
	return nil, fmt.Errorf("couldn't initialize inotify: %w", syscall.EMFILE)
}

func TestServingCert_InotifyRefusedFallsBackToPolling(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir)
	var loads atomic.Int32
	c, err := newServingCert(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), refusedWatch,
		func(tls.Certificate) { loads.Add(1) }, discardLog)
	if err != nil {
		t.Fatalf("newServingCert: %v, want a fallback to polling", err)
	}
	c.interval = 20 * time.Millisecond
	first, _ := c.GetCertificate(nil)
	if first == nil || loads.Load() != 1 {
		t.Fatalf("certificate %v after %d loads, want the pair on disk loaded once", first, loads.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()

	writeCert(t, dir)
	eventually(t, func() bool {
		cur, _ := c.GetCertificate(nil)
		return !bytes.Equal(cur.Certificate[0], first.Certificate[0])
	}, "the renewed pair served")
	renewed, _ := c.GetCertificate(nil)

	// A broken pair on disk: the last good one stays.
	writeAtomic(t, filepath.Join(dir, "tls.key"), []byte("-----BEGIN EC PRIVATE KEY-----\nbm90IGEga2V5\n-----END EC PRIVATE KEY-----\n"))
	time.Sleep(5 * c.interval)
	if cur, _ := c.GetCertificate(nil); cur != renewed {
		t.Error("a broken pair on disk replaced the served one")
	}
	if n := loads.Load(); n != 2 {
		t.Errorf("%d loads, want 2 (the first pair and its renewal)", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start returned %v after its context ended, want nil", err)
	}
}

// fakeWatcher stands for a certwatcher whose watch fails at Start.
type fakeWatcher struct {
	startErr error
	reads    atomic.Int32
}

func (f *fakeWatcher) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &tls.Certificate{}, nil
}
func (f *fakeWatcher) RegisterCallback(func(tls.Certificate)) {}
func (f *fakeWatcher) ReadCertificate() error                 { f.reads.Add(1); return nil }
func (f *fakeWatcher) Start(context.Context) error            { return f.startErr }

func TestServingCert_WatchRefusedAtStart(t *testing.T) {
	tests := []struct {
		name     string
		startErr error
		wantPoll bool
	}{
		{"inotify refuses a watch: polled", fmt.Errorf("failed to add watches: %w", syscall.ENOSPC), true},
		{"any other failure: returned", errors.New("failed to add watches: permission denied"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWatcher{startErr: tt.startErr}
			c, err := newServingCert("tls.crt", "tls.key", func(string, string) (certWatcher, error) { return w, nil },
				func(tls.Certificate) {}, discardLog)
			if err != nil {
				t.Fatal(err)
			}
			c.interval = 10 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err = c.Start(ctx)
			if tt.wantPoll {
				if err != nil || w.reads.Load() < 3 {
					t.Errorf("Start = %v after %d reads, want it to poll until the context ends", err, w.reads.Load())
				}
				return
			}
			if !errors.Is(err, tt.startErr) || w.reads.Load() != 0 {
				t.Errorf("Start = %v after %d reads, want %v and no polling", err, w.reads.Load(), tt.startErr)
			}
		})
	}
}

func TestServingCert_ClearErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		watch func(string, string) (certWatcher, error)
		want  string
	}{
		{"inotify refused and no pair on disk", refusedWatch, "tls.crt"},
		{"a failure other than inotify's limits", func(string, string) (certWatcher, error) {
			return nil, errors.New("tls: private key does not match public key")
		}, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newServingCert(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), tt.watch, func(tls.Certificate) {}, discardLog)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
