#!/usr/bin/env python3
"""Produces the PIL reference outputs and the odd test images that the Inference tests compare against.

Run ONCE with Debian's system python3 (python3-pil: Pillow 9.4, python3-numpy) from this folder; the outputs are committed.
They are produced by PIL, independently of the library, so they are an oracle for its preprocessing:

References/  resize_{photo}_{filter}_{w}x{h}.png   PIL Image.resize((w, h), filter) of the RGB photo
             timm_{photo}_{size}_{pct}.png         PIL bicubic resize of the short side to floor(size / pct) and a
                                                   centre crop whose offset is int(round((h - size) / 2.0)), as
                                                   torchvision's Resize(int) + CenterCrop do for timm's eval transform
Images/      odd but valid images (grey, 16-bit, palette, RGBA, LA, CMYK, EXIF orientations, 1x1) with
             {name}.expected.png = what PIL's convert("RGB") (after ImageOps.exif_transpose for EXIF) makes of
             them, and bad ones (empty, truncated, random bytes, text, a PNG header claiming 40000x40000).
"""
import io
import math
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = os.path.join(HERE, "..", "Images")
REFS = os.path.join(HERE, "References")
ODD = os.path.join(HERE, "Images")
os.makedirs(REFS, exist_ok=True)
os.makedirs(ODD, exist_ok=True)

FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def photo(name):
    return Image.open(os.path.join(PHOTOS, name)).convert("RGB")


# --- resampling references: shrink, enlarge, odd sizes, mixed (one axis shrinks, the other grows) ---
CASES = [
    ("chelsea.png", "bilinear", 224, 224),
    ("chelsea.png", "bicubic", 224, 224),
    ("chelsea.png", "bilinear", 37, 29),
    ("chelsea.png", "bicubic", 31, 47),
    ("coffee.png", "bilinear", 97, 131),
    ("coffee.png", "bicubic", 97, 131),
    ("astronaut.png", "bilinear", 61, 61),
    ("astronaut.png", "bicubic", 700, 40),
]
for name, flt, w, h in CASES:
    im = photo(name).resize((w, h), FILTERS[flt])
    im.save(os.path.join(REFS, f"resize_{name.split('.')[0]}_{flt}_{w}x{h}.png"))

# Enlarging: a small crop of chelsea (so the reference stays small) blown up.
crop = photo("chelsea.png").crop((200, 100, 223, 117))  # 23 x 17
crop.save(os.path.join(REFS, "crop_chelsea_23x17.png"))
for flt in FILTERS:
    crop.resize((101, 77), FILTERS[flt]).save(os.path.join(REFS, f"resize_crop_{flt}_101x77.png"))


# --- timm eval transform geometry (torchvision semantics, written out with PIL) ---
def timm_eval(im, size, pct):
    scale = math.floor(size / pct)
    w, h = im.size
    if w <= h:
        ow, oh = scale, int(scale * h / w)
    else:
        ow, oh = int(scale * w / h), scale
    im = im.resize((ow, oh), Image.BICUBIC)
    top = int(round((oh - size) / 2.0))
    left = int(round((ow - size) / 2.0))
    return im.crop((left, top, left + size, top + size))


timm_eval(photo("chelsea.png"), 224, 0.9).save(os.path.join(REFS, "timm_chelsea_224_0.9.png"))
timm_eval(photo("coffee.png"), 64, 0.875).save(os.path.join(REFS, "timm_coffee_64_0.875.png"))

# --- odd but valid images ---
rng = np.random.default_rng(20261129)
W, H = 23, 17


def save_with_expected(name, im, **kw):
    path = os.path.join(ODD, name)
    im.save(path, **kw)
    back = Image.open(path)
    back = ImageOps.exif_transpose(back)
    back.convert("RGB").save(os.path.join(ODD, name.rsplit(".", 1)[0] + ".expected.png"))


rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
save_with_expected("grey8.png", Image.fromarray(rng.integers(0, 256, (H, W), dtype=np.uint8), "L"))
rgba = np.concatenate([rgb, rng.integers(0, 256, (H, W, 1), dtype=np.uint8)], axis=2)
rgba[0, :, 3] = 0  # fully transparent pixels keep their colour in the file; convert("RGB") keeps it too
save_with_expected("rgba.png", Image.fromarray(rgba, "RGBA"))
la = np.stack([rng.integers(0, 256, (H, W), dtype=np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8)], axis=2)
save_with_expected("grey_alpha.png", Image.fromarray(la, "LA"))
pal = Image.fromarray(rgb, "RGB").quantize(colors=16)
save_with_expected("palette.png", pal)
pal_t = pal.copy()
pal_t.info["transparency"] = 3
save_with_expected("palette_transparent.png", pal_t, transparency=3)
save_with_expected("one_pixel.png", Image.fromarray(np.array([[[200, 30, 90]]], dtype=np.uint8), "RGB"))
save_with_expected("one_pixel_jpeg.jpg", Image.fromarray(np.array([[[200, 30, 90]]], dtype=np.uint8), "RGB"), quality=95)

