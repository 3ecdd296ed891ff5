#!/usr/bin/env python3
"""Writes icon.png, the packages' icon: an attention map over a 7 x 7 patch grid in the library's own turbo colormap.

The colours come from ../VitAttention/Rendering/ColormapTables.cs (the bytes the renderer draws with), so the icon
matches the figures. The map is a smooth bump of attention on one region, the way a rollout overlay looks, with thin
gaps between the patches. Deterministic: rerunning gives the same bytes.

Run with Debian's Python and PIL (python3-pil), from this folder:
    /usr/bin/python3 make_icon.py
"""
import math
import os
import re

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 128            # NuGet shows icons at up to 128 x 128
GRID = 7              # patches per side
GAP = 2               # pixels between patches


def turbo():
    text = open(os.path.join(HERE, "..", "VitAttention", "Rendering", "ColormapTables.cs"), encoding="utf-8").read()
    body = re.search(r"ReadOnlySpan<byte> Turbo =>\s*\[(.*?)\];", text, re.S).group(1)
    values = [int(v) for v in re.findall(r"\d+", body)]
    assert len(values) == 256 * 3, len(values)
    return [tuple(values[3 * i:3 * i + 3]) for i in range(256)]


def attention(row, col):
    """A bump centred off-centre (row 2.2, col 4.1), plus a weaker second one: values in [0, 1]."""
    main = math.exp(-((row - 2.2) ** 2 + (col - 4.1) ** 2) / 3.2)
    second = 0.45 * math.exp(-((row - 5.0) ** 2 + (col - 1.6) ** 2) / 1.6)
    return min(1.0, 0.08 + main + second)


def main():
    lut = turbo()
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    cell = (SIZE - GAP * (GRID - 1)) / GRID
    pixels = image.load()
    for row in range(GRID):
        for col in range(GRID):
            colour = lut[round(attention(row, col) * 255)] + (255,)
            x0, y0 = round(col * (cell + GAP)), round(row * (cell + GAP))
            x1, y1 = round(col * (cell + GAP) + cell), round(row * (cell + GAP) + cell)
            for y in range(y0, y1):
                for x in range(x0, x1):
                    pixels[x, y] = colour
    image.save(os.path.join(HERE, "icon.png"), optimize=True)


if __name__ == "__main__":
    main()
