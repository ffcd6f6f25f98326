"""Monitoring: the monitoring plan, source data verification and monitoring visits."""
