#!/usr/bin/env bash
# Builds the provider image from the Dockerfile with podman, on a machine with neither a Docker daemon nor a
# container registry (`npm run test:image` runs it first; docs/operations.md, "Building and verifying the image").
#
#   1. installs podman, runc and mmdebstrap from Debian when missing (needs root, as the real suite does);
#   2. keeps podman's configuration, storage and run state in a cache directory outside the repository, handed to
#      podman through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF / CONTAINERS_REGISTRIES_CONF: nothing global changes;
#   3. builds a local stand-in for the Dockerfile's base (node:<version>-bookworm-slim cannot be pulled here):
#      Debian bookworm (mmdebstrap, minbase, slimmed as the official slim images are) with the same Node binary in
#      /usr/local/bin, the npm and corepack that Node release bundles in /usr/local/lib/node_modules, yarn in /opt, and
#      the user node (1000:1000), as the official image lays them out. Built once per recipe (scripts/image/standin.sh);
#   4. builds the Dockerfile unchanged, the stand-in passed as --build-arg NODE_IMAGE, the OCI labels' version,
#      revision, created and source as build args from package.json and git. The build is skipped when an image of the
#      same inputs (Dockerfile, package*.json, tsconfig*.json, scripts/build.ts, scripts/code-cache.ts, scripts/image/dockerfile.ts, src/, proto/, the base) and revision exists;
#   5. prints the image's size and layers.
#
# Prints the image reference as the last line of stdout (also written to <cache>/image-ref); progress on stderr.
# VCP_IMAGE_CACHE overrides the cache directory; VCP_IMAGE_STORAGE_DRIVER=vfs uses podman's vfs driver instead of overlay.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
# shellcheck source=scripts/image/podman-env.sh
source "$root/scripts/image/podman-env.sh"
log() { echo "image: $*" >&2; }

# 1. What podman needs here: rootful podman with runc (crun fails on this machine's cgroups and rlimits); mmdebstrap
#    for the stand-in base; iproute2 and util-linux for the test's private network namespace.
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
[ -x /usr/sbin/runc ] || missing+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "needs root to install ${missing[*]} (and to run podman rootful)"; exit 1; }
  log "installing ${missing[*]} from Debian"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
[ "$(id -u)" = 0 ] || { log "podman runs rootful here: run as root"; exit 1; }

# 2. podman's files, all under the cache.
write_podman_config

# 3. The stand-in base.
standin=$("$root/scripts/image/standin.sh")

# 4. The image.
version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit's time, not the clock's (the SOURCE_DATE_EPOCH convention): the same commit labels the same.
created=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
source_url=$(node -p 'const r = require("./package.json").repository; (typeof r === "string" ? r : r?.url) ?? ""')
if [ -z "$source_url" ]; then
  origin=$(git remote get-url origin 2>/dev/null || true)
  case $origin in https://* | http://*) source_url=${origin%.git} ;; esac
fi
base_id=$(podman image inspect --format '{{.Id}}' "$standin")
inputs=$({
  echo "$base_id"
  find Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json scripts/build.ts scripts/code-cache.ts scripts/image/dockerfile.ts src proto -type f -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)
image=localhost/vault-csi-provider-ts:$version-$inputs
have_revision=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$image" 2>/dev/null || true)
if [ "$have_revision" = "$revision" ]; then
  log "$image is built (inputs $inputs, revision $revision)"
else
  log "building $image on $standin"
  started=$(date +%s)
  # The trust this machine's own npm has: where the registry is reached through a TLS-inspecting proxy, its CA is in
  # NODE_EXTRA_CA_CERTS, and npm in a build stage without it fails every fetch (npm 10.8.2 then exits 0 with nothing
  # installed: "Exit handler never called!"). Given to the build's RUN steps only: a directory holding npm's global
  # npmrc (`cafile`) and the CA, bind-mounted over the base's empty /usr/local/etc (an existing directory, so the
  # mount leaves no mount point behind in a layer; the image test checks that nothing was added outside /app).
  trust=()
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    rm -rf "$VCP_IMAGE_CACHE/build-trust"
    mkdir -p "$VCP_IMAGE_CACHE/build-trust"
    cp "$NODE_EXTRA_CA_CERTS" "$VCP_IMAGE_CACHE/build-trust/build-ca.pem"
    printf 'cafile=/usr/local/etc/build-ca.pem\n' >"$VCP_IMAGE_CACHE/build-trust/npmrc"
    trust=(--volume "$VCP_IMAGE_CACHE/build-trust:/usr/local/etc:ro")
  fi
  # --network=host: the build stages' `npm ci` reaches the npm registry through the host's network (rootful podman's
  # bridge would need netfilter set up for it); nothing else differs from `docker build`.
  # The same values again as --label: podman's layer cache (buildah 1.28) reuses the Dockerfile's LABEL step when
  # only the build arguments it expands changed, which would keep the previous commit's revision; --label is applied
  # to the image itself. A cold build (no cache) takes them from the Dockerfile's LABEL alone, as `docker build` does.
  labels=()
  for l in "version=$version" "revision=$revision" "created=$created" "source=$source_url" "base.name=$standin"; do
    labels+=(--label "org.opencontainers.image.$l")
  done
  podman build --network=host --pull=never --layers "${trust[@]}" \
    --build-arg "NODE_IMAGE=$standin" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" \
    --build-arg "SOURCE=$source_url" \
    "${labels[@]}" \
    -t "$image" -f Dockerfile . >&2
  log "built in $(( $(date +%s) - started )) s"
  # Earlier builds' tags go; their layers stay in podman's cache for the next build.
  podman images --format '{{.Repository}}:{{.Tag}}' localhost/vault-csi-provider-ts \
    | { grep -v -x -F "$image" || true; } | xargs -r podman rmi >/dev/null 2>&1 || true
fi
echo "$image" >"$VCP_IMAGE_CACHE/image-ref"

# 5. Size and layers.
size=$(podman image inspect --format '{{.Size}}' "$image")
log "$image: $(( size / 1024 / 1024 )) MiB, $(podman history -q "$image" | wc -l) history entries; layers:"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$image" | cut -c1-150 | sed 's/^/image:   /' >&2
echo "$image"
