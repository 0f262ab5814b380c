package e2e

import (
	"context"
	"testing"
	"time"
)

// TestGitOpsServerSideApply syncs a manifest as Flux's kustomize-controller
// does (server-side apply, forced): a model change whose manifest keeps the
// percent at 100 is refused with the percent to write, rather than
// injected at 10 and set back to 100 (and refused on max-step) by every
// later sync; the commit with 10 goes through and re-syncs are no-ops.
func TestGitOpsServerSideApply(t *testing.T) {
	c := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := newScenario(t, ctx, c, "gitops-ssa", "m")
	sync := func(uri, percent string) answer {
		t.Helper()
		m := sklearnISVC(s.name, uri)
		if percent != "" {
			m += "    canaryTrafficPercent: " + percent + "\n"
		}
		return s.apply(m, "--server-side", "--field-manager=kustomize-controller", "--force-conflicts")
	}
	rev1 := s.rev("predictor", 1)
	s.admitted(sync(modelURI(1), "100"), "creating with canaryTrafficPercent: 100")
	s.waitRollout("predictor", rev1, latestAt(rev1, 100))

	a := sync(modelURI(2), "100")
	s.denied(a, "a model change keeping the manifest's 100", deniedByGuard, "[initial-percent]",
		"Set spec.predictor.canaryTrafficPercent: 10 (or less)")
	// The mutating webhook's warning reaches kubectl beside the denial: it
	// names whose percent it left alone and where to write the new one.
	s.warned(a, "a model change keeping the manifest's 100", guardWarning+"[percent-applied]",
		`declared by the server-side apply of field manager "kustomize-controller"`, "in the manifest that apply comes from")
	s.storedPercent(100)

	s.admitted(sync(modelURI(2), "10"), "the model change with 10")
	s.storedPercent(10)
	s.waitRollout("predictor", rev1, latestAt(s.rev("predictor", 2), 10), prevAt(rev1, 90))
	gen := s.get().Generation
	a = sync(modelURI(2), "10")
	s.admitted(a, "a periodic re-sync")
	s.noWarnings(a, "a periodic re-sync")
	if g := s.get().Generation; g != gen {
		t.Errorf("a re-sync of the unchanged manifest moved the generation %d → %d", gen, g)
	}
	s.storedPercent(10)
}
