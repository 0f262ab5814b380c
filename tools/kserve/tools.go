//go:build tools

// Package tools blank-imports the command that hack/envtest-assets.sh builds,
// so that `go mod tidy` keeps its requirements in go.mod/go.sum.
package tools

import (
	_ "github.com/kserve/kserve/cmd/manager"
)
