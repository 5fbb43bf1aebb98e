// `tint`: the swift-tint command-line tool. Subcommands live in Commands.swift, argument parsing in
// Arguments.swift, every write to stdout/stderr in Console.swift. Usage errors exit with status 2, failures
// while running with status 1 (a result that cannot be written to stdout included).
import Foundation

func usage() -> String {
    "usage: tint <command> [options]\n\ncommands:\n"
        + commands.map { "  " + $0.name.padding(toLength: 14, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n")
        + "\n\nRun `tint <command> --help` for a command's options."
}

func fail(_ message: String, status: Int32) -> Never {
    Console.note(message)
    exit(status)
}

/// Prints help text on stdout; a failed write is a failure like any lost result.
func printHelp(_ text: String) -> Never {
    do { try Console.out(text) } catch let error as OutputError {
        if error.isBrokenPipe { exit(1) }
        fail("tint: \(error)", status: 1)
    } catch { fail("tint: \(error)", status: 1) }
    exit(0)
}

Console.prepare()
let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first else { fail(usage(), status: 2) }
if name == "--help" || name == "-h" || name == "help" {
    if arguments.count > 1, let c = commands.first(where: { $0.name == arguments[1] }) { printHelp(c.help) }
    printHelp(usage())
}
guard let command = commands.first(where: { $0.name == name }) else {
    fail("tint: unknown command '\(Sanitized.text(name))'\n\n" + usage(), status: 2)
}
let rest = Array(arguments.dropFirst())
if rest.contains("--help") || rest.contains("-h") { printHelp(command.help) }
do {
    try command.run(rest)
} catch let error as ArgumentError {
    let usageLine = command.help.split(separator: "\n").first.map(String.init) ?? ""
    fail("tint \(command.name): \(error)\n\(usageLine)\nRun `tint \(command.name) --help` for details.", status: 2)
} catch let error as OutputError where error.isBrokenPipe {
    // The reader is gone (`tint … | head`): nobody is left to read a message.
    exit(1)
} catch {
    fail("tint \(command.name): error: \(Sanitized.text(String(describing: error)))", status: 1)
}
