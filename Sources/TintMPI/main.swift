// `tint-mpi`: the TinT layer stack pipelined over MPI ranks (Docs/DISTRIBUTED.md), in the opt-in build
// (TINT_MPI=1). Started by `mpirun -np N tint-mpi check …`, each rank holds one stage of the partition by parameter
// count, exchanges token rows with its neighbours, and the last rank writes the result. Without mpirun it is a
// world of one: the single-process executor, the oracle the pipelined results are compared with.
import Foundation
import TinT
import TinTMPI

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.first == "check" else {
    FileHandle.standardError.write(Data((PipelineCheck.help + "\n").utf8))
    exit(arguments.first == "--help" ? 0 : 2)
}
let world: MPIWorld
do { world = try MPIWorld() } catch {
    FileHandle.standardError.write(Data("tint-mpi: \(error)\n".utf8))
    exit(1)
}
do {
    try PipelineCheck(Array(arguments.dropFirst()), world: world).run()
} catch {
    // Every other rank is (or will be) waiting for this one: end the whole job with the reason.
    world.abort("tint-mpi check failed: \(error)")
}
world.finish()
