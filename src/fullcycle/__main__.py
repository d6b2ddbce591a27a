from fullcycle.cli.main import app

app(prog_name="fullcycle")
