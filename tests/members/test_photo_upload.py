"""Profile photos are measured before they are decoded and stored re-encoded, never as sent."""

import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import ExifTags, Image

from members.models import Profile
from members.photos import PHOTO_MAX_SIDE
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def image_bytes(mode: str, size: tuple[int, int], fmt: str, color=0, **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def bomb() -> bytes:
    """12000 × 12000 black-and-white pixels: 17 KB as a file, 576 MB decoded as RGB."""
    return image_bytes("1", (12000, 12000), "PNG", optimize=True)


def edit(client, profile: Profile, photo: SimpleUploadedFile, **fields):
    data = {
        "display_name": profile.display_name,
        "job_title": profile.job_title,
        "country": profile.country.code or "",
        "timezone": profile.timezone,
        "bio": profile.bio,
        "mentoring_stance": profile.mentoring_stance,
        "visibility": profile.visibility,
        "photo": photo,
        **fields,
    }
    return client.post("/me/edit/", data)


def served(client, profile: Profile) -> Image.Image:
    response = client.get(f"/members/{profile.pk}/photo/")
    assert response.status_code == 200
    return Image.open(io.BytesIO(b"".join(response.streaming_content)))


def stored_files(settings) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "profile-photos"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_large_photo_is_served_re_encoded_and_shrunk(client_for, member, colleague, settings):
    sent = image_bytes("RGB", (3000, 2000), "PNG", "teal")

    response = edit(client_for(member.user), member, SimpleUploadedFile("me.png", sent))

    assert response.status_code == 302
    photo = served(client_for(colleague.user), member)
    assert photo.format == "JPEG"
    assert photo.size == (PHOTO_MAX_SIDE, 683)
    [stored] = stored_files(settings)
    assert stored.suffix == ".jpg"
    assert stored.read_bytes() != sent


def test_a_phone_photo_loses_its_gps_position_and_stands_upright(client_for, member):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # the camera was held on its side
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (48.0, 18.0, 30.5),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (14.0, 17.0, 11.0),
    }
    sent = image_bytes("RGB", (400, 200), "JPEG", "red", exif=exif, comment=b"Anna at home")
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    client = client_for(member.user)
    assert edit(client, member, SimpleUploadedFile("IMG_0001.JPG", sent)).status_code == 302

    photo = served(client, member)
    assert photo.size == (200, 400)  # turned as the orientation said
    assert not photo.getexif()  # no GPS, no camera, no orientation left to apply twice
    assert "comment" not in photo.info
    member.refresh_from_db()
    data = member.photo.read()
    assert b"Exif" not in data and b"PhoneMaker" not in data and b"Anna at home" not in data


def test_a_transparent_png_keeps_its_transparency(client_for, member):
    logo = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    logo.paste((200, 30, 30, 255), (16, 16, 48, 48))
    sent = io.BytesIO()
    logo.save(sent, format="PNG")

    client = client_for(member.user)
    assert edit(client, member, SimpleUploadedFile("logo.png", sent.getvalue())).status_code == 302

    photo = served(client, member)
    assert photo.format == "PNG"
    assert photo.getpixel((0, 0))[3] == 0
    assert photo.getpixel((32, 32)) == (200, 30, 30, 255)


def test_the_12000_pixel_square_png_is_refused_for_its_pixels(client_for, member, settings):
    sent = bomb()
    assert len(sent) < 20_000

    response = edit(client_for(member.user), member, SimpleUploadedFile("me.png", sent))

    assert response.status_code == 400
    assert "The image has too many pixels: the limit is 40 megapixels." in response.content.decode()
    member.refresh_from_db()
    assert not member.photo
    assert stored_files(settings) == []


def test_the_pixel_limit_is_a_setting(client_for, member, settings):
    settings.PROFILE_PHOTO_MAX_PIXELS = 1_000_000
    client = client_for(member.user)

    refused = edit(
        client, member, SimpleUploadedFile("me.png", image_bytes("RGB", (1001, 1000), "PNG"))
    )
    accepted = edit(
        client, member, SimpleUploadedFile("me.png", image_bytes("RGB", (1000, 1000), "PNG"))
    )

    assert refused.status_code == 400
    assert "the limit is 1 megapixels" in refused.content.decode()
    assert accepted.status_code == 302


