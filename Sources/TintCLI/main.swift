// `tint`: the swift-tint command-line tool. Subcommands live in Commands.swift, argument parsing in
// Arguments.swift. Usage errors exit with status 2, failures while running with status 1.
import Foundation

func usage() -> String {
    "usage: tint <command> [options]\n\ncommands:\n"
        + commands.map { "  " + $0.name.padding(toLength: 14, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n")
        + "\n\nRun `tint <command> --help` for a command's options."
}

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(status)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first else { fail(usage(), status: 2) }
if name == "--help" || name == "-h" || name == "help" {
    if arguments.count > 1, let c = commands.first(where: { $0.name == arguments[1] }) { print(c.help) } else { print(usage()) }
    exit(0)
}
guard let command = commands.first(where: { $0.name == name }) else {
    fail("tint: unknown command '\(name)'\n\n" + usage(), status: 2)
}
let rest = Array(arguments.dropFirst())
if rest.contains("--help") || rest.contains("-h") {
    print(command.help)
    exit(0)
}
do {
    try command.run(rest)
} catch let error as ArgumentError {
    let usageLine = command.help.split(separator: "\n").first.map(String.init) ?? ""
    fail("tint \(command.name): \(error)\n\(usageLine)\nRun `tint \(command.name) --help` for details.", status: 2)
} catch {
    fail("tint \(command.name): error: \(error)", status: 1)
}
