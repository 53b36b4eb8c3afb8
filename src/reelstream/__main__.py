from reelstream.cli.main import main

main()
