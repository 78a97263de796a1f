#!/usr/bin/env bash
# Builds the kubelet pinned in hack/tools/kubelet (k8s.io/kubernetes cmd/kubelet) into OUTDIR/kubelet.
# The build takes many minutes on a small machine, so the binary is cached: it is rebuilt only when
# OUTDIR/kubelet is missing or OUTDIR/kubelet.pin does not hold the checksum of the pin
# (hack/tools/kubelet/go.mod + go.sum) it was built from.
#
# `go install k8s.io/kubernetes/cmd/kubelet@vX` is refused (kubernetes' go.mod replaces its staging
# modules with local paths); the tools module replaces each with its published release instead.
#
# Usage: hack/build-kubelet.sh OUTDIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
tools=$(cd "$(dirname "$0")/tools/kubelet" && pwd)
cd "$tools"

pin=$(cat go.mod go.sum | sha256sum | cut -d' ' -f1)
if [[ -x "$out/kubelet" && -f "$out/kubelet.pin" && "$(cat "$out/kubelet.pin")" == "$pin" ]]; then
	exit 0
fi

version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' go.mod)
minor=$(echo "$version" | cut -d. -f2)
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"

echo "build-kubelet: building kubelet $version (cached in $out; takes minutes the first time)"
start=$SECONDS
rm -f "$out/kubelet.pin"
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet
mv "$out/kubelet.tmp" "$out/kubelet"
echo "$pin" >"$out/kubelet.pin"
echo "build-kubelet: built in $((SECONDS - start)) s"
