"""The metadata database: models, engine setup, migrations and the store interface."""
