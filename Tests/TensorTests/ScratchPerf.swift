import Testing
import Foundation
@testable import Tensor

@Suite struct ScratchPerf {
    func time(_ name: String, _ f: () throws -> Void) rethrows {
        var best = 1e9
        for _ in 0..<20 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try f()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000)
        }
        print(name, best, "us")
    }
    @Test func perf() throws {
        var rng = TensorRNG(seed: 1)
        let a = try Tensor<Float>.normal([1024, 1024], using: &rng)
        let b = try Tensor<Float>.normal([1024, 1024], using: &rng)
        let bias = try Tensor<Float>.normal([1024], using: &rng)
        let col = try Tensor<Float>.normal([1024, 1], using: &rng)
        let small = try Tensor<Float>.normal([64, 768], using: &rng)
        let sbias = try Tensor<Float>.normal([768], using: &rng)
        let at = try a.transposed()
        try time("add 1M") { _ = try a + b }
        try time("add bias 1M") { _ = try a + bias }
        try time("add col 1M") { _ = try a + col }
        try time("add transposed 1M") { _ = try at + b }
        try time("max 1M") { _ = try a.maximum(b) }
        try time("less 1M") { _ = try a.less(b) }
        time("mul scalar 1M") { _ = a * 2 }
        time("exp 1M") { _ = a.exp() }
        time("gelu 1M") { _ = a.gelu() }
        try time("where 1M") { _ = try Tensor.where(a, b, a) }
        var c = a
        try time("+= 1M") { try c += b }
        try time("axpy 1M") { try c.add(b, scaledBy: 0.5) }
        try time("add 64x768 bias") { _ = try small + sbias }
        time("gelu 64x768") { _ = small.gelu() }
        Threading.maxThreads = 1
        try time("add 1M 1T") { _ = try a + b }
        time("exp 1M 1T") { _ = a.exp() }
        time("gelu 1M 1T") { _ = a.gelu() }
        Threading.maxThreads = 0
        let d = try Tensor<Double>.normal([1024, 1024], using: &rng)
        try time("add 1M f64") { _ = try d + d }
        time("exp 1M f64") { _ = d.exp() }
    }
}
