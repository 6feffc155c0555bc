"""Image value ranges and file I/O, decided once for the whole project.

On disk and in reports images are uint8 RGB in [0, 255] ("pixels"); inside every model they are
float32 in [-1, 1] ("model range"); metrics (Diff, L1) and summaries use [0, 1] ("unit range").
Only this module converts between them:

    pixels [0, 255]  -> model [-1, 1]   to_model_range (numpy), to_model_range_tf (tensors)
    model [-1, 1]    -> uint8 [0, 255]  to_uint8 (numpy), to_uint8_tf (tensors)
    model [-1, 1]    -> float [0, 255]  to_pixel_range (numpy and tensors; not rounded)
    model [-1, 1]    -> unit [0, 1]     to_unit_range (numpy and tensors)
    unit [0, 1]      -> model [-1, 1]   unit_to_model_range (numpy and tensors)
    pixels [0, 255]  -> unit [0, 1]     pixels_to_unit_range (numpy)
    unit [0, 1]      -> uint8 [0, 255]  unit_to_uint8 (numpy)

The tensor versions import TensorFlow when first called, so that what only reads and writes
files (the LiteRT runner, `edit --help`) does not load it.
"""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from mimnet_tf import files

# [-1, 1] = pixels / MODEL_SCALE - 1 (also written into every export's metadata).
MODEL_SCALE = 127.5


class ImageError(ValueError):
    """An image file that is missing, unreadable, corrupt or truncated."""


def to_model_range(images) -> np.ndarray:
    """Pixels in [0, 255] (uint8 or float) -> float32 [-1, 1]."""
    return np.asarray(images).astype(np.float32) / MODEL_SCALE - 1.0


def to_model_range_tf(pixels):
    """`to_model_range` in TensorFlow: a tensor of pixels (uint8 or float) -> float32 [-1, 1]."""
    import tensorflow as tf  # heavy: only graph code (input pipeline, export signatures) calls this

    return tf.cast(pixels, tf.float32) / MODEL_SCALE - 1.0


def to_pixel_range(images):
    """[-1, 1] -> float [0, 255], neither rounded nor clipped (numpy arrays and tensors)."""
    return (images + 1.0) * MODEL_SCALE


def to_uint8(images) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], clipped and rounded."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round(to_pixel_range(images)), 0, 255).astype(np.uint8)


def to_uint8_tf(images):
    """`to_uint8` in TensorFlow: a float tensor in [-1, 1] -> uint8 [0, 255], clipped and rounded."""
    import tensorflow as tf  # heavy: only graph code (export signatures) calls this

    return tf.cast(tf.clip_by_value(tf.round(to_pixel_range(images)), 0.0, 255.0), tf.uint8)


def to_unit_range(images):
    """[-1, 1] -> [0, 1] (numpy arrays and tensors)."""
    return (images + 1.0) * 0.5


def unit_to_model_range(images):
    """[0, 1] -> [-1, 1] (numpy arrays and tensors)."""
    return images * 2.0 - 1.0


def pixels_to_unit_range(images) -> np.ndarray:
    """Pixels in [0, 255] -> float32 [0, 1]."""
    return np.asarray(images, dtype=np.float32) / 255.0


def unit_to_uint8(images) -> np.ndarray:
    """float [0, 1] -> uint8 [0, 255], rounded (in the array's own precision) and clipped."""
    return np.clip(np.round(np.asarray(images) * 255.0), 0, 255).astype(np.uint8)


def _as_rgb(image: Image.Image) -> Image.Image:
    """Grey, palette, CMYK and RGBA images become RGB; transparency is composited on white.

    16-bit grey (PIL's "I;16*" and "I" modes) keeps its top 8 bits, as TF's `decode_image(...,
    dtype=uint8)` does: PIL's own conversion clips at 255 (mid-grey would become white). 16-bit
    RGB(A) and grey+alpha PNGs already open as 8-bit modes with their top bits.
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        image = Image.fromarray(np.right_shift(np.clip(np.asarray(image, dtype=np.int64), 0, 65535), 8).astype(np.uint8))
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def rgb_array(image: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> uint8 RGB [H, W, 3] (transparency composited on white)."""
    return np.asarray(_as_rgb(image), dtype=np.uint8)


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = 0) -> np.ndarray:
    """Decodes encoded image bytes (PNG, JPEG, ...) to uint8 RGB [H, W, 3].

    With `max_pixels`, an image of more pixels is refused from its header, before it is decoded
    (a small upload can declare a huge picture).
    """
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if max_pixels and width * height > max_pixels:
                raise ImageError(f"{name}: {width}x{height} pixels exceeds the limit of {max_pixels} pixels")
            image.load()
            return rgb_array(image)
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError(f"{name}: too many pixels to decode safely ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{name}: not a readable image ({error}); expected a PNG or JPEG file") from None


def load_image(path: str) -> np.ndarray:
    """Reads an image file to uint8 RGB [H, W, 3]; raises ImageError naming the path."""
    if not os.path.exists(path):
        raise ImageError(f"Image file not found: {path}")
    if os.path.isdir(path):
        raise ImageError(f"{path} is a directory; expected an image file")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise ImageError(f"{path}: the file is empty; expected a PNG or JPEG image")
    return decode_image(data, name=path)


def resize(image: np.ndarray, size, resample=Image.BICUBIC) -> np.ndarray:
    """Resizes uint8 [H, W, 3] to `size` (an int for a square, or (width, height))."""
    if isinstance(size, int):
        size = (size, size)
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image
    return np.asarray(Image.fromarray(image).resize(tuple(size), resample), dtype=np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def save_image(path: str, image: np.ndarray) -> None:
    """Writes uint8 [H, W, 3] (or [H, W]) to a file, replaced in one rename; the format follows
    the extension."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    image_format = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    with files.replaced_file(path) as temporary:
        picture.save(temporary, format=image_format)


def heat_map(values: np.ndarray) -> np.ndarray:
    """A [H, W] map in [0, 1] -> uint8 RGB heat map (black-blue-red-yellow-white)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    stops = np.array([[0, 0, 0], [40, 40, 200], [220, 40, 40], [250, 220, 40], [255, 255, 255]], np.float32)
    position = v * (len(stops) - 1)
    low = np.floor(position).astype(int).clip(0, len(stops) - 2)
    frac = (position - low)[..., None]
    return np.round(stops[low] * (1 - frac) + stops[low + 1] * frac).astype(np.uint8)


def overlay(image: np.ndarray, values: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blends the heat map of `values` (any size, resized) over a uint8 image."""
    heat = resize(heat_map(values), (image.shape[1], image.shape[0]), Image.BILINEAR)
    return np.round(image.astype(np.float32) * (1 - alpha) + heat.astype(np.float32) * alpha).astype(np.uint8)
