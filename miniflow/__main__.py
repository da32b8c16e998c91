from miniflow.cli import main

main()
