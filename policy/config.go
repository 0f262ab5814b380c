package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"sigs.k8s.io/yaml"
)

// Enforcement says what happens to a request the rules deny.
type Enforcement string

const (
	// EnforcementEnforce refuses denied requests.
	EnforcementEnforce Enforcement = "enforce"
	// EnforcementWarn admits denied requests and returns the denials as warnings.
	EnforcementWarn Enforcement = "warn"
	// EnforcementAudit admits denied requests silently; denials are only logged and counted.
	EnforcementAudit Enforcement = "audit"
)

// Values of the string-valued settings.
const (
	OnModelChangeInject = "inject"
	OnModelChangeDeny   = "deny"

	TagRoutingInject = "inject"
	TagRoutingOff    = "off"

	MidRolloutRestart = "restart"
	MidRolloutDeny    = "deny"
)

// Settings is the effective configuration for one namespace. Every key is
// documented in the README's configuration reference; the JSON names are
// the YAML keys and the names Rego sees under input.config.
type Settings struct {
	// Enforcement: enforce | warn | audit.
	Enforcement Enforcement `json:"enforcement"`
	// RuleEnforcement sets the enforcement of single rules by id, as a
	// Gatekeeper constraint's enforcementAction does: a rule new to the
	// cluster can run in audit or warn before it refuses anything. A
	// rule's denials are enforced as the more lenient of this and
	// Enforcement (EnforcementOf), so it relaxes, never tightens.
	RuleEnforcement map[string]Enforcement `json:"ruleEnforcement"`
	// InitialCanaryPercent is the most traffic a new model may enter with.
	InitialCanaryPercent int64 `json:"initialCanaryPercent"`
	// MaxStepPercent is the most the canary percent may rise in one update.
	MaxStepPercent int64 `json:"maxStepPercent"`
	// OnModelChange: inject (the mutating webhook sets the canary percent) | deny.
	OnModelChange string `json:"onModelChange"`
	// TagRouting: inject (add serving.kserve.io/enable-tag-routing) | off.
	TagRouting string `json:"tagRouting"`
	// MidRolloutModelChange: restart (re-enter at InitialCanaryPercent) | deny.
	MidRolloutModelChange string `json:"midRolloutModelChange"`
	// RequireReadyCanary denies rises while status shows the canary not ready.
	RequireReadyCanary bool `json:"requireReadyCanary"`
	// MinStepIntervalSeconds is the least time between two steps; 0 is off.
	MinStepIntervalSeconds int64 `json:"minStepIntervalSeconds"`
	// Override names who may lift the rules for one update.
	Override OverrideSettings `json:"override"`
	// Exempt names requests that pass unevaluated.
	Exempt ExemptSettings `json:"exempt"`
	// DefaultDeploymentMode is the cluster default KServe is configured with.
	DefaultDeploymentMode string `json:"defaultDeploymentMode"`
	// ServiceAnnotationDisallowedList extends KServe's list of annotations
	// that are not copied to revisions (inferenceservice-config
	// serviceAnnotationDisallowedList); changing them creates no revision.
	ServiceAnnotationDisallowedList []string `json:"serviceAnnotationDisallowedList"`
	// ServiceLabelDisallowedList likewise extends KServe's list of labels
	// that are not copied to revisions (serviceLabelDisallowedList).
	ServiceLabelDisallowedList []string `json:"serviceLabelDisallowedList"`
}

// OverrideSettings configures the override annotation.
type OverrideSettings struct {
	// Groups whose members may set the override annotation.
	Groups []string `json:"groups"`
}

// ExemptSettings lists requesters whose requests are not evaluated.
type ExemptSettings struct {
	Users  []string `json:"users"`
	Groups []string `json:"groups"`
}

