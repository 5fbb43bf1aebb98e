// A checkpoint larger than the memory left aborted the process in the allocator (Swift cannot catch a failed
// allocation). Loading now first adds up what the Float weights will take and compares it with what the system
// (and the container's cgroup, when there is one) can still give, so the answer is an error that says how much is
// needed. The checkpoint files themselves are memory-mapped (`readFile`): their pages are page cache, read once
// while converting and reclaimable, so the anonymous memory a load needs is the Float weights alone.
import Foundation

extension SafetensorsCheckpoint {
    /// Bytes of the `Float` tensors converting every tensor of the checkpoint makes (F16/BF16 double in size).
    public var floatBytes: Int { floatBytes(of: tensorNames) }

    /// Bytes of the `Float` tensors converting the tensors `names` makes; names the checkpoint lacks count 0.
    public func floatBytes(of names: some Sequence<String>) -> Int {
        var total = 0
        for name in names {
            // The parser checked that every tensor's byte count fits its file, so these products fit Int.
            if let info = try? file(containing: name).info(for: name) {
                total = total.addingReportingOverflow(info.count.multipliedReportingOverflow(by: 4).partialValue).partialValue
            }
        }
        return total
    }

    /// Throws ``ModelError/insufficientMemory(file:needed:available:)`` when converting the tensors `names` (default:
    /// every tensor) needs more than `available` bytes (default: what the system reports as available; no check when
    /// it reports nothing).
    public func requireMemoryForFloatWeights(of names: [String]? = nil, available: Int? = availableMemoryBytes()) throws {
        let needed = names.map { floatBytes(of: $0) } ?? floatBytes
        if let available, needed > available {
            throw ModelError.insufficientMemory(file: source, needed: needed, available: available)
        }
    }
}

/// The memory this process can still allocate without swapping: Linux's `MemAvailable`, lowered to the cgroup v2
/// limit's headroom (`memory.max − memory.current`) inside a container; nil where neither is known.
public func availableMemoryBytes() -> Int? {
    func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    var available: Int? = nil
    if let meminfo = read("/proc/meminfo") {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kb = Int(fields[1]) { available = kb * 1024 }
        }
    }
    if let max = read("/sys/fs/cgroup/memory.max").flatMap(Int.init),
       let current = read("/sys/fs/cgroup/memory.current").flatMap(Int.init) {
        available = Swift.min(available ?? Int.max, Swift.max(max - current, 0))
    }
    return available
}
