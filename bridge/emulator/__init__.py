"""A Kanal commerce API emulator: a real HTTP server, as strict as Kanal, for tests and demos."""
