"""Records out to Kanal: the record store, its Lua scripts and RQ jobs, pacing, the push."""
