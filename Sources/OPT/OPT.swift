// OPT (see its issue). Not yet implemented.
