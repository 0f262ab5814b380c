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

func str(s string) *ast.Term { return ast.StringTerm(s) }

func boolean(b bool) *ast.Term { return ast.BooleanTerm(b) }

func integer(n int64) *ast.Term { return ast.IntNumberTerm(int(n)) }

func optInt(p *int64) *ast.Term {
	if p == nil {
		return ast.NullTerm()
	}
	return integer(*p)
}

func strings_(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = str(s)
	}
	return ast.ArrayTerm(terms...)
}

func item(k string, v *ast.Term) [2]*ast.Term { return ast.Item(str(k), v) }

// buildInput assembles the whole input document of one request.
func buildInput(req *Request, f *Facts, config ast.Value, withObjects bool) (ast.Value, error) {
	items := [][2]*ast.Term{
		item("version", str(InputVersion)),
		item("request", ast.NewTerm(requestValue(req))),
		item("rollout", ast.NewTerm(f.astValue())),
		item("config", ast.NewTerm(config)),
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
		items = append(items, item("object", ast.NewTerm(obj)), item("oldObject", ast.NewTerm(old)))
	}
	return ast.NewObject(items...), nil
}

func rawValue(raw []byte) (ast.Value, error) {
	if len(raw) == 0 {
		return ast.Null{}, nil
	}
	return ast.ValueFromReader(bytes.NewReader(raw))
}

func requestValue(req *Request) ast.Value {
	return ast.NewObject(
		item("operation", str(req.Operation)),
		item("namespace", str(req.Namespace)),
		item("name", str(req.Name)),
		item("dryRun", boolean(req.DryRun)),
		item("user", ast.ObjectTerm(
			item("username", str(req.User.Username)),
			item("groups", strings_(req.User.Groups)),
		)),
	)
}

func (f *Facts) astValue() ast.Value {
	components := make([]*ast.Term, len(f.Components))
	for i := range f.Components {
		components[i] = ast.NewTerm(f.Components[i].astValue())
	}
	return ast.NewObject(
		item("operation", str(f.Operation)),
		item("deploymentMode", str(string(f.DeploymentMode))),
		item("deploymentModeSource", str(f.DeploymentModeSource)),
		item("components", ast.ArrayTerm(components...)),
		item("modelChanged", boolean(f.ModelChanged)),
		item("revisionChanged", boolean(f.RevisionChanged)),
		item("metadataChanged", strings_(f.MetadataChanged)),
		item("internalAnnotationsChanged", strings_(f.InternalAnnotationsChanged)),
		item("tagRouting", ast.ObjectTerm(item("old", boolean(f.TagRouting.Old)), item("new", boolean(f.TagRouting.New)))),
		item("override", ast.ObjectTerm(
			item("requested", boolean(f.Override.Requested)),
			item("reason", str(f.Override.Reason)),
			item("allowed", boolean(f.Override.Allowed)),
			item("active", boolean(f.Override.Active)),
		)),
		item("step", ast.ObjectTerm(
			item("lastStepAt", str(f.Step.LastStepAt)),
			item("secondsSinceLastStep", integer(f.Step.SecondsSinceLastStep)),
		)),
		item("alwaysAdmit", boolean(f.AlwaysAdmit)),
		item("alwaysAdmitReason", str(f.AlwaysAdmitReason)),
	)
}

func (c *ComponentFacts) astValue() ast.Value {
	return ast.NewObject(
		item("id", str(c.ID)),
		item("kind", str(c.Kind)),
		item("name", str(c.Name)),
		item("path", str(c.Path)),
		item("percentField", str(c.PercentField)),
		item("inOld", boolean(c.InOld)),
		item("inNew", boolean(c.InNew)),
		item("changedFields", strings_(c.ChangedFields)),
		item("modelChanged", boolean(c.ModelChanged)),
		item("revisionChanged", boolean(c.RevisionChanged)),
		item("oldModel", str(c.OldModel)),
		item("newModel", str(c.NewModel)),
		item("oldPercent", optInt(c.OldPercent)),
		item("newPercent", optInt(c.NewPercent)),
		item("oldEffectivePercent", integer(c.OldEffectivePercent)),
		item("newEffectivePercent", integer(c.NewEffectivePercent)),
		item("percentChanged", boolean(c.PercentChanged)),
		item("canaryInProgress", boolean(c.CanaryInProgress)),
		item("stableRevision", str(c.StableRevision)),
		item("previousRevision", str(c.PreviousRevision)),
		item("latestReadyRevision", str(c.LatestReadyRevision)),
		item("latestCreatedRevision", str(c.LatestCreatedRevision)),
		item("canaryReady", str(c.CanaryReady)),
		item("canaryReadyReason", str(c.CanaryReadyReason)),
		item("promotedCanary", str(c.PromotedCanary)),
		item("promotedCanaryPercent", integer(c.PromotedCanaryPercent)),
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
