package policy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/canary-guard/canary-guard/rego"
)

// Loader loads the shipped bundle, the platform team's policy directory
// and the configuration file.
type Loader struct {
	// ConfigFile is the YAML configuration; "" uses the defaults.
	ConfigFile string
	// PolicyDir holds extra .rego files; "" loads the shipped bundle only.
	PolicyDir string
}

// Load reads and compiles everything. Errors name the file (and for Rego
// the line) at fault.
func (l Loader) Load(ctx context.Context) (*Policy, *Config, error) {
	cfg := DefaultConfig()
	if l.ConfigFile != "" {
		var err error
		if cfg, err = LoadConfigFile(l.ConfigFile); err != nil {
			return nil, nil, err
		}
	}
	sources, err := BundleSources(rego.Bundle(), "rego/")
	if err != nil {
		return nil, nil, err
	}
	extra, err := DirSources(l.PolicyDir)
	if err != nil {
		return nil, nil, err
	}
	p, err := Compile(ctx, append(sources, extra...))
	if err != nil {
		return nil, nil, fmt.Errorf("compiling policies: %w", err)
	}
	return p, cfg, nil
}

// Fingerprint hashes the content of the configuration file and of every
// file under the policy directory, to tell when a reload is due. Reading a
// few small files is cheap, and unlike file watches it also sees the
// symlink swaps of ConfigMap volumes.
func (l Loader) Fingerprint() (string, error) {
	h := sha256.New()
	if l.ConfigFile != "" {
		data, err := os.ReadFile(l.ConfigFile)
		if err != nil {
			return "", fmt.Errorf("reading config: %w", err)
		}
		h.Write(data)
	}
	if l.PolicyDir != "" {
		var names []string
		err := filepath.WalkDir(l.PolicyDir, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if name != l.PolicyDir {
				if skip, err := skipHidden(name, d); skip {
					return err
				}
			}
			if !d.IsDir() && strings.HasSuffix(name, ".rego") {
				names = append(names, name)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("reading policy dir: %w", err)
		}
		sort.Strings(names)
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				return "", fmt.Errorf("reading policy: %w", err)
			}
			h.Write([]byte(name))
			h.Write(data)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
