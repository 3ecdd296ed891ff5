#!/usr/bin/env bash
# Package smoke tests. Packs the solution as CI does (CI=true: a deterministic build), then checks
#   (1) what each package holds: icon, README with absolute links only, repository metadata; the libraries' font
#       licence; the tool's natives for every platform it supports, and nothing else large;
#   (2) each library package in a fresh console app from the local feed: it explains a photo (the CUDA package on a
#       machine without CUDA must fall back to CPU and say so), embeds the font, its licence and the viewer files,
#       was built deterministically, and its symbol package maps sources by SourceLink and embeds the generated ones;
#   (3) the CLI as a dotnet tool: it installs, runs, and asked for CUDA says how to get the CUDA build;
#   (4) that CUDA build, packed from the source with the commands that message prints: it installs and, asked for
#       CUDA on a machine without it, says what to install (or runs on the GPU where there is one).
# Prints "smoke: PASS name" / "smoke: FAIL name" lines for .ci/run to count, and the package sizes.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
# Build outputs go here, not into the projects' obj/ and bin/: a portable (RID-less) pack must not disturb a
# developer's RID-specific build. Inside the repository (ignored by git), so the deterministic paths map it to /_/.
artifacts="$repo/artifacts/smoke"
rm -rf "$artifacts"
trap 'rm -rf "$work" "$artifacts"' EXIT
# A version unique to this run, so the shared NuGet cache never serves a stale build of the same number.
version="0.1.0-ci.$(date +%s)"
feed="$work/feed"
export CI=true
model="$repo/models/fashion-vit"
image="$repo/models/fashion-vit/images/0000-ankle-boot.png"

pass() { echo "smoke: PASS $*"; }
fail() { echo "smoke: FAIL $*"; }
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

if ! dotnet pack "$repo/VitAttention.sln" -c Release -o "$feed" -p:Version="$version" --artifacts-path "$artifacts" >"$work/pack.log" 2>&1; then
  tail -20 "$work/pack.log"
  fail pack
  exit 0
fi
pass pack

# ---- (1) package contents -------------------------------------------------------------------------------------------
repository_url=$(sed -n 's:.*<RepositoryUrl>\(.*\)</RepositoryUrl>.*:\1:p' "$repo/Directory.Build.props")
for pkg in VitAttention VitAttention.Cuda VitAttention.Cli; do
  nupkg="$feed/$pkg.$version.nupkg"
  files=$(unzip -Z1 "$nupkg")
  nuspec=$(unzip -p "$nupkg" "$pkg.nuspec")
  problems=()
  grep -qx 'icon.png' <<<"$files" || problems+=("no icon.png")
  grep -qx 'README.md' <<<"$files" || problems+=("no README.md")
  grep -q '<icon>icon.png</icon>' <<<"$nuspec" || problems+=("nuspec names no icon")
  grep -q '<readme>README.md</readme>' <<<"$nuspec" || problems+=("nuspec names no readme")
  grep -q "<projectUrl>$repository_url</projectUrl>" <<<"$nuspec" || problems+=("projectUrl is not $repository_url")
  grep -Eq "<repository type=\"git\" url=\"$repository_url\"[^>]* commit=\"[0-9a-f]{40}\"" <<<"$nuspec" || problems+=("no repository url + commit")
  # Every markdown link or image in the packed README must be absolute: a package page cannot resolve docs/... .
  relative=$(unzip -p "$nupkg" README.md | grep -oP '\]\((?![a-zA-Z][a-zA-Z0-9+.-]*:|#)[^)]*\)' | head -3 | tr '\n' ' ')
  [ -z "$relative" ] || problems+=("relative links in README: $relative")
  if [ "$pkg" != VitAttention.Cli ]; then
    grep -qx 'licenses/LICENSE-DejaVu.txt' <<<"$files" || problems+=("no font licence file")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    pass "$pkg package metadata ($(mb "$nupkg"))"
  else
    fail "$pkg package metadata: ${problems[*]}"
  fi
done

