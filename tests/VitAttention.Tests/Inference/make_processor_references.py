#!/usr/bin/python3
"""PIL references for each reference pipeline's resize-and-crop geometry (run once; the outputs are committed).

Run with Debian's /usr/bin/python3 (python3-pil: Pillow 9.4) from this folder. torchvision and transformers are not
installed here, so their arithmetic is written out below from their sources, each step named after the function it
stands for. The resampling itself is PIL's (Image.resize), which is what torchvision's Resize does to a PIL image and
what transformers' slow image processors call.

References/
  timm_{photo}_{size}_{pct}.png        timm transforms_imagenet_eval, crop_mode 'center', square input: torchvision
                                       Resize(floor(size / pct)) on the short side (long side int()-truncated), then
                                       CenterCrop(size) whose offsets are int(round(margin / 2.0)) (Python round: half
                                       to even). crop_pct 1.0 still resizes the short side and crops; it never squashes.
  hf_squash_crop_{photo}_{h}x{w}_{c}.png  transformers DeiTImageProcessor: resize to size {height, width} (aspect not
                                       kept), then image_transforms.center_crop(crop_size): offsets (margin) // 2.
  hf_shortest_{photo}_{edge}_{c}.png   transformers BitImageProcessor / CLIPImageProcessor: size {shortest_edge}
                                       through get_resize_output_image_size(default_to_square=False) (short side to
                                       edge, long side int(edge * long / short)), then the same floored centre crop.
  timm_keepratio_{photo}_{h}x{w}_{pct}.png timm eval with a non-square input: ResizeKeepRatio(floor(h/pct),
                                       floor(w/pct)) (ratio = min of the two, sizes round()ed, bilinear: the eval
                                       transform does not pass its interpolation on), then CenterCrop((h, w)).
The inputs whose margins are odd (so that floor and round-half-even disagree) are made from chelsea.png by a crop,
saved beside the reference as {name}.input.png.
"""
import math
import os

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = os.path.join(HERE, "..", "Images")
REFS = os.path.join(HERE, "References")
os.makedirs(REFS, exist_ok=True)


def photo(name):
    return Image.open(os.path.join(PHOTOS, name)).convert("RGB")


def torchvision_resize_short(im, size, flt):
    """torchvision.transforms.functional.resize(img, size:int): _compute_resized_output_size, then PIL resize."""
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    return im.resize((new_w, new_h), flt)


def torchvision_center_crop(im, ch, cw):
    """torchvision.transforms.functional.center_crop: crop_top = int(round((h - ch) / 2.0)) (the image is larger here)."""
    w, h = im.size
    assert w >= cw and h >= ch
    top = int(round((h - ch) / 2.0))
    left = int(round((w - cw) / 2.0))
    return im.crop((left, top, left + cw, top + ch)), (left, top)


def hf_center_crop(im, ch, cw):
    """transformers.image_transforms.center_crop: top = (h - ch) // 2 (the image is larger here)."""
    w, h = im.size
    assert w >= cw and h >= ch
    top = (h - ch) // 2
    left = (w - cw) // 2
    return im.crop((left, top, left + cw, top + ch)), (left, top)


def timm_eval(im, size, pct):
    scale = math.floor(size / pct)
    im = torchvision_resize_short(im, scale, Image.BICUBIC)
    return torchvision_center_crop(im, size, size)


def timm_keep_ratio(im, h, w, pct):
    """timm ResizeKeepRatio(size=(floor(h/pct), floor(w/pct)), longest=0, interpolation='bilinear') + CenterCrop."""
    th, tw = math.floor(h / pct), math.floor(w / pct)
    iw, ih = im.size
    ratio_h, ratio_w = ih / th, iw / tw
    ratio = min(ratio_h, ratio_w)  # longest = 0
    nh, nw = round(ih / ratio), round(iw / ratio)
    im = im.resize((nw, nh), Image.BILINEAR)
    return torchvision_center_crop(im, h, w)


def hf_squash_crop(im, h, w, crop):
    im = im.resize((w, h), Image.BICUBIC)
    return hf_center_crop(im, crop, crop)


def hf_shortest(im, edge, crop):
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = edge, int(edge * long / short)
    oh, ow = (new_long, new_short) if w <= h else (new_short, new_long)
    im = im.resize((ow, oh), Image.BICUBIC)
    return hf_center_crop(im, crop, crop)


def save(name, result):
    im, offset = result
    im.save(os.path.join(REFS, name))
    print(name, im.size, "crop offset (left, top)", offset)


chelsea = photo("chelsea.png")  # 451 x 300, landscape
# timm crop_pct 1.0: short side to 224, long side 336, centre crop at x = 56.
save("timm_chelsea_224_1.0.png", timm_eval(chelsea, 224, 1.0))
# An odd margin under timm: a 35 x 32 photo at size 32, pct 1.0: margin 3, round(1.5) = 2 (floor would give 1).
odd = chelsea.crop((200, 100, 235, 132))
odd.save(os.path.join(REFS, "odd_35x32.input.png"))
save("timm_odd_35x32_32_1.0.png", timm_eval(odd, 32, 1.0))
# DeiT: squash to 256 x 256 then crop 224 (margin 32), and squash to 35 x 35 then crop 32 (margin 3: floor 1).
save("hf_squash_crop_chelsea_256x256_224.png", hf_squash_crop(chelsea, 256, 256, 224))
save("hf_squash_crop_chelsea_35x35_32.png", hf_squash_crop(chelsea, 35, 35, 32))
# BiT / CLIP shortest_edge: 36 then crop 32 (crop / edge = 0.888... must not become 35), and 35 then crop 32
# (vertical margin 3: floor 1).
save("hf_shortest_chelsea_36_32.png", hf_shortest(chelsea, 36, 32))
save("hf_shortest_chelsea_35_32.png", hf_shortest(chelsea, 35, 32))
# timm non-square input (rare): 24 x 40 at crop_pct 0.9 keeps the ratio, rounds, and resizes bilinearly.
save("timm_keepratio_chelsea_24x40_0.9.png", timm_keep_ratio(chelsea, 24, 40, 0.9))
