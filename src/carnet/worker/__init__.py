"""Background work: tasks run after commit by `carnet worker`, and the periodic jobs it starts.

Tasks are django-tasks tasks stored by the database backend (django-tasks-db): enqueueing writes
a row, so nothing is lost while no worker runs. Other apps declare their periodic jobs with
`register_periodic_job` in their AppConfig.ready; the worker imports none of them.
"""
