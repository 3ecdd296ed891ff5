#!/usr/bin/env bash
# Regenerates the gallery with the CLI, from the repository root: bash docs/gallery/make_gallery.sh
# The model is models/fashion-vit, the small ViT trained on Fashion-MNIST that ships with the repository (see
# models/fashion-vit/README.md); the images are its test images, 28x28 grey, one per class, in models/fashion-vit/images.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=models/fashion-vit
images=$model/images
run() { dotnet run --project src/VitAttention.Cli -c Release -- "$@"; }
# Old figures of other images would linger: start from the hand-written page and this script only.
find docs/gallery -maxdepth 1 -type f ! -name README.md ! -name make_gallery.sh ! -name 'viewer.*.png' -delete
# Two garments side by side, with a region of interest on the middle of the frame (photo pixels; the garment's body).
run explain "$images/0000-ankle-boot.png" "$images/0013-dress.png" --model $model --out docs/gallery --roi 7,7,14,14
# A third class alone, viridis, max head fusion.
run explain "$images/0018-bag.png" --model $model --out docs/gallery --colormap viridis --head-fusion max
# The interactive viewer: a page for the ankle boot. The screenshots are taken by the viewer's browser tests in
# headless Chromium (apt-get install -y chromium), which hover a patch before each shot; they use the random-weight
# test model in models/demo-vit-tiny on the cat photo, and synthetic data for the registers layout.
run explain "$images/0004-shirt.png" --model $model --out docs/gallery --class top2 \
  --method rollout,attention,gradient-rollout,transformer-attribution,gradcam,attention-gradcam,flow
run view "$images/0000-ankle-boot.png" --model $model --out docs/gallery/0000-ankle-boot.viewer.html \
  --method rollout,transformer-attribution,gradcam,flow --class top2
VITATTENTION_VIEWER_SHOTS="$PWD/docs/gallery" dotnet test tests/VitAttention.Tests -c Release \
  --filter "FullyQualifiedName~ViewerBrowserTests.Screenshots_ThreeViews_ShowThePhotoWithTheOverlay"
