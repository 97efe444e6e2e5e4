"""Ciphertext lives in the database in chunk rows, so a tip and its evidence commit atomically."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, new_id

__all__ = ["Blob", "BlobChunk"]


class Blob(Base):
    """One age file (possibly large). Its plaintext never touches the database or disk."""

    __tablename__ = "blobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    # Which tip key it is encrypted to: "conversation", "case" or "identity".
    key_kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # ciphertext bytes (padded)
    chunks: Mapped[int] = mapped_column(Integer, default=0)


class BlobChunk(Base):
    __tablename__ = "blob_chunks"

    blob_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
