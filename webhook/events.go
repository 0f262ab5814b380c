package webhook

import (
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// Event reasons canary-guard records on InferenceServices.
const (
	ReasonCanaryInjected   = "CanaryInjected"
	ReasonPolicyViolation  = "RolloutPolicyViolation"
	ReasonRolloutOverride  = "RolloutOverride"
	eventSourceComponent   = "canary-guard"
	maxEventMessageLength  = 1024
	eventMessageTruncation = "…"
)

// Events records Kubernetes Events on InferenceServices.
type Events interface {
	// Record records one event; it never blocks the caller.
	Record(obj *v1beta1.InferenceService, eventType, reason, message string)
}

// NoEvents records nothing, for runs without API server access.
type NoEvents struct{}

// Record does nothing.
func (NoEvents) Record(*v1beta1.InferenceService, string, string, string) {}

// clusterEvents records through client-go's broadcaster, which queues
// events and sends them from its own goroutine, dropping them when the
// queue is full: an admission answer never waits for an event.
type clusterEvents struct {
	recorder record.EventRecorder
}

// NewClusterEvents returns an Events that writes to the API server, and a
// function that stops it.
func NewClusterEvents(cfg *rest.Config) (Events, func(), error) {
	client, err := typedcorev1.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.Events("")})
	recorder := broadcaster.NewRecorder(runtime.NewScheme(), corev1.EventSource{Component: eventSourceComponent})
	return &clusterEvents{recorder: recorder}, broadcaster.Shutdown, nil
}

// Record records one event on obj.
func (e *clusterEvents) Record(obj *v1beta1.InferenceService, eventType, reason, message string) {
	if obj.APIVersion == "" || obj.Kind == "" {
		// The reference is built from the object's own type: make sure it has one.
		obj = obj.DeepCopy()
		obj.APIVersion, obj.Kind = v1beta1.SchemeGroupVersion.String(), "InferenceService"
	}
	if len(message) > maxEventMessageLength {
		message = message[:maxEventMessageLength-len(eventMessageTruncation)] + eventMessageTruncation
	}
	e.recorder.Event(obj, eventType, reason, message)
}
