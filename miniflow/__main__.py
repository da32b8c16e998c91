from miniflow.cli import script

script()
