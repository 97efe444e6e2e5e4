"""Tips: intake, routing, priority, the queue, the tip view and the workflow.

- models.py (models): the tables, the queue indexes and the deadline rule with the hooks that keep
  `Tip.next_deadline` right on every write path.
- schemas.py, taxonomy.py (schemas): what a reporter may submit, the allegation taxonomy.
- repository.py (repository): the readable statement every staff read starts from, and the tip
  view's named queries.
- queue.py, related.py, subjects.py, workflow_view.py (repository): queue pages, related tips,
  which tips name a subject, what the tip page's actions need.
- workflow.py (service): the transition table, as data, and transitions.
- receiving.py (service): intake's rules whatever carries it (idempotency, the receipt retry, the
  one storing transaction), for tips and reporters' later evidence.
- intake.py, intake_rows.py, uploads.py, attachments.py, idempotency.py, routing.py, priority.py,
  keys.py (service): the intake transaction and its parts (intake_rows.py: its rows' fast path).
- view.py, casework.py, conversation.py, contest.py, reporter_auth.py, purge.py (service): reading
  a tip (audited), staff casework, messages, contesting a closure, receipt login, purging.
"""
