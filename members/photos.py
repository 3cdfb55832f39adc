"""Profile photos: measured before they are decoded, re-encoded before they are stored.

An upload is refused when its file is too large, when its header shows more than
PROFILE_PHOTO_MAX_PIXELS pixels (a 17 KB PNG can claim 12000 × 12000 = 576 MB decoded),
when it is not a JPEG, PNG or WebP image, or when it cannot be decoded. Otherwise it is
decoded, turned upright by its EXIF orientation, shrunk to PHOTO_MAX_SIDE pixels on its long
side and written afresh (JPEG, or PNG when it has transparency) without EXIF (GPS position,
camera, time), comments or any other bytes of the upload. What is served is that new file.

`PhotoField` is the model field that guarantees it: its form field re-encodes with clear
messages (forms and the admin), and `pre_save` re-encodes whatever else would be stored.
"""

import io
import struct
from pathlib import Path

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import FileExtensionValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps

PHOTO_MAX_SIDE = 1024
# MPO: a JPEG with more pictures after the first (depth maps, from many phones); only
# the first is read.
PHOTO_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}
validate_photo_extension = FileExtensionValidator(["jpg", "jpeg", "png", "webp"])
JPEG_QUALITY = 85

# Pillow itself refuses to open anything above twice this (DecompressionBombError) instead of
# allocating it; between once and twice it warns. Our own check below refuses earlier still,
# with a message; this is the floor under every other place that might open an image.
Image.MAX_IMAGE_PIXELS = settings.PROFILE_PHOTO_MAX_PIXELS

# What Pillow raises on a file that is not what its header promised.
_DAMAGED = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)


class ReencodedPhoto(ContentFile):
    """The bytes this module wrote: stored as they are."""


def _too_many_pixels() -> ValidationError:
    return ValidationError(
        _("The image has too many pixels: the limit is %(limit)s megapixels."),
        params={"limit": round(settings.PROFILE_PHOTO_MAX_PIXELS / 1_000_000)},
        code="photo_too_many_pixels",
    )


def _not_an_image() -> ValidationError:
    return ValidationError(
        _("Upload a valid image (JPEG, PNG or WebP): this file is not one."),
        code="photo_not_an_image",
    )


def _damaged() -> ValidationError:
    return ValidationError(
        _("The image is damaged and cannot be read. Save it again, or choose another one."),
        code="photo_damaged",
    )


def validate_photo_size(value) -> None:
    """The file itself: at most PROFILE_PHOTO_MAX_BYTES."""
    limit = settings.PROFILE_PHOTO_MAX_BYTES
    if value.size > limit:
        raise ValidationError(
            _("The photo is %(size)s MB; the limit is %(limit)s MB."),
            params={"size": round(value.size / 1_048_576, 1), "limit": round(limit / 1_048_576, 1)},
            code="photo_too_large",
        )


def _open(file) -> Image.Image:
    """The image behind `file`, with only its header read: nothing is decoded yet."""
    file.seek(0)
    try:
        image = Image.open(file)
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except _DAMAGED:
        raise _not_an_image() from None
    if image.format not in PHOTO_FORMATS:
        raise _not_an_image()
    width, height = image.size
    if width * height > settings.PROFILE_PHOTO_MAX_PIXELS:
        raise _too_many_pixels()
    return image


def validate_photo_pixels(value) -> None:
    """A new upload's header: a JPEG, PNG or WebP image of at most PROFILE_PHOTO_MAX_PIXELS.

    A photo already stored is not looked at again."""
    if getattr(value, "_committed", False):
        return
    _open(value).close()


def photo_reencode(file) -> ReencodedPhoto:
    """`file` checked, decoded, upright, at most PHOTO_MAX_SIDE px and written afresh.

    Raises ValidationError with a message for the person who uploaded it."""
    validate_photo_extension(file)
    validate_photo_size(file)
    image = _open(file)
    try:
        # A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size straight away.
        image.draft("RGB", (PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
        image.load()
        # An RGB colour profile goes along (colours look right with it); a CMYK or grey
        # one would not fit the RGB pixels written below.
        icc_profile = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA") else None
        alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        if image.mode != (mode := "RGBA" if alpha else "RGB"):
            image = image.convert(mode)  # keeps `info`, and so the EXIF orientation
        image.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE), Image.Resampling.LANCZOS)
        image = ImageOps.exif_transpose(image)  # on the small image: cheaper, same result
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except _DAMAGED:
        raise _damaged() from None
    transparent = alpha and image.getchannel("A").getextrema()[0] < 255
    if alpha and not transparent:
        image = image.convert("RGB")
    image.info = {}  # the savers would copy comments and the like from it
    buffer = io.BytesIO()
    if transparent:
        image.save(buffer, format="PNG", optimize=True, icc_profile=icc_profile)
        suffix = ".png"
    else:
        image.save(
            buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True, icc_profile=icc_profile
        )
        suffix = ".jpg"
    name = Path(getattr(file, "name", "") or "photo").stem or "photo"
    return ReencodedPhoto(buffer.getvalue(), name=f"{name}{suffix}")


class PhotoFormField(forms.ImageField):
    """An image upload that comes out of `clean` re-encoded (see the module docstring)."""

    def to_python(self, data):
        # Not ImageField's own: it has Pillow read the whole file before any check.
        upload = forms.FileField.to_python(self, data)
        if upload is None:
            return None
        return photo_reencode(upload)


class PhotoField(models.ImageField):
    """An image field that never stores the uploaded bytes, only `photo_reencode`'s."""

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": PhotoFormField, **kwargs})

    def pre_save(self, model_instance, add):
        file = getattr(model_instance, self.attname)
        if file and not file._committed and not isinstance(file.file, ReencodedPhoto):
            # Assigned without going through the form field (a script, a service call).
            setattr(model_instance, self.attname, photo_reencode(file.file))
        return super().pre_save(model_instance, add)
