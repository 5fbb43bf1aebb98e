// Reading the text files users name on the command line (`--file`, `--data`, `--passages`…). Foundation's
// `Data(contentsOf:)` reports a FIFO, /dev/stdin, a directory or /dev/zero as "You don't have permission", cannot
// read a pipe, and `String(data:encoding:)` drops a leading byte-order mark. This reads with read(2) until end of
// file — so pipes, FIFOs and `-` (stdin) work — and says what really went wrong.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// UTF-8 text from a file, a pipe or stdin.
enum InputText {
    /// The most bytes read from one input: a larger text could not be tokenized in useful time anyway, and an
    /// endless source (/dev/zero, `yes |`) must end in an error, not exhaust memory.
    static let maximumBytes = 256 << 20

    /// The text of `path` (`-` is stdin), decoded as UTF-8 keeping a leading byte-order mark (U+FEFF) as a
    /// character, as Python's `utf-8` codec and `tokenizers` do.
    ///
    /// - Throws: `CommandError` naming `option` and `path`: no such file, a directory, permission denied (with
    ///   the system's reason), more than ``maximumBytes``, or not UTF-8 (with the byte offset).
    static func read(_ path: String, option: String, limit: Int = maximumBytes) throws -> String {
        let bytes = try readBytes(path, option: option, limit: limit)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CommandError("\(option) \(Sanitized.text(path)): not UTF-8 text (first invalid byte at offset "
                               + "\(firstInvalidUTF8Offset(bytes)))")
        }
        return text
    }

    /// The bytes of `path` (`-` is stdin).
    static func readBytes(_ path: String, option: String, limit: Int = maximumBytes) throws -> [UInt8] {
        let name = "\(option) \(Sanitized.text(path))"
        let fd: Int32
        if path == "-" {
            fd = 0
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CommandError("\(name): cannot be opened: \(reason(errno))") }
        }
        defer { if fd != 0 { _ = close(fd) } }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw CommandError("\(name): is a directory, not a text file")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { readDescriptor(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CommandError("\(name): cannot be read: \(reason(errno))")
            }
            if n == 0 { break }
            guard bytes.count + n <= limit else {
                throw CommandError("\(name): more than \(limit) bytes (\(limit >> 20) MiB), the limit for one text input")
            }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    private static func reason(_ code: Int32) -> String { "\(String(cString: strerror(code))) (errno \(code))" }

    /// The offset of the first byte that breaks UTF-8.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int {
        var iterator = bytes.makeIterator(), parser = Unicode.UTF8.ForwardParser(), offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput, .error: return offset
            }
        }
    }
}

/// read(2), under a name apart from `InputText.read`.
@inline(__always)
private func readDescriptor(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Darwin)
    return Darwin.read(fd, buffer, count)
    #elseif canImport(Glibc)
    return Glibc.read(fd, buffer, count)
    #else
    return Musl.read(fd, buffer, count)
    #endif
}
