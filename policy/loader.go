package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

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
	cfg, err := l.LoadConfig()
	if err != nil {
		return nil, nil, err
	}
	p, err := l.LoadPolicy(ctx)
	if err != nil {
		return nil, nil, err
	}
	return p, cfg, nil
}

// LoadConfig reads the configuration file, or gives the defaults.
func (l Loader) LoadConfig() (*Config, error) {
	if l.ConfigFile == "" {
		return DefaultConfig(), nil
	}
	return LoadConfigFile(l.ConfigFile)
}

// LoadPolicy compiles the shipped bundle with the policy directory's files.
func (l Loader) LoadPolicy(ctx context.Context) (*Policy, error) {
	sources, err := ShippedSources()
	if err != nil {
		return nil, err
	}
	extra, err := DirSources(l.PolicyDir)
	if err != nil {
		return nil, err
	}
	p, err := Compile(ctx, append(sources, extra...))
	if err != nil {
		return nil, fmt.Errorf("compiling policies: %w", err)
	}
	return p, nil
}

// Fallback loads what serving can go on with where Load fails at start:
// the shipped bundle alone, and the configuration file where it loads,
// else the defaults. The error Load gave stays in force through
// WithLoadError, so what canary-guard cannot decide as configured is
// refused rather than admitted on the shipped rules alone.
func (l Loader) Fallback(ctx context.Context) (*Policy, *Config, error) {
	cfg := DefaultConfig()
	if l.ConfigFile != "" {
		if c, err := LoadConfigFile(l.ConfigFile); err == nil {
			cfg = c
		}
	}
	sources, err := ShippedSources()
	if err != nil {
		return nil, nil, err
	}
	p, err := Compile(ctx, sources)
	if err != nil {
		return nil, nil, fmt.Errorf("compiling the shipped policies: %w", err)
	}
	return p, cfg, nil
}

// ShippedSources returns the shipped bundle's policies (rego/*.rego,
// tests left out), marked Shipped.
func ShippedSources() ([]Source, error) {
	sources, err := BundleSources(rego.Bundle(), "rego/")
	for i := range sources {
		sources[i].Shipped = true
	}
	return sources, err
}

// TestModules parses what the Rego tests of a policy directory run on: the
// shipped bundle's policies and the directory's .rego files, tests
// included, read by Load's walk. The directory's files, tests included,
// are checked as Load checks its policies: a test file of package
// canary_guard that defines one of the shipped bundle's names would
// change the rules under test.
func TestModules(dir string) (map[string]*ast.Module, error) {
	sources, err := ShippedSources()
	if err != nil {
		return nil, err
	}
	policies, err := DirSources(dir)
	if err != nil {
		return nil, err
	}
	tests, err := DirTestSources(dir)
	if err != nil {
		return nil, err
	}
	sources = append(append(sources, policies...), tests...)
	modules := make(map[string]*ast.Module, len(sources))
	var shipped, custom []*ast.Module
	for _, src := range sources {
		m, err := ast.ParseModuleWithOpts(src.Name, string(src.Content), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		modules[src.Name] = m
		if src.Shipped {
			shipped = append(shipped, m)
		} else {
			custom = append(custom, m)
		}
	}
	if err := errors.Join(checkCustom(shipped, custom)...); err != nil {
		return nil, err
	}
	return modules, nil
}

// Fingerprint hashes the content of the configuration file and of every
// file under the policy directory, to tell when a reload is due. Reading a
// few small files is cheap, and unlike file watches it also sees the
// symlink swaps of ConfigMap volumes.
func (l Loader) Fingerprint() (Fingerprint, error) {
	var fp Fingerprint
	if l.ConfigFile != "" {
		data, err := os.ReadFile(l.ConfigFile)
		if err != nil {
			return fp, fmt.Errorf("reading config: %w", err)
		}
		fp.Config = fmt.Sprintf("%x", sha256.Sum256(data))
	}
	if l.PolicyDir != "" {
		h := sha256.New()
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
			return fp, fmt.Errorf("reading policy dir: %w", err)
		}
		sort.Strings(names)
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				return fp, fmt.Errorf("reading policy: %w", err)
			}
			h.Write([]byte(name))
			h.Write(data)
		}
		fp.Policy = fmt.Sprintf("%x", h.Sum(nil))
	}
	return fp, nil
}

// Fingerprint tells apart the contents of the configuration file and of
// the policy directory.
type Fingerprint struct {
	Config, Policy string
}
