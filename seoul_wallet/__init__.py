"""Composition root: settings, database, migrations, the app that mounts each party, the CLI."""
