from epoi.cli import entry

entry()
