"""Data quality: queries (automatic and manual), the data manager's workspace, whole-study
re-checks, data review and protocol deviations."""
