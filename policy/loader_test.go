package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// configMapVolume lays out files as the kubelet mounts a ConfigMap: each
// name a link into ..data, a link to a timestamped directory holding the
// files. Writing new content swaps ..data to a new directory.
func configMapVolume(t *testing.T, dir, stamp string, files map[string]string) {
	t.Helper()
	data := filepath.Join(dir, stamp)
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(stamp, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoader_ConfigMapVolumeIsReadOnce(t *testing.T) {
	dir := t.TempDir()
	// A default rule may be defined once: read twice, the policy would not
	// compile and every replica would fail to start.
	team := "package canary_guard\n\ndefault team_approved := false\n"
	configMapVolume(t, dir, "..2026_11_26_10_00_00.000000001", map[string]string{"team.rego": team})

	sources, err := DirSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sources[0].Name != filepath.Join(dir, "team.rego") {
		names := make([]string, len(sources))
		for i, s := range sources {
			names[i] = s.Name
		}
		t.Fatalf("sources %v, want only %s", names, filepath.Join(dir, "team.rego"))
	}
	l := Loader{PolicyDir: dir}
	if _, _, err := l.Load(context.Background()); err != nil {
		t.Fatalf("loading the ConfigMap volume: %v", err)
	}

	// The fingerprint follows the content, not the directory the kubelet
	// happened to write it to: a resync with the same content, or another
	// replica's mount, gives the same one.
	before, err := l.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	configMapVolume(t, dir, "..2026_11_26_10_01_00.000000002", map[string]string{"team.rego": team})
	if again, err := l.Fingerprint(); err != nil || again != before {
		t.Errorf("fingerprint after a resync with the same content: %q (%v), want %q", again, err, before)
	}

	// An update swaps ..data: the fingerprint changes.
	configMapVolume(t, dir, "..2026_11_26_10_05_00.000000003", map[string]string{"team.rego": team + "\nteam_approved if input.request.user.username == \"alice\"\n"})
	after, err := l.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Error("the fingerprint did not change when the ConfigMap did")
	}
}
