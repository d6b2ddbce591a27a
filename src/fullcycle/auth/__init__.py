"""Who may do what: users, passwords, API tokens with scopes, browser sessions, CSRF."""
