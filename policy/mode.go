package policy

import (
	"github.com/kserve/kserve/pkg/constants"
)

// Mode is a KServe deployment mode, normalised to its current name.
type Mode string

// The deployment modes canary-guard knows. The legacy names Serverless and
// RawDeployment are normalised to Knative and Standard.
const (
	ModeKnative   Mode = Mode(constants.Knative)
	ModeStandard  Mode = Mode(constants.Standard)
	ModeModelMesh Mode = Mode(constants.ModelMeshDeployment)
)

// ParseDeploymentMode normalises a mode name as KServe's controller does.
// It reports false for a name KServe does not know.
func ParseDeploymentMode(name string) (Mode, bool) {
	// constants.ParseDeploymentMode maps "" to KServe's compiled-in default,
	// which is not the cluster default: callers resolve "" themselves.
	if name == "" {
		return "", false
	}
	switch mode := Mode(constants.ParseDeploymentMode(name)); mode {
	case ModeKnative, ModeStandard, ModeModelMesh:
		return mode, true
	default:
		return "", false
	}
}
