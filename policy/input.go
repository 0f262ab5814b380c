package policy

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// InputVersion is the version of the input document; docs/policy-input.md
// describes it. It changes when a field is renamed or removed.
const InputVersion = "v1"

// The input document is built directly as OPA AST values: converting Go
// maps through JSON would cost several times the evaluation itself.

// keyTerms holds the terms of the input document's object keys, built once
// per Guard, so building an input allocates only the values.
type keyTerms map[string]*ast.Term

// inputKeys lists every key the input document uses.
var inputKeys = []string{
	"version", "request", "rollout", "config", "object", "oldObject",
	"operation", "namespace", "name", "dryRun", "user", "username", "groups",
	"deploymentMode", "deploymentModeSource", "components", "modelChanged", "revisionChanged", "raised",
	"metadataChanged", "internalAnnotationsChanged", "tagRouting", "old", "new",
	"override", "requested", "reason", "allowed", "active",
	"step", "lastStepAt", "secondsSinceLastStep", "alwaysAdmit", "alwaysAdmitReason",
	"id", "kind", "path", "percentField", "inOld", "inNew", "changedFields",
	"oldModel", "newModel", "oldPercent", "newPercent", "oldEffectivePercent", "newEffectivePercent",
	"percentChanged", "canaryInProgress", "stableRevision", "previousRevision",
	"latestReadyRevision", "latestCreatedRevision", "canaryReady", "canaryReadyReason",
	"promotedCanary", "promotedCanaryPercent",
}

func newKeyTerms() keyTerms {
	k := make(keyTerms, len(inputKeys))
	for _, name := range inputKeys {
		k[name] = ast.StringTerm(name)
	}
	return k
}

func (k keyTerms) item(key string, v *ast.Term) [2]*ast.Term {
	t, ok := k[key]
	if !ok {
		t = ast.StringTerm(key)
	}
	return [2]*ast.Term{t, v}
}

func str(s string) *ast.Term {
	if s == "" {
		return ast.InternedEmptyString
	}
	return ast.StringTerm(s)
}

func boolean(b bool) *ast.Term { return ast.InternedTerm(b) }

func integer(n int64) *ast.Term { return ast.InternedTerm(n) }

func optInt(p *int64) *ast.Term {
	if p == nil {
		return ast.InternedNullTerm
	}
	return integer(*p)
}

func strings_(ss []string) *ast.Term {
	if len(ss) == 0 {
		return ast.InternedEmptyArray
	}
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = str(s)
	}
	return ast.ArrayTerm(terms...)
}

// buildInput assembles the whole input document of one request.
func buildInput(k keyTerms, req *Request, f *Facts, config ast.Value, withObjects bool) (ast.Value, error) {
	items := [][2]*ast.Term{
		k.item("version", str(InputVersion)),
		k.item("request", ast.NewTerm(requestValue(k, req))),
		k.item("rollout", ast.NewTerm(f.astValue(k))),
		k.item("config", ast.NewTerm(config)),
	}
	if withObjects {
		obj, err := rawValue(req.ObjectJSON)
		if err != nil {
			return nil, fmt.Errorf("object: %w", err)
		}
		old, err := rawValue(req.OldObjectJSON)
		if err != nil {
			return nil, fmt.Errorf("oldObject: %w", err)
		}
		items = append(items, k.item("object", ast.NewTerm(obj)), k.item("oldObject", ast.NewTerm(old)))
	}
	return ast.NewObject(items...), nil
}

func rawValue(raw []byte) (ast.Value, error) {
	if len(raw) == 0 {
		return ast.Null{}, nil
	}
	return ast.ValueFromReader(bytes.NewReader(raw))
}

func requestValue(k keyTerms, req *Request) ast.Value {
	return ast.NewObject(
		k.item("operation", str(req.Operation)),
		k.item("namespace", str(req.Namespace)),
		k.item("name", str(req.Name)),
		k.item("dryRun", boolean(req.DryRun)),
		k.item("user", ast.ObjectTerm(
			k.item("username", str(req.User.Username)),
			k.item("groups", strings_(req.User.Groups)),
		)),
	)
}

