from perpsim.cli.main import app

app()
