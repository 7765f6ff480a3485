from bridge.emulator.cli import main

main()