# The tool is framework-dependent and portable: one package for Windows, macOS and Linux on x64 and arm64. Each
# platform needs ONNX Runtime's and SkiaSharp's native library under runtimes/, and the deps.json must list them.
# ONNX Runtime stopped shipping a macOS x64 library in 1.24 (and we pin 1.31), so osx-x64 has SkiaSharp's universal
# macOS library but no ONNX Runtime: see README, "Install".
tool="$feed/VitAttention.Cli.$version.nupkg"
tool_files=$(unzip -Z1 "$tool")
deps=$(unzip -p "$tool" 'tools/net10.0/any/vit-attention.deps.json')
declare -A natives=(
  [win-x64]="runtimes/win-x64/native/onnxruntime.dll runtimes/win-x64/native/libSkiaSharp.dll"
  [win-arm64]="runtimes/win-arm64/native/onnxruntime.dll runtimes/win-arm64/native/libSkiaSharp.dll"
  [linux-x64]="runtimes/linux-x64/native/libonnxruntime.so runtimes/linux-x64/native/libSkiaSharp.so"
  [linux-arm64]="runtimes/linux-arm64/native/libonnxruntime.so runtimes/linux-arm64/native/libSkiaSharp.so"
  [osx-arm64]="runtimes/osx-arm64/native/libonnxruntime.dylib runtimes/osx/native/libSkiaSharp.dylib"
  [osx-x64]="runtimes/osx/native/libSkiaSharp.dylib"
)
for rid in win-x64 win-arm64 osx-x64 osx-arm64 linux-x64 linux-arm64; do
  missing=()
  for f in ${natives[$rid]}; do
    grep -qx "tools/net10.0/any/$f" <<<"$tool_files" || missing+=("$f (package)")
    grep -qF "\"$f\"" <<<"$deps" || missing+=("$f (deps.json)")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    pass "tool natives for $rid"
  else
    fail "tool natives for $rid: missing ${missing[*]}"
  fi
done
# Nothing else large: no other platforms' natives, no native debug symbols, no RID-pinned build (a pinned tool
# would put its natives next to vit-attention.dll), and a size that stays reasonable.
extra=$(grep -E '^tools/net10.0/any/runtimes/' <<<"$tool_files" | grep -vE '/runtimes/(win-x64|win-arm64|osx-x64|osx-arm64|osx|linux-x64|linux-arm64)/' | head -3 | tr '\n' ' ')
pdbs=$(grep -E '^tools/.*/runtimes/.*\.(pdb|lib)$' <<<"$tool_files" | head -3 | tr '\n' ' ')
pinned=$(grep -E '^tools/net10.0/any/(libonnxruntime\.(so|dylib)|onnxruntime\.dll|libSkiaSharp\.(so|dll|dylib))$' <<<"$tool_files" | tr '\n' ' ')
tool_bytes=$(stat -c %s "$tool")
if [ -z "$extra$pdbs$pinned" ] && [ "$tool_bytes" -lt 100000000 ]; then
  pass "tool package is portable and only holds the supported platforms' natives ($(mb "$tool"))"
else
  fail "tool package contents: other platforms '$extra' symbols '$pdbs' pinned '$pinned' size $(mb "$tool") (limit 100 MB)"
fi

# ---- (2) each library package in a fresh console app ----------------------------------------------------------------
resources="VitAttention.Rendering.Fonts.DejaVuSans.ttf,VitAttention.Rendering.Fonts.LICENSE-DejaVu.txt,VitAttention.Rendering.Viewer.viewer.css,VitAttention.Rendering.Viewer.viewer.html,VitAttention.Rendering.Viewer.viewer.js"
for pkg in VitAttention VitAttention.Cuda; do
  app="$work/app-$pkg"
  mkdir -p "$app/symbols"
  cat >"$app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><add key="local-feed" value="$feed" /></packageSources></configuration>
XML
  cat >"$app/SmokeApp.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings><RuntimeIdentifier>linux-x64</RuntimeIdentifier><SelfContained>false</SelfContained>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
  </PropertyGroup>
  <ItemGroup><PackageReference Include="$pkg" Version="$version" /></ItemGroup>