# 16-bit: PIL opens 16-bit RGB PNGs as 8-bit RGB (high byte); it opens 16-bit grey as mode "I" and
# convert("RGB") then clips at 255, which the library deliberately does not copy (see ImagePreprocessor).
# Write the files by hand so that they really are 16-bit.
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(path, arr, colour_type):
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
    data += png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


g16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)
write_png16(os.path.join(ODD, "grey16.png"), g16, 0)
# Expected for grey16: the high byte replicated (what PIL does for 16-bit RGB, not its clipping for 16-bit grey).
hi = (g16 >> 8).astype(np.uint8)
Image.fromarray(np.stack([hi, hi, hi], axis=2), "RGB").save(os.path.join(ODD, "grey16.expected.png"))
rgb16 = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
write_png16(os.path.join(ODD, "rgb16.png"), rgb16, 2)
Image.open(os.path.join(ODD, "rgb16.png")).convert("RGB").save(os.path.join(ODD, "rgb16.expected.png"))

# CMYK JPEG (PIL writes Adobe-style inverted CMYK).
smooth = photo("chelsea.png").resize((W * 2, H * 2), Image.BILINEAR)
save_with_expected("cmyk.jpg", smooth.convert("CMYK"), quality=95)

# EXIF orientation: a non-square photo so a missed rotation cannot pass.
base = photo("chelsea.png").resize((40, 24), Image.BILINEAR)
for o in (2, 3, 4, 5, 6, 7, 8):
    ex = Image.Exif()
    ex[0x0112] = o
    save_with_expected(f"exif{o}.jpg", base, quality=95, exif=ex.tobytes())
# Absurd EXIF: an orientation of 77 (no such value), and an APP1 Exif block of garbage.
ex = Image.Exif()
ex[0x0112] = 77
save_with_expected("exif_bad_orientation.jpg", base, quality=95, exif=ex.tobytes())
buf = io.BytesIO()
base.save(buf, "JPEG", quality=95)
jpg = buf.getvalue()
garbage = b"Exif\x00\x00" + b"MM\x00\x2a\xff\xff\xff\xf0" + rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
jpg = jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(garbage) + 2) + garbage + jpg[2:]
with open(os.path.join(ODD, "exif_garbage.jpg"), "wb") as f:
    f.write(jpg)
Image.open(os.path.join(ODD, "exif_garbage.jpg")).convert("RGB").save(os.path.join(ODD, "exif_garbage.expected.png"))

# --- bad ones ---
open(os.path.join(ODD, "empty.png"), "wb").close()
full = open(os.path.join(PHOTOS, "chelsea.png"), "rb").read()
with open(os.path.join(ODD, "truncated.png"), "wb") as f:
    f.write(full[:2000])
with open(os.path.join(ODD, "random.png"), "wb") as f:
    f.write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
with open(os.path.join(ODD, "text.png"), "w") as f:
    f.write("This is not a picture, it only has a picture's name.\n")
# A decompression bomb's header: claims 40000 x 40000 RGB; the pixel data is a few bytes of a zlib stream.
bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
bomb += png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + png_chunk(b"IEND", b"")
with open(os.path.join(ODD, "bomb.png"), "wb") as f:
    f.write(bomb)
# More formats: GIF (palette, one transparent index) and lossless WebP, both through PIL's convert("RGB").
gif = Image.fromarray(rgb, "RGB").quantize(colors=32)
save_with_expected("palette_gif.gif", gif, transparency=5)
# Where the GIF is transparent (index 5): 255, else 0. Those pixels' colour is undefined in GIF; PIL gives the
# palette entry, Skia leaves them transparent black.
mask = (np.array(Image.open(os.path.join(ODD, "palette_gif.gif"))) == 5).astype(np.uint8) * 255
Image.fromarray(mask, "L").save(os.path.join(ODD, "palette_gif.transparent.png"))
save_with_expected("lossless.webp", Image.fromarray(rgb, "RGB"), lossless=True)
print("done")
