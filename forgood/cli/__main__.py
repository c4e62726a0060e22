from forgood.cli.cli import app

app()