// DefaultSettings returns the settings used where the configuration says nothing.
func DefaultSettings() Settings {
	return Settings{
		Enforcement:           EnforcementEnforce,
		InitialCanaryPercent:  10,
		MaxStepPercent:        25,
		OnModelChange:         OnModelChangeInject,
		TagRouting:            TagRoutingInject,
		MidRolloutModelChange: MidRolloutRestart,
		RequireReadyCanary:    true,
		DefaultDeploymentMode: string(ModeKnative),
	}
}

// leniency orders the enforcement modes from strictest to most lenient.
func leniency(e Enforcement) int {
	switch e {
	case EnforcementWarn:
		return 1
	case EnforcementAudit:
		return 2
	}
	return 0
}

// EnforcementOf returns how a denial of rule is enforced: the more
// lenient of the namespace's enforcement and the rule's own.
func (s *Settings) EnforcementOf(rule string) Enforcement {
	if e, ok := s.RuleEnforcement[rule]; ok && leniency(e) > leniency(s.Enforcement) {
		return e
	}
	return s.Enforcement
}

// ruleRelaxed reports whether RuleEnforcement relaxes rule below the
// namespace's enforcement.
func (s *Settings) ruleRelaxed(rule string) bool { return s.EnforcementOf(rule) != s.Enforcement }

// NamespaceSettings are the settings for namespaces whose name matches Match.
type NamespaceSettings struct {
	// Match is a glob (path.Match syntax) over the namespace name.
	Match    string
	Settings Settings
}

// Config is a loaded, validated configuration: top-level defaults and
// per-namespace overrides, first match wins.
type Config struct {
	Defaults   Settings
	Namespaces []NamespaceSettings
	// Revision is a hash of the file it was parsed from ("default" when
	// none was), to tell which configuration a replica runs.
	Revision string
	// Warnings are what loads but is likely a mistake: namespace entries
	// an earlier entry shadows.
	Warnings []string
}

// DefaultConfig returns the configuration used when no file is given.
func DefaultConfig() *Config {
	return &Config{Defaults: DefaultSettings(), Revision: "default"}
}

// For returns the effective settings for a namespace.
func (c *Config) For(namespace string) *Settings {
	for i := range c.Namespaces {
		// Patterns were checked at load time, so Match cannot fail here.
		if ok, _ := path.Match(c.Namespaces[i].Match, namespace); ok {
			return &c.Namespaces[i].Settings
		}
	}
	return &c.Defaults
}

// StepIntervalSet reports whether any namespace gets a step interval: the
// top level or an entry sets minStepIntervalSeconds.
func (c *Config) StepIntervalSet() bool {
	on := c.Defaults.MinStepIntervalSeconds > 0
	for i := range c.Namespaces {
		on = on || c.Namespaces[i].Settings.MinStepIntervalSeconds > 0
	}
	return on
}

// LoadConfigFile reads and validates a configuration file.
func LoadConfigFile(name string) (*Config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	sum := sha256.Sum256(data)
	cfg.Revision = hex.EncodeToString(sum[:])[:16]
	return cfg, nil
}

