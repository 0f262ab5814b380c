package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	knservingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TemplateHashAnnotation is the status annotation in which the Simulator
// records the hash of the revision template its latest revision was made
// from, so that a new Simulator continues the numbering exactly.
const TemplateHashAnnotation = "simulator.canary-guard.dev/template-hash"

// Simulator stands in for Knative Serving's controllers and for the
// Deployment controller, which the local control plane does not run. It
// only writes status, through the status subresource:
//
//   - Knative Services get revisions named like Knative's,
//     "<ksvc>-00001", "<ksvc>-00002", ..., one per change of
//     spec.template; the newest is marked ready unless held
//     (HoldRevisions); status.traffic mirrors spec.traffic as Knative
//     resolves it (latestRevision: true becomes the latest ready revision,
//     tags keep their "<tag>-<name>.<ns>.example.com" URL), and the
//     conditions Ready, ConfigurationsReady and RoutesReady say what a
//     Knative controller would. A named revision that does not exist
//     makes RoutesReady False and leaves status.traffic as it was.
//   - Deployments are reported available with spec.replicas ready.
//
// No Revision, Route, Configuration, ReplicaSet or Pod object is created.
type Simulator struct {
	c        client.Client
	interval time.Duration
	log      io.Writer

	mu      sync.Mutex
	held    map[types.NamespacedName]bool
	state   map[types.NamespacedName]*ksvcState
	lastErr string
}

type ksvcState struct {
	hash   string // hash of the template of revision latest
	latest int    // number of the latest created revision
	ready  int    // number of the latest ready revision (0: none)
}

// NewSimulator returns a simulator writing through c; run it with Run.
func NewSimulator(c client.Client, interval time.Duration, log io.Writer) *Simulator {
	if log == nil {
		log = io.Discard
	}
	return &Simulator{
		c:        c,
		interval: interval,
		log:      log,
		held:     map[types.NamespacedName]bool{},
		state:    map[types.NamespacedName]*ksvcState{},
	}
}

// HoldRevisions keeps the revisions of a Knative Service that are not
// ready yet from becoming ready (hold true), or lets them become ready
// (hold false). Ready revisions stay ready.
func (s *Simulator) HoldRevisions(namespace, ksvcName string, hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := types.NamespacedName{Namespace: namespace, Name: ksvcName}
	if hold {
		s.held[key] = true
	} else {
		delete(s.held, key)
	}
}

// Run syncs every interval until ctx is done.
func (s *Simulator) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.report(s.Sync(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// report logs an error once, not on every tick.
func (s *Simulator) report(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	s.mu.Lock()
	changed := msg != s.lastErr
	s.lastErr = msg
	s.mu.Unlock()
	if changed && msg != "" && !strings.Contains(msg, "context canceled") {
		fmt.Fprintf(s.log, "simulator: %s\n", msg)
	}
}

// Sync does one pass over all Knative Services and Deployments.
// Conflicts are left for the next pass.
func (s *Simulator) Sync(ctx context.Context) error {
	var errs []string
	ksvcs := &knservingv1.ServiceList{}
	if err := s.c.List(ctx, ksvcs); err != nil {
		errs = append(errs, fmt.Sprintf("listing Knative Services: %v", err))
	}
	for i := range ksvcs.Items {
		if err := s.syncKsvc(ctx, &ksvcs.Items[i]); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Sprintf("ksvc %s/%s: %v", ksvcs.Items[i].Namespace, ksvcs.Items[i].Name, err))
		}
	}
	deployments := &appsv1.DeploymentList{}
	if err := s.c.List(ctx, deployments); err != nil {
		errs = append(errs, fmt.Sprintf("listing Deployments: %v", err))
	}
	for i := range deployments.Items {
		if err := s.syncDeployment(ctx, &deployments.Items[i]); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Sprintf("deployment %s/%s: %v", deployments.Items[i].Namespace, deployments.Items[i].Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// RevisionName is the name Knative gives revision n of a Knative Service.
func RevisionName(ksvcName string, n int) string {
	return fmt.Sprintf("%s-%05d", ksvcName, n)
}

// revisionNumber parses RevisionName; 0 when rev is not one of ksvc's.
func revisionNumber(ksvcName, rev string) int {
	suffix, ok := strings.CutPrefix(rev, ksvcName+"-")
	if !ok || len(suffix) != 5 {
		return 0
	}
	n, err := strconv.Atoi(suffix)
	if err != nil || n < 1 {
		return 0
	}
	return n
}

func templateHash(t *knservingv1.RevisionTemplateSpec) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8]), nil
}

