import CMPI
import Foundation
import TinT

/// ``PipelineTransport`` over MPI point-to-point messages, one rank per stage. Every wait is a poll (`MPI_Iprobe`,
/// `MPI_Test`) against a deadline, so a neighbour that died or hangs ends this rank's wait after `timeout` seconds
/// with `PipelineError.peerFailed` instead of blocking forever (`mpirun` itself usually ends the job first when a
/// rank exits abnormally).
public struct MPITransport: PipelineTransport {
    /// The job's world; rank = stage.
    public let world: MPIWorld
    /// The longest wait for one message or one send's completion, in seconds: above the slowest stage's compute
    /// between two messages.
    public let timeout: Double
    /// This rank.
    public var stage: Int { world.rank }
    /// The number of ranks.
    public var stageCount: Int { world.size }
    /// Every pipeline message has this tag; message order between two ranks is MPI's (non-overtaking) order.
    static let tag: Int32 = 17

    /// A transport on `world` with `timeout` seconds per wait.
    public init(world: MPIWorld, timeout: Double) {
        self.world = world
        self.timeout = timeout
    }

    /// Sends `bytes` to rank `peer` and waits (polling, bounded) until MPI has taken the buffer.
    public func send(_ bytes: [UInt8], to peer: Int) throws {
        guard bytes.count <= Int(Int32.max) else {
            throw PipelineError.transport(stage: stage, reason: "a message of \(bytes.count) bytes to stage \(peer) exceeds MPI's 2 GiB count")
        }
        var request = tint_mpi_request_null()
        try bytes.withUnsafeBytes { raw in
            try MPIError.check(MPI_Isend(raw.baseAddress, Int32(bytes.count), tint_mpi_byte(), Int32(peer), Self.tag, world.comm, &request),
                               "MPI_Isend to rank \(peer)", rank: stage)
            // The buffer must stay alive until the send completes: wait inside the closure.
            try waitUntil("waiting to send \(bytes.count) bytes to", peer) {
                var done: Int32 = 0
                try MPIError.check(MPI_Test(&request, &done, tint_mpi_status_ignore()), "MPI_Test", rank: stage)
                return done != 0
            }
        }
    }

    /// The next message from rank `peer`, polled for at most `timeout` seconds.
    public func receive(from peer: Int) throws -> [UInt8] {
        var status = MPI_Status()
        try waitUntil("waiting for a message from", peer) {
            var found: Int32 = 0
            try MPIError.check(MPI_Iprobe(Int32(peer), Self.tag, world.comm, &found, &status), "MPI_Iprobe", rank: stage)
            return found != 0
        }
        var count: Int32 = 0
        try MPIError.check(MPI_Get_count(&status, tint_mpi_byte(), &count), "MPI_Get_count", rank: stage)
        var bytes = [UInt8](repeating: 0, count: Int(count))
        try bytes.withUnsafeMutableBytes { raw in
            try MPIError.check(MPI_Recv(raw.baseAddress, count, tint_mpi_byte(), Int32(peer), Self.tag, world.comm, tint_mpi_status_ignore()),
                               "MPI_Recv from rank \(peer)", rank: stage)
        }
        return bytes
    }

    /// Prints `reason` and aborts every rank of the job (does not return).
    public func fail(_ reason: String) { world.abort(reason) }

    /// Polls `ready` until it holds, sleeping a little longer each time (up to 1 ms: the latency added to a
    /// message stays far below a stage's compute); throws `peerFailed` after `timeout` seconds.
    private func waitUntil(_ what: String, _ peer: Int, _ ready: () throws -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var pause: UInt32 = 1
        while try !ready() {
            guard Date() < deadline else {
                throw PipelineError.peerFailed(stage: stage, peer: peer, reason: "no progress within \(timeout) s \(what) stage \(peer)")
            }
            usleep(pause)
            pause = min(pause * 2, 1000)
        }
    }
}

extension MPIWorld {
    /// The start-up handshake: every rank's fingerprint is gathered and compared with rank 0's.
    ///
    /// - Throws: `PipelineError.configurationMismatch` naming the first rank and field that differ (every rank
    ///   sees the same gathered fingerprints, so every rank throws); `MPIError` when the gather fails.
    public func agree(on fingerprint: PipelineFingerprint) throws {
        let all = try allGather(fingerprint.fields)
        let reference = PipelineFingerprint(fields: all[0])
        for (r, fields) in all.enumerated() {
            if let field = PipelineFingerprint(fields: fields).firstDifference(from: reference) {
                throw PipelineError.configurationMismatch(stage: rank, peer: r, what: "\(field) than rank 0")
            }
        }
    }
}
