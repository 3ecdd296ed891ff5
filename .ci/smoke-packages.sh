#!/usr/bin/env bash
# Package smoke tests: pack, then (1) a fresh console app restores each library package from the local feed and
# explains a photo (the CUDA package on a machine without CUDA must fall back to CPU and say so), and (2) the CLI
# installs as a dotnet tool and runs. Prints "smoke: PASS name" / "smoke: FAIL name" lines for .ci/run to count.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A version unique to this run, so the shared NuGet cache never serves a stale build of the same number.
version="0.1.0-ci.$(date +%s)"
feed="$work/feed"
if ! dotnet pack "$repo/VitAttention.sln" -c Release -o "$feed" -p:Version="$version" >"$work/pack.log" 2>&1; then
  tail -20 "$work/pack.log"
  echo "smoke: FAIL pack"
  exit 0
fi
echo "smoke: PASS pack"
model="$repo/models/demo-vit-tiny"
image="$repo/tests/VitAttention.Tests/Images/chelsea.png"

for pkg in VitAttention VitAttention.Cuda; do
  app="$work/app-$pkg"
  mkdir -p "$app"
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
  device=cpu
  [ "$pkg" = VitAttention.Cuda ] && device=cuda
  if (cd "$app" && dotnet run -c Release -- "$model" "$image" "$device") >"$app/out.log" 2>&1; then
    if [ "$device" = cuda ] && ! grep -q "device=Cpu" "$app/out.log"; then
      cat "$app/out.log"; echo "smoke: FAIL $pkg (expected CPU fallback on a machine without CUDA)"
    elif [ "$device" = cuda ] && ! grep -qi "warning:.*cpu" "$app/out.log"; then
      cat "$app/out.log"; echo "smoke: FAIL $pkg (the CPU fallback was not announced)"
    elif grep -q "layers=4 grid=14x14" "$app/out.log"; then
      grep -E "device=|warning" "$app/out.log"; echo "smoke: PASS $pkg"
    else
      cat "$app/out.log"; echo "smoke: FAIL $pkg (unexpected output)"
    fi
  else
    tail -30 "$app/out.log"; echo "smoke: FAIL $pkg (build or run failed)"
  fi
done

tools="$work/tools"
if dotnet tool install VitAttention.Cli --version "$version" --tool-path "$tools" --add-source "$feed" >"$work/tool.log" 2>&1 \
  && "$tools/vit-attention" explain "$image" --model "$model" --out "$work/out" >>"$work/tool.log" 2>&1 \
  && [ -s "$work/out/chelsea.rollout.png" ] && [ -s "$work/out/chelsea.json" ]; then
  echo "smoke: PASS dotnet tool install + vit-attention explain"
else
  tail -30 "$work/tool.log"; echo "smoke: FAIL dotnet tool install + vit-attention explain"
fi
