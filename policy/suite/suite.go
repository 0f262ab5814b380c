// Package suite evaluates InferenceService manifests through canary-guard's
// admission chain as the API server runs it (mutating webhook, patches
// applied, validating webhook), and runs verify suites: YAML files of such
// cases with the decision each must get, in the spirit of Gatekeeper's
// `gator verify`.
//
// # Suite format
//
//	name: shipped bundle          # optional; defaults to the file name
//	policyDir: policies/          # optional: extra .rego files (Loader.PolicyDir)
//	config: |                     # optional configuration YAML (the README's reference)
//	  maxStepPercent: 25
//	configFile: config.yaml       # optional, instead of config
//	now: "2026-11-25T12:00:00Z"   # optional clock (RFC 3339): step intervals and time.now_ns() in policies
//	namespace: models             # optional defaults of every case's request
//	user: alice
//	groups: [ml-engineers]
//	cases:
//	- name: a jump from 10 to 100 is denied   # required, unique
//	  namespace: models           # optional: else the suite's, else the manifest's, else "default"
//	  user: alice                 # optional: else the suite's
//	  groups: [sre]               # optional: replaces the suite's
//	  dryRun: true                # optional
//	  config: |                   # optional: replaces the suite's configuration
//	    enforcement: warn
//	  configFile: other.yaml      # optional, instead of config
//	  now: "..."                  # optional: replaces the suite's clock
//	  old: |                      # the stored InferenceService; omit for a CREATE
//	    apiVersion: serving.kserve.io/v1beta1
//	    kind: InferenceService
//	    ...
//	  oldFile: old.yaml           # instead of old
//	  new: |                      # required: the InferenceService sent
//	    ...
//	  newFile: new.yaml           # instead of new
//	  expect:
//	    allowed: false            # required unless error is set
//	    enforcement: enforce      # optional
//	    reason: "^always-admit:"  # optional regexp over the decision's reason
//	    patchedPercent:           # optional: component -> percent after mutation; null = absent
//	      predictor: 10           #   components: predictor, transformer, explainer, canary:<name>
//	    patchedAnnotations:       # optional: annotation -> value after mutation; null = absent
//	      serving.kserve.io/enable-tag-routing: "true"
//	    noPatches: true           # optional: the mutating webhook patches nothing
//	    denials: ['^\[max-step\] .*Set 35 now']   # regexps; each must match one of the denials, "[rule] msg", enforced or not (warn, audit, ruleEnforcement)
//	    warnings: ['^\[canary-injected\] ']        # regexps over the warnings the client sees
//	    noDenials: true           # optional: the rules deny nothing
//	    noWarnings: true          # optional: the client sees no warning
//	    error: "no InferenceService"              # instead of all the above: evaluation must fail
//	                                              #   with an error matching this regexp
//
// Manifests are YAML or JSON, as a string or as a mapping; they must have
// apiVersion serving.kserve.io/v1beta1 and kind InferenceService (other
// kinds in a multi-document string are skipped); text that is a plain
// string, as in `new: new.yaml`, fails its case, naming newFile. Denials
// are the rules' verdicts before enforcement, overrides and the
// always-admit rule, so a warn-mode case still lists them; warnings are
// the mutating webhook's followed by the validating webhook's; the reason
// is the validating webhook's (exempt, always-admit:<why>, override,
// enforcement:<mode>), else the mutating webhook's. A manifest's
// metadata.namespace must agree with the case's namespace, as the API
// server requires. Regexps are unanchored (RE2).
// Relative paths (policyDir, configFile, oldFile, newFile) resolve against
// the suite file's directory. Unknown keys are errors.
package suite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"sigs.k8s.io/yaml"
)

// Suite is a loaded verify suite.
type Suite struct {
	// Path is the file the suite was read from.
	Path       string   `json:"-"`
	Name       string   `json:"name"`
	PolicyDir  string   `json:"policyDir"`
	Config     string   `json:"config"`
	ConfigFile string   `json:"configFile"`
	Now        string   `json:"now"`
	Namespace  string   `json:"namespace"`
	User       string   `json:"user"`
	Groups     []string `json:"groups"`
	Cases      []Case   `json:"cases"`

	now time.Time
}

// Case is one request and the decision it must get.
type Case struct {
	Name       string    `json:"name"`
	Namespace  string    `json:"namespace"`
	User       string    `json:"user"`
	Groups     []string  `json:"groups"`
	DryRun     bool      `json:"dryRun"`
	Config     *string   `json:"config"`
	ConfigFile string    `json:"configFile"`
	Now        string    `json:"now"`
	Old        *Manifest `json:"old"`
	OldFile    string    `json:"oldFile"`
	New        *Manifest `json:"new"`
	NewFile    string    `json:"newFile"`
	Expect     *Expect   `json:"expect"`

	now time.Time
}

