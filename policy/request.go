package policy

import (
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
)

// Operations an admission request can carry.
const (
	OperationCreate = "CREATE"
	OperationUpdate = "UPDATE"
)

// UserInfo is who sent the request.
type UserInfo struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// Request is one decoded admission request for an InferenceService. The
// webhook builds it from an AdmissionReview; the eval command builds it
// from manifests, so both reach the same decision.
type Request struct {
	Operation string
	Namespace string
	Name      string
	User      UserInfo
	DryRun    bool
	// Applied says the new object is written by an apply of itself
	// (kubectl apply, a GitOps sync): every field it sets is one the apply
	// declares. The webhooks learn that from the object's managed fields
	// and kubectl's last-applied-configuration; eval of a manifest is told.
	Applied bool
	// Object is the new object; OldObject is nil on CREATE.
	Object    *v1beta1.InferenceService
	OldObject *v1beta1.InferenceService
	// ObjectJSON and OldObjectJSON are the raw objects, given to policies
	// that read input.object / input.oldObject.
	ObjectJSON    []byte
	OldObjectJSON []byte
	// LoadObjects, when ObjectJSON is empty, reads the raw objects on
	// demand: only a policy with a rule that reads input.object needs them,
	// and only the evaluation knows which policy (a reload may swap it) it
	// runs. The webhook's loader reads the request body, so it is valid
	// only while the request is served.
	LoadObjects func() (object, oldObject []byte, err error)
	// SpecJSON and OldSpecJSON, when set, are the objects' specs as they
	// came. When they differ in nothing but the components' canary
	// percents, the components are not compared field by field. The
	// webhook's point into the request body, valid only while the request
	// is served.
	SpecJSON    []byte
	OldSpecJSON []byte
}
