"""Audit entries. Reporter-caused events wait in a pending table, dated by day only."""