// advance updates the in-memory revision state of ksvc and returns a copy.
func (s *Simulator) advance(ksvc *knservingv1.Service) (ksvcState, bool, error) {
	hash, err := templateHash(&ksvc.Spec.Template)
	if err != nil {
		return ksvcState{}, false, err
	}
	key := types.NamespacedName{Namespace: ksvc.Namespace, Name: ksvc.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state[key]
	if st == nil || (ksvc.Status.LatestCreatedRevisionName == "" && st.latest > 0) {
		// New to this simulator (or recreated): recover from status.
		st = &ksvcState{}
		if n := revisionNumber(ksvc.Name, ksvc.Status.LatestCreatedRevisionName); n > 0 {
			st.latest = n
			st.hash = ksvc.Status.Annotations[TemplateHashAnnotation]
			st.ready = revisionNumber(ksvc.Name, ksvc.Status.LatestReadyRevisionName)
		}
		s.state[key] = st
	}
	if st.latest == 0 || st.hash != hash {
		st.latest++
		st.hash = hash
	}
	held := s.held[key]
	if !held {
		st.ready = st.latest
	}
	return *st, held, nil
}

func (s *Simulator) syncKsvc(ctx context.Context, ksvc *knservingv1.Service) error {
	if ksvc.DeletionTimestamp != nil {
		return nil
	}
	st, held, err := s.advance(ksvc)
	if err != nil {
		return err
	}
	name, ns := ksvc.Name, ksvc.Namespace
	latestCreated := RevisionName(name, st.latest)
	latestReady := ""
	if st.ready > 0 {
		latestReady = RevisionName(name, st.ready)
	}

	old := ksvc.Status.DeepCopy()
	status := knservingv1.ServiceStatus{}
	status.ObservedGeneration = ksvc.Generation
	status.Annotations = map[string]string{TemplateHashAnnotation: st.hash}
	status.LatestCreatedRevisionName = latestCreated
	status.LatestReadyRevisionName = latestReady
	status.URL = &apis.URL{Scheme: "http", Host: fmt.Sprintf("%s.%s.example.com", name, ns)}
	status.Address = &duckv1.Addressable{URL: &apis.URL{Scheme: "http", Host: fmt.Sprintf("%s.%s.svc.cluster.local", name, ns)}}

	traffic, routeErr := resolveTraffic(ksvc, st, latestReady)
	if routeErr != "" {
		traffic = old.Traffic // Knative leaves the route as it was
	}
	status.Traffic = traffic

	var conds duckv1.Conditions
	configReady := cond(knservingv1.ServiceConditionConfigurationsReady, corev1.ConditionTrue, "", "")
	if st.ready < st.latest {
		reason := "RevisionMissing"
		if held {
			reason = "RevisionHeld"
		}
		configReady = cond(knservingv1.ServiceConditionConfigurationsReady, corev1.ConditionFalse, reason,
			fmt.Sprintf("Revision %q is not ready (held by the test simulator).", latestCreated))
	}
	routesReady := cond(knservingv1.ServiceConditionRoutesReady, corev1.ConditionTrue, "", "")
	switch {
	case routeErr != "":
		routesReady = cond(knservingv1.ServiceConditionRoutesReady, corev1.ConditionFalse, "RevisionMissing", routeErr)
	case latestReady == "":
		routesReady = cond(knservingv1.ServiceConditionRoutesReady, corev1.ConditionFalse, "RevisionMissing",
			fmt.Sprintf("Configuration %q does not have any ready Revision.", name))
	}
	ready := cond(knservingv1.ServiceConditionReady, corev1.ConditionTrue, "", "")
	if configReady.Status != corev1.ConditionTrue {
		ready = cond(knservingv1.ServiceConditionReady, corev1.ConditionFalse, configReady.Reason, configReady.Message)
	} else if routesReady.Status != corev1.ConditionTrue {
		ready = cond(knservingv1.ServiceConditionReady, corev1.ConditionFalse, routesReady.Reason, routesReady.Message)
	}
	conds = duckv1.Conditions{configReady, ready, routesReady}
	// Keep the transition times of conditions whose status did not change.
	for i := range conds {
		if prev := old.GetCondition(conds[i].Type); prev != nil && prev.Status == conds[i].Status {
			conds[i].LastTransitionTime = prev.LastTransitionTime
		}
	}
	status.Conditions = conds

	if equality.Semantic.DeepEqual(old, &status) {
		return nil
	}
	ksvc.Status = status
	return s.c.Status().Update(ctx, ksvc)
}

// resolveTraffic turns spec.traffic into status.traffic the way Knative's
// route does. A non-empty second result names a missing revision.
func resolveTraffic(ksvc *knservingv1.Service, st ksvcState, latestReady string) ([]knservingv1.TrafficTarget, string) {
	if latestReady == "" {
		return nil, ""
	}
	spec := ksvc.Spec.Traffic
	if len(spec) == 0 {
		// Knative's defaulting: all traffic to the latest ready revision.
		spec = []knservingv1.TrafficTarget{{LatestRevision: ptr(true), Percent: ptr(int64(100))}}
	}
	out := make([]knservingv1.TrafficTarget, 0, len(spec))
	for _, t := range spec {
		r := knservingv1.TrafficTarget{Tag: t.Tag}
		if t.Percent != nil {
			r.Percent = ptr(*t.Percent)
		}
		if t.RevisionName == "" || (t.LatestRevision != nil && *t.LatestRevision) {
			r.RevisionName = latestReady
			r.LatestRevision = ptr(true)
		} else {
			if n := revisionNumber(ksvc.Name, t.RevisionName); n == 0 || n > st.ready {
				return nil, fmt.Sprintf("Revision %q referenced in traffic not found or not ready.", t.RevisionName)
			}
			r.RevisionName = t.RevisionName
			r.LatestRevision = ptr(false)
		}
		if t.Tag != "" {
			r.URL = &apis.URL{Scheme: "http", Host: fmt.Sprintf("%s-%s.%s.example.com", t.Tag, ksvc.Name, ksvc.Namespace)}
		}
		out = append(out, r)
	}
	return out, ""
}

func cond(t apis.ConditionType, status corev1.ConditionStatus, reason, msg string) apis.Condition {
	return apis.Condition{
		Type:               t,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		LastTransitionTime: apis.VolatileTime{Inner: metav1.NewTime(time.Now().Truncate(time.Second))},
	}
}

func (s *Simulator) syncDeployment(ctx context.Context, d *appsv1.Deployment) error {
	if d.DeletionTimestamp != nil {
		return nil
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	old := d.Status.DeepCopy()
	status := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           replicas,
		UpdatedReplicas:    replicas,
		ReadyReplicas:      replicas,
		AvailableReplicas:  replicas,
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	status.Conditions = []appsv1.DeploymentCondition{
		{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
			Message: "Deployment has minimum availability.", LastUpdateTime: now, LastTransitionTime: now},
		{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable",
			Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", d.Name), LastUpdateTime: now, LastTransitionTime: now},
	}
	for i := range status.Conditions {
		for _, prev := range old.Conditions {
			if prev.Type == status.Conditions[i].Type && prev.Status == status.Conditions[i].Status {
				status.Conditions[i].LastTransitionTime = prev.LastTransitionTime
				status.Conditions[i].LastUpdateTime = prev.LastUpdateTime
			}
		}
	}
	if equality.Semantic.DeepEqual(old, &status) {
		return nil
	}
	d.Status = status
	return s.c.Status().Update(ctx, d)
}

func ptr[T any](v T) *T { return &v }
