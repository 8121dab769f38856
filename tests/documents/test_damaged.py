"""Damaged files are answered, never raised: one bit flipped anywhere in a signed PDF (a fixed sample of positions)
gives a verdict, valid only where the flip falls in the signature's own /Contents (which the signature excludes
from what it signs, by design: the verdict's sha256 still differs from the file issued); one bit flipped in a PDF to
be signed gives a signed file or a DocumentError."""

from __future__ import annotations

import hashlib
import random
import re

from services.documents.errors import DocumentError
from services.documents.signing import sign_pdf
from tests.documents.support import CENTRE, result_pdf, signer, validator

SAMPLE = 60


def flipped(data: bytes, rng: random.Random) -> tuple[int, bytes]:
    damaged = bytearray(data)
    position = rng.randrange(len(damaged))
    damaged[position] ^= 1 << rng.randrange(8)
    return position, bytes(damaged)


async def test_a_bit_flipped_in_a_signed_pdf_is_a_verdict_valid_only_inside_the_unsigned_contents() -> None:
    signed = await sign_pdf(result_pdf(), signer(), CENTRE)
    found = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)", signed)
    assert found is not None
    unsigned = range(int(found[1]), int(found[2]))
    rng = random.Random(23)
    codes = set()
    for _ in range(SAMPLE):
        position, damaged = flipped(signed, rng)
        verdict = await validator().validate(damaged)
        codes.add(verdict.code)
        assert not verdict.valid or position in unsigned, f"bit flipped at {position}: {verdict}"
        assert verdict.sha256 != hashlib.sha256(signed).hexdigest()
    assert "altered" in codes


async def test_a_bit_flipped_in_a_pdf_to_sign_is_signed_or_refused() -> None:
    rng = random.Random(45)
    for _ in range(SAMPLE // 3):
        position, damaged = flipped(result_pdf(), rng)
        try:
            await sign_pdf(damaged, signer(), CENTRE)
        except DocumentError as refused:
            assert refused.code in ("not-a-pdf", "unsignable-pdf"), (position, refused)
