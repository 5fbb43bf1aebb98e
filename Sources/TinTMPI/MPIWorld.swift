import CMPI
import Foundation
import TinT

/// The job's MPI world (`MPI_COMM_WORLD`): initialised once per process, ranks numbered 0..<size. Errors are
/// returned (`MPI_ERRORS_RETURN`) rather than aborting inside the library, so a failing call becomes a
/// `PipelineError` naming the call and the rank.
public final class MPIWorld: @unchecked Sendable {
    /// This process's rank.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    let comm: MPI_Comm

    /// Initialises MPI (a process started without `mpirun` is a world of one).
    ///
    /// - Throws: `MPIError` when `MPI_Init` or a query fails.
    public init() throws {
        try MPIError.check(MPI_Init(nil, nil), "MPI_Init", rank: -1)
        comm = tint_mpi_comm_world()
        try MPIError.check(MPI_Comm_set_errhandler(comm, tint_mpi_errors_return()), "MPI_Comm_set_errhandler", rank: -1)
        var r: Int32 = 0, s: Int32 = 0
        try MPIError.check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank", rank: -1)
        try MPIError.check(MPI_Comm_size(comm, &s), "MPI_Comm_size", rank: Int(r))
        rank = Int(r)
        size = Int(s)
    }

    /// Ends MPI after a successful run (every rank must call it).
    public func finish() { MPI_Finalize() }

    /// Prints `message` on stderr with the rank and ends every rank of the job with exit code `code` (`MPI_Abort`):
    /// how a failing rank stops the others instead of leaving them waiting.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("rank \(rank) of \(size): \(message)\n".utf8))
        MPI_Abort(comm, code)
        exit(code)  // MPI_Abort does not return; this keeps the compiler and a broken runtime honest
    }

    /// A hash of this process's executable file (the `build` field of a ``PipelineFingerprint``): ranks started
    /// from different builds disagree on it.
    ///
    /// - Throws: the error of reading `/proc/self/exe`.
    public static func executableIdentity() throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: "/proc/self/exe"), options: .alwaysMapped)
        return String(PipelineFingerprint.hash(bytes: data), radix: 16)
    }

    /// Every rank's `values` (the same count on every rank), in rank order.
    ///
    /// - Throws: `MPIError` when the all-gather fails.
    public func allGather(_ values: [UInt64]) throws -> [[UInt64]] {
        var out = [UInt64](repeating: 0, count: values.count * size)
        let bytes = Int32(values.count * 8)
        try values.withUnsafeBytes { send in
            try out.withUnsafeMutableBytes { recv in
                try MPIError.check(MPI_Allgather(send.baseAddress, bytes, tint_mpi_byte(), recv.baseAddress, bytes, tint_mpi_byte(), comm),
                                   "MPI_Allgather", rank: rank)
            }
        }
        return (0..<size).map { Array(out[$0 * values.count..<($0 + 1) * values.count]) }
    }
}

/// An MPI call that returned an error code.
public struct MPIError: Error, CustomStringConvertible {
    /// The call.
    public let call: String
    /// The rank that made it (-1 before the rank is known).
    public let rank: Int
    /// The library's message for the code.
    public let message: String

    /// The call, the rank and the library's message.
    public var description: String { "MPI rank \(rank): \(call) failed: \(message)" }

    static func check(_ code: Int32, _ call: String, rank: Int) throws {
        guard code != MPI_SUCCESS else { return }
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        throw MPIError(call: call, rank: rank, message: String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
