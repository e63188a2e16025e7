#!/usr/bin/env bash
# Prints the non-local replace directives of the go.mod of the Vault version that test/real/vault requires, read
# from the module proxy's copy. Go applies a module's replaces only when it is the main module, so test/real/vault
# must carry these itself; build-tools.sh refuses to build when its go.mod and this list differ.
set -euo pipefail
cd "$(dirname "$0")/../../test/real/vault"
version=$(go list -m -f '{{.Version}}' github.com/hashicorp/vault)
mod=$(go mod download -json "github.com/hashicorp/vault@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
grep -E '^replace ' "$mod" | grep -vE '=>[[:space:]]*\.{1,2}/' || true
