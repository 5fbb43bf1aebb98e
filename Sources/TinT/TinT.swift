// TinT (see its issue). Not yet implemented.
