#!/usr/bin/env bash
# npm run test:image: the real suite's tools it uses (scripts/real/build-tools.sh: Vault, the driver client, etcd,
# kube-apiserver, kubectl, PostgreSQL), the image (scripts/image/build.sh), then test/image/ against it, in a network
# namespace of the suite's own (loopback only): the container shares it, so the manifests' ports are free there and
# nothing the suite starts is reachable from outside. Extra arguments go to mocha (e.g. --grep SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/real/build-tools.sh vault driver-client kube-apiserver etcd kubectl >/dev/null
bash scripts/image/build.sh >/dev/null
exec unshare --net -- sh -c 'ip link set lo up && exec node_modules/.bin/mocha --config test/image/mocharc.json "$@"' sh "$@"
