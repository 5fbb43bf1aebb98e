import Foundation
import Tensor

/// What every stage of a pipelined job must agree on before the first message (the start-up handshake,
/// Docs/DISTRIBUTED.md): the build, the graph, the configuration, the partition, the scalar and the inputs, each as a
/// 64-bit FNV-1a hash. A transport exchanges the fields (MPI: one all-gather) and every stage compares them with
/// stage 0's, so a mismatched binary or configuration fails at start-up with the field named instead of exchanging
/// rows of different shapes or meanings.
public struct PipelineFingerprint: Equatable, Sendable {
    /// The field names, in order.
    public static let fieldNames = ["build", "aux graph", "TinT configuration", "partition", "scalar type", "inputs"]
    /// The hashes, one per ``fieldNames`` entry.
    public var fields: [UInt64]

    /// The fingerprint of `program` run as `partition` in `Scalar`, by an executable identified by `build` (e.g. a
    /// hash of its file), on inputs described by `inputs` (e.g. the token ids and the options that choose them).
    public init<Scalar: TensorScalar>(build: String, program: TinTProgram<Scalar>, partition: TinTPartition, inputs: String) {
        let graph = program.graph
        let tables = graph.tableShapes.sorted { $0.key < $1.key }.map { "\($0.key)\($0.value)" }.joined(separator: ",")
        let graphText = "\(graph.nodes)|\(tables)|\(graph.headWeight)|\(graph.output)|\(graph.maxPositions)"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let configText = (try? encoder.encode(program.config)).map { String(decoding: $0, as: UTF8.self) } ?? "\(program.config)"
        fields = [build, graphText, configText, "\(partition.nodes)", "\(Scalar.self)/\(MemoryLayout<Scalar>.size)", inputs]
            .map(Self.hash)
    }

    /// Raw fields (what a transport received).
    public init(fields: [UInt64]) { self.fields = fields }

    /// The name of the first field that differs from `other`'s, or nil when they agree.
    public func firstDifference(from other: PipelineFingerprint) -> String? {
        guard fields.count == other.fields.count else { return "handshake format (\(fields.count) against \(other.fields.count) fields)" }
        return zip(Self.fieldNames, zip(fields, other.fields)).first { $0.1.0 != $0.1.1 }?.0
    }

    /// 64-bit FNV-1a of the UTF-8 bytes.
    public static func hash(_ text: String) -> UInt64 { hash(bytes: Array(text.utf8)) }

    /// 64-bit FNV-1a of `bytes`.
    public static func hash<C: Collection>(bytes: C) -> UInt64 where C.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}

extension TinTPartition {
    /// The aux parameter names stage `s`'s executor keeps (``TinTExecutor/init(program:parameters:prefixStorage:partition:stage:)``):
    /// those its nodes and tables read (the last stage also the head) and those it owns in a read-back (the executor
    /// of stage 0 also keeps any name the graph does not read). A launcher that loads or makes weights per stage
    /// needs only these.
    public func parameterNames(stage s: Int, graph: AuxGraph) -> Set<String> {
        var names = Set(nodes[s].flatMap { graph.parametersRead(by: $0) })
        if s == count - 1 { names.insert(graph.headWeight) }
        names.formUnion(owners.filter { $0.value == s }.keys)
        return names
    }
}
