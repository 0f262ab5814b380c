// Package rego holds canary-guard's shipped policy bundle (package
// canary_guard) and its Rego unit tests, runnable with `opa test rego/`.
package rego

import (
	"embed"
	"io/fs"
)

//go:embed *.rego
var files embed.FS

// Bundle returns the shipped policy files, tests included; loaders skip
// files ending in _test.rego.
func Bundle() fs.FS { return files }
