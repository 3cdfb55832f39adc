from django.core.management.base import BaseCommand

from members.services import profile_photos_reencode


class Command(BaseCommand):
    help = (
        "Re-encode every stored profile photo (upright, at most 1024 px, without EXIF or "
        "other bytes of the upload), as uploads are since this version; photos that cannot "
        "be re-encoded are removed. Run once after upgrading from a version that stored the "
        "uploaded files."
    )

    def handle(self, *args, **options):
        reencoded, removed = profile_photos_reencode()
        self.stdout.write(f"{reencoded} photo(s) re-encoded, {removed} removed.")
