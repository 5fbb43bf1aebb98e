import Foundation
import Testing
@testable import TintCLI

/// Issue 18, items 9 and 11: text inputs come from files, FIFOs, pipes and stdin (`-`); failures say what really
/// went wrong; a leading byte-order mark is kept as the character U+FEFF, as Python's `utf-8` and `tokenizers` do.
@Suite struct InputTextTests {
    func temporary(_ bytes: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tint-input-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        return url.path
    }

    @Test func emptyDeviceIsEmptyText() throws {
        #expect(try InputText.read("/dev/null", option: "--file") == "")
    }

    @Test func directoryIsSaidToBeADirectory() throws {
        #expect(throws: CommandError("--file /tmp: is a directory, not a text file")) {
            _ = try InputText.read("/tmp", option: "--file")
        }
    }

    @Test func missingFileGivesTheSystemReason() throws {
        do {
            _ = try InputText.read("/nonexistent/x.txt", option: "--data")
            Issue.record("a missing file was read")
        } catch let error as CommandError {
            #expect(error.description.hasPrefix("--data /nonexistent/x.txt: cannot be opened: No such file or directory"))
        }
    }

    @Test func endlessSourceStopsAtTheLimit() throws {
        do {
            _ = try InputText.read("/dev/zero", option: "--file", limit: 1 << 20)
            Issue.record("/dev/zero was read to the end")
        } catch let error as CommandError {
            #expect(error.description.contains("more than 1048576 bytes"))
        }
    }

    @Test func fifoIsRead() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tint-fifo-\(UUID().uuidString)").path
        try #require(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        let writer = Thread {
            let fd = open(path, O_WRONLY)
            _ = Console.write("through a fifo", to: fd)
            close(fd)
        }
        writer.start()
        #expect(try InputText.read(path, option: "--file") == "through a fifo")
    }

    @Test func byteOrderMarksAreKept() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let one = try temporary(bom + Array("hi".utf8)), two = try temporary(bom + bom + Array("hi".utf8))
        defer { unlink(one); unlink(two) }
        #expect(try InputText.read(one, option: "--file").unicodeScalars.map(\.value) == [0xFEFF, 0x68, 0x69])
        #expect(try InputText.read(two, option: "--file").unicodeScalars.map(\.value) == [0xFEFF, 0xFEFF, 0x68, 0x69])
    }

    @Test func invalidUTF8NamesTheOffset() throws {
        let path = try temporary(Array("abc".utf8) + [0xFF] + Array("d".utf8))
        defer { unlink(path) }
        #expect(throws: CommandError("--file \(path): not UTF-8 text (first invalid byte at offset 3)")) {
            _ = try InputText.read(path, option: "--file")
        }
    }

    /// `--file -` reads stdin (through the built executable, with the text piped in).
    @Test func stdinDash() throws {
        guard let r = try TintProcess.run(["perplexity", "--model", DescentCommandTests.preLN, "--file", "-", "--json",
                                           "--quiet"], stdin: "Hello world, hello again.") else { return }
        #expect(r.exited && r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"tokens\""))
    }
}
