#!/usr/bin/env bash
# Builds the test-only Go tools of the real suite (test/real/<tool>/, one module each) into a cache outside the
# repository, and installs the Debian packages the suite runs. A tool is rebuilt only when the files of its module
# change: the binary's name carries a hash of its go.mod, go.sum and sources.
#
#   scripts/real/build-tools.sh [tool ...]     (default: every tool)
#
# Prints one line "<tool>=<path of the binary>" per tool on stdout; progress goes to stderr.
# VAULT_CSI_REAL_CACHE overrides the cache directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
cache=${VAULT_CSI_REAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-csi-provider-ts/real}
mkdir -p "$cache"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH=/usr/local/go/bin:$PATH; fi
command -v go >/dev/null 2>&1 || { echo "build-tools: Go is needed for the real suite (go1.26 or later)" >&2; exit 1; }

# tool → "module directory:package:extra directories whose files count toward the hash". The package is a path
# inside the module (./cmd/etcd) or the import path of a main package of a dependency that the module tracks with
# a `tool` directive (a main package cannot be imported, so it is built from its import path).
declare -A modules=(
  [vault]="test/real/vault:.:"
  [driver-client]="test/real/driver:.:test/real/mlog"
  [kube-apiserver]="test/real/kube:./cmd/kube-apiserver:"
  [etcd]="test/real/kube:./cmd/etcd:"
  [csi-driver]="test/real/csi-driver:sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver:test/real/mlog"
  [csi-kubelet]="test/real/csi-driver:./cmd/csi-kubelet:test/real/mlog"
  [helm]="test/real/helm:helm.sh/helm/v3/cmd/helm:"
)
# Commands of the Debian packages installed below that the suite runs: tool → path, printed like the Go tools.
declare -A debian=(
  [kubectl]=/usr/bin/kubectl
)
all=(vault driver-client kube-apiserver etcd csi-driver csi-kubelet helm kubectl)

hash_of() { # the files of the given directories, in a fixed order, hashed with the Go version
  { go version; for d in "$@"; do (cd "$root/$d" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs cat); done; } \
    | sha256sum | cut -c1-16
}

ensure_debian() { # package [file that shows it is installed]
  if [ -n "${2:-}" ] && compgen -G "$2" >/dev/null; then return 0; fi
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
  echo "build-tools: installing $1 from Debian" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2
}

check_vault_replaces() { # our go.mod must carry exactly Vault's own non-local replaces
  local want have
  want=$("$root/scripts/real/vault-replaces.sh")
  have=$(grep -E '^replace ' "$root/test/real/vault/go.mod" || true)
  if [ "$want" != "$have" ]; then
    printf 'build-tools: test/real/vault/go.mod must carry the replaces of Vault'"'"'s go.mod:\n%s\nit has:\n%s\n' "$want" "$have" >&2
    exit 1
  fi
}

check_kube_replaces() { # our go.mod must map each staging module of k8s.io/kubernetes to its published release
  local want have
  want=$("$root/scripts/real/kube-replaces.sh")
  have=$(grep -E '^replace ' "$root/test/real/kube/go.mod" || true)
  if [ "$want" != "$have" ]; then
    printf 'build-tools: test/real/kube/go.mod must carry the replaces that scripts/real/kube-replaces.sh prints:\n%s\nit has:\n%s\n' "$want" "$have" >&2
    exit 1
  fi
}

version_ldflags() { # tool module-directory: -X flags that stamp a binary with its release, as its own build does
  case $1 in
    kube-apiserver)
      # Without them /version says v0.0.0-master, and clients that compare versions (helm's kubeVersion, kubectl's
      # skew warning) see no release.
      local v; v=$(cd "$root/$2" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
      local minor=${v#v1.}; minor=${minor%%.*}
      printf -- '-X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=%s' "$v" "$minor"
      ;;
    csi-driver) # its user agent and --version
      printf -- '-X sigs.k8s.io/secrets-store-csi-driver/pkg/version.BuildVersion=%s' "$(cd "$root/$2" && go list -m -f '{{.Version}}' sigs.k8s.io/secrets-store-csi-driver)"
      ;;
    helm) # `helm version` and .Capabilities.HelmVersion
      printf -- '-X helm.sh/helm/v3/internal/version.version=%s' "$(cd "$root/$2" && go list -m -f '{{.Version}}' helm.sh/helm/v3)"
      ;;
  esac
}

build() {
  if [ -n "${debian[$1]:-}" ]; then echo "$1=${debian[$1]}"; return; fi
  local tool=$1 spec=${modules[$1]:?unknown tool $1}
  local dir=${spec%%:*} rest=${spec#*:}
  local pkg=${rest%%:*} extra=${rest#*:}
  # shellcheck disable=SC2086
  local h; h=$(hash_of "$dir" ${extra//,/ })
  local xflags; xflags=$(version_ldflags "$tool" "$dir")
  [ -z "$xflags" ] || h=$(printf '%s %s' "$h" "$xflags" | sha256sum | cut -c1-16)
  local bin=$cache/$tool-$h
  if [ ! -x "$bin" ]; then
    [ "$tool" != vault ] || check_vault_replaces
    [ "$dir" != test/real/kube ] || check_kube_replaces
    echo "build-tools: building $tool (module $dir); a cold build of Vault takes a long time on two cores" >&2
    (
      cd "$root/$dir"
      exec 9>"$cache/.$tool.lock"
      flock 9
      [ -x "$bin" ] || { GOFLAGS=-mod=readonly go build -trimpath -ldflags="-s -w $xflags" -o "$bin.tmp" "$pkg" && mv "$bin.tmp" "$bin"; }
    )
  fi
  echo "$tool=$bin"
}

# PostgreSQL (for Vault's database secrets engine) and kubectl come from Debian.
ensure_debian postgresql '/usr/lib/postgresql/*/bin/postgres'
ensure_debian postgresql-client /usr/bin/psql
ensure_debian kubectl /usr/bin/kubectl

[ $# -gt 0 ] || set -- "${all[@]}"
for tool in "$@"; do build "$tool"; done
