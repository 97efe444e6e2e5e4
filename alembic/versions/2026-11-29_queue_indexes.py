"""Queue indexes: the nearest open deadline on the tip, and one index in queue order

`tips.next_deadline` (acknowledgement due 7 days after receipt, then feedback due 3 calendar
months after acknowledgement; 9999-12-31 once closed) makes the queue's whole order one index,
so every page is an index seek (service.tips.queue); a second index has the same order per
assignee, for "assigned to me".

Revision ID: 7d1e0ac0e55e
Revises: 6c0ffee0f10e
Create Date: 2026-11-29 15:43:00
"""

import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from alembic import op

revision: str = "7d1e0ac0e55e"
down_revision: str | None = "6c0ffee0f10e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_tips = sa.table(
    "tips",
    sa.column("id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("received_on", sa.Date()),
    sa.column("acknowledged_at", sa.DateTime(timezone=True)),
    sa.column("next_deadline", sa.Date()),
)


def _plus_months(day: date, months: int) -> date:
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _deadline(status: str, received_on: date, acknowledged_at: datetime | str | None) -> date:
    # A frozen copy of service.tips.queue's rule: a migration must not change with the code.
    if status == "closed":
        return date.max
    if acknowledged_at is None:
        return received_on + timedelta(days=7)
    if isinstance(acknowledged_at, str):  # SQLite without the model's type decorator
        acknowledged_at = datetime.fromisoformat(acknowledged_at)
    return _plus_months(acknowledged_at.date(), 3)


def upgrade() -> None:
    with op.batch_alter_table("tips") as batch:
        batch.add_column(sa.Column("next_deadline", sa.Date(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_tips.c.id, _tips.c.status, _tips.c.received_on, _tips.c.acknowledged_at)
    ).all()
    for tip_id, status, received_on, acknowledged_at in rows:
        connection.execute(
            _tips.update()
            .where(_tips.c.id == tip_id)
            .values(next_deadline=_deadline(status, received_on, acknowledged_at))
        )
    with op.batch_alter_table("tips") as batch:
        batch.alter_column("next_deadline", existing_type=sa.Date(), nullable=False)
    order: list[str | sa.TextClause] = [
        sa.text("urgent DESC"),
        sa.text("priority DESC"),
        "next_deadline",
        "id",
    ]
    op.create_index("ix_tips_queue", "tips", order)
    op.create_index("ix_tips_queue_assignee", "tips", ["assignee_id", *order])


def downgrade() -> None:
    op.drop_index("ix_tips_queue_assignee", table_name="tips")
    op.drop_index("ix_tips_queue", table_name="tips")
    with op.batch_alter_table("tips") as batch:
        batch.drop_column("next_deadline")
