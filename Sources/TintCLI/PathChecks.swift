// Directory checks for `--model` and `--out` with the system's own reason. Foundation's `fileExists` answers only
// yes or no, so an unreadable model directory surfaced later as "config.json: no such file", and a failed
// `createDirectory` as a raw NSCocoaErrorDomain dump that never named `--out`.
import Foundation

enum PathChecks {
    /// `errno` as words with its number, e.g. "Permission denied (errno 13)".
    static func reason(_ code: Int32) -> String { "\(String(cString: strerror(code))) (errno \(code))" }

    /// Checks that `path` is a directory whose entries can be read.
    ///
    /// - Throws: `CommandError` naming `option`: no such directory, not a directory, or why it cannot be opened.
    static func requireReadableDirectory(_ path: String, option: String, expected: String) throws {
        let name = "\(option) \(Sanitized.text(path))"
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { throw CommandError("\(name): no such directory (expected \(expected))") }
            throw CommandError("\(name): cannot be examined: \(reason(code))")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CommandError("\(name): not a directory (expected \(expected))")
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CommandError("\(name): cannot be opened: \(reason(errno))") }
        close(fd)
        // Search permission (x) is what opening files inside needs; a directory can be listable but not searchable.
        guard access(path, X_OK) == 0 else { throw CommandError("\(name): its files cannot be reached: \(reason(errno))") }
    }

    /// Creates the run directory `path` (and its parents) if needed and checks that files can be created in it.
    ///
    /// - Throws: `CommandError` naming `option` and the reason: a file in the way, no permission, a read-only or
    ///   full file system.
    static func prepareOutputDirectory(_ path: String, option: String) throws {
        let name = "\(option) \(Sanitized.text(path))"
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw CommandError("\(name): exists and is not a directory") }
        } else {
            // mkdir(2) one component at a time (FileManager reports failures as an opaque Cocoa error 512).
            var prefix = path.hasPrefix("/") ? "/" : ""
            for component in path.split(separator: "/") {
                prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
                if mkdir(prefix, 0o777) != 0 && errno != EEXIST {
                    throw CommandError("\(name): cannot create the directory: \(reason(errno))")
                }
            }
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw CommandError("\(name): cannot create the directory: a component is not a directory")
            }
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw CommandError("\(name): files cannot be created in it: \(reason(errno))")
        }
    }

    /// A Foundation error as one line: the POSIX reason when there is one, never the NSError dump.
    static func describe(_ error: Error) -> String {
        let e = error as NSError
        if let underlying = e.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return reason(Int32(underlying.code))
        }
        if e.domain == NSPOSIXErrorDomain { return reason(Int32(e.code)) }
        if let posix = error as? POSIXError { return reason(posix.code.rawValue) }
        return Sanitized.text(e.localizedDescription)
    }
}