// ParseConfig parses a YAML configuration. Unknown keys are errors, so a
// typo never silently falls back to a default.
func ParseConfig(data []byte) (*Config, error) {
	// Strict: a key given twice is an error, not the last one silently winning.
	jsonData, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	cfg := DefaultConfig()
	if len(bytes.TrimSpace(jsonData)) == 0 || string(jsonData) == "null" {
		return cfg, nil
	}
	var top struct {
		Settings
		Namespaces []json.RawMessage `json:"namespaces"`
	}
	top.Settings = cfg.Defaults
	if err := decodeStrict(jsonData, &top); err != nil {
		return nil, err
	}
	cfg.Defaults = top.Settings
	if err := cfg.Defaults.validate(); err != nil {
		return nil, err
	}
	for i, raw := range top.Namespaces {
		// Each entry is decoded over a copy of the defaults, so it only
		// needs to name the keys it overrides. Its lists are copies too:
		// decoding a list reuses the backing array it is given, which would
		// otherwise write the entry's values into the defaults.
		entry := struct {
			Match *string `json:"match"`
			Settings
		}{Settings: cfg.Defaults}
		// The rule map is merged into: an entry names only the rules it
		// sets differently (enforce puts one back).
		entry.RuleEnforcement = maps.Clone(cfg.Defaults.RuleEnforcement)
		entry.Override.Groups = slices.Clone(cfg.Defaults.Override.Groups)
		entry.Exempt.Users = slices.Clone(cfg.Defaults.Exempt.Users)
		entry.Exempt.Groups = slices.Clone(cfg.Defaults.Exempt.Groups)
		entry.ServiceAnnotationDisallowedList = slices.Clone(cfg.Defaults.ServiceAnnotationDisallowedList)
		entry.ServiceLabelDisallowedList = slices.Clone(cfg.Defaults.ServiceLabelDisallowedList)
		if err := decodeStrict(raw, &entry); err != nil {
			return nil, fmt.Errorf("namespaces[%d]: %w", i, err)
		}
		if entry.Match == nil || *entry.Match == "" {
			return nil, fmt.Errorf("namespaces[%d]: match is required", i)
		}
		if _, err := path.Match(*entry.Match, ""); err != nil {
			return nil, fmt.Errorf("namespaces[%d]: match %q: %w", i, *entry.Match, err)
		}
		if r := reversedRange(*entry.Match); r != "" {
			return nil, fmt.Errorf("namespaces[%d]: match %q: the class range %s runs backwards, so it matches no namespace", i, *entry.Match, r)
		}
		if err := entry.validate(); err != nil {
			return nil, fmt.Errorf("namespaces[%d] (%s): %w", i, *entry.Match, err)
		}
		cfg.Namespaces = append(cfg.Namespaces, NamespaceSettings{Match: *entry.Match, Settings: entry.Settings})
	}
	cfg.Warnings = shadowedEntries(cfg.Namespaces)
	return cfg, nil
}

