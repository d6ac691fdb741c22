from densecli.cli._app import main

main()
