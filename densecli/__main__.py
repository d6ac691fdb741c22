from densecli.cli import main

main()