</Project>
XML
  cp "$repo/tests/PackageSmoke/Program.cs.txt" "$app/Program.cs"
  unzip -q -o "$feed/$pkg.$version.snupkg" 'lib/net10.0/VitAttention.pdb' -d "$app/symbols"
  device=cpu
  [ "$pkg" = VitAttention.Cuda ] && device=cuda
  if (cd "$app" && dotnet run -c Release -- "$model" "$image" "$device" "$app/symbols/lib/net10.0/VitAttention.pdb") >"$app/out.log" 2>&1; then
    if [ "$device" = cuda ] && ! grep -q "device=Cpu" "$app/out.log"; then
      cat "$app/out.log"; fail "$pkg (expected CPU fallback on a machine without CUDA)"
    elif [ "$device" = cuda ] && ! grep -qi "warning:.*cpu" "$app/out.log"; then
      cat "$app/out.log"; fail "$pkg (the CPU fallback was not announced)"
    elif grep -q "top=Ankle boot layers=6 grid=7x7" "$app/out.log"; then
      grep -E "device=|warning" "$app/out.log"; pass "$pkg"
    else
      cat "$app/out.log"; fail "$pkg (unexpected output)"
    fi
    if grep -qx "resources=$resources" "$app/out.log"; then
      pass "$pkg embeds the font, its licence and the viewer files"
    else
      grep "resources=" "$app/out.log"; fail "$pkg resources (expected $resources)"
    fi
    # Deterministic CI build: a Reproducible debug entry, the PDB path mapped to /_/, no folder of this machine.
    if grep -qx 'reproducible=True pdb=/_/.*' "$app/out.log" && ! grep -qaF "$repo" "$app/symbols/lib/net10.0/VitAttention.pdb"; then
      pass "$pkg deterministic CI build ($(grep -o 'pdb=.*' "$app/out.log"))"
    else
      grep -E "reproducible=" "$app/out.log"; fail "$pkg deterministic CI build"
    fi
    # SourceLink: sources map to the repository at the built commit; generated files are embedded in the PDB.
    commit=$(git -C "$repo" rev-parse HEAD)
    raw_url=${repository_url/https:\/\/github.com\//https://raw.githubusercontent.com/}
    if grep -qF "sourcelink={\"documents\":{\"/_/*\":\"$raw_url/$commit/*\"}}" "$app/out.log" \
      && grep -qE '^documents=[0-9]+ embedded=.*AssemblyInfo\.cs' "$app/out.log" \
      && grep -qx 'first-document=/_/src/VitAttention/.*\.cs' "$app/out.log"; then
      pass "$pkg SourceLink with embedded untracked sources"
    else
      grep -E "sourcelink=|documents=|first-document=" "$app/out.log"; fail "$pkg SourceLink (expected $raw_url/$commit/*)"
    fi
  else
    tail -30 "$app/out.log"; fail "$pkg (build or run failed)"
  fi
done

# ---- (3) the CLI as a dotnet tool -----------------------------------------------------------------------------------
tools="$work/tools"
if dotnet tool install VitAttention.Cli --version "$version" --tool-path "$tools" --add-source "$feed" >"$work/tool.log" 2>&1 \
  && "$tools/vit-attention" explain "$image" --model "$model" --out "$work/out" >>"$work/tool.log" 2>&1 \
  && [ -s "$work/out/0000-ankle-boot.rollout.png" ] && [ -s "$work/out/0000-ankle-boot.json" ]; then
  pass "dotnet tool install + vit-attention explain"
else
  tail -30 "$work/tool.log"; fail "dotnet tool install + vit-attention explain"
fi
"$tools/vit-attention" classify "$image" --model "$model" --device cuda >"$work/cpu-cuda.out" 2>"$work/cpu-cuda.err"
code=$?
if [ "$code" -eq 6 ] && grep -qF "this one is the CPU build" "$work/cpu-cuda.err" \
  && grep -qF "dotnet tool install -g VitAttention.Cli.Cuda --add-source vit-attention-cuda" "$work/cpu-cuda.err"; then
  pass "vit-attention --device cuda (CPU build) says how to get the CUDA build"
else
  cat "$work/cpu-cuda.err"; fail "vit-attention --device cuda (CPU build): exit $code, expected 6 and the CUDA build's commands"
fi

# ---- (4) the CUDA build of the tool, packed from the source as that message says ------------------------------------
cuda_feed="$work/vit-attention-cuda"
cuda_tools="$work/cuda-tools"
if dotnet pack "$repo/src/VitAttention.Cli.Cuda" -c Release -o "$cuda_feed" -p:Version="$version" --artifacts-path "$artifacts" >"$work/pack-cuda.log" 2>&1 \
  && dotnet tool install VitAttention.Cli.Cuda --version "$version" --tool-path "$cuda_tools" --add-source "$cuda_feed" >>"$work/pack-cuda.log" 2>&1; then
  pass "VitAttention.Cli.Cuda packs from the source and installs ($(mb "$cuda_feed/VitAttention.Cli.Cuda.$version.nupkg"), not published)"
  "$cuda_tools/vit-attention" classify "$image" --model "$model" --device cuda >"$work/cuda.out" 2>"$work/cuda.err"
  code=$?
  if [ "$code" -eq 0 ] && grep -q "1\." "$work/cuda.out"; then
    pass "VitAttention.Cli.Cuda --device cuda runs (CUDA present)"
  elif [ "$code" -eq 6 ] && grep -qF "Install CUDA 13 and cuDNN 9" "$work/cuda.err" && ! grep -qF "CPU build" "$work/cuda.err"; then
    pass "VitAttention.Cli.Cuda --device cuda without CUDA says what to install"
  else
    cat "$work/cuda.err"; fail "VitAttention.Cli.Cuda --device cuda: exit $code"
  fi
  if "$cuda_tools/vit-attention" classify "$image" --model "$model" --device cuda --allow-cpu-fallback >"$work/cuda.out" 2>"$work/cuda.err" \
    && grep -q "1\." "$work/cuda.out"; then
    pass "VitAttention.Cli.Cuda --allow-cpu-fallback classifies"
  else
    cat "$work/cuda.err"; fail "VitAttention.Cli.Cuda --allow-cpu-fallback"
  fi
else
  tail -30 "$work/pack-cuda.log"; fail "VitAttention.Cli.Cuda packs from the source and installs"
fi