BOMB_SCRIPT = """
import resource, sys
import django
django.setup()
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from members.photos import photo_reencode

data = open(sys.argv[1], "rb").read()
# From here on at most 200 MB more: decoding the image would take 576 MB.
used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + 200 * 2**20, resource.RLIM_INFINITY))
try:
    photo_reencode(SimpleUploadedFile("bomb.png", data))
except ValidationError as error:
    print(error.messages[0])
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_the_pixels_are_counted_before_the_image_is_decoded(tmp_path):
    """In a process that has no memory to decode the bomb, it is refused all the same;
    with the limit raised above its size, the same process runs out of memory decoding it."""
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb())

    def run(**env):
        return subprocess.run(
            [sys.executable, "-c", BOMB_SCRIPT, str(path)],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    refused = run()
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout.strip() == "The image has too many pixels: the limit is 40 megapixels."

    decoded = run(PROFILE_PHOTO_MAX_PIXELS="200000000")
    assert decoded.returncode != 0
    assert "MemoryError" in decoded.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "holiday.png",
            b"Dear diary, this is a text file with a .png name.\n",
            "Upload a valid image (JPEG, PNG or WebP): this file is not one.",
        ),
        (
            "photo.jpg",
            image_bytes("RGB", (40, 40), "BMP"),
            "Upload a valid image (JPEG, PNG or WebP): this file is not one.",
        ),
        (
            "photo.tiff",
            image_bytes("RGB", (40, 40), "TIFF"),
            "File extension “tiff” is not allowed",
        ),
    ],
)
def test_a_file_that_is_not_a_jpeg_png_or_webp_image_is_refused(
    client_for, member, settings, name, content, message
):
    response = edit(client_for(member.user), member, SimpleUploadedFile(name, content))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert stored_files(settings) == []


def test_a_damaged_image_is_refused_with_a_message(client_for, member, settings):
    noise = random.Random(5).randbytes(200 * 200 * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (200, 200), noise).save(buffer, format="PNG")
    cut = buffer.getvalue()[: len(buffer.getvalue()) // 2]  # the header is intact

    response = edit(client_for(member.user), member, SimpleUploadedFile("me.png", cut))

    assert response.status_code == 400
    assert "The image is damaged and cannot be read." in response.content.decode()
    assert stored_files(settings) == []


def test_a_file_over_the_byte_limit_is_refused_before_it_is_opened(client_for, member, settings):
    settings.PROFILE_PHOTO_MAX_BYTES = 100_000
    noise = random.Random(9).randbytes(300 * 300 * 3)  # noise does not compress
    buffer = io.BytesIO()
    Image.frombytes("RGB", (300, 300), noise).save(buffer, format="PNG")

    response = edit(
        client_for(member.user), member, SimpleUploadedFile("me.png", buffer.getvalue())
    )

    assert response.status_code == 400
    assert "the limit is 0.1 MB" in response.content.decode()
    assert stored_files(settings) == []


def test_a_photo_uploaded_in_the_admin_is_re_encoded_too(client_for, staff, member, settings):
    client = client_for(staff)
    url = f"/admin/members/profile/{member.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("photo", "languages", "sectors")
    }
    data.update(
        user=member.user.pk,
        country="AT",
        expertise=[],
        interests=[],
        photo=SimpleUploadedFile("scan.png", bomb()),
    )

    refused = client.post(url, data)
    assert refused.status_code == 200
    assert "The image has too many pixels" in refused.content.decode()

    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N"}
    data["photo"] = SimpleUploadedFile("p.jpg", image_bytes("RGB", (2000, 100), "JPEG", exif=exif))
    assert client.post(url, data).status_code == 302

    member.refresh_from_db()
    stored = Image.open(member.photo.path)
    assert stored.size == (PHOTO_MAX_SIDE, 51)
    assert not stored.getexif()


def test_a_photo_assigned_in_code_is_re_encoded_when_saved(member, settings):
    sent = image_bytes("RGB", (2048, 1024), "JPEG", "blue", comment=b"from a script")

    member.photo = SimpleUploadedFile("script.jpg", sent)
    member.save(update_fields=["photo"])

    stored = Image.open(member.photo.path)
    assert stored.size == (PHOTO_MAX_SIDE, 512)
    assert "comment" not in stored.info


def test_the_member_still_signs_in_and_edits_after_a_refused_photo(client_for, member):
    """A refusal is a form error: the rest of the form is kept for correcting."""
    client = client_for(member.user)
    response = edit(client, member, SimpleUploadedFile("me.png", bomb()), job_title="Engineer")

    assert response.status_code == 400
    assert 'value="Engineer"' in response.content.decode()
    assert client.login(email=member.user.email, password=PASSWORD)


def test_photos_stored_before_re_encoding_are_re_encoded_or_removed_by_the_command(
    member, colleague, settings, django_capture_on_commit_callbacks
):
    # As an earlier version stored them: the uploaded bytes, straight into MEDIA_ROOT.
    folder = Path(settings.MEDIA_ROOT) / "profile-photos"
    folder.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    raw = image_bytes("RGB", (3000, 2000), "JPEG", "teal", exif=exif)
    (folder / "old-raw.jpg").write_bytes(raw + b"<script>alert(1)</script>")
    (folder / "old-bomb.png").write_bytes(bomb())
    Profile.objects.filter(pk=member.pk).update(photo="profile-photos/old-raw.jpg")
    Profile.objects.filter(pk=colleague.pk).update(photo="profile-photos/old-bomb.png")

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("reencode_photos", stdout=out)

    assert out.getvalue().strip() == "1 photo(s) re-encoded, 1 removed."
    member.refresh_from_db()
    colleague.refresh_from_db()
    assert colleague.photo.name == ""
    stored = (Path(settings.MEDIA_ROOT) / member.photo.name).read_bytes()
    assert b"PhoneMaker" not in stored and b"<script>" not in stored
    assert Image.open(io.BytesIO(stored)).size == (PHOTO_MAX_SIDE, 683)
    assert stored_files(settings) == [Path(settings.MEDIA_ROOT) / member.photo.name]


def test_a_phone_jpeg_with_a_second_picture_inside_is_taken(client_for, member, colleague):
    buffer = io.BytesIO()
    first, depth_map = Image.new("RGB", (1200, 900), "teal"), Image.new("RGB", (600, 450))
    first.save(buffer, format="MPO", save_all=True, append_images=[depth_map])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"

    response = edit(
        client_for(member.user), member, SimpleUploadedFile("IMG_1234.jpg", buffer.getvalue())
    )

    assert response.status_code == 302
    photo = served(client_for(colleague.user), member)
    assert (photo.format, photo.size) == ("JPEG", (PHOTO_MAX_SIDE, 768))
