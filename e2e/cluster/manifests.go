package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// doc is one YAML document of a manifest file.
type doc struct {
	file string
	data []byte
	meta metav1.TypeMeta
}

// readDocs splits a (multi-document) YAML file into its documents,
// skipping empty ones.
func readDocs(file string) ([]doc, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return splitDocs(file, data)
}

func splitDocs(file string, data []byte) ([]doc, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []doc
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(raw, &tm); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if tm.Kind == "" {
			continue // empty document or comments only
		}
		docs = append(docs, doc{file: file, data: raw, meta: tm})
	}
}

// readCRDs reads every complete CustomResourceDefinition in the YAML files
// under dirs (recursively). kustomization.yaml files, other kinds and CRD
// patches (documents without spec.names or versions, such as KServe's
// llmisvc conversion-webhook patches) are skipped.
func readCRDs(dirs ...string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, dir := range dirs {
		var files []string
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() || name == "kustomization.yaml" || (!strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml")) {
				return nil
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, file := range files {
			docs, err := readDocs(file)
			if err != nil {
				return nil, err
			}
			for _, d := range docs {
				if d.meta.Kind != "CustomResourceDefinition" {
					continue
				}
				crd := &apiextensionsv1.CustomResourceDefinition{}
				if err := yaml.Unmarshal(d.data, crd); err != nil {
					return nil, fmt.Errorf("%s: %w", file, err)
				}
				if crd.Spec.Names.Plural == "" || len(crd.Spec.Versions) == 0 {
					continue // a patch, not a CRD
				}
				crds = append(crds, crd)
			}
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs found under %s", strings.Join(dirs, ", "))
	}
	return crds, nil
}

// readOne decodes the single document of kind in file into obj.
func readOne(file, kind string, obj any) error {
	docs, err := readDocs(file)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if d.meta.Kind == kind {
			if err := yaml.Unmarshal(d.data, obj); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: no %s", file, kind)
}

// kustomizeImages reads the images: list of a kustomization.yaml as a map
// from image name to "newName:newTag", to replace the placeholders
// ("kserve-sklearnserver:replace") the runtime manifests carry.
func kustomizeImages(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var k struct {
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	images := map[string]string{}
	for _, img := range k.Images {
		name := img.NewName
		if name == "" {
			name = img.Name
		}
		if img.NewTag != "" {
			name += ":" + img.NewTag
		}
		images[img.Name] = name
	}
	return images, nil
}

// resolveImage maps a kustomize placeholder image ("name:replace") to the
// image kustomize would set; unknown names keep their value.
func resolveImage(images map[string]string, image string) string {
	name := image
	if i := strings.LastIndex(image, ":"); i > 0 && !strings.Contains(image[i:], "/") {
		name = image[:i]
	}
	if v, ok := images[name]; ok {
		return v
	}
	return image
}

// moduleDir returns the module cache directory of a module in the build
// list of the main module at repoRoot.
func moduleDir(repoRoot, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w: %s", module, err, stderr.String())
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("go list -m %s: module not in the module cache (run go mod download %s)", module, module)
	}
	return dir, nil
}
