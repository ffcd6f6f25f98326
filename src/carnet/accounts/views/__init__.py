"""Pages of accounts: signing in (signing_in), one's own account (account), the system
administrators' pages (administration) and signed acts on a study's page (signatures)."""
