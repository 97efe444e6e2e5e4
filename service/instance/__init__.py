"""Instance-wide keys and first-time set-up (`probity init`, `probity demo`)."""