func (f *Facts) astValue(k keyTerms) ast.Value {
	components := make([]*ast.Term, len(f.Components))
	for i := range f.Components {
		components[i] = ast.NewTerm(f.Components[i].astValue(k))
	}
	return ast.NewObject(
		k.item("operation", str(f.Operation)),
		k.item("deploymentMode", str(string(f.DeploymentMode))),
		k.item("deploymentModeSource", str(f.DeploymentModeSource)),
		k.item("components", ast.ArrayTerm(components...)),
		k.item("modelChanged", boolean(f.ModelChanged)),
		k.item("revisionChanged", boolean(f.RevisionChanged)),
		k.item("percentChanged", boolean(f.PercentChanged)),
		k.item("raised", boolean(f.Raised)),
		k.item("metadataChanged", strings_(f.MetadataChanged)),
		k.item("internalAnnotationsChanged", strings_(f.InternalAnnotationsChanged)),
		k.item("tagRouting", ast.ObjectTerm(k.item("old", boolean(f.TagRouting.Old)), k.item("new", boolean(f.TagRouting.New)))),
		k.item("override", ast.ObjectTerm(
			k.item("requested", boolean(f.Override.Requested)),
			k.item("reason", str(f.Override.Reason)),
			k.item("allowed", boolean(f.Override.Allowed)),
			k.item("active", boolean(f.Override.Active)),
		)),
		k.item("step", ast.ObjectTerm(
			k.item("lastStepAt", str(f.Step.LastStepAt)),
			k.item("secondsSinceLastStep", integer(f.Step.SecondsSinceLastStep)),
		)),
		k.item("alwaysAdmit", boolean(f.AlwaysAdmit)),
		k.item("alwaysAdmitReason", str(f.AlwaysAdmitReason)),
	)
}

func (c *ComponentFacts) astValue(k keyTerms) ast.Value {
	return ast.NewObject(
		k.item("id", str(c.ID)),
		k.item("kind", str(c.Kind)),
		k.item("name", str(c.Name)),
		k.item("path", str(c.Path)),
		k.item("percentField", str(c.PercentField)),
		k.item("inOld", boolean(c.InOld)),
		k.item("inNew", boolean(c.InNew)),
		k.item("changedFields", strings_(c.ChangedFields)),
		k.item("modelChanged", boolean(c.ModelChanged)),
		k.item("revisionChanged", boolean(c.RevisionChanged)),
		k.item("oldModel", str(c.OldModel)),
		k.item("newModel", str(c.NewModel)),
		k.item("oldPercent", optInt(c.OldPercent)),
		k.item("newPercent", optInt(c.NewPercent)),
		k.item("oldEffectivePercent", integer(c.OldEffectivePercent)),
		k.item("newEffectivePercent", integer(c.NewEffectivePercent)),
		k.item("percentChanged", boolean(c.PercentChanged)),
		k.item("canaryInProgress", boolean(c.CanaryInProgress)),
		k.item("stableRevision", str(c.StableRevision)),
		k.item("previousRevision", str(c.PreviousRevision)),
		k.item("latestReadyRevision", str(c.LatestReadyRevision)),
		k.item("latestCreatedRevision", str(c.LatestCreatedRevision)),
		k.item("canaryReady", str(c.CanaryReady)),
		k.item("canaryReadyReason", str(c.CanaryReadyReason)),
		k.item("promotedCanary", str(c.PromotedCanary)),
		k.item("promotedCanaryPercent", integer(c.PromotedCanaryPercent)),
	)
}

// settingsValue converts settings to the input.config document. It runs
// once per configuration load, so a JSON round trip is fine here.
func settingsValue(s *Settings) (ast.Value, error) {
	c := *s
	// Lists are always arrays for the policies, never null.
	for _, l := range []*[]string{&c.Override.Groups, &c.Exempt.Users, &c.Exempt.Groups, &c.ServiceAnnotationDisallowedList} {
		if *l == nil {
			*l = []string{}
		}
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encoding settings: %w", err)
	}
	v, err := ast.ValueFromReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("converting settings: %w", err)
	}
	return v, nil
}
