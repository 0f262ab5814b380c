#!/usr/bin/env bash
# Builds the local control-plane binaries used by envtest and the e2e suite
# from pinned Go modules (no prebuilt downloads), caching them in bin/:
#
#   bin/kube-apiserver, bin/kubectl  k8s.io/kubernetes   (tools/envtest)
#   bin/etcd                         go.etcd.io/etcd/server/v3 (tools/envtest)
#   bin/kserve-manager               github.com/kserve/kserve/cmd/manager (tools/kserve)
#
# Run from the repo root. Idempotent: each binary is rebuilt only when its
# stamp (pinned version + hash of the tools module's go.mod/go.sum + Go
# version + build flags) changes or the binary is missing.
#
# Env: BIN_DIR (default: $(pwd)/bin). Use the result with
#   KUBEBUILDER_ASSETS="$BIN_DIR"  or  envtest.Environment{BinaryAssetsDirectory: ...}
set -euo pipefail

if [[ ! -f tools/envtest/go.mod || ! -f tools/kserve/go.mod ]]; then
	echo "envtest-assets.sh: run from the repository root" >&2
	exit 1
fi

ROOT=$(pwd)
BIN_DIR=${BIN_DIR:-$ROOT/bin}
mkdir -p "$BIN_DIR"
BIN_DIR=$(cd "$BIN_DIR" && pwd)

# The tools modules are standalone: never let a go.work in or above the repo
# pull them into a workspace.
export GOWORK=off

log() { echo "==> $*" >&2; }

GO_VERSION=$(go env GOVERSION)

# modinfo DIR MODULE TEMPLATE -> go list -m -f TEMPLATE for MODULE in DIR's build list.
modinfo() {
	go -C "$1" list -m -f "$3" "$2"
}

# hash_module DIR -> sha256 of DIR/go.mod + DIR/go.sum
hash_module() {
	cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -d' ' -f1
}

# build NAME VERSION ORIGIN MODDIR PKG CGO LDFLAGS
build() {
	local name=$1 version=$2 origin=$3 moddir=$4 pkg=$5 cgo=$6 ldflags=$7
	local out="$BIN_DIR/$name" stampfile="$BIN_DIR/.stamp-$name"
	local stamp
	stamp="$name $version $(hash_module "$moddir") $GO_VERSION CGO_ENABLED=$cgo -trimpath -ldflags=$ldflags"
	if [[ -x "$out" && -f "$stampfile" && "$(cat "$stampfile")" == "$stamp" ]]; then
		log "$name $version up to date"
		return 0
	fi
	if [[ -e "$out" ]]; then
		log "rebuilding $name $version from $origin (pins or toolchain changed)"
	else
		log "building $name $version from $origin (first build takes several minutes on 2 cores)"
	fi
	local start=$SECONDS
	rm -f "$stampfile"
	CGO_ENABLED=$cgo go -C "$moddir" build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg"
	mv -f "$out.tmp" "$out"
	printf '%s\n' "$stamp" >"$stampfile"
	log "built $name $version in $((SECONDS - start))s"
}

# --- k8s.io/kubernetes: kube-apiserver, kubectl -----------------------------
ENVTEST_MOD=tools/envtest
K8S_VERSION=$(modinfo "$ENVTEST_MOD" k8s.io/kubernetes '{{.Version}}') # e.g. v1.34.4
# buildDate = the release's publication time: reproducible, unlike $(date).
K8S_DATE=$(modinfo "$ENVTEST_MOD" k8s.io/kubernetes '{{with .Time}}{{.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}')
K8S_DATE=${K8S_DATE:-1970-01-01T00:00:00Z}
k8s_mm=${K8S_VERSION#v}
K8S_MAJOR=${k8s_mm%%.*}
k8s_mm=${k8s_mm#*.}
K8S_MINOR=${k8s_mm%%.*}
k8s_ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	# gitCommit is not recorded in the module zip; leave it empty rather than
	# the "$Format:%H$" placeholder.
	k8s_ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$K8S_MAJOR -X $p.gitMinor=$K8S_MINOR"
	k8s_ldflags+=" -X $p.gitCommit= -X $p.gitTreeState=clean -X $p.buildDate=$K8S_DATE"
done
build kube-apiserver "$K8S_VERSION" k8s.io/kubernetes "$ENVTEST_MOD" k8s.io/kubernetes/cmd/kube-apiserver 0 "$k8s_ldflags"
build kubectl "$K8S_VERSION" k8s.io/kubernetes "$ENVTEST_MOD" k8s.io/kubernetes/cmd/kubectl 0 "$k8s_ldflags"

# --- go.etcd.io/etcd/server/v3: etcd ----------------------------------------
ETCD_VERSION=$(modinfo "$ENVTEST_MOD" go.etcd.io/etcd/server/v3 '{{.Version}}')
# version.Version is a constant of go.etcd.io/etcd/api/v3 (same release
# train); only GitSHA is settable and the commit is unknown here.
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_VERSION"
build etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$ENVTEST_MOD" ./etcd 0 "$etcd_ldflags"

# --- github.com/kserve/kserve: controller manager ---------------------------
KSERVE_MOD=tools/kserve
KSERVE_VERSION=$(modinfo "$KSERVE_MOD" github.com/kserve/kserve '{{.Version}}')
build kserve-manager "$KSERVE_VERSION" github.com/kserve/kserve/cmd/manager "$KSERVE_MOD" github.com/kserve/kserve/cmd/manager 0 "-s -w"

log "binaries in $BIN_DIR (export KUBEBUILDER_ASSETS=$BIN_DIR)"
