"""Staff accounts: models, creation and key sealing."""
