#!/usr/bin/env bash
# Regenerates the gallery with the CLI, from the repository root: bash docs/gallery/make_gallery.sh
# The model is the demo ViT shipped in models/demo-vit-tiny (seeded random weights): the figures show the
# machinery, not meaning. With network access, pass --model google/vit-base-patch16-224 for the real model.
set -euo pipefail
cd "$(dirname "$0")/../.."
images=tests/VitAttention.Tests/Images
run() { dotnet run --project src/VitAttention.Cli -c Release -- "$@"; }
# The study's two scenes, outdoor-like (the cat) and indoor (the coffee cup), with a region of interest on the cat's face.
run explain "$images/chelsea.png" "$images/coffee.png" --model models/demo-vit-tiny --out docs/gallery --roi 130,40,200,200
# An out-of-distribution photo (ImageNet has no astronaut class), viridis, max head fusion.
run explain "$images/astronaut.png" --model models/demo-vit-tiny --out docs/gallery --colormap viridis --head-fusion max
# The interactive viewer: a page for the cat, and screenshots of the viewer taken by its browser tests in headless
# Chromium (apt-get install -y chromium), which hover a patch before each shot.
run view "$images/chelsea.png" --model models/demo-vit-tiny --out docs/gallery/chelsea.viewer.html
VITATTENTION_VIEWER_SHOTS="$PWD/docs/gallery" dotnet test tests/VitAttention.Tests -c Release \
  --filter "FullyQualifiedName~ViewerBrowserTests.Screenshots_ThreeViews_ShowThePhotoWithTheOverlay"
