#!/usr/bin/env bash
# Build the Go binaries that the interop tests run: tailscaled and tailscale
# from the tailscale.com version pinned in go.mod, h2spec, and every program
# under cmd/. The binaries go to interop/.bin/.
#
# The build is skipped when interop/.bin/STAMP matches a SHA-256 over go.mod,
# go.sum, this script, the Go version, GOOS/GOARCH and every *.go file under
# interop/, and all binaries exist. Missing modules are downloaded from
# GOPROXY by `go build` itself.
set -euo pipefail

interop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin_dir="$interop_dir/.bin"
stamp_file="$bin_dir/STAMP"

# Use the installed Go even if go.mod names a newer one, so a build never
# downloads a toolchain behind the caller's back.
export GOTOOLCHAIN=local
export CGO_ENABLED=0

go_cmd="$(command -v go || true)"
if [[ -z "$go_cmd" && -x /usr/local/go/bin/go ]]; then
  go_cmd=/usr/local/go/bin/go
fi
if [[ -z "$go_cmd" ]]; then
  echo "interop/build.sh: 'go' not found in PATH or /usr/local/go/bin." >&2
  echo "Install Go (the version in interop/go.mod or newer) from https://go.dev/dl/ and rerun." >&2
  exit 1
fi

cd "$interop_dir"
mkdir -p "$bin_dir"

# Serialize concurrent runs (two test processes starting at once) so that
# neither one reads a half-written stamp or binary.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$bin_dir/.lock"
  flock 9
fi

programs=(tailscaled tailscale h2spec)
program_packages=(tailscale.com/cmd/tailscaled tailscale.com/cmd/tailscale github.com/summerwind/h2spec/cmd/h2spec)
for dir in cmd/*/; do
  [[ -d "$dir" ]] || continue
  compgen -G "${dir}*.go" >/dev/null || continue
  programs+=("$(basename "$dir")")
  program_packages+=("./${dir%/}")
done

compute_stamp() {
  {
    "$go_cmd" version
    "$go_cmd" env GOOS GOARCH
    find . -path ./.bin -prune -o -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \) -print \
      | LC_ALL=C sort \
      | xargs sha256sum
  } | sha256sum | cut -d' ' -f1
}

all_binaries_exist() {
  local program
  for program in "${programs[@]}"; do
    [[ -x "$bin_dir/$program" ]] || return 1
  done
}

stamp="$(compute_stamp)"
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]] && all_binaries_exist; then
  echo "interop: binaries in interop/.bin are up to date (${programs[*]})"
  exit 0
fi

# Stamp the version as Tailscale's build_dist.sh does. Without it, a plain
# module build reports "1.92.5-ERR-BuildInfo" to the control server.
if ! tailscale_version="$("$go_cmd" list -m -f '{{.Version}}' tailscale.com)"; then
  echo "interop/build.sh: could not read the tailscale.com version from interop/go.mod." >&2
  exit 1
fi
tailscale_version="${tailscale_version#v}"
ldflags="-X tailscale.com/version.shortStamp=$tailscale_version -X tailscale.com/version.longStamp=$tailscale_version-wonder-interop"

# Remove the old stamp first so that a failed build is never mistaken for a
# finished one.
rm -f "$stamp_file"
started=$SECONDS
if ! "$go_cmd" build -buildvcs=false -trimpath -ldflags "$ldflags" -o "$bin_dir/" "${program_packages[@]}"; then
  echo "interop/build.sh: go build failed for ${program_packages[*]}; see the compiler output above." >&2
  exit 1
fi
echo "$stamp" >"$stamp_file"
echo "interop: built ${programs[*]} into interop/.bin in $((SECONDS - started)) s"
