// Every byte `tint` writes to stdout or stderr goes through here. Foundation's `FileHandle.write` traps (a `try!`
// inside it) when the write fails — stderr closed with `2>&-`, a full disk, a reader that went away — and
// `print` ignores failures, so results could be lost with exit status 0. This writer calls write(2) itself and
// reports every failure: a failed result write becomes an error (exit status 1), a failed progress note is
// dropped (progress is advisory; losing it must not lose the run).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A write to stdout or stderr failed. `tint` exits with status 1; for a closed pipe (`EPIPE`, e.g. `| head`) it
/// exits with status 1 without a message, since the reader that would see it is gone.
struct OutputError: Error, CustomStringConvertible {
    /// The stream: `stdout` or `stderr`.
    let stream: String
    /// The `errno` of the failed write(2).
    let code: Int32

    var description: String {
        "cannot write the result to \(stream): \(String(cString: strerror(code))) (errno \(code))"
    }
    /// Whether the reader closed the pipe.
    var isBrokenPipe: Bool { code == EPIPE }
}

/// stdout (results) and stderr (progress, errors) through write(2).
enum Console {
    /// Makes sure descriptors 0, 1 and 2 are open before anything else opens a file. With `2>&-` the next file
    /// `tint` opens would otherwise get descriptor 2 and progress notes would be written into it (a checkpoint!).
    /// A closed descriptor is filled with /dev/null opened read-only, so writes to it fail with EBADF — a closed
    /// stdout still reports the lost result — instead of landing anywhere.
    /// SIGPIPE is ignored so a closed pipe is an `EPIPE` error we handle, not a kill.
    static func prepare() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let opened = open("/dev/null", O_RDONLY)
            if opened >= 0 && opened != fd {
                _ = dup2(opened, fd)
                _ = close(opened)
            }
        }
        _ = signal(SIGPIPE, SIG_IGN)
    }

    /// Writes `text` then `terminator` to stdout.
    ///
    /// - Throws: `OutputError` when the write fails (a full disk, a closed descriptor or pipe).
    static func out(_ text: String, terminator: String = "\n") throws {
        let code = write(text + terminator, to: 1)
        if code != 0 { throw OutputError(stream: "stdout", code: code) }
    }

    /// Writes `text` then `terminator` to stderr, ignoring failure (progress and notes only).
    static func note(_ text: String, terminator: String = "\n") {
        _ = write(text + terminator, to: 2)
    }

    /// Writes all of `text` to `fd`, retrying after signals and partial writes. Returns 0 or the `errno`.
    static func write(_ text: String, to fd: Int32) -> Int32 {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { buffer -> Int32 in
            var offset = 0
            while offset < buffer.count {
                #if canImport(Darwin)
                let n = Darwin.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                #elseif canImport(Glibc)
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                #else
                let n = Musl.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                #endif
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                // write(2) returning 0 for a non-empty buffer makes no progress; treat it as a full device.
                if n == 0 { return ENOSPC }
                offset += n
            }
            return 0
        }
    }
}
