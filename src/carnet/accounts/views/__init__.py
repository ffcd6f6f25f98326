"""Pages of accounts: signing in (signing_in), one's own account (account) and the system
administrators' pages (administration)."""
