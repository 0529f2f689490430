from epoi.cli import main

main(prog_name="epoi")
