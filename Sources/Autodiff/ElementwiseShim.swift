import Tensor

// TEMPORARY stand-in for the `elementwise` branch (deleted when it lands). Slow and simple.

extension Tensor {
    static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let r = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let x = i - (r - a.count) >= 0 ? a[i - (r - a.count)] : 1
            let y = i - (r - b.count) >= 0 ? b[i - (r - b.count)] : 1
            guard x == y || x == 1 || y == 1 else {
                throw TensorError.shapeMismatch(op: "broadcast", shapes: [a, b], reason: "no broadcast")
            }
            out[i] = x == 1 ? y : x
        }
        return out
    }
    static func zipMap(_ a: Tensor, _ b: Tensor, _ f: (Scalar, Scalar) -> Scalar) throws -> Tensor {
        let s = try broadcastShape(a.shape, b.shape)
        let x = try a.expanded(to: s).scalars, y = try b.expanded(to: s).scalars
        return try Tensor(shape: s, scalars: zip(x, y).map(f))
    }
    func map(_ f: (Scalar) -> Scalar) -> Tensor { try! Tensor(shape: shape, scalars: scalars.map(f)) }

    static func + (a: Tensor, b: Tensor) throws -> Tensor { try zipMap(a, b, +) }
    static func - (a: Tensor, b: Tensor) throws -> Tensor { try zipMap(a, b, -) }
    static func * (a: Tensor, b: Tensor) throws -> Tensor { try zipMap(a, b, *) }
    static func / (a: Tensor, b: Tensor) throws -> Tensor { try zipMap(a, b, /) }
    static func + (a: Tensor, b: Scalar) -> Tensor { a.map { $0 + b } }
    static func - (a: Tensor, b: Scalar) -> Tensor { a.map { $0 - b } }
    static func * (a: Tensor, b: Scalar) -> Tensor { a.map { $0 * b } }
    static func / (a: Tensor, b: Scalar) -> Tensor { a.map { $0 / b } }
    static func + (a: Scalar, b: Tensor) -> Tensor { b.map { a + $0 } }
    static func - (a: Scalar, b: Tensor) -> Tensor { b.map { a - $0 } }
    static func * (a: Scalar, b: Tensor) -> Tensor { b.map { a * $0 } }
    static func / (a: Scalar, b: Tensor) -> Tensor { b.map { a / $0 } }
    static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    func exp() -> Tensor { map(Scalar.exp) }
    func log() -> Tensor { map(Scalar.log) }
    func tanh() -> Tensor { map(Scalar.tanh) }
    func sqrt() -> Tensor { map(Scalar.sqrt) }
    func rsqrt() -> Tensor { map { 1 / Scalar.sqrt($0) } }
    func relu() -> Tensor { map { $0 > 0 ? $0 : 0 } }
    func sigmoid() -> Tensor { map { 1 / (1 + Scalar.exp(-$0)) } }
    func silu() -> Tensor { map { $0 / (1 + Scalar.exp(-$0)) } }
    func gelu() -> Tensor { map { 0.5 * $0 * (1 + Scalar.erf($0 / Scalar(2).squareRoot())) } }
    func geluTanh() -> Tensor {
        map { x in 0.5 * x * (1 + Scalar.tanh(Scalar(0.7978845608028654) * (x + 0.044715 * x * x * x))) }
    }
    func square() -> Tensor { map { $0 * $0 } }
}