// shadowedEntries warns of namespace entries that never apply because an
// earlier one matches every namespace they match (first match wins): the
// same glob, or a name without wildcards that an earlier glob matches.
func shadowedEntries(entries []NamespaceSettings) []string {
	var warnings []string
	for j := range entries {
		later := entries[j].Match
		for i := range j {
			earlier := entries[i].Match
			literal := !strings.ContainsAny(later, `*?[\`)
			if matched, _ := path.Match(earlier, later); earlier == later || literal && matched {
				warnings = append(warnings, fmt.Sprintf("namespaces[%d] (%s) never applies: namespaces[%d] (%s) comes first and matches every namespace it does (the first match wins); move it above", j, later, i, earlier))
				break
			}
		}
	}
	return warnings
}

// reversedRange returns the first class range of glob whose ends are
// reversed ([z-a]), or "". path.Match takes one without an error and
// matches nothing with it, and the chart's backstop, which turns the glob
// into a regular expression, would be refused by the API server.
func reversedRange(glob string) string {
	inClass := false
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case c == '\\':
			i++ // an escaped character stands for itself
		case !inClass && c == '[':
			inClass = true
			if i+1 < len(glob) && glob[i+1] == '^' {
				i++
			}
		case inClass && c == ']':
			inClass = false
		case inClass && i+2 < len(glob) && glob[i+1] == '-' && glob[i+2] != ']' && glob[i+2] != '\\':
			if c > glob[i+2] {
				return glob[i : i+3]
			}
			i += 2
		}
	}
	return ""
}

// decodeStrict decodes data into v, refusing unknown keys. encoding/json
// matches keys in any case, so maxsteppercent would be taken for
// maxStepPercent; the JSON v2 implementation (github.com/go-json-experiment/json,
// the basis of Go's encoding/json/v2) matches them exactly.
func decodeStrict(data []byte, v any) error {
	err := jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true))
	var semantic *jsonv2.SemanticError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &semantic) && semantic.JSONPointer != "":
		// The key at fault, not the Go type it was decoded into.
		key := strings.TrimPrefix(strings.ReplaceAll(string(semantic.JSONPointer), "/", "."), ".")
		if errors.Is(err, jsonv2.ErrUnknownName) {
			return fmt.Errorf("unknown field %q (keys are case-sensitive)", key)
		}
		if semantic.JSONKind != 0 && semantic.GoType != nil {
			return fmt.Errorf("%s: got %s, want %s", key, yamlKind(semantic.JSONKind), yamlType(semantic.GoType))
		}
		return fmt.Errorf("%s: %w", key, err)
	}
	return fmt.Errorf("decoding: %w", err)
}

// yamlKind names a JSON kind as the YAML it came from.
func yamlKind(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "true or false"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "a mapping"
	case '[':
		return "a list"
	}
	return k.String()
}

// yamlType names what a configuration key takes.
func yamlType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

func (s *Settings) validate() error {
	var errs []error
	switch s.Enforcement {
	case EnforcementEnforce, EnforcementWarn, EnforcementAudit:
	default:
		errs = append(errs, fmt.Errorf("enforcement %q: want enforce, warn or audit", s.Enforcement))
	}
	for _, id := range slices.Sorted(maps.Keys(s.RuleEnforcement)) {
		switch e := s.RuleEnforcement[id]; {
		case id == "":
			errs = append(errs, errors.New("ruleEnforcement: a rule id is empty"))
		case reservedRuleIDs[id]:
			// policy-error is the answer to a policy that cannot decide;
			// relaxing it would admit every update of a broken policy.
			// Namespace enforcement is where that is chosen.
			errs = append(errs, fmt.Errorf("ruleEnforcement.%s: %q is canary-guard's own result, not a rule; set enforcement for the namespace instead", id, id))
		case e != EnforcementEnforce && e != EnforcementWarn && e != EnforcementAudit:
			errs = append(errs, fmt.Errorf("ruleEnforcement.%s %q: want enforce, warn or audit", id, e))
		}
	}
	if s.InitialCanaryPercent < 1 || s.InitialCanaryPercent > 99 {
		errs = append(errs, fmt.Errorf("initialCanaryPercent %d: want 1..99", s.InitialCanaryPercent))
	}
	if s.MaxStepPercent < 1 || s.MaxStepPercent > 100 {
		errs = append(errs, fmt.Errorf("maxStepPercent %d: want 1..100", s.MaxStepPercent))
	}
	if s.OnModelChange != OnModelChangeInject && s.OnModelChange != OnModelChangeDeny {
		errs = append(errs, fmt.Errorf("onModelChange %q: want inject or deny", s.OnModelChange))
	}
	if s.TagRouting != TagRoutingInject && s.TagRouting != TagRoutingOff {
		errs = append(errs, fmt.Errorf("tagRouting %q: want inject or off", s.TagRouting))
	}
	if s.MidRolloutModelChange != MidRolloutRestart && s.MidRolloutModelChange != MidRolloutDeny {
		errs = append(errs, fmt.Errorf("midRolloutModelChange %q: want restart or deny", s.MidRolloutModelChange))
	}
	if s.MinStepIntervalSeconds < 0 {
		errs = append(errs, fmt.Errorf("minStepIntervalSeconds %d: want 0 (off) or more", s.MinStepIntervalSeconds))
	}
	mode, ok := ParseDeploymentMode(s.DefaultDeploymentMode)
	if !ok {
		errs = append(errs, fmt.Errorf("defaultDeploymentMode %q: want Knative, Standard or ModelMesh (or the legacy Serverless, RawDeployment)", s.DefaultDeploymentMode))
	} else {
		s.DefaultDeploymentMode = string(mode)
	}
	return errors.Join(errs...)
}
