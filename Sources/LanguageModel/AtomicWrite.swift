import Foundation

/// Writes a file so that readers (and a later run after a crash or kill) see either the old file or the
/// complete new one, never a prefix: `body` writes to a temporary file in the same directory, which is
/// flushed to disk and renamed over `url` (`rename(2)` replaces atomically within a file system). On any
/// error the temporary file is removed and `url` is untouched.
///
/// - Throws: ``ModelError/io(file:reason:)`` naming `url`, or whatever `body` throws.
func writeAtomically(to url: URL, _ body: (FileHandle) throws -> Void) throws {
    let path = url.path
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
        throw ModelError.io(file: path, reason: "cannot be created (no temporary file in \(directory.path))")
    }
    var committed = false
    defer { if !committed { try? FileManager.default.removeItem(at: temporary) } }
    do {
        let handle = try FileHandle(forWritingTo: temporary)
        do {
            try body(handle)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            throw error
        }
    } catch let error as ModelError {
        throw error
    } catch {
        throw ModelError.io(file: path, reason: "cannot be written: \(error.localizedDescription)")
    }
    guard rename(temporary.path, path) == 0 else {
        let reason = String(cString: strerror(errno))
        throw ModelError.io(file: path, reason: "cannot replace the file: \(reason)")
    }
    committed = true
}

/// ``writeAtomically(to:_:)`` for bytes already in memory.
func writeAtomically(_ data: Data, to url: URL) throws {
    try writeAtomically(to: url) { try $0.write(contentsOf: data) }
}
