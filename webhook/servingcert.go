package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// certPollInterval is how often the serving pair is read again when it
// cannot be watched: certwatcher's own poll interval.
const certPollInterval = 10 * time.Second

// certWatcher is the part of controller-runtime's certwatcher used here.
type certWatcher interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	RegisterCallback(func(tls.Certificate))
	ReadCertificate() error
	Start(context.Context) error
}

// servingCert keeps the served pair equal to the files of --cert-dir.
// It is controller-runtime's certwatcher (an inotify watch plus a poll),
// except where the node's inotify limits refuse a watch: those limits
// (fs.inotify.max_user_instances, max_user_watches) are shared by every
// container of a user on the node, so another workload can use them up,
// and a fail-closed webhook must not stop serving over a watch it can do
// without. certwatcher cannot start without one, so then the files are
// only polled, at certwatcher's interval.
type servingCert struct {
	certFile, keyFile string
	interval          time.Duration
	onLoad            func(tls.Certificate)
	log               *slog.Logger

	watcher certWatcher // nil when inotify refused an instance
	polled  atomic.Pointer[tls.Certificate]
}

// newServingCert loads the pair and starts watching it with watch
// (certwatcher.New in production). onLoad runs for every pair loaded.
func newServingCert(certFile, keyFile string, watch func(certFile, keyFile string) (certWatcher, error), onLoad func(tls.Certificate), log *slog.Logger) (*servingCert, error) {
	c := &servingCert{certFile: certFile, keyFile: keyFile, interval: certPollInterval, onLoad: onLoad, log: log}
	w, err := watch(certFile, keyFile)
	if err == nil {
		w.RegisterCallback(onLoad)
		c.watcher = w
		return c, nil
	}
	if !inotifyLimit(err) {
		return nil, err
	}
	// The pair itself may be fine: read it without a watch.
	if err := c.read(); err != nil {
		return nil, err
	}
	log.Warn("cannot watch the serving certificate: the node's inotify limits are reached; reading it again every interval instead",
		"interval", c.interval, "error", err)
	return c, nil
}

// watchCertFiles is certwatcher.New behind the certWatcher interface.
func watchCertFiles(certFile, keyFile string) (certWatcher, error) {
	return certwatcher.New(certFile, keyFile)
}

// inotifyLimit reports whether err is inotify refusing an instance
// (EMFILE, ENFILE) or a watch (ENOSPC).
func inotifyLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOSPC)
}

// GetCertificate returns the pair to serve.
func (c *servingCert) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c.watcher != nil {
		return c.watcher.GetCertificate(hello)
	}
	return c.polled.Load(), nil
}

// Start keeps the pair current until ctx ends.
func (c *servingCert) Start(ctx context.Context) error {
	if c.watcher == nil {
		return c.poll(ctx, c.read)
	}
	err := c.watcher.Start(ctx)
	if err == nil || ctx.Err() != nil || !inotifyLimit(err) {
		return err
	}
	c.log.Warn("cannot watch the serving certificate: the node's inotify limits are reached; reading it again every interval instead",
		"interval", c.interval, "error", err)
	return c.poll(ctx, c.watcher.ReadCertificate)
}

// poll runs read every interval; a failed read keeps the last good pair.
func (c *servingCert) poll(ctx context.Context, read func() error) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := read(); err != nil {
				c.log.Error("reading the serving certificate failed; the last good one is served", "error", err)
			}
		}
	}
}

// read loads the pair into polled when it changed.
func (c *servingCert) read() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading the serving certificate: %w", err)
	}
	if cur := c.polled.Load(); cur != nil && bytes.Equal(cur.Certificate[0], pair.Certificate[0]) {
		return nil
	}
	c.polled.Store(&pair)
	c.onLoad(pair)
	return nil
}
