"""Real HTTP servers standing in for Kanal and the shops' APIs, for tests and demo mode."""
