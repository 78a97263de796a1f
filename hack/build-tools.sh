#!/usr/bin/env bash
# Builds crictl and critest from the pinned tools module (hack/tools: sigs.k8s.io/cri-tools) into
# OUTDIR. A binary is rebuilt only when it is missing or older than hack/tools/go.sum.
#
# The checksum database refuses sigs.k8s.io/cri-tools here; its checksums come from the committed
# hack/tools/go.sum instead.
#
# Usage: hack/build-tools.sh OUTDIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
tools=$(cd "$(dirname "$0")/tools" && pwd)

export GONOSUMDB=sigs.k8s.io/cri-tools GOFLAGS=-mod=mod
cd "$tools"

fresh() { [[ -x "$1" && "$1" -nt go.sum ]]; }

if ! fresh "$out/crictl"; then
	echo "build-tools: building crictl"
	go build -o "$out/crictl" sigs.k8s.io/cri-tools/cmd/crictl
fi
if ! fresh "$out/critest"; then
	echo "build-tools: building critest"
	go test -c -o "$out/critest" sigs.k8s.io/cri-tools/cmd/critest
fi
