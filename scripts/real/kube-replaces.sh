#!/usr/bin/env bash
# Prints the replace directives test/real/kube needs: k8s.io/kubernetes requires each of its staging modules
# (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and points them at ./staging/src with local replaces, which Go
# applies only when kubernetes is the main module. Each becomes the published module of the same release: for
# kubernetes v1.N.P that is v0.N.P. The list is read from the module proxy's copy of the required release's go.mod,
# so it follows a version bump; build-tools.sh refuses to build when test/real/kube/go.mod and this list differ.
set -euo pipefail
cd "$(dirname "$0")/../../test/real/kube"
# Read the version from go.mod itself: loading the module graph would already need these replaces.
version=$(go mod edit -json | sed -n '/"Path": "k8s.io\/kubernetes"/{n;s/^[[:space:]]*"Version": "\(.*\)".*$/\1/p;}')
case $version in
  v1.*.*) ;;
  *) echo "kube-replaces: test/real/kube/go.mod must require k8s.io/kubernetes v1.N.P (found '$version')" >&2; exit 1 ;;
esac
staging=v0.${version#v1.}
# Outside any module, so that neither our go.mod nor a go.work is consulted.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mod=$(cd "$tmp" && go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
sed -n 's#^[[:space:]]*\(k8s.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/\1[[:space:]]*$#replace \1 => \1 '"$staging"'#p' "$mod"
