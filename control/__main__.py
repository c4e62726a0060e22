from control.cli import app

app()
