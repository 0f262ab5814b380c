//go:build tools

// Package tools blank-imports the commands that hack/envtest-assets.sh builds,
// so that `go mod tidy` keeps their requirements in go.mod/go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
