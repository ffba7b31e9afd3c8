from logscan.cli import run

run()
