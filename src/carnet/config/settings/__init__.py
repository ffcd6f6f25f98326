"""Settings profiles: `local` (make run), `production` (HTTPS) and `test` (the suite)."""

PROFILES = {
    "local": "carnet.config.settings.local",
    "production": "carnet.config.settings.production",
    "test": "carnet.config.settings.test",
}
