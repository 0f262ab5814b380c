package cluster

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	knservingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestSimulator_RevisionsTrafficHoldAndRecovery(t *testing.T) {
	ctx := context.Background()
	scheme, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&knservingv1.Service{}).Build()
	ksvc := &knservingv1.Service{ObjectMeta: metav1.ObjectMeta{Name: "m-predictor", Namespace: "ns"}}
	ksvc.Spec.Template.Spec.Containers = []corev1.Container{{Image: "model:1"}}
	ksvc.Spec.Traffic = []knservingv1.TrafficTarget{{LatestRevision: ptr(true), Percent: ptr(int64(100)), Tag: "latest"}}
	if err := c.Create(ctx, ksvc); err != nil {
		t.Fatal(err)
	}
	sim := NewSimulator(c, 0, nil)
	get := func() *knservingv1.Service {
		t.Helper()
		if err := sim.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		got := &knservingv1.Service{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(ksvc), got); err != nil {
			t.Fatal(err)
		}
		return got
	}

	got := get()
	if got.Status.LatestCreatedRevisionName != "m-predictor-00001" || got.Status.LatestReadyRevisionName != "m-predictor-00001" {
		t.Fatalf("first revision: %+v", got.Status)
	}
	if !got.IsReady() || len(got.Status.Traffic) != 1 || got.Status.Traffic[0].RevisionName != "m-predictor-00001" ||
		got.Status.Traffic[0].URL.String() != "http://latest-m-predictor.ns.example.com" {
		t.Fatalf("status after the first revision: %+v", got.Status)
	}
	if get().ResourceVersion != got.ResourceVersion {
		t.Error("a sync without changes wrote status again")
	}

	// A new template while held: a second revision that is not ready; a
	// traffic-only change creates no revision.
	sim.HoldRevisions("ns", "m-predictor", true)
	got.Spec.Template.Spec.Containers[0].Image = "model:2"
	got.Spec.Traffic = []knservingv1.TrafficTarget{
		{LatestRevision: ptr(true), Percent: ptr(int64(10)), Tag: "latest"},
		{RevisionName: "m-predictor-00001", LatestRevision: ptr(false), Percent: ptr(int64(90)), Tag: "prev"},
	}
	if err := c.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	got = get()
	if got.Status.LatestCreatedRevisionName != "m-predictor-00002" || got.Status.LatestReadyRevisionName != "m-predictor-00001" || got.IsReady() {
		t.Fatalf("held second revision: %+v", got.Status)
	}
	if tr := got.Status.Traffic; len(tr) != 2 || tr[0].RevisionName != "m-predictor-00001" || *tr[0].Percent != 10 || tr[1].Tag != "prev" {
		t.Fatalf("traffic while held: %+v", tr)
	}
	sim.HoldRevisions("ns", "m-predictor", false)
	got = get()
	if got.Status.LatestReadyRevisionName != "m-predictor-00002" || !got.IsReady() || got.Status.Traffic[0].RevisionName != "m-predictor-00002" {
		t.Fatalf("released second revision: %+v", got.Status)
	}

	// A new simulator continues the numbering from status.
	sim = NewSimulator(c, 0, nil)
	got = get()
	if got.Status.LatestCreatedRevisionName != "m-predictor-00002" {
		t.Fatalf("after a simulator restart, unchanged template: %+v", got.Status)
	}
	got.Spec.Template.Spec.Containers[0].Image = "model:3"
	if err := c.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got = get(); got.Status.LatestCreatedRevisionName != "m-predictor-00003" {
		t.Fatalf("after a simulator restart, new template: %+v", got.Status)
	}
}
