#!/usr/bin/env bash
# Publish lmkd as one Native AOT executable: artifacts/aot/lmkd (plus the default appsettings.json).
# Needs the .NET 10 SDK, gcc (the linker) and zlib1g-dev. Trim/AOT warnings fail the publish
# (TreatWarningsAsErrors): a warning under AOT is a feature that silently does nothing at run time.
# Usage: scripts/publish-aot.sh [OUTPUT_DIR]   (default: artifacts/aot)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/aot}
rid=linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet publish src/Lmkd/Lmkd.csproj -c Release -r "$rid" -p:PublishAot=true -o "$out" -nologo -v:q -clp:NoSummary
# Debug symbols are split off (lmkd.dbg); the binary that gets installed is the stripped one.
test -x "$out/lmkd"
echo "publish-aot: $out/lmkd ($(du -k "$out/lmkd" | cut -f1) KiB, $rid)"
