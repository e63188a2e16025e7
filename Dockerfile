# syntax=docker/dockerfile:1
# The provider image: docker build -t vault-csi-provider-ts:0.1.0 .
#
# Three stages on one pinned Node 20 base: `build` type-checks src/ and bundles it with its dependencies into one file
# (dist/provider.cjs: one file to read at start instead of ~700 modules), with the V8 code cache that spares compiling
# it, written by this same node under the runtime stage's flags (read from this file), and `deps` installs the
# production dependencies alone, and the runtime stage takes node_modules, dist/, proto/ and package.json from them
# — no compiler, no tests, no test Vault server, no npm. It needs no writable path, so it runs with
# readOnlyRootFilesystem. Pin the digest too in production: FROM node:20.20.2-bookworm-slim@sha256:<digest>.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ls after npm ci: npm 10 can end an install that failed to fetch with "Exit handler never called!" and status 0.
RUN npm ci --no-audit --no-fund && npm ls --all > /dev/null
COPY tsconfig.json tsconfig.build.json ./
COPY Dockerfile ./
COPY scripts/build.ts scripts/code-cache.ts ./scripts/
COPY scripts/image/dockerfile.ts ./scripts/image/
COPY proto ./proto
COPY src ./src
RUN npx tsc -p tsconfig.build.json
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# No install scripts: no production dependency needs one (protobufjs's only checks version schemes).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm ls --omit=dev --all > /dev/null
# The SBOM of the production dependencies as npm ci just installed them, in CycloneDX. Not `npm sbom --omit=dev`:
# npm 10 leaves out the production packages a dev dependency also uses (8 of 86 here) and counts the dev dependencies
# it did not install as missing. Dropping devDependencies from this stage's package.json (the runtime stage copies its
# own) makes the installed tree the whole tree.
RUN npm pkg delete devDependencies && npm sbom --sbom-format=cyclonedx > /sbom.cdx.json

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="vault-csi-provider-ts" \
      org.opencontainers.image.description="Secrets Store CSI Driver provider for HashiCorp Vault, in TypeScript" \
      org.opencontainers.image.licenses="MPL-2.0"
ENV NODE_ENV=production
# V8 sized for a DaemonSet, not for the node: left alone, Node sizes its heap from the machine's memory (a 16 MiB
# young generation, old space collected lazily) and starts a GC thread per CPU, each with its own malloc arena, and
# the provider then sits near 200 MiB. With these (and --liftoff-only below) it peaks near 110 MiB through
# `npm run bench`, which starts it with exactly these flags. The old space holds the loaded code, the caches' byte
# bounds and the whole --memory-budget with room to collect (docs/benchmark.md, "Memory"). Override in the
# DaemonSet's env if you raise those bounds.
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=96 --v8-pool-size=1"
# npm, npx, yarn and corepack are not needed to run the provider: fewer binaries, fewer CVE reports.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY proto ./proto
COPY --from=build /src/dist ./dist
COPY --from=deps /sbom.cdx.json ./sbom.cdx.json
# Non-root by default (the base image's "node" user). The DaemonSet runs it as root without capabilities where the
# hostPath socket directory is root-owned; see README, "Running as non-root".
USER 1000:1000
EXPOSE 8080
# --liftoff-only: undici's HTTP parser is WebAssembly, and V8 re-compiling it with TurboFan in the background took
# about 35 MiB for a second or two after the first mounts (the peak) and more CPU than it saved; Liftoff's code
# serves it (docs/benchmark.md, "At rest"). V8 flags go here: NODE_OPTIONS does not accept them.
ENTRYPOINT ["node", "--liftoff-only", "/app/dist/main.js"]
CMD ["--endpoint=/provider/vault.sock"]
# Last, so that a new commit (revision, created) rebuilds no layer above: pass them as npm run test:image does
# (docs/operations.md, "Building and verifying the image"). VERSION's default is package.json's version.
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
ARG SOURCE=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}" \
      vault-csi-provider-ts.sbom="/app/sbom.cdx.json"
