"""Who may run the newsletter: operators (console sign-in), API tokens, and the audit log."""
