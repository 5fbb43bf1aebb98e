// The `tint` command-line tool. Its subcommands arrive with the OPT and TinT issues.
print("tint: no subcommands yet; see README.md")
