#!/usr/bin/env bash
# Regenerate gomod/k8s/go.mod (and go.sum) for one Kubernetes release, e.g.:
#   tools/localcluster/gen-k8s-gomod.sh v1.35.4
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and maps them to
# ./staging with replace directives, which a dependency's go.mod cannot use. The wrapper module replaces each
# of them with the published v0.<minor>.<patch>; the list is read from upstream's own go.mod, so a version bump
# is this one argument (plus KUBERNETES_VERSION in _versions.py).
# GOMOD_DIR overrides the output folder (used to check the committed file is reproducible).
set -euo pipefail

kv=${1:?usage: $0 <Kubernetes version, e.g. v1.35.4>}
case $kv in
  v1.*.*) ;;
  *) echo "$0: expected a version like v1.35.4, got '$kv'" >&2; exit 2 ;;
esac
sv="v0.${kv#v1.}"
out=${GOMOD_DIR:-$(cd "$(dirname "$0")" && pwd)/gomod/k8s}
command -v go >/dev/null || { echo "$0: go is not on PATH" >&2; exit 1; }

# Fetch upstream's go.mod from outside any module, so its v0.0.0 requirements are never resolved.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
upstream=$(cd "$scratch" && go mod download -json "k8s.io/kubernetes@$kv" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$upstream" ] || { echo "$0: could not download the go.mod of k8s.io/kubernetes@$kv" >&2; exit 1; }

# The wrapper is the main module: its go and godebug lines set the binaries' GODEBUG defaults, so copy upstream's.
go_line=$(awk '/^go [0-9]/ {print; exit}' "$upstream")
godebug_line=$(awk '/^godebug / {print; exit}' "$upstream")

mkdir -p "$out"
{
  printf 'module local.invalid/k8s-bins\n\n%s\n\n' "$go_line"
  [ -z "$godebug_line" ] || printf '%s\n\n' "$godebug_line"
  printf 'require k8s.io/kubernetes %s\n\nreplace (\n' "$kv"
  awk -v sv="$sv" '/^\tk8s\.io\/[^ ]+ v0\.0\.0$/ {print "\t" $1 " => " $1 " " sv}' "$upstream"
  printf ')\n'
} >"$out/go.mod"
rm -f "$out/go.sum"
(cd "$out" && go mod tidy)
echo "wrote $out/go.mod for k8s.io/kubernetes $kv (staging modules at $sv)"