// Expect is what a case's outcome must be.
type Expect struct {
	Allowed            *bool              `json:"allowed"`
	Enforcement        string             `json:"enforcement"`
	Reason             string             `json:"reason"`
	PatchedPercent     map[string]*int64  `json:"patchedPercent"`
	PatchedAnnotations map[string]*string `json:"patchedAnnotations"`
	NoPatches          bool               `json:"noPatches"`
	Denials            []string           `json:"denials"`
	Warnings           []string           `json:"warnings"`
	NoDenials          bool               `json:"noDenials"`
	NoWarnings         bool               `json:"noWarnings"`
	Error              string             `json:"error"`

	reason   *regexp.Regexp
	denials  []*regexp.Regexp
	warnings []*regexp.Regexp
	err      *regexp.Regexp
}

// Manifest is an InferenceService manifest in a suite: YAML or JSON text,
// or the object itself as a mapping.
type Manifest []byte

// UnmarshalJSON takes a string as manifest text and anything else as the
// object.
func (m *Manifest) UnmarshalJSON(data []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*m = Manifest(s)
		return nil
	}
	*m = append(Manifest(nil), data...)
	return nil
}

// Load reads and checks a suite file: its structure, its regexps and its
// clocks. Manifests and configurations are read when the cases run, so a
// broken one fails its case only.
func Load(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading suite: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("suite %s: %w", path, err)
	}
	s.Path = path
	if s.Name == "" {
		s.Name = filepath.Base(path)
	}
	return s, nil
}

// Parse parses and checks a suite. Relative paths in it resolve against
// the working directory until Path is set.
func Parse(data []byte) (*Suite, error) {
	s := &Suite{}
	if err := yaml.UnmarshalStrict(data, s); err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Suite) check() error {
	var errs []error
	if s.Config != "" && s.ConfigFile != "" {
		errs = append(errs, errors.New("config and configFile are exclusive"))
	}
	var err error
	if s.now, err = parseNow(s.Now); err != nil {
		errs = append(errs, err)
	}
	if len(s.Cases) == 0 {
		errs = append(errs, errors.New("no cases"))
	}
	seen := map[string]bool{}
	for i := range s.Cases {
		c := &s.Cases[i]
		if err := c.check(); err != nil {
			errs = append(errs, fmt.Errorf("cases[%d] (%s): %w", i, c.Name, err))
		}
		if c.Name != "" && seen[c.Name] {
			errs = append(errs, fmt.Errorf("cases[%d]: name %q is used twice", i, c.Name))
		}
		seen[c.Name] = true
	}
	return errors.Join(errs...)
}

func (c *Case) check() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if c.Config != nil && c.ConfigFile != "" {
		errs = append(errs, errors.New("config and configFile are exclusive"))
	}
	if c.Old != nil && c.OldFile != "" {
		errs = append(errs, errors.New("old and oldFile are exclusive"))
	}
	switch {
	case c.New != nil && c.NewFile != "":
		errs = append(errs, errors.New("new and newFile are exclusive"))
	case c.New == nil && c.NewFile == "":
		errs = append(errs, errors.New("new (or newFile) is required"))
	}
	var err error
	if c.now, err = parseNow(c.Now); err != nil {
		errs = append(errs, err)
	}
	if c.Expect == nil {
		errs = append(errs, errors.New("expect is required"))
	} else if err := c.Expect.compile(); err != nil {
		errs = append(errs, fmt.Errorf("expect: %w", err))
	}
	return errors.Join(errs...)
}

func (e *Expect) compile() error {
	var err error
	if e.Error != "" {
		if e.Allowed != nil || e.Enforcement != "" || e.Reason != "" || len(e.PatchedPercent) > 0 || len(e.PatchedAnnotations) > 0 ||
			e.NoPatches || len(e.Denials) > 0 || len(e.Warnings) > 0 || e.NoDenials || e.NoWarnings {
			return errors.New("error excludes every other expectation")
		}
		e.err, err = compileRegexp("error", e.Error)
		return err
	}
	var errs []error
	if e.Allowed == nil {
		errs = append(errs, errors.New("allowed is required (or error)"))
	}
	if e.NoDenials && len(e.Denials) > 0 {
		errs = append(errs, errors.New("denials and noDenials are exclusive"))
	}
	if e.NoWarnings && len(e.Warnings) > 0 {
		errs = append(errs, errors.New("warnings and noWarnings are exclusive"))
	}
	for component := range e.PatchedPercent {
		if _, err := componentPercent(&v1beta1.InferenceService{}, component); err != nil {
			errs = append(errs, fmt.Errorf("patchedPercent: %w", err))
		}
	}
	if e.Reason != "" {
		if e.reason, err = compileRegexp("reason", e.Reason); err != nil {
			errs = append(errs, err)
		}
	}
	for i, expr := range e.Denials {
		re, err := compileRegexp(fmt.Sprintf("denials[%d]", i), expr)
		errs = append(errs, err)
		e.denials = append(e.denials, re)
	}
	for i, expr := range e.Warnings {
		re, err := compileRegexp(fmt.Sprintf("warnings[%d]", i), expr)
		errs = append(errs, err)
		e.warnings = append(e.warnings, re)
	}
	return errors.Join(errs...)
}

func compileRegexp(field, expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return re, nil
}

func parseNow(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("now: %w", err)
	}
	return t, nil
}

// resolve makes a path in the suite relative to the suite file.
func (s *Suite) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || s.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(s.Path), p)
}
